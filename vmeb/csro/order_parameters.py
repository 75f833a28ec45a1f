"""Chemical short-range order (CSRO) parameters and the radial distribution function.

Neighbour shells are those of the ideal BCC lattice of lattice constant ``a``: distances
``a*sqrt(3)/2, a, a*sqrt(2), a*sqrt(11)/2, a*sqrt(3), 2a, ...`` with coordination numbers
``z = 8, 6, 12, 24, 8, 6, ...``. A neighbour at distance ``r`` belongs to shell ``k`` when ``r``
lies in the window between the midpoints to the neighbouring shells (the first window starts at
0), so thermal or relaxation displacements of up to half a shell gap are tolerated.

Counting convention (the paper's Methods): ``N_ab^k`` counts *ordered* pairs ``(i, j)`` with a
centre atom ``i`` of species ``a`` and a neighbour ``j`` of species ``b`` in shell ``k`` of ``i``.
Every pair is therefore counted once from each end: ``N_ab^k = N_ba^k``, and the sum over all
``a, b`` is ``N * z_k`` on a perfect lattice. Periodic images count separately: in a cell small
enough that a shell wraps (a 16-atom 2x2x2 cell, whose sixth shell holds images of the centre
atom itself) each neighbour *site* of the infinite crystal is one pair, so the sums stay
``N * z_k``. The random-mixture reference is ``N0_ab^k = N * c_a * z_k * c_b`` (sampling with
replacement; a random permutation of a finite sample has expectation
``N z_k c_a (N c_b - [a = b]) / (N - 1)``, which differs from ``N0`` by less than ``z_k`` pairs),
and the paper's order parameter is ``delta_ab^k = N_ab^k - N0_ab^k`` (a number of pairs, not
normalised). The Warren-Cowley parameter is ``alpha_ab^k = 1 - p_k(b|a) / c_b`` with
``p_k(b|a) = N_ab^k / sum_b' N_ab'^k``; ``alpha < 0`` means a-b pairs are favoured. Identities:
``sum_b c_b alpha_ab^k = 0`` and, on a perfect lattice, ``delta_ab^k = -N c_a z_k c_b alpha_ab^k``.

Pair tables depend only on the sites, not on which species sits where, so swap Monte Carlo
re-evaluates counts from a fixed `ShellPairs` table with one ``bincount`` per configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from vmeb.errors import VmebError
from vmeb.species import SpeciesTable
from vmeb.structure.lattice import sample_lattice_constant
from vmeb.structure.neighbours import neighbours_within

logger = logging.getLogger(__name__)

#: Largest number of BCC shells `bcc_shells` enumerates.
MAX_SHELLS = 30


@dataclass(frozen=True)
class Shells:
    """Neighbour shells of the ideal BCC lattice.

    Attributes:
        a: Lattice constant (Å).
        distances: [K] ideal shell radii (Å), increasing.
        coordination: [K] number of neighbour sites in each shell.
        edges: [K + 1] window edges (Å): shell ``k`` holds ``edges[k] <= r < edges[k + 1]``.
    """

    a: float
    distances: np.ndarray
    coordination: np.ndarray
    edges: np.ndarray

    @property
    def n_shells(self) -> int:
        """Number of shells K."""
        return len(self.distances)

    @property
    def cutoff(self) -> float:
        """Upper edge of the last shell (Å)."""
        return float(self.edges[-1])

    def shell_of(self, distances: np.ndarray) -> np.ndarray:
        """0-based shell index of each distance (Å), or -1 outside all windows."""
        index = np.searchsorted(self.edges, np.asarray(distances, dtype=float), side="right") - 1
        index[(index < 0) | (index >= self.n_shells)] = -1
        return index


def bcc_shells(a: float, n_shells: int) -> Shells:
    """The first ``n_shells`` neighbour shells of a BCC lattice.

    Args:
        a: Cubic lattice constant (Å).
        n_shells: Number of shells, 1..`MAX_SHELLS`.

    Returns:
        The shells with radii, coordination numbers and distance windows.
    """
    if not 1 <= n_shells <= MAX_SHELLS:
        raise VmebError(f"number of shells must be 1..{MAX_SHELLS}, got {n_shells}")
    if not a > 0:
        raise VmebError(f"lattice constant must be positive, got {a}")
    # BCC sites in units of a/2: integer triples that are all even or all odd
    span = np.arange(-12, 13)
    grid = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    parity = grid % 2
    grid = grid[np.all(parity == parity[:, :1], axis=1)]
    squared = (grid**2).sum(axis=1)
    squared = squared[(squared > 0) & (squared <= 144)]  # complete spheres up to 6a
    values, counts = np.unique(squared, return_counts=True)
    values, counts = values[: n_shells + 1], counts[: n_shells + 1]
    radii = 0.5 * a * np.sqrt(values.astype(float))
    edges = np.empty(n_shells + 1)
    edges[0] = 0.0
    edges[1:] = 0.5 * (radii[:n_shells] + radii[1 : n_shells + 1])
    return Shells(
        a=float(a), distances=radii[:n_shells], coordination=counts[:n_shells], edges=edges
    )


def shells_within(a: float, r_max: float) -> Shells:
    """All BCC shells whose window ends below ``r_max`` (Å), at least one (for g(r) plots)."""
    for n in range(MAX_SHELLS, 0, -1):
        shells = bcc_shells(a, n)
        if shells.cutoff <= r_max or n == 1:
            return shells
    raise AssertionError("unreachable")


def species_order(atoms: Atoms, species: Sequence[str] | None = None) -> tuple[str, ...]:
    """Species order for count tables: ``species`` (checked to cover the structure) if given,
    else `vmeb.species.default_order` of the symbols present (by atomic number)."""
    return SpeciesTable.for_symbols(atoms.get_chemical_symbols(), species).symbols


def species_types(atoms: Atoms, species: Sequence[str]) -> np.ndarray:
    """[N] 0-based index of each atom's species in ``species`` (`SpeciesTable.indices`)."""
    return SpeciesTable.of(species).indices(atoms.get_chemical_symbols())


