"""Local environments of vacancy hops in the hop frame, and the rotation convention of vmeb.

A hop is a vacancy site ``i`` (the atom removed from the perfect sample) and one of its 8 first
neighbours ``j`` (the atom that jumps into the vacancy). Its local environment is every atom image
with ``|r| < r_c`` from the vacancy site, periodic images included even where ``r_c`` exceeds half
the box; the moving atom is part of it, the removed atom and its own periodic images are not (in a
periodic sample they are vacancies too).

Hop frame (paper Fig. 1c), one convention for the whole package:

* x: the unit hop vector, vacancy site -> moving atom (the moving atom sits at ``(d_1nn, 0, 0)``);
* y: the component of the first cell vector perpendicular to x, normalised (the second cell
  vector when the first is nearly parallel to x);
* z: x cross y (right-handed).

`hop_frames` returns these axes as the rows of a rotation matrix ``R``, so frame coordinates are
``R @ r``. `rotation_about_x` gives the matrices ``Q(angle)`` that turn frame coordinates about x
(``Q @ (0, 1, 0) = (0, cos, sin)``); SDM augmentation and inference averaging use them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from vmeb.errors import VmebError
from vmeb.species import SpeciesTable
from vmeb.structure.neighbours import GhostedCell, first_neighbours, ghosted_cell, neighbours_within

logger = logging.getLogger(__name__)

#: Default environment radius (Å): six neighbour shells of a BCC refractory alloy (paper).
DEFAULT_CUTOFF = 7.6
#: A cell vector whose component perpendicular to the hop is shorter than this fraction of its
#: length counts as parallel to the hop (the second cell vector is used instead).
_PARALLEL_TOLERANCE = 0.1
#: Rounding (Å) of the sort keys that put each hop's atoms in a canonical order.
_SORT_DECIMALS = 3


@dataclass(frozen=True)
class LocalEnvironments:
    """Padded local environments of H hops in their hop frames.

    Atoms of each hop are in a canonical order (distance from the vacancy site, then x, y, z in the
    hop frame), so the same physical hop gives the same arrays whatever the atom numbering.

    Attributes:
        positions: [H, M, 3] float32 positions (Å) in the hop frame: vacancy site at the origin,
            moving atom on +x. Rows beyond each hop's atom count are 0.
        species: [H, M] int64 channel index in the given species order; -1 marks padding.
        atom_index: [H, M] int64 index of the atom in the sample; -1 marks padding.
        window: [H, W] int8 species on each hop's lattice window in its canonical frame
            (`vmeb.learn.field.hop_windows`, for the lattice-field kind), or None.
    """

    positions: np.ndarray
    species: np.ndarray
    atom_index: np.ndarray
    window: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    @property
    def max_atoms(self) -> int:
        """M, the padded number of atoms per hop."""
        return int(self.positions.shape[1])

    @property
    def counts(self) -> np.ndarray:
        """[H] number of real (non-padding) atoms of each hop."""
        return (self.species >= 0).sum(axis=1)

    def take(self, indices: np.ndarray | Sequence[int]) -> LocalEnvironments:
        """The environments of a subset of hops (same padding M).

        Args:
            indices: [K] hop indices (or a boolean mask of length H).

        Returns:
            A new `LocalEnvironments` with K hops.
        """
        indices = np.asarray(indices)
        return LocalEnvironments(
            positions=self.positions[indices],
            species=self.species[indices],
            atom_index=self.atom_index[indices],
            window=None if self.window is None else self.window[indices],
        )

    def padded(self, max_atoms: int) -> LocalEnvironments:
        """The same environments padded (never cut) to ``max_atoms`` atoms per hop.

        Raises:
            ValueError: if ``max_atoms`` is smaller than the largest hop.
        """
        if max_atoms < self.max_atoms:
            if len(self) and int(self.counts.max()) > max_atoms:
                raise ValueError(f"cannot pad {int(self.counts.max())} atoms into {max_atoms}")
            return LocalEnvironments(
                positions=self.positions[:, :max_atoms],
                species=self.species[:, :max_atoms],
                atom_index=self.atom_index[:, :max_atoms],
                window=self.window,
            )
        extra = max_atoms - self.max_atoms
        hops = len(self)
        return LocalEnvironments(
            positions=np.concatenate(
                [self.positions, np.zeros((hops, extra, 3), np.float32)], axis=1
            ),
            species=np.concatenate([self.species, np.full((hops, extra), -1, np.int64)], axis=1),
            atom_index=np.concatenate(
                [self.atom_index, np.full((hops, extra), -1, np.int64)], axis=1
            ),
            window=self.window,
        )


def concatenate_environments(
    environments: Sequence[LocalEnvironments], max_atoms: int | None = None
) -> LocalEnvironments:
    """Stack environments of several calls (e.g. several samples) into one padded set.

    Args:
        environments: Sets of hops, possibly with different padding.
        max_atoms: Padding of the result; default the largest of the inputs.

    Returns:
        One `LocalEnvironments` with all hops in order.
    """
    if not environments:
        return _empty(max_atoms or 0)
    width = max(env.max_atoms for env in environments) if max_atoms is None else max_atoms
    padded = [env.padded(width) for env in environments]
    windows = [env.window for env in padded]
    if any(w is None for w in windows) and not all(w is None for w in windows):
        raise VmebError("cannot stack environments with and without lattice windows")
    return LocalEnvironments(
        positions=np.concatenate([env.positions for env in padded]),
        species=np.concatenate([env.species for env in padded]),
        atom_index=np.concatenate([env.atom_index for env in padded]),
        window=None if windows[0] is None else np.concatenate(windows),
    )


def _empty(max_atoms: int) -> LocalEnvironments:
    return LocalEnvironments(
        positions=np.zeros((0, max_atoms, 3), np.float32),
        species=np.zeros((0, max_atoms), np.int64),
        atom_index=np.zeros((0, max_atoms), np.int64),
    )


def hop_frames(hop_vectors: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Rotation matrices into the hop frame.

    Args:
        hop_vectors: [H, 3] vectors vacancy site -> moving atom (Å).
        cell: [3, 3] cell vectors as rows (ASE convention).

    Returns:
        [H, 3, 3] float64 rotation matrices whose rows are the frame axes x, y, z, so that
        ``R @ r`` gives frame coordinates.

    Raises:
        VmebError: if a hop vector is zero or the cell is degenerate.
    """
    hop_vectors = np.atleast_2d(np.asarray(hop_vectors, dtype=float))
    cell = np.asarray(cell, dtype=float)
    lengths = np.linalg.norm(hop_vectors, axis=1)
    if np.any(lengths < 1e-8):
        raise VmebError("hop vector of zero length: moving atom on the vacancy site")
    x = hop_vectors / lengths[:, None]
    y = np.empty_like(x)
    chosen = np.zeros(len(x), dtype=bool)
    for vector in cell[:2]:
        norm = np.linalg.norm(vector)
        if norm < 1e-8:
            continue
        perp = vector[None, :] - (x @ vector)[:, None] * x
        perp_norm = np.linalg.norm(perp, axis=1)
        use = ~chosen & (perp_norm > _PARALLEL_TOLERANCE * norm)
        y[use] = perp[use] / perp_norm[use, None]
        chosen |= use
    if not np.all(chosen):
        raise VmebError("cannot build a hop frame: the first two cell vectors are parallel")
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=1)


