"""Signal controllers: one typed interface (:class:`Controller`), an explicit registry, the safety rules."""

from citybrain.traffic.controllers.base import (
    Controller,
    ControllerContext,
    ControllerFactory,
    Observation,
    SumoPhase,
    SumoProgram,
)
from citybrain.traffic.controllers.registry import CONTROLLERS, ControllerEntry, UnknownController, controller_names, make_controller
from citybrain.traffic.controllers.safety import PhaseSequencer, SafetyRules, check_signal_log

__all__ = [
    "CONTROLLERS",
    "Controller",
    "ControllerContext",
    "ControllerEntry",
    "ControllerFactory",
    "Observation",
    "PhaseSequencer",
    "SafetyRules",
    "SumoPhase",
    "SumoProgram",
    "UnknownController",
    "check_signal_log",
    "controller_names",
    "make_controller",
]