@dataclass(frozen=True)
class ShellPairs:
    """Ordered site pairs of a structure, sorted into BCC shells.

    Attributes:
        i: [P] centre atom index.
        j: [P] neighbour atom index (an image of ``j`` when the shell wraps).
        shell: [P] 0-based shell index.
        shells: The shell definition used.
        n_atoms: Number of atoms N.
    """

    i: np.ndarray
    j: np.ndarray
    shell: np.ndarray
    shells: Shells
    n_atoms: int

    def site_coordination(self) -> np.ndarray:
        """[N, K] number of neighbours found for each atom in each shell."""
        out = np.zeros((self.n_atoms, self.shells.n_shells), dtype=int)
        np.add.at(out, (self.i, self.shell), 1)
        return out


def shell_pairs(atoms: Atoms, shells: Shells) -> ShellPairs:
    """All ordered neighbour pairs of ``atoms`` within the shell windows.

    Args:
        atoms: Periodic structure.
        shells: Shells from `bcc_shells`.

    Returns:
        The pair table; pairs outside every window are dropped.
    """
    centers = np.arange(len(atoms))
    slot, j, vectors = neighbours_within(atoms, centers, shells.cutoff)
    shell = shells.shell_of(np.linalg.norm(vectors, axis=1))
    keep = shell >= 0
    return ShellPairs(
        i=centers[slot[keep]],
        j=j[keep],
        shell=shell[keep],
        shells=shells,
        n_atoms=len(atoms),
    )