def rotation_about_x(angles):
    """Rotation matrices about the x axis, for numpy arrays or torch tensors.

    ``Q(a) @ (0, 1, 0) = (0, cos a, sin a)`` and ``Q(a) @ (0, 0, 1) = (0, -sin a, cos a)``.
    Row-vector positions ``P`` [..., 3] rotate as ``P @ Q.T``.

    Args:
        angles: [B] angles (radians), a numpy array or a torch tensor (dtype and device kept).

    Returns:
        [B, 3, 3] rotation matrices of the same kind as ``angles``.
    """
    if isinstance(angles, np.ndarray | float | int | list | tuple):
        angles = np.atleast_1d(np.asarray(angles, dtype=float))
        cos, sin = np.cos(angles), np.sin(angles)
        one, zero = np.ones_like(cos), np.zeros_like(cos)
        rows = [
            np.stack([one, zero, zero], -1),
            np.stack([zero, cos, -sin], -1),
            np.stack([zero, sin, cos], -1),
        ]
        return np.stack(rows, axis=-2)
    import torch

    angles = torch.atleast_1d(angles)
    cos, sin = torch.cos(angles), torch.sin(angles)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rows = [
        torch.stack([one, zero, zero], -1),
        torch.stack([zero, cos, -sin], -1),
        torch.stack([zero, sin, cos], -1),
    ]
    return torch.stack(rows, dim=-2)


