"""BCC random solid-solution samples and composition grids.

A sample is ``cells`` x ``cells`` x ``cells`` conventional BCC cells (2 ``cells``^3 atoms: 686
for 7, 2,000 for 10, 1,024,000 for 80) with exact atom counts from largest-remainder rounding
and a random placement drawn from a seed. Everything is vectorised numpy, so a million atoms
take about a second.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from vmeb.errors import VmebError

logger = logging.getLogger(__name__)


def normalise_fractions(composition: Mapping[str, float]) -> dict[str, float]:
    """Element -> fraction summing to 1, in the given element order.

    Raises:
        VmebError: for unknown elements, negative or non-finite fractions, or an all-zero sum.
    """
    if not composition:
        raise VmebError("empty composition")
    values = {}
    for symbol, value in composition.items():
        if symbol not in atomic_numbers:
            raise VmebError(f"composition: {symbol!r} is not an element symbol")
        value = float(value)
        if not np.isfinite(value) or value < 0:
            raise VmebError(f"composition: fraction of {symbol} is {value}, not a number >= 0")
        values[symbol] = value
    total = sum(values.values())
    if total <= 0:
        raise VmebError(f"composition {dict(composition)} has no non-zero fraction")
    return {symbol: value / total for symbol, value in values.items()}


def composition_counts(fractions: Mapping[str, float], n_atoms: int) -> dict[str, int]:
    """Exact atom counts for a composition by largest-remainder rounding.

    Each element gets ``floor(x_e * n_atoms)`` atoms; the atoms left over go one each to the
    elements with the largest remainders. Ties go to the larger fraction, then to the element
    listed first, so the result is deterministic.

    Args:
        fractions: Element -> fraction (normalised here).
        n_atoms: Total number of atoms.

    Returns:
        Element -> count (zeros kept), in the given order, summing to ``n_atoms``.
    """
    if n_atoms < 0:
        raise VmebError(f"number of atoms must be >= 0, got {n_atoms}")
    fractions = normalise_fractions(fractions)
    symbols = list(fractions)
    exact = np.array([fractions[s] for s in symbols]) * n_atoms
    counts = np.floor(exact).astype(int)
    remainders = exact - counts
    left = n_atoms - int(counts.sum())
    order = sorted(range(len(symbols)), key=lambda i: (-remainders[i], -fractions[symbols[i]], i))
    for i in order[:left]:
        counts[i] += 1
    return {s: int(c) for s, c in zip(symbols, counts, strict=True)}


def bcc_positions(cells: int, a: float) -> np.ndarray:
    """Sites of ``cells``^3 conventional BCC cells, [2 cells^3, 3] (Å).

    Order: conventional cell index (x slowest), then the corner before the body centre.
    """
    if cells < 1:
        raise VmebError(f"cells must be >= 1, got {cells}")
    grid = np.indices((cells, cells, cells)).reshape(3, -1).T.astype(float)
    basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    return ((grid[:, None, :] + basis[None, :, :]).reshape(-1, 3)) * a


def bcc_supercell(
    counts: Mapping[str, int], cells: int, a: float, rng: np.random.Generator
) -> Atoms:
    """BCC supercell with the given atom counts placed at random.

    Args:
        counts: Element -> number of atoms; must sum to 2 ``cells``^3.
        cells: Conventional cells per edge.
        a: Lattice constant (Å).
        rng: Source of the random placement.

    Returns:
        Periodic cubic `Atoms`, cell edge ``cells * a``.
    """
    n_sites = 2 * cells**3
    if sum(counts.values()) != n_sites:
        raise VmebError(
            f"counts {dict(counts)} do not sum to the {n_sites} sites of {cells}^3 cells"
        )
    if not a > 0:
        raise VmebError(f"lattice constant must be > 0 Å, got {a}")
    numbers = np.repeat(
        [atomic_numbers[s] for s in counts], [int(c) for c in counts.values()]
    ).astype(int)
    numbers = rng.permutation(numbers)
    return Atoms(
        numbers=numbers,
        positions=bcc_positions(cells, a),
        cell=np.eye(3) * cells * a,
        pbc=True,
    )


_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*\.?\d*)")


def parse_composition(text: str) -> dict[str, float]:
    """Parse a composition string into normalised fractions.

    Accepted forms: ``"Ta:1,Nb:1,Mo:1"`` (element:amount pairs), ``"Ta33Nb33Mo34"`` (amounts
    after symbols) and ``"TaNbMo"`` (equiatomic). Amounts are relative and normalised.

    Returns:
        Element -> fraction, in the order written.

    Raises:
        VmebError: naming the string, if it cannot be parsed.
    """
    text = text.strip().replace(" ", "")
    amounts: dict[str, float] = {}
    try:
        if ":" in text or "," in text:
            for part in text.split(","):
                symbol, _, value = part.partition(":")
                if symbol in amounts:
                    raise ValueError(f"{symbol} twice")
                amounts[symbol] = float(value) if value else 1.0
        else:
            pos = 0
            for match in _TOKEN.finditer(text):
                if match.start() != pos or not match.group(0):
                    raise ValueError("unexpected characters")
                symbol, value = match.group(1), match.group(2)
                if symbol in amounts:
                    raise ValueError(f"{symbol} twice")
                amounts[symbol] = float(value) if value else 1.0
                pos = match.end()
            if pos != len(text):
                raise ValueError("unexpected characters")
    except ValueError as exc:
        raise VmebError(
            f"composition {text!r}: {exc}; use 'Ta:1,Nb:1,Mo:1', 'Ta33Nb33Mo34' or 'TaNbMo'"
        ) from exc
    try:
        return normalise_fractions(amounts)
    except VmebError as exc:
        raise VmebError(f"composition {text!r}: {exc}") from exc


def parse_elements(text: str) -> list[str]:
    """Element list from ``"Ta,Nb,Mo"``, ``"Ta Nb Mo"`` or ``"TaNbMo"``.

    Raises:
        VmebError: naming the string, for unknown or repeated symbols.
    """
    compact = text.replace(",", " ").split()
    symbols = [m.group(1) for part in compact for m in re.finditer(r"([A-Z][a-z]?)", part)]
    if "".join(symbols) != "".join(compact) or not symbols:
        raise VmebError(f"element list {text!r}: use 'Ta,Nb,Mo' or 'TaNbMo'")
    bad = [s for s in symbols if s not in atomic_numbers]
    bad += sorted({s for s in symbols if symbols.count(s) > 1})
    if bad:
        raise VmebError(f"element list {text!r}: unknown or repeated symbols {bad}")
    return symbols


def format_composition(fractions: Mapping[str, float]) -> str:
    """``"Ta:0.333333,Nb:0.333333,Mo:0.333333"``: parseable by `parse_composition`."""
    return ",".join(f"{s}:{x:.6g}" for s, x in normalise_fractions(fractions).items())


def composition_label(fractions: Mapping[str, float], digits: int = 4) -> str:
    """A file-name friendly label in atomic percent, zeros left out: ``"Ta33.33Nb33.33Mo33.33"``.

    Args:
        fractions: Element -> fraction (normalised here), in label order.
        digits: Significant digits of each percentage.
    """
    fractions = normalise_fractions(fractions)
    return "".join(f"{s}{100 * x:.{digits}g}" for s, x in fractions.items() if x > 0)


def build_random_alloy(
    composition: Mapping[str, float] | str,
    cells: int,
    a: float,
    seed: int = 0,
    rng: np.random.Generator | None = None,
) -> Atoms:
    """A BCC random solid solution of ``cells``^3 conventional cells (2 ``cells``^3 atoms).

    Args:
        composition: Element -> fraction, or a string for `parse_composition`.
        cells: Conventional cells per edge (7: 686 atoms, 10: 2,000, 80: 1,024,000).
        a: Lattice constant (Å). For the relaxed lattice constant of a potential use
            `vmeb.lammps.lattice.random_alloy_for_potential`.
        seed: Seed of the random placement (used when ``rng`` is None).
        rng: Generator for the placement, overriding ``seed``.

    Returns:
        Periodic cubic `Atoms`; ``info`` holds ``composition`` (normalised, as
        `format_composition`), ``cells``, ``seed`` (-1 when ``rng`` was given), ``a`` (Å) and
        ``potential`` (``"given"``; the potential's name when built at its lattice constant).
    """
    if a is None or not np.isfinite(a) or a <= 0:
        raise VmebError(f"lattice constant a = {a!r} Å: give a finite positive value")
    fractions = parse_composition(composition) if isinstance(composition, str) else composition
    fractions = normalise_fractions(fractions)
    counts = composition_counts(fractions, 2 * cells**3)
    generator = rng if rng is not None else np.random.default_rng(seed)
    atoms = bcc_supercell(counts, cells, float(a), generator)
    atoms.info.update(
        composition=format_composition(fractions),
        cells=int(cells),
        seed=int(seed) if rng is None else -1,
        a=float(a),
        potential="given",
    )
    logger.info("built %s: %d atoms, a = %.5f Å", composition_label(fractions), len(atoms), a)
    return atoms


def simplex_grid(elements: Sequence[str], divisions: int) -> list[dict[str, float]]:
    """All compositions with fractions in steps of ``1/divisions``.

    Args:
        elements: The k elements.
        divisions: Steps per unit (e.g. 10 for 10 at.% steps).

    Returns:
        C(divisions + k - 1, k - 1) compositions (element -> fraction, zeros kept), in
        decreasing lexicographic order of the integer step vectors (pure first element first).
    """
    elements = tuple(elements)
    if not elements or len(set(elements)) != len(elements):
        raise VmebError(f"simplex grid needs distinct elements, got {list(elements)}")
    for symbol in elements:
        if symbol not in atomic_numbers:
            raise VmebError(f"simplex grid: {symbol!r} is not an element symbol")
    if divisions < 1:
        raise VmebError(f"simplex grid needs divisions >= 1, got {divisions}")

    def steps(k: int, total: int) -> list[tuple[int, ...]]:
        if k == 1:
            return [(total,)]
        return [(n, *rest) for n in range(total, -1, -1) for rest in steps(k - 1, total - n)]

    return [
        {s: n / divisions for s, n in zip(elements, vector, strict=True)}
        for vector in steps(len(elements), divisions)
    ]


#: Farthest-point starts tried by `split_compositions`.
MAX_SPLIT_STARTS = 64


def _farthest_points(points: np.ndarray, start: int, n: int) -> list[int]:
    """Greedy farthest-point sample of ``n`` rows of ``points`` [M, k] from row ``start``."""
    chosen = [start]
    distance = np.linalg.norm(points - points[start], axis=1)
    for _ in range(n - 1):
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, np.linalg.norm(points - points[pick], axis=1))
    return chosen


def _spread(points: np.ndarray) -> tuple[float, float]:
    """(smallest pairwise distance, mean nearest-neighbour distance) of [n, k] points."""
    if len(points) < 2:
        return (np.inf, np.inf)
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    return (round(float(nearest.min()), 12), round(float(nearest.mean()), 12))


def split_compositions(
    grid: Sequence[Mapping[str, float]], n_test: int, seed: int = 0
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Split compositions into training and test sets, the test set spread over the simplex.

    Test compositions are chosen by farthest-point sampling among the compositions where every
    element is present (all of them if fewer than ``n_test`` are): from a starting composition,
    repeatedly add the one farthest (Euclidean, in fractions) from those chosen. This is run
    from every candidate start (at most `MAX_SPLIT_STARTS`, drawn with ``seed``) and the set
    with the largest smallest pairwise distance is kept (then the largest mean nearest-neighbour
    distance; remaining ties by the seeded order). The test set is thus spread uniformly, and
    pure elements and edges (which a model cannot extrapolate to) stay in training.

    Args:
        grid: Compositions (e.g. from `simplex_grid`).
        n_test: Number of test compositions.
        seed: Seed of the starting point and of tie-breaking.

    Returns:
        (train, test), each in the order of ``grid``.
    """
    grid = [dict(c) for c in grid]
    if not 0 <= n_test <= len(grid):
        raise VmebError(f"cannot take {n_test} test compositions out of {len(grid)}")
    if n_test == 0:
        return grid, []
    elements = list(dict.fromkeys(s for c in grid for s in c))
    points = np.array([[c.get(s, 0.0) for s in elements] for c in grid])
    interior = np.flatnonzero(np.all(points > 0, axis=1))
    candidates = interior if len(interior) >= n_test else np.arange(len(grid))
    rng = np.random.default_rng(seed)
    candidates = rng.permutation(candidates)  # ties go to the earlier in this order
    best_key, chosen = None, []
    for start in candidates[:MAX_SPLIT_STARTS]:
        picked = _farthest_points(
            points[candidates], int(np.flatnonzero(candidates == start)[0]), n_test
        )
        key = _spread(points[candidates[picked]])
        if best_key is None or key > best_key:
            best_key, chosen = key, list(candidates[picked])
    test_set = set(int(i) for i in chosen)
    train = [c for i, c in enumerate(grid) if i not in test_set]
    test = [c for i, c in enumerate(grid) if i in test_set]
    return train, test


def paper_like_ternary_split(
    elements: Sequence[str] = ("Ta", "Nb", "Mo"), seed: int = 0
) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """46 training and 9 test compositions spread uniformly over a ternary, as in the paper.

    The paper (Supplementary Fig. 1) used 46 training and 9 test compositions covering the
    Ta-Nb-Mo triangle; their exact values are only drawn, not tabulated. The ternary simplex
    grid in steps of 1/9 (11.1 at.%) has exactly 55 = 46 + 9 points, pure elements and binaries
    included; the 9 test compositions are picked from its 28 true ternaries by
    `split_compositions`.

    Returns:
        (train, test): 46 and 9 compositions.
    """
    if len(elements) != 3:
        raise VmebError(f"the paper-like split is for three elements, got {list(elements)}")
    return split_compositions(simplex_grid(elements, 9), n_test=9, seed=seed)
