"""Where SUMO's programs are, found without ``SUMO_HOME`` set by the user.

The ``eclipse-sumo`` wheel installs SUMO as the Python package ``sumo``: its folder is a complete
SUMO_HOME (``bin/``, ``data/``). It is found here with :func:`importlib.util.find_spec`, not imported,
because importing ``sumo`` writes ``SUMO_HOME`` and ``PROJ_LIB`` into the environment of the whole
process. Nothing is looked up at import, so this module imports fine on a machine without SUMO; the
functions raise :class:`SumoNotFound` instead.

Order of preference: the wheel (a declared dependency, so its version is the one tested), then a
``SUMO_HOME`` the user has set, then ``sumo``/``netconvert`` on ``PATH``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: seconds a netconvert run may take before it is stopped (a city of 10 million is minutes, not hours)
NETCONVERT_TIMEOUT = 1800.0


class SumoNotFound(RuntimeError):
    """No SUMO installation with the wanted program was found (key ``traffic.sumo.not_found``)."""

    key = "traffic.sumo.not_found"

    def __init__(self, program: str) -> None:
        super().__init__(f"SUMO's {program} was not found: install the eclipse-sumo wheel (pip install eclipse-sumo) or set SUMO_HOME")
        self.params = {"program": program}


class SumoFailed(RuntimeError):
    """A SUMO program exited with an error (key ``traffic.sumo.failed``); ``output`` is its last words."""

    key = "traffic.sumo.failed"

    def __init__(self, program: str, returncode: int, output: str) -> None:
        super().__init__(f"{program} failed (exit status {returncode}): {output}")
        self.params = {"program": program, "returncode": returncode, "output": output}
        self.output = output


def _exe(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def _wheel_home() -> Path | None:
    """The ``sumo`` package's folder from the eclipse-sumo wheel, or None."""
    try:
        spec = importlib.util.find_spec("sumo")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    home = Path(spec.origin).parent
    # another distribution could own a package called "sumo"; the wheel's has bin/sumo
    return home if (home / "bin" / _exe("sumo")).is_file() else None


def sumo_home() -> Path:
    """SUMO's installation folder (the one holding ``bin/`` and ``data/``).

    Raises :class:`SumoNotFound` when there is none.
    """
    home = _wheel_home()
    if home is not None:
        return home
    env_home = os.environ.get("SUMO_HOME")
    if env_home and (Path(env_home) / "bin" / _exe("sumo")).is_file():
        return Path(env_home)
    on_path = shutil.which("sumo")
    if on_path is not None:
        # <home>/bin/sumo; data/ beside bin/ is where SUMO looks for its schemas and type maps
        return Path(on_path).resolve().parent.parent
    raise SumoNotFound("sumo")


def binary(program: str) -> Path:
    """The path of one SUMO program (``"netconvert"``, ``"sumo"``, ``"duarouter"``, ...)."""
    path = sumo_home() / "bin" / _exe(program)
    if not path.is_file():
        on_path = shutil.which(program)
        if on_path is None:
            raise SumoNotFound(program)
        return Path(on_path)
    return path


def sumo_version() -> str:
    """The version of the installed eclipse-sumo wheel, or ``"unknown"`` for another installation.

    Part of the key of cached conversions: another netconvert may build another network.
    """
    try:
        return importlib.metadata.version("eclipse-sumo")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def environment() -> dict[str, str]:
    """The environment for a SUMO child process: ours, plus ``SUMO_HOME`` so it finds its data.

    Without it netconvert prints warnings, skips XML validation and falls back to built-in type maps.
    """
    env = dict(os.environ)
    env["SUMO_HOME"] = str(sumo_home())
    return env


def run(program: str, args: Sequence[str], *, cwd: Path | None = None, timeout: float | None = None) -> str:
    """Run a SUMO program to its end; return what it printed (stdout, then stderr).

    Raises :class:`SumoFailed` on a non-zero exit status or a timeout (``timeout`` in seconds).
    """
    command = [str(binary(program)), *args]
    try:
        done = subprocess.run(  # noqa: S603 - our own SUMO binary with arguments we build, no shell
            command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SumoFailed(program, -1, f"stopped after {timeout} s") from exc
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SumoFailed(program, done.returncode, output.strip()[-2000:])
    return output


def run_netconvert(args: Sequence[str], *, cwd: Path | None = None, timeout: float = NETCONVERT_TIMEOUT) -> str:
    """Run netconvert with ``args``; return its log (warnings included). See :func:`run`."""
    return run("netconvert", args, cwd=cwd, timeout=timeout)