def _validate(
    atoms: Atoms, vacancies: np.ndarray, moving: np.ndarray, species: Sequence[str]
) -> np.ndarray:
    """Check indices and elements; return [N] channel index of every atom."""
    if vacancies.ndim != 1 or moving.ndim != 1 or len(vacancies) != len(moving):
        raise VmebError(
            f"vacancy and moving indices must be 1-D of equal length "
            f"(got shapes {vacancies.shape} and {moving.shape})"
        )
    n_atoms = len(atoms)
    for name, values in (("vacancy", vacancies), ("moving", moving)):
        bad = np.nonzero((values < 0) | (values >= n_atoms))[0]
        if bad.size:
            raise VmebError(
                f"{name} index {int(values[bad[0]])} out of range 0..{n_atoms - 1} "
                f"(sample of {n_atoms} atoms)"
            )
    same = np.nonzero(vacancies == moving)[0]
    if same.size:
        raise VmebError(
            f"hop {int(same[0])}: moving atom is the vacancy site {int(moving[same[0]])}"
        )
    return SpeciesTable.of(species).indices(atoms.get_chemical_symbols())


def _hop_vectors(
    atoms: Atoms, vacancies: np.ndarray, moving: np.ndarray, ghosts: GhostedCell
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First-neighbour hop vectors; returns (unique sites, slot of each hop, [H, 3] vectors)."""
    sites, slot = np.unique(vacancies, return_inverse=True)
    neighbour_ids, neighbour_vectors = first_neighbours(atoms, sites, 8, ghosts=ghosts)
    match = neighbour_ids[slot] == moving[:, None]  # [H, 8]
    found = match.sum(axis=1)
    missing = np.nonzero(found == 0)[0]
    if missing.size:
        h = int(missing[0])
        raise VmebError(
            f"atom {int(moving[h])} is not a first neighbour of vacancy site {int(vacancies[h])} "
            f"(its 8 first neighbours are {sorted(int(i) for i in neighbour_ids[slot[h]])})"
        )
    ambiguous = np.nonzero(found > 1)[0]
    if ambiguous.size:
        h = int(ambiguous[0])
        raise VmebError(
            f"atom {int(moving[h])} is a first neighbour of site {int(vacancies[h])} through "
            f"{int(found[h])} periodic images: the cell is too small to define the hop"
        )
    column = np.argmax(match, axis=1)
    vectors = neighbour_vectors[slot, column]
    return sites, slot, vectors


def hop_environments(
    atoms: Atoms,
    vacancy_indices: np.ndarray | Sequence[int],
    moving_indices: np.ndarray | Sequence[int],
    species: Sequence[str],
    r_c: float = DEFAULT_CUTOFF,
    ghosts: GhostedCell | None = None,
) -> LocalEnvironments:
    """Local environments of hops in their hop frames.

    Args:
        atoms: The perfect (vacancy-free) periodic sample.
        vacancy_indices: [H] index of the atom removed to make each hop's vacancy.
        moving_indices: [H] index of the first neighbour that jumps into it.
        species: Element symbols in channel order; every element of the sample must be listed.
        r_c: Environment radius (Å), strict ``|r| < r_c``.
        ghosts: A precomputed `vmeb.structure.neighbours.ghosted_cell` of ``atoms`` with a cutoff
            of at
            least ``r_c`` (reuse it across calls on the same sample).

    Returns:
        The padded environments; M is the largest atom count among these hops.

    Raises:
        VmebError: if an index is out of range, a moving atom is not one of the 8 first
            neighbours of its vacancy site, or an element is missing from ``species``.
    """
    vacancies = np.asarray(vacancy_indices, dtype=np.int64).reshape(-1)
    moving = np.asarray(moving_indices, dtype=np.int64).reshape(-1)
    channel = _validate(atoms, vacancies, moving, list(species))
    if len(vacancies) == 0:
        return _empty(0)
    if r_c <= 0:
        raise VmebError(f"environment radius must be positive, got {r_c}")
    if ghosts is None or ghosts.cutoff < r_c:
        ghosts = ghosted_cell(atoms, r_c)
    sites, hop_site, vectors = _hop_vectors(atoms, vacancies, moving, ghosts)
    frames = hop_frames(vectors, atoms.cell.array)

    site_slot, neighbour, offsets = neighbours_within(atoms, sites, r_c, ghosts=ghosts)
    keep = neighbour != sites[site_slot]  # the vacancy's own periodic images are vacancies too
    site_slot, neighbour, offsets = site_slot[keep], neighbour[keep], offsets[keep]
    per_site = np.bincount(site_slot, minlength=len(sites))
    site_start = np.concatenate([[0], np.cumsum(per_site)[:-1]])

    # expand site pairs to hop pairs: hop h takes the pairs of its site
    counts = per_site[hop_site]
    hop_of_pair = np.repeat(np.arange(len(vacancies)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    pair = site_start[hop_site][hop_of_pair] + within
    local = np.einsum("pij,pj->pi", frames[hop_of_pair], offsets[pair])

    rounded = np.round(local, _SORT_DECIMALS)
    distance = np.round(np.linalg.norm(offsets[pair], axis=1), _SORT_DECIMALS)
    order = np.lexsort((rounded[:, 2], rounded[:, 1], rounded[:, 0], distance, hop_of_pair))
    width = int(counts.max())
    slot = within  # pairs stay grouped by hop after the sort, so the in-hop position is unchanged
    hop_sorted = hop_of_pair[order]
    positions = np.zeros((len(vacancies), width, 3), np.float32)
    channels = np.full((len(vacancies), width), -1, np.int64)
    atom_index = np.full((len(vacancies), width), -1, np.int64)
    positions[hop_sorted, slot] = local[order]
    atom_index[hop_sorted, slot] = neighbour[pair][order]
    channels[hop_sorted, slot] = channel[neighbour[pair][order]]
    logger.debug("%d hops, %d-%d atoms per environment", len(vacancies), counts.min(), width)
    return LocalEnvironments(positions=positions, species=channels, atom_index=atom_index)


def reverse_hop_environments(
    atoms: Atoms,
    vacancy_indices: np.ndarray | Sequence[int],
    moving_indices: np.ndarray | Sequence[int],
    species: Sequence[str],
    r_c: float = DEFAULT_CUTOFF,
    ghosts: GhostedCell | None = None,
) -> LocalEnvironments:
    """Local environments of the reverse hops: each hop's final state hopping back.

    After hop h the vacancy sits on the moving atom's old site and the moving atom on the old
    vacancy site; the reverse hop takes it back, over the same saddle (its barrier is the NEB's
    ``reverse_barrier``). Its environment is that of the hop (vacancy ``moving_indices[h]``,
    mover ``vacancy_indices[h]``) in the sample with the old vacancy site (and its periodic
    images) occupied by the moving atom's species.

    Args:
        atoms: The perfect (vacancy-free) periodic sample.
        vacancy_indices: [H] index of the atom removed to make each forward hop's vacancy.
        moving_indices: [H] index of each forward hop's moving atom.
        species: Element symbols in channel order.
        r_c: Environment radius (Å).
        ghosts: A precomputed ghost cover of ``atoms`` (cutoff at least ``r_c``).

    Returns:
        The padded environments of the H reverse hops, as `hop_environments` orders them.
    """
    vacancies = np.asarray(vacancy_indices, dtype=np.int64).reshape(-1)
    moving = np.asarray(moving_indices, dtype=np.int64).reshape(-1)
    envs = hop_environments(atoms, moving, vacancies, species, r_c, ghosts)
    if len(vacancies) == 0:
        return envs
    channel = SpeciesTable(species).indices(atoms.get_chemical_symbols())
    old_site = envs.atom_index == vacancies[:, None]  # [H, M]: the mover's slot (and images)
    envs.species[old_site] = np.broadcast_to(channel[moving][:, None], old_site.shape)[old_site]
    return envs
