"""Energies, forces and relaxations with a calculator potential (ASE), as `vmeb.lammps.session`
does them in LAMMPS.

`vmeb.lammps.session.potential_energy`, ``forces`` and ``relax`` hand a `CalculatorPotential`
to the functions here, so every caller (lattice constants, vacancy cells, NEB end states,
``vmeb properties``) works with either kind. Tolerances mean what they mean for LAMMPS where
they can:

- positions: ASE's ``BFGS`` (``FIRE`` above `BFGS_MAX_ATOMS` atoms, where BFGS's dense 3N x 3N
  Hessian costs more than it saves) until the largest per-atom force is below ``ftol`` (LAMMPS
  stops on the 2-norm of all 3N forces, which is at least as large; a per-atom criterion is the
  one a float32 model can meet in a large cell). A 53-atom Mo vacancy cell with SevenNet-0 to
  1e-4 eV/Å: 17 BFGS steps, 79 FIRE steps;
- ``box="iso"``: the same alternation as LAMMPS's `_relax_volume`, the one
  `vmeb.lammps.volume.secant_volume_steps` (fixed-box relaxation, then a uniform rescaling by a
  secant step on P(ln V)) until |P| < 10 bar, with the pressure from the calculator's stress;
- ``box="aniso"``/``"tri"``: the same optimiser on ``ase.filters.FrechetCellFilter`` (diagonal
  or all stresses) to the same ``ftol`` (forces and stress x volume per atom).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.units import bar

from vmeb.errors import VmebError
from vmeb.lammps.calculators import CalculatorPotential
from vmeb.lammps.volume import secant_volume_steps

logger = logging.getLogger(__name__)

#: Largest atomic step of FIRE (Å).
FIRE_MAXSTEP = 0.1
#: Largest structure relaxed by BFGS (dense Hessian); FIRE above.
BFGS_MAX_ATOMS = 1000


def _with_calculator(atoms: Atoms, potential: CalculatorPotential, species) -> Atoms:
    out = atoms.copy()
    out.calc = potential.calculator(_species(atoms, potential, species))
    return out


def _species(atoms: Atoms, potential: CalculatorPotential, species) -> tuple[str, ...]:
    from vmeb.species import default_order  # noqa: PLC0415

    if species is not None:
        return tuple(species)
    present = default_order(atoms.get_chemical_symbols())
    potential.check_species(present)
    return default_order(present, potential.elements)


def _finite(value: float, what: str, potential: CalculatorPotential) -> float:
    if not math.isfinite(value):
        raise VmebError(f"potential {potential.name} gave a non-finite {what}")
    return value


def potential_energy(
    atoms: Atoms, potential: CalculatorPotential, species: Sequence[str] | None = None
) -> float:
    """Total potential energy (eV) of a structure with the calculator."""
    image = _with_calculator(atoms, potential, species)
    return _finite(float(image.get_potential_energy()), "energy", potential)


def forces(
    atoms: Atoms, potential: CalculatorPotential, species: Sequence[str] | None = None
) -> np.ndarray:
    """Forces [N, 3] (eV/Å) on the atoms of a structure, in their order."""
    image = _with_calculator(atoms, potential, species)
    return np.asarray(image.get_forces(), dtype=float)


def pressure_bar(atoms: Atoms) -> float:
    """Pressure (bar) of a structure with a calculator attached: -trace(stress)/3."""
    stress = np.asarray(atoms.get_stress(voigt=True), dtype=float)
    return float(-stress[:3].mean() / bar)


def _minimise(target, ftol: float, maxiter: int) -> int:
    """BFGS or FIRE on ``target`` (atoms or a cell filter) to a largest force below ``ftol``."""
    from ase.optimize import BFGS, FIRE  # noqa: PLC0415

    if len(target) <= BFGS_MAX_ATOMS:
        optimiser = BFGS(target, logfile=None)
    else:
        optimiser = FIRE(target, maxstep=FIRE_MAXSTEP, logfile=None)
    optimiser.run(fmax=ftol, steps=maxiter)
    return optimiser.nsteps


def _relax_volume(atoms: Atoms, ftol: float, maxiter: int, max_rounds: int = 12) -> None:
    """Positions and (isotropic) volume to zero pressure, as `session._relax_volume`."""
    _minimise(atoms, ftol, maxiter)

    def rescale_and_relax(factor: float) -> None:
        atoms.set_cell(atoms.cell.array * factor, scale_atoms=True)
        _minimise(atoms, ftol, maxiter)

    secant_volume_steps(lambda: pressure_bar(atoms), rescale_and_relax, max_rounds)


def relax(
    atoms: Atoms,
    potential: CalculatorPotential,
    species: Sequence[str] | None = None,
    box: str | None = None,
    ftol: float = 1e-3,
    maxiter: int = 10000,
    fixed_indices: Sequence[int] | None = None,
) -> tuple[Atoms, float]:
    """Relax a structure with the calculator (module doc for the criteria).

    Args:
        atoms: Starting structure.
        potential: The calculator potential.
        species: Type order (passed to factories that take it).
        box: None (fixed cell), ``"iso"``, ``"aniso"`` or ``"tri"`` (`vmeb.lammps.session.relax`).
        ftol: Largest per-atom force at the end (eV/Å).
        maxiter: Optimiser step limit (per fixed-box stage).
        fixed_indices: Indices of atoms kept in place (``ase.constraints.FixAtoms``).

    Returns:
        The relaxed structure (a copy without calculator) and its energy (eV).
    """
    from ase.constraints import FixAtoms  # noqa: PLC0415

    work = _with_calculator(atoms, potential, species)
    if fixed_indices is not None and len(fixed_indices):
        work.set_constraint(FixAtoms(indices=np.unique(np.asarray(fixed_indices, dtype=int))))
    if box == "iso":
        _relax_volume(work, ftol, maxiter)
    elif box in ("aniso", "tri"):
        from ase.filters import FrechetCellFilter  # noqa: PLC0415

        mask = [1, 1, 1, 0, 0, 0] if box == "aniso" else None
        _minimise(FrechetCellFilter(work, mask=mask), ftol, maxiter)
    else:
        _minimise(work, ftol, maxiter)
    energy = _finite(float(work.get_potential_energy()), "energy", potential)
    out = atoms.copy()
    out.set_cell(work.cell.array, scale_atoms=False)
    out.positions = work.positions
    return out, energy
