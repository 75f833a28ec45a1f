"""LAMMPS's climbing-image NEB with ``min_style quickmin``, written in numpy (engine-independent).

The band is optimised here step for step as LAMMPS's ``neb`` command does it with
``fix neb ... parallel neigh`` and ``min_style quickmin``: Henkelman-Jónsson improved tangent,
spring force ``k (|R_i+1 - R_i| - |R_i - R_i-1|)`` along it, climbing image fixed at the
highest replica when the climbing stage starts, quickmin's velocity projection over the whole
band and its ``dmax`` step limit. Only the energies and forces come from elsewhere: a
`ReplicaEvaluator` (`vmeb.neb.engines.pool`: worker processes; `vmeb.neb.engines.inproc`:
LAMMPS instances in this process). The end replicas are evaluated once. Both engines take the
same steps and reach the same saddle as the ``lammps`` engine (tests in ``tests/neb``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from ase import Atoms
from ase.data import atomic_masses

from vmeb.errors import VmebError
from vmeb.neb.site import NEBConfig, NEBRun

logger = logging.getLogger(__name__)

#: LAMMPS ``metal`` units: force/mass (eV/Å/amu) to acceleration (Å/ps²), ``force->ftm2v``.
FTM2V = 1.0 / 1.0364269e-4
#: LAMMPS ``min_modify dmax`` default: largest move of any atom in one step (Å).
DMAX = 0.1


class ReplicaEvaluator(Protocol):
    """Energies and forces of chosen replicas of a band."""

    def evaluate(
        self, indices: Sequence[int], positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Energies [n] (eV) and forces [n, N, 3] (eV/Å) of replicas ``indices``.

        Args:
            indices: Replica numbers to evaluate (0 = initial state).
            positions: [R, N, 3] positions of all replicas (Å, ASE frame); rows ``indices``
                are used.
        """
        ...


def tangents(x: np.ndarray, energies: np.ndarray, cell: np.ndarray):
    """Unit tangents and neighbour distances of the interior replicas (LAMMPS ``fix neb``).

    Args:
        x: [R, N, 3] replica positions (Å).
        energies: [R] replica energies (eV).
        cell: [3, 3] cell rows (Å).

    Returns:
        ``(tau, plen, nlen)``: [R-2, N, 3] unit tangents (improved tangent of Henkelman and
        Jónsson 2000) and [R-2] distances (Å, all atoms) to the previous and next replicas.
    """
    steps = np.diff(x, axis=0)  # [R-1, N, 3]: x[i+1] - x[i], minimum image
    frac = steps @ np.linalg.inv(cell)
    steps -= np.round(frac) @ cell
    out = np.empty_like(steps[:-1])
    lengths = np.linalg.norm(steps.reshape(len(steps), -1), axis=1)
    for i in range(1, len(x) - 1):
        prev, nxt = steps[i - 1], steps[i]
        e_prev, e_here, e_next = energies[i - 1], energies[i], energies[i + 1]
        if e_next > e_here > e_prev:
            t = nxt
        elif e_next < e_here < e_prev:
            t = prev
        else:
            big = max(abs(e_next - e_here), abs(e_prev - e_here))
            small = min(abs(e_next - e_here), abs(e_prev - e_here))
            t = nxt * big + prev * small if e_next > e_prev else nxt * small + prev * big
        norm = np.linalg.norm(t)
        out[i - 1] = t / norm if norm > 0 else t
    return out, lengths[:-1], lengths[1:]


def neb_forces(x, energies, forces, cell, spring: float, climber: int | None):
    """NEB forces of the interior replicas [R-2, N, 3] (eV/Å) from true forces [R-2, N, 3]."""
    tau, plen, nlen = tangents(x, energies, cell)
    along = np.einsum("rnk,rnk->r", forces, tau)
    out = forces - along[:, None, None] * tau
    for r in range(len(out)):
        if climber is not None and r + 1 == climber:
            out[r] = forces[r] - 2.0 * along[r] * tau[r]
        else:
            out[r] += spring * (nlen[r] - plen[r]) * tau[r]
    return out


