"""The candidate pool: composition domains, samples, CSRO states, per-shell descriptors."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from vmeb.active.config import load_active_config
from vmeb.active.pool import (
    domain_compositions,
    make_pool,
    read_pool,
    site_descriptors,
    site_hops,
    write_pool,
)
from vmeb.structure.build import bcc_supercell


def test_grid_domain_within_bounds():
    config = load_active_config(
        None, {"elements": ["Ta", "Nb", "Mo"], "grid_step": 0.25, "bounds": {"Mo": [0, 0.25]}}
    )
    found = domain_compositions(config, np.random.default_rng(0))
    assert len(found) == 9  # 15 grid points, 9 with Mo <= 25 at.%
    assert all(c["Mo"] <= 0.25 + 1e-12 for c in found)


def test_random_domain_draws_are_seeded_and_bounded():
    values = {"elements": ["Ta", "Nb"], "composition_draws": 5, "bounds": {"Ta": [0.2, 0.4]}}
    config = load_active_config(None, values)
    first = domain_compositions(config, np.random.default_rng(1))
    again = domain_compositions(config, np.random.default_rng(1))
    assert len(first) == 5 and first == again
    assert all(0.2 <= c["Ta"] <= 0.4 for c in first)


def test_descriptors_count_shells():
    counts = {"Ta": 54, "Nb": 0}
    atoms = bcc_supercell(counts, 3, 3.3, rng=np.random.default_rng(0))
    neighbours = site_hops(atoms, np.array([0]))[0]
    symbols = atoms.get_chemical_symbols()
    symbols[int(neighbours[0])] = "Nb"  # one Nb in the first shell of site 0
    atoms.set_chemical_symbols(symbols)
    d = site_descriptors(atoms, np.array([0]), ("Ta", "Nb"))
    assert d.shape == (1, 6)
    np.testing.assert_allclose(d[0], [7 / 8, 1 / 8, 1.0, 0.0, 53 / 54, 1 / 54])


def test_neb_pool_with_csro_states_and_held_out_test_sites(tmp_path):
    csro = bcc_supercell({"Ta": 27, "Nb": 27}, 3, 3.3, rng=np.random.default_rng(2))
    csro.info["group"] = "ordered"
    ase.io.write(tmp_path / "state.extxyz", csro, format="extxyz")
    config = load_active_config(None, {
        "compositions": ["Ta0.5Nb0.5", "Ta0.75Nb0.25"], "cells": 3, "a": 3.3,
        "samples_per_composition": 2, "sites_per_sample": 5, "test_sites": 3,
        "csro_structures": [str(tmp_path / "state.extxyz")],
    })  # fmt: skip
    pool = make_pool(config)
    table = pool.candidates
    assert len(table) == 5 * 5 and (table["role"] == "test").sum() == 3
    assert set(table["group"]) == {"Ta50Nb50", "Ta75Nb25", "ordered"}
    assert table.groupby("sample_id").size().tolist() == [5] * 5
    write_pool(pool, tmp_path / "out", seconds=1.5)
    back = read_pool(tmp_path / "out")
    assert back.candidates.equals(table) and back.species == ("Nb", "Ta")  # atomic-number order
    np.testing.assert_array_equal(back.descriptors, pool.descriptors)
    assert make_pool(config).candidates.equals(table)  # the same seed, the same pool
    with pytest.raises(Exception, match="already exists"):
        write_pool(pool, tmp_path / "out")
