"""Relaxed lattice constants of a potential, and random alloys built at them.

`lattice_constant` relaxes a random cubic cell of the composition with the potential (cached per
potential file hash, composition, size and seed); `random_alloy_for_potential` builds a sample of
`vmeb.structure.build.build_random_alloy` at that lattice constant.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from vmeb.files import atomic_write_text, cache_dir
from vmeb.lammps.base import CALCULATOR_KIND
from vmeb.lammps.potentials import AnyPotential, load_potential
from vmeb.lammps.session import relax
from vmeb.structure.build import (
    bcc_supercell,
    build_random_alloy,
    composition_counts,
    normalise_fractions,
    parse_composition,
)

logger = logging.getLogger(__name__)

#: Default cells per edge of a calculator potential's lattice-constant cell (54 atoms).
CALCULATOR_CELLS = 3


def _vegard_guess(counts: Mapping[str, int]) -> float:
    """A starting BCC lattice constant (Å) from ASE's reference states, Vegard's law."""
    from ase.data import covalent_radii, reference_states  # noqa: PLC0415

    total, acc = 0, 0.0
    for symbol, count in counts.items():
        state = reference_states[atomic_numbers[symbol]] or {}
        if state.get("symmetry") == "bcc":
            a = float(state["a"])
        else:
            a = 4.0 * float(covalent_radii[atomic_numbers[symbol]]) / np.sqrt(3.0)
        total += count
        acc += count * a
    return acc / total


def _cache_key(
    potential: AnyPotential, fractions: Mapping[str, float], cells: int, seed: int
) -> str:
    comp = ",".join(f"{s}:{x:.6f}" for s, x in sorted(fractions.items()) if x > 0)
    return f"{potential.cache_identity()}|{comp}|cells={cells}|seed={seed}"


@contextlib.contextmanager
def _locked_json(path: Path) -> Iterator[dict]:
    """Read-modify-write a JSON dict under an exclusive lock; written atomically."""
    lock = path.with_name(path.name + ".lock")
    with open(lock, "w") as lock_handle:
        fcntl.flock(lock_handle, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            logger.warning("ignoring unreadable cache %s", path)
            data = {}
        before = dict(data)
        yield data
        if data != before:
            atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def lattice_constant(
    potential: AnyPotential | str | None,
    composition: Mapping[str, float],
    cells: int | None = None,
    seed: int = 0,
    cache: bool = True,
) -> float:
    """Relaxed BCC lattice constant (Å) of a random solid solution.

    A ``cells``^3 conventional BCC cell (2 ``cells``^3 atoms) at the composition, atoms placed
    at random from ``seed`` (pure elements: one atom type), is relaxed with the cell held cubic
    (``box/relax iso`` to zero pressure) to a force norm of 1e-4 eV/Å (a converged to ~1e-8 Å);
    a calculator potential relaxes the same way in ASE (`vmeb.lammps.calcrun.relax`).

    Args:
        potential: A `Potential` or spec.
        composition: Element -> fraction (normalised here; zeros allowed).
        cells: Conventional cells per edge (default: 6 for a LAMMPS potential, 432 atoms;
            `CALCULATOR_CELLS` for a calculator potential, whose force calls cost ~0.01 s per
            atom on a CPU: a 432-atom relaxation with 7net-0 took over 40 min).
        seed: Seed of the random placement.
        cache: Look up and store the result in ``lattice_constants.json`` of `cache_dir`,
            keyed by the potential's identity (`cache_identity`: pair style or calculator and
            file hashes), the composition, ``cells`` and ``seed``.

    Returns:
        The lattice constant a (Å): cell edge / ``cells``.
    """
    potential = load_potential(potential)
    if cells is None:
        cells = CALCULATOR_CELLS if potential.kind == CALCULATOR_KIND else 6
    fractions = normalise_fractions(composition)
    key = _cache_key(potential, fractions, cells, seed)
    path = cache_dir() / "lattice_constants.json"
    if cache:
        with _locked_json(path) as data:
            if key in data:
                return float(data[key])
    counts = composition_counts(fractions, 2 * cells**3)
    guess = _vegard_guess({s: c for s, c in counts.items() if c})
    atoms = bcc_supercell(counts, cells, guess, rng=np.random.default_rng(seed))
    relaxed, _ = relax(atoms, potential, box="iso", etol=0.0, ftol=1e-4, maxiter=5000)
    a = float(np.cbrt(abs(np.linalg.det(relaxed.cell.array)))) / cells
    logger.info("lattice constant %s cells=%d seed=%d: %.5f Å", dict(fractions), cells, seed, a)
    if cache:
        with _locked_json(path) as data:
            data[key] = a
    return a


def random_alloy_for_potential(
    composition: Mapping[str, float] | str,
    cells: int,
    a: float | None = None,
    potential: AnyPotential | str | None = None,
    seed: int = 0,
    rng: np.random.Generator | None = None,
) -> Atoms:
    """`build_random_alloy` at the relaxed lattice constant of ``potential`` unless ``a`` is given.

    Args:
        composition: Element -> fraction, or a string for `parse_composition`.
        cells: Conventional cells per edge (2 ``cells``^3 atoms).
        a: Lattice constant (Å); if None, `lattice_constant` of ``potential`` at the composition.
        potential: `Potential` or spec (default: the built-in EAM); used only when ``a`` is None.
        seed: Seed of the random placement (used when ``rng`` is None).
        rng: Generator for the placement, overriding ``seed``.

    Returns:
        The sample; ``info["potential"]`` names the potential, or ``"given"`` when ``a`` was given.
    """
    fractions = parse_composition(composition) if isinstance(composition, str) else composition
    fractions = normalise_fractions(fractions)
    if a is not None:
        return build_random_alloy(fractions, cells, a=a, seed=seed, rng=rng)
    potential = load_potential(potential)
    a = lattice_constant(potential, fractions)
    atoms = build_random_alloy(fractions, cells, a=a, seed=seed, rng=rng)
    atoms.info["potential"] = potential.name
    return atoms
