"""BarrierDataset.iter_samples: the one sample-by-sample loop over a dataset's hops."""

from __future__ import annotations

import numpy as np

from vmeb.data.dataset import open_dataset
from vmeb.testing import make_dataset, random_alloy


def test_iter_samples_groups_valid_hops_with_structures(tmp_path):
    rng = np.random.default_rng(2)
    samples = {"s1": random_alloy(2, rng), "s0": random_alloy(2, rng)}
    dataset = open_dataset(make_dataset(tmp_path / "ds", samples))
    seen = []
    hops = dataset.with_groups()
    for sample_id, atoms, rows in dataset.iter_samples():
        seen.append(sample_id)
        assert atoms.get_chemical_symbols() == samples[sample_id].get_chemical_symbols()
        assert set(rows["sample_id"]) == {sample_id} and len(rows) == 16 * 8
        # the index locates the rows in the table iterated over
        assert rows.equals(hops.loc[rows.index])
    assert seen == ["s1", "s0"]  # order of first appearance in the table
    subset = hops[hops["vacancy_index"] == 3]
    ((sample_id, _, rows),) = [s for s in dataset.iter_samples(subset) if s[0] == "s0"]
    assert list(rows.index) == list(subset.index[subset["sample_id"] == "s0"])
