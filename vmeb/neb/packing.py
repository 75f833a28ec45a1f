"""How a campaign packs the cores: site tasks, the cores each keeps busy, local workers.

Each site task runs one NEB at a time. The ``lammps`` engine's NEB is ``n_replicas`` MPI ranks
(times ``concurrent_hops``); ``pool`` runs one worker process per moving replica; ``inproc``
and ``ase`` run in the task's own process, one core (with a calculator potential, all cores).
`default_workers` packs a machine with ``cores // ranks_per_task`` local workers, so an
``inproc`` campaign (the default engine for cheap cells, `vmeb.neb.site.resolve_engine`) runs
one NEB per core. ``docs/campaigns.md`` has the measurements.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from vmeb.errors import VmebError
from vmeb.lammps.base import CALCULATOR_KIND
from vmeb.lammps.potentials import AnyPotential


def config_json(config: Any) -> dict[str, Any]:
    """A frozen-dataclass config as JSON (tuples as lists)."""
    if hasattr(config, "to_json"):
        raw = config.to_json()
    elif is_dataclass(config):
        raw = asdict(config)
    elif isinstance(config, Mapping):
        raw = dict(config)
    else:
        raise VmebError(f"NEB config must be a dataclass, got {type(config).__name__}")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}


def source_engine(config: Mapping[str, Any]) -> str:
    """Engine part of the default ``source`` label: ``auto`` runs LAMMPS's NEB (``lammps``
    or ``inproc``, the ``engine`` column tells which), so it is labelled ``lammps``."""
    engine = str(config.get("engine", "lammps"))
    return "lammps" if engine == "auto" else engine


def ranks_per_task(
    neb_config: Any, potential: AnyPotential | None = None, n_atoms: int | None = None
) -> int:
    """Cores one site task keeps busy: for the LAMMPS engine its MPI ranks, ``n_procs``
    (default one per replica) times ``concurrent_hops``; the worker processes of the pool
    engine (default one per moving replica); 1 for the in-process ``inproc`` and ``ase``
    engines. ``auto`` is resolved for ``potential`` and ``n_atoms`` atoms
    (`vmeb.neb.site.resolve_engine`); without them it counts as ``lammps``. A calculator
    potential's task keeps every core busy (its torch model is multi-threaded): one local
    worker by default."""
    if potential is not None and potential.kind == CALCULATOR_KIND:
        return default_workers(1)
    config = config_json(neb_config)
    engine = config.get("engine", "lammps")
    if engine == "auto":
        engine = "lammps"
        if potential is not None and n_atoms is not None and is_dataclass(neb_config):
            from vmeb.neb.site import resolve_engine  # noqa: PLC0415

            engine = resolve_engine(neb_config, potential, int(n_atoms))
    if engine == "pool":  # one worker process per moving replica
        return int(config.get("n_procs") or max(1, int(config.get("n_replicas") or 7) - 2))
    if engine != "lammps":
        return 1
    ranks = int(config.get("n_procs") or config.get("n_replicas") or 1)
    return ranks * int(config.get("concurrent_hops") or 1)


def comparable_neb_settings(neb: Mapping[str, Any]) -> dict[str, Any]:
    """NEB settings as compared on resume: the engines that run LAMMPS's quickmin NEB on
    LAMMPS forces (`vmeb.neb.site.SAME_BAND_ENGINES`: same steps, same band) count as one, so
    a dataset begun with ``lammps`` continues with ``auto`` (the default since ``inproc``)."""
    from vmeb.neb.site import SAME_BAND_ENGINES  # noqa: PLC0415

    out = dict(neb)
    if out.get("engine", "lammps") in SAME_BAND_ENGINES:
        out["engine"] = "lammps"
    return out


def default_workers(ranks_per_task: int = 1, cores: int | None = None) -> int:
    """Local workers that pack ``cores`` without oversubscription: ``cores // ranks_per_task``.

    Args:
        ranks_per_task: Cores one site task keeps busy (MPI ranks of its NEB).
        cores: Cores to use (default: the CPUs this process may run on).

    Returns:
        At least 1.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(cores or 1) // max(1, int(ranks_per_task)))
