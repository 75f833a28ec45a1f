"""NEB engine: ASE's nudged elastic band with one in-process LAMMPSlib calculator per image.

An independent check of `vmeb.neb.engines.lammps`: the same end states and starting band, ASE's
``improvedtangent`` NEB (Henkelman & Jónsson 2000) with spring ``k = NEBConfig.spring``, optimised
by ASE's FIRE in two stages like LAMMPS ``neb``: a plain band for at most ``max_steps`` steps,
then with the climbing image for at most ``climb_steps`` steps, each stopping when the force
measure (``force_norm``: the 2-norm of an image's 3N NEB forces, or the largest per-atom force as
ASE's ``fmax``) of every image is below ``ftol``. Energies and forces come from LAMMPS through
`ase.calculators.lammpslib.LAMMPSlib`, so the two engines see the same potential energy surface.
The climbing image here is re-chosen each step (the highest image), while LAMMPS fixes it when
the climbing stage starts; on a single-humped hop both converge on the same saddle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from vmeb.lammps.loading import import_lammps
from vmeb.lammps.potentials import Potential
from vmeb.neb.site import NEBConfig, NEBRun

logger = logging.getLogger(__name__)

ENGINE = "ase"
#: ASE FIRE settings: time step (ASE units) and largest step per atom (Å).
FIRE_DT = 0.1
FIRE_MAXSTEP = 0.1


def lammpslib_calculator(potential: Potential, species: Sequence[str]):
    """A `LAMMPSlib` calculator for ``potential`` with LAMMPS types in ``species`` order."""
    import_lammps()  # preloads MPI before ASE imports lammps
    from ase.calculators.lammpslib import LAMMPSlib  # noqa: PLC0415

    return LAMMPSlib(
        lmpcmds=potential.lammps_commands(species),
        atom_types={s: i + 1 for i, s in enumerate(species)},
        log_file=None,
        keep_alive=True,
    )


def band_residual(neb, norm: str) -> float:
    """The stopping measure of a band (eV/Å): the largest over images of their force norm.

    Args:
        neb: An ``ase.mep.NEB`` whose forces have been evaluated.
        norm: ``two`` (2-norm of an image's 3N NEB forces), ``max`` (largest per-atom force)
            or ``inf`` (largest force component), as LAMMPS ``min_modify norm``.
    """
    forces = np.asarray(neb.get_forces()).reshape(neb.nimages - 2, -1, 3)
    if norm == "two":
        per_image = np.linalg.norm(forces.reshape(len(forces), -1), axis=1)
    elif norm == "max":
        per_image = np.linalg.norm(forces, axis=2).max(axis=1)
    else:
        per_image = np.abs(forces).reshape(len(forces), -1).max(axis=1)
    return float(per_image.max())


def _optimise(neb, config: NEBConfig, steps: int) -> tuple[int, bool, float]:
    """FIRE on the band until its residual is below ``ftol``: (steps, converged, residual)."""
    from ase.optimize import FIRE  # noqa: PLC0415

    optimiser = FIRE(neb, dt=FIRE_DT, maxstep=FIRE_MAXSTEP, logfile=None)
    residual = np.inf
    for _ in optimiser.irun(fmax=0.0, steps=steps):
        residual = band_residual(neb, config.force_norm)
        if residual < config.ftol:
            return optimiser.nsteps, True, residual
    return optimiser.nsteps, False, residual


def run_neb(
    images: Sequence[Atoms],
    potential: Potential,
    species: Sequence[str],
    config: NEBConfig,
    workdir: str | Path | None = None,
) -> NEBRun:
    """Run a climbing-image NEB with ASE and LAMMPSlib.

    Args:
        images: R starting replicas (same atoms and cell); the first and last are the relaxed end
            states, positions continuous between replicas (Å).
        potential: The interatomic potential.
        species: LAMMPS type order.
        config: NEB settings (spring, ftol, force norm, step limits).
        workdir: Unused (the engine runs in memory); accepted for the common engine signature.

    Returns:
        The final band: energies [R] (eV), positions and true forces [R, N, 3], steps of both
        stages, and whether the climbing stage converged.
    """
    from ase.mep import NEB  # noqa: PLC0415

    band = [image.copy() for image in images]
    calculators = [lammpslib_calculator(potential, species) for _ in band]
    try:
        for image, calc in zip(band, calculators, strict=True):
            image.calc = calc
        neb = NEB(band, k=config.spring, climb=False, method="improvedtangent")
        plain_steps, _, _ = _optimise(neb, config, config.max_steps)
        neb.climb = True
        climb_steps, converged, residual = _optimise(neb, config, config.climb_steps)
        energies = np.array([image.get_potential_energy() for image in band])
        forces = np.array([image.get_forces() for image in band])
        positions = np.array([image.positions for image in band])
    finally:
        for calc in calculators:
            calc.clean()
    logger.debug("ASE NEB: %d + %d steps, residual %.2g", plain_steps, climb_steps, residual)
    return NEBRun(
        energies=energies,
        positions=positions,
        forces=forces,
        iterations=plain_steps + climb_steps,
        converged=converged,
        residual=residual,
        engine=ENGINE,
    )
