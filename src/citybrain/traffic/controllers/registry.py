"""The explicit registry of signal controllers: name -> factory, with a one-line summary each.

Add a controller by adding it here; the shared contract test (tests/unit/traffic) runs every entry
on a real SUMO simulation, so a new one is checked against the safety rules the moment it is listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any

from citybrain.traffic.controllers.base import Controller, ControllerContext, ControllerFactory
from citybrain.traffic.controllers.citybrain import CitybrainController
from citybrain.traffic.controllers.fixed_time import FixedTimeController, WebsterController
from citybrain.traffic.controllers.max_pressure import MaxPressureController
from citybrain.traffic.controllers.sotl import SotlController
from citybrain.traffic.controllers.sumo_programs import SumoProgramController


class UnknownController(KeyError):
    """No controller is registered under this name (key ``traffic.controller.unknown``)."""

    key = "traffic.controller.unknown"

    def __init__(self, name: str) -> None:
        super().__init__(f"no controller called {name!r}; known: {', '.join(CONTROLLERS)}")
        self.params = {"name": name}


@dataclass(frozen=True)
class ControllerEntry:
    """A registered controller: its factory and what it is, in one line."""

    name: str
    factory: ControllerFactory
    summary: str


def _entries(*entries: ControllerEntry) -> Mapping[str, ControllerEntry]:
    return MappingProxyType({e.name: e for e in entries})


CONTROLLERS: Mapping[str, ControllerEntry] = _entries(
    ControllerEntry("fixed_time", FixedTimeController, "fixed time as in the literature: 4 phases, 15 s green + 5 s yellow each"),
    ControllerEntry("webster", WebsterController, "fixed time with Webster's cycle and splits from the planned flows"),
    ControllerEntry("sotl", SotlController, "self-organising traffic lights (Cools et al. 2013), platoon rule"),
    ControllerEntry("max_pressure", MaxPressureController, "Max-Pressure (Varaiya 2013): queued in minus queued out"),
    ControllerEntry(
        "max_pressure_count",
        partial(MaxPressureController, measure="vehicles"),
        "weaker Max-Pressure on all vehicles, not queues (comparison only)",
    ),
    ControllerEntry("actuated", partial(SumoProgramController, kind="actuated"), "SUMO's actuated program (time gaps) on the 4 phases"),
    ControllerEntry(
        "delay_based", partial(SumoProgramController, kind="delay_based"), "SUMO's delay_based program (time loss) on the 4 phases"
    ),
    ControllerEntry(
        "citybrain", CitybrainController, "citybrain's adaptive control: keep a used green (gap-out), then the most pressing waiting phase"
    ),
)


def controller_names() -> tuple[str, ...]:
    """The registered controller names, in registry order."""
    return tuple(CONTROLLERS)


def make_controller(name: str, context: ControllerContext, /, **params: Any) -> Controller:
    """Build the controller registered as ``name`` for one run; ``params`` go to its factory.

    Raises :class:`UnknownController` for a name not in :data:`CONTROLLERS`.
    """
    entry = CONTROLLERS.get(name)
    if entry is None:
        raise UnknownController(name)
    return entry.factory(context, **params)
