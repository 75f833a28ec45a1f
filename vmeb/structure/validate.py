"""Structure checks before any work: finite coordinates, no overlapping atoms, a BCC lattice.

Every vmeb command assumes a periodic BCC sample, most of them a perfect (vacancy-free) one. A
structure that is not (NaN coordinates, two atoms on one site, an FCC or amorphous cell, a site
already empty) is refused here with one line naming the file and what was found, instead of
giving a plausible-looking wrong result later.

The checks look at the nearest neighbours of every atom (periodic images included):

* the first-shell distance ``d1`` is the median over atoms of the mean distance to the 8 nearest
  atoms (BCC: ``sqrt(3)/2 a``);
* two atoms closer than ``OVERLAP_FRACTION * d1`` overlap;
* an atom's first neighbours are those closer than ``SHELL_WINDOW * d1``, half-way between the
  BCC first (``sqrt(3)/2 a``) and second (``a``) shells. A BCC sample has 8 for every atom;
  relaxed and thermal displacements move some atoms to 7 or 9, so a BCC sample needs a median of
  8 and at least ``MIN_BCC_FRACTION`` of the atoms at 7 to 9 (accepted up to random displacements
  of about 0.17 Å rms in Ta-Nb-Mo; an FCC or HCP cell has 12, an amorphous one a broad spread);
* a perfect sample has as many atoms as BCC sites in its cell: ``2 n1 n2 n3`` for a cell of
  ``n1 x n2 x n3`` conventional cubes of edge ``a = d1 / (sqrt(3)/2)``, else ``round(2 V / a^3)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from vmeb.errors import VmebError
from vmeb.structure.neighbours import ghosted_cell

logger = logging.getLogger(__name__)

#: First-neighbour distance of BCC over the lattice constant.
BCC_FIRST_SHELL = float(np.sqrt(3.0) / 2.0)
#: First neighbours lie within this factor of the first-shell distance (half-way to BCC shell 2).
SHELL_WINDOW = float(1.0 + (1.0 / BCC_FIRST_SHELL - 1.0) / 2.0)
#: Atoms closer than this fraction of the first-shell distance overlap.
OVERLAP_FRACTION = 0.5
#: Least fraction of atoms with 7 to 9 first neighbours in a BCC sample.
MIN_BCC_FRACTION = 0.9
#: Neighbours looked at per atom (enough to count 12 FCC first neighbours and more).
_K = 14
#: Atoms per KD-tree query, to bound memory on million-atom samples.
_CHUNK = 100_000

_LATTICE_NAMES = {12: "FCC/HCP-like", 6: "simple-cubic-like", 4: "diamond-like", 14: "dense"}


@dataclass(frozen=True)
class ShellSummary:
    """Nearest-neighbour summary of a periodic structure.

    Attributes:
        first_shell: First-shell distance d1 (Å): median over atoms of the mean distance to the 8
            nearest atoms.
        counts: [N] atoms within ``SHELL_WINDOW * first_shell`` of each atom.
        closest: (i, j, distance in Å) of the closest pair of atoms (j may be an image of i).
    """

    first_shell: float
    counts: np.ndarray
    closest: tuple[int, int, float]

    @property
    def lattice_constant(self) -> float:
        """BCC lattice constant a = d1 / (sqrt(3)/2) (Å)."""
        return self.first_shell / BCC_FIRST_SHELL


def check_finite(atoms: Atoms, name: str) -> None:
    """Raise if a coordinate or a cell component is not finite.

    Raises:
        VmebError: ``"<name>: atom 5 has a non-finite coordinate (nan, 0.0, 1.6)"``.
    """
    positions = np.asarray(atoms.positions, dtype=float)
    bad = np.nonzero(~np.all(np.isfinite(positions), axis=1))[0]
    if bad.size:
        where = ", ".join(f"{v:g}" for v in positions[bad[0]])
        raise VmebError(
            f"{name}: {bad.size} atom(s) with non-finite coordinates, first atom {int(bad[0])} "
            f"({where})"
        )
    cell = np.asarray(atoms.cell.array, dtype=float)
    if not np.all(np.isfinite(cell)):
        raise VmebError(f"{name}: non-finite cell vectors {cell.tolist()}")
    if not np.all(atoms.pbc) or abs(np.linalg.det(cell)) < 1e-9:
        raise VmebError(f"{name}: needs a periodic cell of non-zero volume (cell {cell.tolist()})")


def shell_summary(atoms: Atoms) -> ShellSummary:
    """Nearest-neighbour distances of every atom, through periodic images.

    Args:
        atoms: Periodic structure with finite coordinates (`check_finite`).

    Returns:
        The first-shell distance, first-neighbour counts and the closest pair.
    """
    n = len(atoms)
    per_atom = abs(np.linalg.det(atoms.cell.array)) / n
    ghosts = ghosted_cell(atoms, 2.2 * per_atom ** (1.0 / 3.0))
    k = min(_K + 1, len(ghosts.positions))
    origin = ghosts.positions[:n]
    dist = np.empty((n, k - 1), dtype=np.float64)
    closest = (0, 0, np.inf)
    for start in range(0, n, _CHUNK):
        d, idx = ghosts.tree.query(origin[start : start + _CHUNK], k=k)
        # drop the atom itself (column 0, unless other points sit exactly on it)
        is_self = idx == np.arange(start, start + len(d))[:, None]
        is_self[~is_self.any(axis=1), -1] = True
        d = d[~is_self].reshape(len(d), k - 1)
        idx = idx[~is_self].reshape(len(d), k - 1)
        dist[start : start + len(d)] = d
        row = int(np.argmin(d[:, 0]))
        if d[row, 0] < closest[2]:
            closest = (start + row, int(ghosts.owner[idx[row, 0]]), float(d[row, 0]))
    usable = min(8, k - 1)
    first_shell = float(np.median(dist[:, :usable].mean(axis=1)))
    counts = np.sum(dist < SHELL_WINDOW * first_shell, axis=1)
    return ShellSummary(first_shell=first_shell, counts=counts, closest=closest)


def _check_overlap(summary: ShellSummary, name: str) -> None:
    i, j, distance = summary.closest
    bound = OVERLAP_FRACTION * summary.first_shell
    if distance < bound:
        pair = f"atoms {i} and {j}" if i != j else f"atom {i} and its own periodic image"
        raise VmebError(
            f"{name}: overlapping atoms: {pair} are {distance:.3f} Å apart, below {bound:.2f} Å "
            f"(half the first-shell distance {summary.first_shell:.2f} Å)"
        )


def _check_bcc(summary: ShellSummary, name: str) -> None:
    counts = summary.counts
    near_eight = float(np.mean(np.abs(counts - 8) <= 1))
    if np.median(counts) == 8 and near_eight >= MIN_BCC_FRACTION:
        return
    fraction = float(np.mean(counts == 8))
    values, freq = np.unique(counts, return_counts=True)
    mode = int(values[np.argmax(freq)])
    if freq.max() >= MIN_BCC_FRACTION * len(counts):
        kind = _LATTICE_NAMES.get(mode, "not BCC")
        found = f"{mode} first neighbours per atom ({kind})"
    else:
        found = (
            f"amorphous or strongly disordered: first-shell count spread {int(counts.min())}.."
            f"{int(counts.max())}, only {fraction:.0%} of atoms with 8"
        )
    raise VmebError(
        f"{name}: not a BCC lattice: {found}; a BCC sample has 8 first neighbours per atom "
        f"(within {SHELL_WINDOW * summary.first_shell:.2f} Å)"
    )


def bcc_site_count(atoms: Atoms, lattice_constant: float) -> tuple[int, str]:
    """Number of BCC sites in the cell of ``atoms`` for lattice constant ``a``.

    Returns:
        ``(sites, description)``: ``2 n1 n2 n3`` for a cell of whole conventional cubes (the
        description reads ``"4x4x4 BCC cell"``), else ``round(2 V / a^3)``.
    """
    cell = np.asarray(atoms.cell.array, dtype=float)
    lengths = np.linalg.norm(cell, axis=1)
    reps = lengths / lattice_constant
    off_diagonal = np.abs(cell - np.diag(np.diag(cell))).max()
    if off_diagonal < 1e-6 * lengths.max() and np.all(np.abs(reps - np.round(reps)) < 0.1):
        n = np.round(reps).astype(int)
        return int(2 * np.prod(n)), f"{n[0]}x{n[1]}x{n[2]} BCC cell"
    volume = abs(np.linalg.det(cell))
    return int(round(2 * volume / lattice_constant**3)), "BCC cell of this volume"


def _check_perfect(atoms: Atoms, summary: ShellSummary, name: str) -> None:
    a = summary.lattice_constant
    sites, description = bcc_site_count(atoms, a)
    n = len(atoms)
    if n == sites:
        return
    if n < sites:
        under = np.nonzero(summary.counts < 8)[0]
        near = f"; atoms next to it: {under[:8].tolist()}" if under.size else ""
        problem = (
            f"{sites - n} site(s) empty (a vacancy is already present{near}); a perfect, "
            f"vacancy-free sample is required"
        )
    else:
        problem = f"{n - sites} atom(s) more than sites (interstitials)"
    raise VmebError(
        f"{name}: {n} atoms, but a {description} with a = {a:.4f} Å has {sites} sites: {problem}"
    )


def validate_structure(
    atoms: Atoms, name: str = "structure", *, lattice: str | None = "bcc", perfect: bool = True
) -> ShellSummary | None:
    """Check a structure before work; raise one clear line if it is unfit.

    Args:
        atoms: The structure (periodic on all axes).
        name: The file (or label) named in error messages.
        lattice: ``"bcc"`` to require a BCC lattice (relaxed and thermal displacements allowed),
            None to check only coordinates and overlaps.
        perfect: Also require every BCC site of the cell to be occupied (no vacancy, no
            interstitial); only with ``lattice="bcc"``.

    Returns:
        The neighbour summary, or None for an empty structure.

    Raises:
        VmebError: ``"<name>: <problem>"`` for non-finite coordinates, overlapping atoms, a
            lattice that is not BCC, or an empty or extra site in a perfect sample.
    """
    if lattice not in (None, "bcc"):
        raise VmebError(f"unknown lattice {lattice!r} (use 'bcc' or None)")
    if len(atoms) == 0:
        raise VmebError(f"{name}: contains no atoms")
    check_finite(atoms, name)
    summary = shell_summary(atoms)
    _check_overlap(summary, name)
    if lattice == "bcc":
        _check_bcc(summary, name)
        if perfect:
            _check_perfect(atoms, summary, name)
    logger.debug(
        "%s: %d atoms, first shell %.4f Å, %.1f%% with 8 first neighbours",
        name,
        len(atoms),
        summary.first_shell,
        100.0 * float(np.mean(summary.counts == 8)),
    )
    return summary
