"""Samples and compositions: exact counts, parsing, BCC geometry, simplex grids, the CLI."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pandas as pd
import pytest
from ase.neighborlist import neighbor_list

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.structure.build import (
    bcc_positions,
    build_random_alloy,
    composition_counts,
    composition_label,
    format_composition,
    paper_like_ternary_split,
    parse_composition,
    parse_elements,
    simplex_grid,
    split_compositions,
)
from vmeb.structure.io import read_structure


def brute_force_counts(fractions: dict[str, float], n: int) -> list[tuple[int, ...]]:
    """All count vectors summing to n with the least total deviation from x_e * n."""
    target = np.array(list(fractions.values())) / sum(fractions.values()) * n
    best, winners = np.inf, []
    for counts in itertools.product(range(n + 1), repeat=len(target) - 1):
        last = n - sum(counts)
        if last < 0:
            continue
        vector = (*counts, last)
        deviation = np.abs(np.array(vector) - target).sum()
        if deviation < best - 1e-9:
            best, winners = deviation, [vector]
        elif deviation < best + 1e-9:
            winners.append(vector)
    return winners


@pytest.mark.parametrize("seed", range(6))
def test_counts_match_brute_force_rounding(seed):
    rng = np.random.default_rng(seed)
    k = 2 + seed % 3
    fractions = dict(zip(["Ta", "Nb", "Mo", "W"][:k], rng.random(k), strict=True))
    for n in (1, 7, 16, 55) if k < 4 else (1, 7, 16):
        counts = composition_counts(fractions, n)
        assert sum(counts.values()) == n
        assert tuple(counts.values()) in brute_force_counts(fractions, n)


def test_counts_exact_and_tie_break_deterministic():
    assert composition_counts({"Ta": 1, "Nb": 1, "Mo": 1}, 686) == {"Ta": 229, "Nb": 229, "Mo": 228}
    assert composition_counts({"Mo": 1, "Nb": 1, "Ta": 1}, 686) == {"Mo": 229, "Nb": 229, "Ta": 228}
    # equal remainders: the larger fraction wins (0.35*10 and 0.25*10... both .5)
    assert composition_counts({"Ta": 0.25, "Nb": 0.35, "Mo": 0.4}, 10) == {
        "Ta": 2,
        "Nb": 4,
        "Mo": 4,
    }
    assert composition_counts({"Ta": 0.3, "Nb": 0.0, "Mo": 0.7}, 2000) == {
        "Ta": 600,
        "Nb": 0,
        "Mo": 1400,
    }
    counts = composition_counts({"Ta": 1, "Nb": 1, "Mo": 1}, 2 * 80**3)
    assert sum(counts.values()) == 1_024_000 and max(counts.values()) - min(counts.values()) == 1
    with pytest.raises(VmebError):
        composition_counts({"Ta": -1, "Nb": 2}, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ta:1,Nb:1,Mo:2", {"Ta": 0.25, "Nb": 0.25, "Mo": 0.5}),
        ("Ta33Nb33Mo34", {"Ta": 0.33, "Nb": 0.33, "Mo": 0.34}),
        ("TaNbMo", {"Ta": 1 / 3, "Nb": 1 / 3, "Mo": 1 / 3}),
        ("Ta0.5Nb0.5", {"Ta": 0.5, "Nb": 0.5}),
        ("W", {"W": 1.0}),
    ],
)
def test_parse_composition(text, expected):
    parsed = parse_composition(text)
    assert list(parsed) == list(expected)
    assert parsed == pytest.approx(expected, rel=1e-12)
    assert parse_composition(format_composition(parsed)) == pytest.approx(parsed, rel=1e-5)


@pytest.mark.parametrize(
    "bad", ["", "Ta:1,Ta:2", "TaXx", "ta nb", "Ta:-1", "Ta:0,Nb:0", "Ta1Nb1Ta"]
)
def test_parse_composition_rejects(bad):
    with pytest.raises(VmebError, match="composition"):
        parse_composition(bad)


def test_parse_elements():
    assert parse_elements("Ta,Nb,Mo") == parse_elements("TaNbMo") == ["Ta", "Nb", "Mo"]
    for bad in ("TaTa", "Tx,Nb", "ta"):
        with pytest.raises(VmebError):
            parse_elements(bad)


def test_random_alloy_seeded_exact_and_bcc():
    a = 3.24
    atoms = build_random_alloy("Ta20Nb30Mo50", cells=4, a=a, seed=7)
    assert len(atoms) == 128
    symbols = atoms.get_chemical_symbols()
    assert [symbols.count(s) for s in ("Ta", "Nb", "Mo")] == [26, 38, 64]
    again = build_random_alloy({"Ta": 20, "Nb": 30, "Mo": 50}, cells=4, a=a, seed=7)
    other = build_random_alloy("Ta20Nb30Mo50", cells=4, a=a, seed=8)
    assert again.get_chemical_symbols() == symbols
    assert other.get_chemical_symbols() != symbols
    np.testing.assert_array_equal(again.positions, atoms.positions)
    assert atoms.info == {
        "composition": "Ta:0.2,Nb:0.3,Mo:0.5",
        "cells": 4,
        "seed": 7,
        "a": a,
        "potential": "given",
    }
    np.testing.assert_allclose(atoms.cell.array, np.eye(3) * 4 * a)
    # every site: 8 first neighbours at a*sqrt(3)/2, 6 second at a (independent neighbour list)
    i, d = neighbor_list("id", atoms, 0.5 * (a * np.sqrt(3) / 2 + a))
    assert np.all(np.bincount(i, minlength=len(atoms)) == 8)
    np.testing.assert_allclose(d, a * np.sqrt(3) / 2, rtol=1e-12)
    i2, d2 = neighbor_list("id", atoms, 0.5 * (a + a * np.sqrt(2)))
    assert np.all(np.bincount(i2, minlength=len(atoms)) == 14)
    assert np.sum(np.isclose(d2, a)) == 6 * len(atoms)


def test_random_alloy_with_explicit_rng_and_million_atoms():
    rng = np.random.default_rng(3)
    atoms = build_random_alloy("TaNbMo", cells=80, a=3.2428, rng=rng)
    assert len(atoms) == 1_024_000 and atoms.info["seed"] == -1
    numbers = np.bincount(atoms.numbers)
    assert sorted(numbers[numbers > 0]) == [341333, 341333, 341334]
    # the sites are the lattice: fractional coordinates are multiples of 1/(2*80)
    frac = atoms.positions / 3.2428 * 2
    np.testing.assert_allclose(frac, np.round(frac), atol=1e-9)
    assert len(np.unique(np.round(frac).astype(np.int64) @ [1, 160, 160**2])) == len(atoms)


def test_bcc_positions_order():
    positions = bcc_positions(2, 1.0)
    np.testing.assert_allclose(positions[:4], [[0, 0, 0], [0.5] * 3, [0, 0, 1], [0.5, 0.5, 1.5]])


@pytest.mark.parametrize(("k", "divisions"), [(1, 3), (2, 4), (3, 9), (3, 10), (4, 6), (5, 4)])
def test_simplex_grid_size_and_points(k, divisions):
    elements = ["Ta", "Nb", "Mo", "W", "V"][:k]
    grid = simplex_grid(elements, divisions)
    assert len(grid) == comb(divisions + k - 1, k - 1)
    steps = np.array([[c[s] * divisions for s in elements] for c in grid])
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-12)
    np.testing.assert_allclose(steps.sum(axis=1), divisions)
    assert len({tuple(np.round(row).astype(int)) for row in steps}) == len(grid)
    assert grid[0] == {s: float(i == 0) for i, s in enumerate(elements)}


def test_paper_like_split_is_spread_and_deterministic():
    train, test = paper_like_ternary_split()
    assert (len(train), len(test)) == (46, 9)
    grid = simplex_grid(("Ta", "Nb", "Mo"), 9)
    assert sorted(map(composition_label, train + test)) == sorted(map(composition_label, grid))
    assert all(min(c.values()) > 0 for c in test)  # true ternaries only
    points = np.array([[c[s] for s in ("Ta", "Nb", "Mo")] for c in test])
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)[np.triu_indices(9, 1)]
    # spread: two grid steps apart at least (the best possible for 9 of these 28 points)
    assert distances.min() == pytest.approx(2 * np.sqrt(2) / 9, rel=1e-9)
    # farther apart than a random choice of 9 interior points usually is
    rng = np.random.default_rng(0)
    interior = np.array([[c[s] for s in ("Ta", "Nb", "Mo")] for c in grid if min(c.values()) > 0])
    random_min = [
        np.linalg.norm(p[:, None] - p[None], axis=-1)[np.triu_indices(9, 1)].min()
        for p in (interior[rng.choice(len(interior), 9, replace=False)] for _ in range(200))
    ]
    assert distances.min() >= np.quantile(random_min, 0.95)
    assert paper_like_ternary_split() == (train, test)
    assert split_compositions(grid, 0) == (grid, [])
    with pytest.raises(VmebError):
        split_compositions(grid, 56)


def test_cli_one_sample_extxyz_and_lammps_data(tmp_path):
    out, data = tmp_path / "s.extxyz", tmp_path / "s.data"
    argv = ["build", "--composition", "Mo:2,Ta:1", "--cells", "3", "--a", "3.2", "--seed", "4"]
    assert main([*argv, "-o", str(out), "--lammps-data", str(data)]) == 0
    atoms = read_structure(out)
    assert len(atoms) == 54 and atoms.get_chemical_symbols().count("Mo") == 36
    assert atoms.info["seed"] == 4 and atoms.info["a"] == 3.2
    from_data = read_structure(data, species=["Mo", "Ta"])
    assert from_data.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(from_data.positions, atoms.positions, atol=1e-8)
    assert build_random_alloy("Mo:2,Ta:1", 3, a=3.2, seed=4).get_chemical_symbols() == (
        atoms.get_chemical_symbols()
    )


def test_cli_grid_writes_samples_and_index(tmp_path):
    folder = tmp_path / "grid"
    argv = ["build", "--grid", "Ta,Nb,Mo", "--divisions", "3", "--cells", "2", "--a", "3.25"]
    assert main([*argv, "--seed", "10", "--n-test", "2", "-o", str(folder)]) == 0
    index = pd.read_csv(folder / "index.csv")
    assert len(index) == comb(3 + 2, 2) == 10
    assert list(index["seed"]) == list(range(10, 20))
    assert (index["split"] == "test").sum() == 2
    assert (index[["n_Ta", "n_Nb", "n_Mo"]].sum(axis=1) == 16).all()
    for row in index.itertuples():
        atoms = read_structure(folder / row.file)
        assert atoms.get_chemical_symbols().count("Nb") == row.n_Nb
        assert atoms.info["seed"] == row.seed
    assert not list(folder.glob(".*"))


def test_cli_bad_input_is_one_line_error(tmp_path, capsys):
    out = tmp_path / "x.extxyz"
    assert main(["build", "--composition", "TaXx", "--cells", "2", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vmeb: error: composition 'TaXx'") and "\n" not in err
    assert main(["build", "--grid", "TaNb", "--cells", "0", "-o", str(tmp_path / "g")]) == 2
    assert not out.exists() and not (tmp_path / "g").exists()


def test_parse_elements_names_only_the_repeated_symbol():
    with pytest.raises(VmebError, match=r"unknown or repeated symbols \['Ta'\]$"):
        parse_elements("Ta,Ta,Nb")
    with pytest.raises(VmebError, match=r"unknown or repeated symbols \['Xx'\]$"):
        parse_elements("Ta,Xx")
