"""Periodic neighbour search: the one neighbour routine of vmeb.

Works for any triclinic cell and any cutoff, also where the cutoff exceeds half the box (the
128-atom DFT cells with a 7.6 Å cutoff): periodic images are generated explicitly as ghost atoms
inside a skin of width ``cutoff`` around the cell, and a KD-tree over atoms plus ghosts answers
the queries. Queries are chunked so million-atom samples stay within memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from vmeb.errors import VmebError


@dataclass(frozen=True)
class GhostedCell:
    """Atoms of a periodic cell plus the periodic images within ``cutoff`` of it.

    Attributes:
        positions: [N_total, 3] Cartesian positions (Å): the N real atoms first, then ghosts.
        owner: [N_total] index of the real atom each point is an image of.
        cutoff: The skin width (Å) the ghosts cover.
        tree: KD-tree over ``positions``.
    """

    positions: np.ndarray
    owner: np.ndarray
    cutoff: float
    tree: cKDTree


def _plane_spacings(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell, [3] (Å)."""
    volume = abs(np.linalg.det(cell))
    return np.array(
        [volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    )


def ghosted_cell(atoms: Atoms, cutoff: float) -> GhostedCell:
    """Build the ghost-atom cover of a fully periodic cell.

    Args:
        atoms: Periodic structure (``pbc`` all True).
        cutoff: Largest query distance (Å).

    Returns:
        The ghosted cell, with a KD-tree ready for queries.
    """
    if not np.all(atoms.pbc):
        raise VmebError("neighbour search needs a fully periodic cell (pbc on all axes)")
    cell = np.asarray(atoms.cell.array, dtype=float)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise VmebError("neighbour search needs a cell of non-zero volume")
    frac = atoms.get_scaled_positions(wrap=True)
    skin = cutoff / _plane_spacings(cell)  # skin width in fractional units per axis
    reps = np.ceil(skin).astype(int)
    shifts = np.array(
        [
            (a, b, c)
            for a in range(-reps[0], reps[0] + 1)
            for b in range(-reps[1], reps[1] + 1)
            for c in range(-reps[2], reps[2] + 1)
        ]
    )
    # real atoms first
    shifts = shifts[np.argsort(np.abs(shifts).sum(axis=1), kind="stable")]
    all_frac, owners = [], []
    index = np.arange(len(atoms))
    for shift in shifts:
        shifted = frac + shift
        inside = np.all((shifted > -skin - 1e-9) & (shifted < 1 + skin + 1e-9), axis=1)
        all_frac.append(shifted[inside])
        owners.append(index[inside])
    frac_all = np.concatenate(all_frac)
    positions = frac_all @ cell
    return GhostedCell(
        positions=positions,
        owner=np.concatenate(owners),
        cutoff=float(cutoff),
        tree=cKDTree(positions),
    )


def neighbours_within(
    atoms: Atoms,
    centers: np.ndarray,
    cutoff: float,
    ghosts: GhostedCell | None = None,
    chunk: int = 20000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All atoms within ``cutoff`` of each centre site, through periodic images.

    The centre atom itself (distance 0) is excluded; an atom seen through several images
    appears once per image.

    Args:
        atoms: Periodic structure.
        centers: [K] indices of the centre atoms (vacancy sites).
        cutoff: Radius (Å), strict: ``|r| < cutoff``.
        ghosts: A precomputed `ghosted_cell` with at least this cutoff (optional).
        chunk: Centres per KD-tree query, to bound memory.

    Returns:
        ``(center_slot, j, vectors)``: [P] position of the centre in ``centers``, [P] index of the
        neighbour atom, [P, 3] vectors from the centre to the neighbour image (Å). Pairs are
        grouped by centre slot in increasing order.
    """
    centers = np.asarray(centers, dtype=int)
    if centers.size and (centers.min() < 0 or centers.max() >= len(atoms)):
        raise VmebError(f"site index out of range 0..{len(atoms) - 1}")
    if ghosts is None or ghosts.cutoff < cutoff:
        ghosts = ghosted_cell(atoms, cutoff)
    origin = atoms.positions[centers]
    # centres are real atoms: use their wrapped ghost-cell coordinates
    origin = ghosts.positions[: len(atoms)][centers] if len(origin) else origin
    slots, js, vecs = [], [], []
    for start in range(0, len(centers), chunk):
        sub = origin[start : start + chunk]
        lists = ghosts.tree.query_ball_point(sub, r=cutoff)
        counts = np.fromiter((len(x) for x in lists), dtype=int, count=len(lists))
        flat = np.fromiter((i for x in lists for i in x), dtype=int, count=int(counts.sum()))
        slot = np.repeat(np.arange(start, start + len(sub)), counts)
        vec = ghosts.positions[flat] - origin[slot]
        dist = np.linalg.norm(vec, axis=1)
        keep = (dist > 1e-8) & (dist < cutoff)
        order = np.lexsort((dist[keep], slot[keep]))
        slots.append(slot[keep][order])
        js.append(ghosts.owner[flat[keep]][order])
        vecs.append(vec[keep][order])
    if not slots:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 3))
    return np.concatenate(slots), np.concatenate(js), np.concatenate(vecs)


def first_neighbours(
    atoms: Atoms, centers: np.ndarray, count: int = 8, ghosts: GhostedCell | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` nearest neighbours of each centre (8 first neighbours in BCC).

    Args:
        atoms: Periodic structure.
        centers: [K] centre atom indices.
        count: Neighbours per centre.
        ghosts: A precomputed `ghosted_cell` (optional).

    Returns:
        ``(indices, vectors)``: [K, count] neighbour atom indices and [K, count, 3] vectors (Å),
        nearest first.

    Raises:
        VmebError: if a centre's ``count``-th and ``count+1``-th neighbours are not separated
            (no clean first shell: not a BCC site), or an index is out of range.
    """
    centers = np.asarray(centers, dtype=int)
    if centers.size and (centers.min() < 0 or centers.max() >= len(atoms)):
        raise VmebError(f"site index out of range 0..{len(atoms) - 1}")
    if ghosts is None:
        nn = np.sort(np.linalg.norm(atoms.cell.array, axis=1))
        volume_per_atom = atoms.get_volume() / len(atoms)
        guess = 2.5 * volume_per_atom ** (1 / 3)
        ghosts = ghosted_cell(atoms, min(max(guess, 3.0), 2 * nn[-1]))
    origin = ghosts.positions[: len(atoms)][centers]
    dist, idx = ghosts.tree.query(origin, k=count + 2)
    # column 0 is the centre itself
    shell_gap = dist[:, count + 1] - dist[:, count]
    bad = np.nonzero(shell_gap < 0.05 * dist[:, count])[0]
    if bad.size:
        raise VmebError(
            f"site {int(centers[bad[0]])} has no clean shell of {count} first neighbours "
            f"({count}th at {dist[bad[0], count]:.3f} Å, next at {dist[bad[0], count + 1]:.3f} Å)"
        )
    idx = idx[:, 1 : count + 1]
    vectors = ghosts.positions[idx] - origin[:, None, :]
    return ghosts.owner[idx], vectors


def is_first_neighbour_pair(atoms: Atoms, vacancies: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """[H] bool: whether ``moving[h]`` is one of the 8 first neighbours of ``vacancies[h]``.

    Args:
        atoms: The periodic structure.
        vacancies: [H] atom indices (in range).
        moving: [H] atom indices (in range).

    Raises:
        VmebError: if a vacancy site has no clean shell of 8 first neighbours.
    """
    sites, slot = np.unique(np.asarray(vacancies, dtype=np.int64), return_inverse=True)
    ids, _ = first_neighbours(atoms, sites, 8)
    return (ids[slot] == np.asarray(moving, dtype=np.int64)[:, None]).any(axis=1)