@dataclass(frozen=True)
class PairCounts:
    """Pair counts per shell and species pair, with the order parameters derived from them.

    Attributes:
        species: Species order of the last two axes.
        counts: [K, S, S] ordered pair counts ``N_ab^k`` (centre species a, neighbour b).
        n_per_species: [S] atoms of each species.
        coordination: [K] ideal coordination numbers ``z_k``.
        shell_distances: [K] ideal shell radii (Å).
    """

    species: tuple[str, ...]
    counts: np.ndarray
    n_per_species: np.ndarray
    coordination: np.ndarray
    shell_distances: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Number of atoms N."""
        return int(self.n_per_species.sum())

    @property
    def composition(self) -> np.ndarray:
        """[S] atomic fractions c_a."""
        return self.n_per_species / self.n_per_species.sum()

    def random_counts(self) -> np.ndarray:
        """[K, S, S] random-mixture reference ``N0_ab^k = N c_a z_k c_b``."""
        c = self.composition
        return self.n_atoms * self.coordination[:, None, None] * c[None, :, None] * c[None, None, :]

    def delta(self) -> np.ndarray:
        """[K, S, S] the paper's ``delta_ab^k = N_ab^k - N0_ab^k`` (pairs)."""
        return self.counts - self.random_counts()

    def warren_cowley(self) -> np.ndarray:
        """[K, S, S] Warren-Cowley ``alpha_ab^k = 1 - p_k(b|a) / c_b`` (NaN for absent species)."""
        c = self.composition
        totals = self.counts.sum(axis=2, keepdims=True).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            conditional = np.where(totals > 0, self.counts / totals, np.nan)
            return 1.0 - conditional / np.where(c > 0, c, np.nan)[None, None, :]


def counts_from_types(types: np.ndarray, pairs: ShellPairs, species: Sequence[str]) -> PairCounts:
    """Pair counts of a species assignment on the sites of a fixed pair table.

    Args:
        types: [N] 0-based species index of each site.
        pairs: Pair table of the sites.
        species: Species order of ``types``.

    Returns:
        The counts; O(P) work, for re-evaluation along a swap Monte Carlo run.
    """
    types = np.asarray(types, dtype=int)
    n_species = len(species)
    n_shells = pairs.shells.n_shells
    flat = (pairs.shell * n_species + types[pairs.i]) * n_species + types[pairs.j]
    counts = np.bincount(flat, minlength=n_shells * n_species * n_species)
    return PairCounts(
        species=tuple(species),
        counts=counts.reshape(n_shells, n_species, n_species),
        n_per_species=np.bincount(types, minlength=n_species),
        coordination=np.asarray(pairs.shells.coordination),
        shell_distances=np.asarray(pairs.shells.distances),
    )


def pair_counts(
    atoms: Atoms,
    n_shells: int = 2,
    a: float | None = None,
    species: Sequence[str] | None = None,
) -> PairCounts:
    """Ordered pair counts per BCC shell and species pair of a structure.

    Args:
        atoms: Periodic BCC structure (perfect, relaxed or thermal).
        n_shells: Number of shells K.
        a: Lattice constant (Å); default `sample_lattice_constant`.
        species: Species order (default: `vmeb.species.default_order`).

    Returns:
        Counts with ``delta()`` and ``warren_cowley()``.
    """
    species = species_order(atoms, species)
    shells = bcc_shells(a or sample_lattice_constant(atoms), n_shells)
    pairs = shell_pairs(atoms, shells)
    return counts_from_types(species_types(atoms, species), pairs, species)


def delta_parameters(
    atoms: Atoms, n_shells: int = 2, a: float | None = None, species: Sequence[str] | None = None
) -> np.ndarray:
    """[K, S, S] the paper's ``delta_ab^k`` of a structure (see `pair_counts`)."""
    return pair_counts(atoms, n_shells, a, species).delta()


def warren_cowley(
    atoms: Atoms, n_shells: int = 2, a: float | None = None, species: Sequence[str] | None = None
) -> np.ndarray:
    """[K, S, S] Warren-Cowley ``alpha_ab^k`` of a structure (see `pair_counts`)."""
    return pair_counts(atoms, n_shells, a, species).warren_cowley()


@dataclass(frozen=True)
class RandomReference:
    """Spread of the order parameters over random permutations of a sample's species.

    Attributes:
        delta_mean: [K, S, S] mean of delta over the permutations.
        delta_std: [K, S, S] standard deviation of delta.
        alpha_mean: [K, S, S] mean of alpha.
        alpha_std: [K, S, S] standard deviation of alpha.
        n_samples: Number of permutations.
    """

    delta_mean: np.ndarray
    delta_std: np.ndarray
    alpha_mean: np.ndarray
    alpha_std: np.ndarray
    n_samples: int


