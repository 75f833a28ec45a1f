"""Vacancy-mediated ordering kinetics: Warren-Cowley parameters of KMC walkers against time.

The walkers of `vmeb.spectra.walkers` move species only through vacancy jumps, with barriers
that depend on the actual neighbourhood, so a random start orders at the rate diffusion allows
(the paper's closing proposal). `OrderRecorder` is an ``observe`` callback of
`vmeb.spectra.walkers.run_walkers`: every ``every`` steps it counts the species pairs of the
first ``shells`` BCC shells on the lattice (vacant sites are neither centres nor neighbours) and
keeps each walker's Warren-Cowley parameters ``alpha_ab^k = 1 - p_k(b|a) / c_b`` (the
definition of `vmeb.csro.order_parameters.PairCounts`, so they compare directly with
`vmeb order`) and simulated time. `ordering_table` gives their mean and standard error over
walkers per record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vmeb.csro.order_parameters import PairCounts, bcc_shells
from vmeb.errors import VmebError
from vmeb.learn.lattice import DIRECTIONS, LatticeFit

#: Doubled-coordinate offsets of the BCC shells 1..3 around a site (8, 6 and 12 sites).
_SHELL_OFFSETS = (
    DIRECTIONS,
    np.concatenate([2 * np.eye(3, dtype=np.int64), -2 * np.eye(3, dtype=np.int64)]),
    np.array([np.roll([s, t, 0], r) for r in range(3) for s in (-2, 2) for t in (-2, 2)]),
)


def shell_tables(fit: LatticeFit, shells: int = 2) -> list[np.ndarray]:
    """[N, z_k] neighbour sites of every site in BCC shells k = 1..``shells`` (at most 3)."""
    if not 1 <= shells <= len(_SHELL_OFFSETS):
        raise VmebError(f"lattice order parameters cover shells 1..3, not {shells}")
    tables = []
    for offsets in _SHELL_OFFSETS[:shells]:
        table = fit.lookup(fit.coords[:, None, :] + offsets[None])
        if np.any(table < 0):
            raise VmebError("a site lacks a neighbour on the lattice")
        tables.append(table)
    return tables


def lattice_pair_counts(
    species: np.ndarray,
    vacancies: np.ndarray,
    tables: list[np.ndarray],
    names: list[str],
    a: float,
) -> PairCounts:
    """Ordered pair counts of one configuration on the lattice.

    Args:
        species: [N] species index per site (vacant sites: any).
        vacancies: [V] vacant sites (neither centres nor neighbours).
        tables: Shell neighbour tables of `shell_tables`.
        names: Species order.
        a: Lattice constant (Å; the shells' radii).

    Returns:
        The counts (shells ``len(tables)``) with ``warren_cowley()`` and ``delta()``.
    """
    n_species = len(names)
    types = species.astype(np.int64).copy()
    types[vacancies] = n_species  # an extra "empty" species, dropped below
    size = n_species + 1
    counts = np.stack([
        np.bincount((types[:, None] * size + types[table]).ravel(), minlength=size * size)
        .reshape(size, size)[:n_species, :n_species]
        for table in tables
    ])  # fmt: skip
    shells = bcc_shells(a, len(tables))
    return PairCounts(
        species=tuple(names),
        counts=counts,
        n_per_species=np.bincount(types, minlength=size)[:n_species],
        coordination=np.asarray(shells.coordination),
        shell_distances=np.asarray(shells.distances),
    )


class OrderRecorder:
    """Warren-Cowley parameters of every walker along a run (an ``observe`` callback).

    Args:
        fit: The sample's lattice.
        species: Species order of the walkers' indices.
        shells: BCC shells (1..3).
    """

    def __init__(self, fit: LatticeFit, species: list[str], shells: int = 2):
        self.tables = shell_tables(fit, shells)
        self.species, self.a = list(species), fit.lattice_constant
        self.steps: list[int] = []
        self.times: list[np.ndarray] = []  # [W] per record
        self.alphas: list[np.ndarray] = []  # [W, K, S, S] per record

    def __call__(self, state) -> None:
        alphas = [
            lattice_pair_counts(state.species[w], state.vacancy[w], self.tables, self.species,
                                self.a).warren_cowley()
            for w in range(len(state.vacancy))
        ]  # fmt: skip
        self.steps.append(int(state.step))
        self.times.append(state.time.copy())
        self.alphas.append(np.stack(alphas))


def ordering_table(recorder: OrderRecorder) -> pd.DataFrame:
    """One row per record: ``step``, ``time`` (mean over walkers, s), and for every shell k and
    species pair a <= b ``alpha_<k>_<A>-<B>`` with ``..._error`` (standard error over walkers).
    """
    species = recorder.species
    rows = []
    for step, times, alphas in zip(recorder.steps, recorder.times, recorder.alphas, strict=True):
        row: dict[str, float] = {"step": step, "time": float(times.mean())}
        walkers = len(alphas)
        for k in range(alphas.shape[1]):
            for i, a in enumerate(species):
                for j in range(i, len(species)):
                    values = alphas[:, k, i, j]
                    name = f"alpha_{k + 1}_{a}-{species[j]}"
                    row[name] = float(values.mean())
                    row[f"{name}_error"] = (
                        float(values.std(ddof=1) / np.sqrt(walkers)) if walkers > 1 else np.nan
                    )
        rows.append(row)
    return pd.DataFrame(rows)
