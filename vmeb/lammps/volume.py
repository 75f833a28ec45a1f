"""Isotropic volume relaxation to zero pressure by secant steps on P(ln V), for any engine.

`vmeb.lammps.session` (LAMMPS) and `vmeb.lammps.calcrun` (ASE calculators) relax a cell's
volume the same way: a fixed-box relaxation of the positions, then uniform rescalings of the
cell, each followed by another fixed-box relaxation, with the scale from a secant step on
P(ln V) (the first from `BULK_MODULUS_GUESS_BAR`), until |P| < `PRESSURE_TOL_BAR`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from vmeb.errors import VmebError

#: Pressure (bar) below which the volume relaxation stops: the energy error of a residual
#: pressure P is about P^2 V / 2B, below 1e-6 eV for a 2,000-atom cell of a bcc refractory metal.
PRESSURE_TOL_BAR = 10.0
#: Starting guess of the bulk modulus (bar) for the first volume step.
BULK_MODULUS_GUESS_BAR = 2.0e6


def secant_volume_steps(
    pressure: Callable[[], float],
    rescale_and_relax: Callable[[float], None],
    max_rounds: int = 12,
) -> None:
    """Rescale a cell (already relaxed at fixed box) until its pressure is below the tolerance.

    Args:
        pressure: The current pressure (bar).
        rescale_and_relax: Scales the cell edges by the given factor (atoms follow) and relaxes
            the positions at that fixed box.
        max_rounds: Largest number of rescalings.

    Raises:
        VmebError: if the pressure is not below `PRESSURE_TOL_BAR` after ``max_rounds``.
    """
    current = pressure()
    slope = -BULK_MODULUS_GUESS_BAR
    for _ in range(max_rounds):
        if abs(current) < PRESSURE_TOL_BAR:
            return
        step = -current / slope
        rescale_and_relax(math.exp(step / 3.0))
        new_pressure = pressure()
        if new_pressure != current:
            secant = (new_pressure - current) / step
            if secant < 0:  # keep the guess if noise gives a non-physical slope
                slope = secant
        current = new_pressure
    if abs(current) >= PRESSURE_TOL_BAR:
        raise VmebError(
            f"volume relaxation did not reach zero pressure (|P| = {abs(current):.1f} bar "
            f"after {max_rounds} rounds)"
        )
