"""NEB engine: ASE's nudged elastic band, images evaluated by LAMMPSlib or a calculator potential.

With a LAMMPS potential it is an independent check of `vmeb.neb.engines.lammps`: the same end
states and starting band, ASE's ``improvedtangent`` NEB (Henkelman & Jónsson 2000) with spring
``k = NEBConfig.spring``, optimised by ASE's FIRE (or BFGS, ``NEBConfig.ase_optimizer``) in two
stages like LAMMPS ``neb``: a plain
band for at most ``max_steps`` steps, then with the climbing image for at most ``climb_steps``
steps, each stopping when the force measure (``force_norm``: the 2-norm of an image's 3N NEB
forces, or the largest per-atom force as ASE's ``fmax``) of every image is below ``ftol``.
Energies and forces come from LAMMPS through `ase.calculators.lammpslib.LAMMPSlib`, so the two
engines see the same potential energy surface. The climbing image here is re-chosen each step
(the highest image), while LAMMPS fixes it when the climbing stage starts; on a single-humped
hop both converge on the same saddle.

With a calculator potential (`vmeb.lammps.calculators.CalculatorPotential`, e.g.
``sevennet:7net-0``) it is the only engine (`vmeb.neb.site.resolve_engine`). The images then
share one calculator through `BandCalculator`: each image has a light ASE calculator that asks
the band for its results, and the band evaluates every image whose positions changed since its
last evaluation in one call of the potential's batched evaluation (SevenNet, CHGNet: one model
call for the R-2 moving images of a step), or one image after another for calculators without
one. ASE's NEB asks the images in turn after each step, so the first request of a step
evaluates them all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from vmeb.lammps.base import CALCULATOR_KIND
from vmeb.lammps.loading import import_lammps
from vmeb.lammps.potentials import AnyPotential, Potential
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


class BandCalculator:
    """Energies and forces of a band's images from one calculator potential (module doc).

    Args:
        potential: The calculator potential.
        species: Type order (passed to factories that take it).
        images: The band's images (the `Atoms` objects the NEB moves).

    Attributes:
        calls: Calls of the potential (a batch counts once).
        evaluations: Structures evaluated.
    """

    def __init__(self, potential, species: Sequence[str], images: Sequence[Atoms]) -> None:
        self.calc = potential.calculator(species)
        self.batch = potential.batch_function()
        self.images = list(images)
        self._positions: list[np.ndarray | None] = [None] * len(self.images)
        self._results: list[dict | None] = [None] * len(self.images)
        self.calls = 0
        self.evaluations = 0

    def image_calculators(self) -> list[Calculator]:
        """One ASE calculator per image, each answering from this band."""
        return [_ImageCalculator(self, k) for k in range(len(self.images))]

    def _fresh(self, k: int, positions: np.ndarray) -> bool:
        known = self._positions[k]
        return known is not None and np.array_equal(known, positions)

    def results(self, k: int, atoms: Atoms) -> dict:
        """The results of image ``k`` at the positions of ``atoms``."""
        if not self._fresh(k, atoms.positions):
            structures = {k: atoms}
            for i, image in enumerate(self.images):
                if i != k and not self._fresh(i, image.positions):
                    structures[i] = image
            self._evaluate(structures)
        return self._results[k]

    def _evaluate(self, structures: dict[int, Atoms]) -> None:
        order = sorted(structures)
        plain = [_plain(structures[i]) for i in order]
        if self.batch is not None and len(plain) > 1:
            energies, forces = self.batch(self.calc, plain)
            self.calls += 1
        else:
            energies, forces = [], []
            for atoms in plain:
                atoms.calc = self.calc
                energies.append(atoms.get_potential_energy())
                forces.append(atoms.get_forces())
                atoms.calc = None
            self.calls += len(plain)
        self.evaluations += len(plain)
        for i, atoms, energy, force in zip(order, plain, energies, forces, strict=True):
            self._positions[i] = atoms.positions.copy()
            e = float(energy)
            self._results[i] = {"energy": e, "free_energy": e, "forces": np.array(force, float)}


def _plain(atoms: Atoms) -> Atoms:
    """A copy of ``atoms`` with no calculator or constraints."""
    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


class _ImageCalculator(Calculator):
    """The ASE calculator of one image of a `BandCalculator`."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, band: BandCalculator, index: int) -> None:
        super().__init__()
        self.band = band
        self.index = index

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Results of this image from the band (evaluating the band's stale images)."""
        super().calculate(atoms, properties, system_changes)
        self.results = dict(self.band.results(self.index, self.atoms))


def image_calculators(
    potential: AnyPotential, species: Sequence[str], band: Sequence[Atoms]
) -> tuple[list, BandCalculator | None]:
    """The calculators of a band's images: LAMMPSlib ones for a LAMMPS potential, else those of
    one `BandCalculator` (returned too, for its call counts)."""
    if potential.kind == CALCULATOR_KIND:
        shared = BandCalculator(potential, species, band)
        return shared.image_calculators(), shared
    return [lammpslib_calculator(potential, species) for _ in band], None


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
    """FIRE or BFGS (``config.ase_optimizer``) on the band until its residual is below ``ftol``:
    (steps, converged, residual)."""
    from ase.optimize import BFGS, FIRE  # noqa: PLC0415

    if config.ase_optimizer == "bfgs":
        optimiser = BFGS(neb, maxstep=FIRE_MAXSTEP, logfile=None)
    else:
        optimiser = FIRE(neb, dt=FIRE_DT, maxstep=FIRE_MAXSTEP, logfile=None)
    residual = np.inf
    for _ in optimiser.irun(fmax=0.0, steps=steps):
        residual = band_residual(neb, config.force_norm)
        if residual < config.ftol:
            return optimiser.nsteps, True, residual
    return optimiser.nsteps, False, residual


def run_neb(
    images: Sequence[Atoms],
    potential: AnyPotential,
    species: Sequence[str],
    config: NEBConfig,
    workdir: str | Path | None = None,
) -> NEBRun:
    """Run a climbing-image NEB with ASE (LAMMPSlib or a calculator potential's calculator).

    Args:
        images: R starting replicas (same atoms and cell); the first and last are the relaxed end
            states, positions continuous between replicas (Å).
        potential: The interatomic potential (either kind).
        species: LAMMPS type order.
        config: NEB settings (spring, ftol, force norm, step limits).
        workdir: Unused (the engine runs in memory); accepted for the common engine signature.

    Returns:
        The final band: energies [R] (eV), positions and true forces [R, N, 3], steps of both
        stages, and whether the climbing stage converged.
    """
    from ase.mep import NEB  # noqa: PLC0415

    band = [image.copy() for image in images]
    calculators, shared = image_calculators(potential, species, band)
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
            getattr(calc, "clean", lambda: None)()
    logger.debug("ASE NEB: %d + %d steps, residual %.2g", plain_steps, climb_steps, residual)
    if shared is not None:
        logger.debug("%d potential calls for %d structures", shared.calls, shared.evaluations)
    return NEBRun(
        energies=energies,
        positions=positions,
        forces=forces,
        iterations=plain_steps + climb_steps,
        converged=converged,
        residual=residual,
        engine=ENGINE,
    )
