"""Batch selection: uncertainty with diversity, composition strata, the random baseline."""

from __future__ import annotations

import numpy as np
import pytest

from vmeb.active.selection import coverage_bonus, diverse_batch, random_batch, site_scores


def _two_clusters():
    """12 sites: 6 very uncertain ones in one corner of descriptor space, 6 less so elsewhere."""
    rng = np.random.default_rng(0)
    near = rng.normal(0.0, 0.01, size=(6, 3))
    far = rng.normal(1.0, 0.01, size=(6, 3))
    descriptors = np.vstack([near, far])
    scores = np.concatenate([np.linspace(1.0, 0.95, 6), np.linspace(0.5, 0.45, 6)])
    groups = np.array(["Ta50Nb50"] * 12)
    return scores, descriptors, groups


def test_top_k_would_take_one_cluster_diverse_batch_takes_both():
    scores, descriptors, groups = _two_clusters()
    top_k = np.argsort(-scores)[:2]
    assert set(top_k) <= set(range(6))  # both from the uncertain cluster
    chosen = diverse_batch(scores, descriptors, groups, k=2, top_factor=6, seed=0)
    assert chosen.tolist() == [0, 6]  # the best site of each cluster, best first


def test_compositions_are_stratified():
    scores, descriptors, _ = _two_clusters()
    descriptors = np.zeros_like(descriptors)  # one cluster: only the composition cap spreads
    groups = np.array(["A"] * 8 + ["B"] * 4)
    chosen = diverse_batch(scores, descriptors, groups, k=4, top_factor=3, seed=0)
    assert len(set(chosen.tolist())) == 4
    assert (groups[chosen] == "A").sum() == 2  # cap ceil(4 / 2 compositions)
    assert chosen.tolist() == [0, 1, 8, 9]  # best first within each cap


def test_batch_larger_than_the_pool_takes_everything():
    scores, descriptors, groups = _two_clusters()
    chosen = diverse_batch(scores[:3], descriptors[:3], groups[:3], k=5, seed=1)
    assert sorted(chosen.tolist()) == [0, 1, 2]


def test_random_batch_is_reproducible_from_its_seed():
    first = random_batch(100, 7, [3, 5, 1])
    assert first.tolist() == random_batch(100, 7, [3, 5, 1]).tolist()
    assert len(set(first.tolist())) == 7 and first.max() < 100
    assert first.tolist() != random_batch(100, 7, [4, 5, 1]).tolist()


def test_site_scores_and_coverage_bonus():
    spreads = np.array([[0.1, 0.3, 0.2, 0, 0, 0, 0, 0.2], [0.05] * 8])
    assert site_scores(spreads, "max") == pytest.approx([0.3, 0.05])
    assert site_scores(spreads, "mean") == pytest.approx([0.1, 0.05])
    bonus = coverage_bonus(np.array(["A", "B"]), {"A": 3}, 0.02)
    assert bonus == pytest.approx([0.01, 0.02])  # 0.02 / sqrt(1 + 3), 0.02 / sqrt(1)