def random_reference(
    atoms: Atoms,
    n_shells: int = 2,
    n_samples: int = 200,
    seed: int | np.random.Generator = 0,
    a: float | None = None,
    species: Sequence[str] | None = None,
) -> RandomReference:
    """Order parameters of random solid solutions on the same sites and composition.

    The sampling spread (``alpha_std``) is what "zero within statistical error" means for a
    sample of this size: an ``|alpha|`` above about three of it is significant order.

    Args:
        atoms: The sample; its sites and species counts are kept, the assignment shuffled.
        n_shells: Number of shells K.
        n_samples: Number of random permutations.
        seed: Seed or generator for the permutations.
        a: Lattice constant (Å); default `sample_lattice_constant`.
        species: Species order (default: `vmeb.species.default_order`).

    Returns:
        Means and standard deviations of delta and alpha, each [K, S, S].
    """
    if n_samples < 2:
        raise VmebError(f"random reference needs at least 2 samples, got {n_samples}")
    rng = np.random.default_rng(seed)
    species = species_order(atoms, species)
    pairs = shell_pairs(atoms, bcc_shells(a or sample_lattice_constant(atoms), n_shells))
    types = species_types(atoms, species)
    deltas, alphas = [], []
    for _ in range(n_samples):
        counts = counts_from_types(rng.permutation(types), pairs, species)
        deltas.append(counts.delta())
        alphas.append(counts.warren_cowley())
    deltas, alphas = np.array(deltas), np.array(alphas)
    return RandomReference(
        delta_mean=deltas.mean(axis=0),
        delta_std=deltas.std(axis=0, ddof=1),
        alpha_mean=alphas.mean(axis=0),
        alpha_std=alphas.std(axis=0, ddof=1),
        n_samples=n_samples,
    )


def radial_distribution(
    atoms: Atoms,
    r_max: float = 8.0,
    bin_width: float = 0.02,
    pair: tuple[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Radial distribution function g(r) of a periodic structure (paper Fig. 2b).

    ``g(r) = n(r) / (N_a * rho_b * 4 pi r^2 dr)`` with ``n(r)`` the number of ordered (a, b)
    pairs at distances in the bin, ``N_a`` the number of centre atoms and ``rho_b = N_b / V``.
    Without ``pair`` all atoms are centres and neighbours. ``r_max`` may exceed half the box.

    Args:
        atoms: Periodic structure.
        r_max: Largest distance (Å).
        bin_width: Histogram bin width (Å).
        pair: Optional (centre, neighbour) species for a partial g_ab(r).

    Returns:
        ``(r, g)``: [B] bin centres (Å) and [B] g(r).
    """
    if not (r_max > 0 and bin_width > 0 and bin_width < r_max):
        raise VmebError(f"g(r) needs 0 < bin width < r_max, got {bin_width} and {r_max}")
    symbols = np.array(atoms.get_chemical_symbols())
    centre_mask = np.ones(len(atoms), bool) if pair is None else symbols == pair[0]
    other_mask = np.ones(len(atoms), bool) if pair is None else symbols == pair[1]
    if not centre_mask.any() or not other_mask.any():
        raise VmebError(f"g(r): species pair {pair} not present in the structure")
    centers = np.nonzero(centre_mask)[0]
    _, j, vectors = neighbours_within(atoms, centers, r_max)
    distances = np.linalg.norm(vectors, axis=1)[other_mask[j]]
    edges = np.arange(0.0, r_max + 0.5 * bin_width, bin_width)
    histogram, edges = np.histogram(distances, bins=edges)
    shell_volume = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    density = other_mask.sum() / atoms.get_volume()
    g = histogram / (len(centers) * density * shell_volume)
    return 0.5 * (edges[1:] + edges[:-1]), g


def pair_labels(species: Sequence[str]) -> list[tuple[int, int, str]]:
    """Unordered species pairs ``(a, b, "A-B")`` with ``a <= b``, in species order."""
    return [
        (a, b, f"{species[a]}-{species[b]}")
        for a in range(len(species))
        for b in range(a, len(species))
    ]