def force_norms(f: np.ndarray, norm: str) -> np.ndarray:
    """[R-2] force measure of each replica, as LAMMPS ``min_modify norm``."""
    if norm == "two":
        return np.linalg.norm(f.reshape(len(f), -1), axis=1)
    if norm == "max":
        return np.linalg.norm(f, axis=2).max(axis=1)
    return np.abs(f).reshape(len(f), -1).max(axis=1)


def quickmin_stage(evaluator, x, energies, true_f, masses, cell, config, steps, climber):
    """One NEB stage of LAMMPS's quickmin; updates x, energies, true_f in place.

    Args:
        evaluator: A `ReplicaEvaluator`.
        x: [R, N, 3] replica positions (Å); the interior rows move.
        energies: [R] replica energies (eV).
        true_f: [R-2, N, 3] true forces of the interior replicas (eV/Å).
        masses: [N] atomic masses (amu).
        cell: [3, 3] cell rows (Å).
        config: NEB settings (``spring``, ``ftol``, ``timestep``, ``force_norm``).
        steps: Step limit of the stage.
        climber: Replica number of the climbing image, or None.

    Returns:
        ``(steps taken, converged, residual)``.
    """
    interior = list(range(1, len(x) - 1))
    v = np.zeros_like(x[1:-1])
    f = neb_forces(x, energies, true_f, cell, config.spring, climber)
    residual = float(force_norms(f, config.force_norm).max())
    inverse_mass = 1.0 / masses[None, :, None]
    for step in range(steps):
        if residual < config.ftol:
            return step, True, residual
        vdotf = float(np.vdot(v, f))
        if vdotf < 0.0:
            v[:] = 0.0
        else:
            fdotf = float(np.vdot(f, f))
            v = (vdotf / fdotf) * f if fdotf > 0.0 else np.zeros_like(f)
        dtv = config.timestep
        vmax = float(np.abs(v).max()) if v.size else 0.0
        if dtv * vmax > DMAX:
            dtv = DMAX / vmax
        x[1:-1] += dtv * v
        v += (dtv * FTM2V) * f * inverse_mass
        e, tf = evaluator.evaluate(interior, x)
        energies[1:-1], true_f[:] = e, tf
        f = neb_forces(x, energies, true_f, cell, config.spring, climber)
        residual = float(force_norms(f, config.force_norm).max())
    return steps, residual < config.ftol, residual


def optimise_band(
    evaluator: ReplicaEvaluator, images: Sequence[Atoms], config: NEBConfig, engine: str
) -> NEBRun:
    """Climbing-image NEB of ``images`` (plain stage, then climbing stage) with quickmin.

    Args:
        evaluator: Energies and forces of the replicas.
        images: R starting replicas (same atoms and cell); the first and last are the relaxed
            end states, positions continuous between replicas (Å).
        config: NEB settings (spring, tolerances, step limits, time step, force norm).
        engine: Engine name for the result.

    Returns:
        The final band: energies [R] (eV), positions and true forces [R, N, 3], steps of both
        stages, and whether the climbing stage converged.
    """
    if config.min_style != "quickmin":
        raise VmebError(f"engine {engine} runs quickmin only (min_style {config.min_style!r})")
    cell = np.asarray(images[0].cell.array, dtype=float)
    x = np.array([image.positions for image in images], dtype=float)
    masses = np.round(atomic_masses[images[0].numbers], 6)
    energies, true_f = evaluator.evaluate(range(len(images)), x)
    energies = np.asarray(energies, dtype=float)
    interior_f = true_f[1:-1].copy()
    plain, _, _ = quickmin_stage(
        evaluator, x, energies, interior_f, masses, cell, config, config.max_steps, None
    )
    climber = 1 + int(np.argmax(energies[1:-1]))
    climb, converged, residual = quickmin_stage(
        evaluator, x, energies, interior_f, masses, cell, config, config.climb_steps, climber
    )
    true_f[1:-1] = interior_f
    logger.debug("%s NEB: %d + %d steps, residual %.2g", engine, plain, climb, residual)
    return NEBRun(
        energies=energies,
        positions=x,
        forces=true_f,
        iterations=plain + climb,
        converged=bool(converged),
        residual=residual,
        engine=engine,
    )
