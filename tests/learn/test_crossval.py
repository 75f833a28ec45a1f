"""Leave-compositions-out folds: grouping, element-rich coverage, determinism; scores by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vmeb.errors import VmebError
from vmeb.learn.crossval import (
    Fold,
    composition_folds,
    composition_scores,
    is_element_rich,
    select_outside_fold,
    selected_predictions,
    summarise_seeds,
)

#: The 19 compositions of the shared DFT data with their hop counts (NbMoTaWV: 4 replicas).
DFT_GROUPS = {
    "MoTaV": 1024, "MoTaW": 1024, "Nb80MoTaWV": 1024, "NbMo40TaWV": 1024, "NbMo80TaWV": 1024,
    "NbMoTa40WV": 1024, "NbMoTa80WV": 1024, "NbMoTaV": 1023, "NbMoTaW": 1024,
    "NbMoTaW40V": 1024, "NbMoTaWV": 4096, "NbMoTaWV40": 1024, "NbMoTaWV80": 1024, "NbMoW": 1024,
    "NbMoWV": 1024, "NbTaV": 1020, "NbTaWV": 1024, "NbWV": 1023, "TaWV": 1024,
}  # fmt: skip
RICH = {
    "Nb80MoTaWV", "NbMo40TaWV", "NbMo80TaWV", "NbMoTa40WV", "NbMoTa80WV", "NbMoTaW40V",
    "NbMoTaWV40", "NbMoTaWV80",
}  # fmt: skip


def _hop_groups() -> np.ndarray:
    labels = np.concatenate([[g] * n for g, n in DFT_GROUPS.items()])
    return np.random.default_rng(3).permutation(labels)  # hop order must not matter


def test_element_rich_labels():
    assert {g for g in DFT_GROUPS if is_element_rich(g)} == RICH
    assert not is_element_rich("NbMoTaWV") and not is_element_rich("CoCrFeMnNi")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_folds_partition_compositions_with_a_rich_one_each(seed):
    groups = _hop_groups()
    folds = composition_folds(groups, n_folds=5, seed=seed)
    assert [f.index for f in folds] == list(range(5))
    held = [g for f in folds for g in f.test_groups]
    assert sorted(held) == sorted(DFT_GROUPS)  # every composition held out exactly once
    for fold in folds:
        assert set(fold.test_groups) & RICH, f"fold {fold.index} has no element-rich composition"
    # the four NbMoTaWV replicas share one label, so they sit in one fold by construction;
    # fold sizes stay within one large composition of each other
    sizes = [sum(DFT_GROUPS[g] for g in f.test_groups) for f in folds]
    assert max(sizes) - min(sizes) <= 4096
    assert sum(sizes) == len(groups)


def test_folds_deterministic_and_independent_of_hop_order():
    groups = _hop_groups()
    a = composition_folds(groups, 5, seed=7)
    b = composition_folds(np.sort(groups), 5, seed=7)  # same labels, other order ("another model")
    assert a == b
    others = [composition_folds(groups, 5, seed=s) for s in range(6)]
    assert len({tuple(f.test_groups for f in fs) for fs in others}) > 1  # the seed matters


def test_folds_refuse_too_few_rich_compositions():
    groups = np.array(["A", "B", "C", "Nb80Mo", "D"])
    with pytest.raises(VmebError, match="element-rich"):
        composition_folds(groups, n_folds=2)
    with pytest.raises(VmebError, match="cannot make"):
        composition_folds(groups, n_folds=6)


def test_composition_scores_by_hand():
    groups = np.array(["A", "A", "B", "B", "B", "C"])
    true = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 0.5])
    pred = np.array([1.1, 1.8, 1.0, 1.3, 0.7, 0.5])
    s = composition_scores(pred, true, groups)
    # A: errors +0.1, -0.2 -> bias -0.05, centred |+0.15|, |-0.15|
    assert s["groups"]["A"] == pytest.approx({"mae": 0.15, "bias": -0.05, "centred_mae": 0.15,
                                              "n": 2})  # fmt: skip
    # B: errors 0, +0.3, -0.3 -> bias 0; C: exact
    assert s["mean_abs_bias"] == pytest.approx(0.05 / 3)
    assert s["mean_centred"] == pytest.approx((0.15 + 0.2 + 0.0) / 3)
    shifted = composition_scores(true + 0.25, true, groups)  # a pure shift: all bias
    assert shifted["mean_abs_bias"] == pytest.approx(0.25)
    assert shifted["mean_centred"] == pytest.approx(0.0, abs=1e-12)
    assert s["groups"]["B"]["mae"] == pytest.approx(0.2)
    assert s["mean"] == pytest.approx((0.15 + 0.2 + 0.0) / 3)
    assert s["worst"] == pytest.approx(0.2) and s["worst_group"] == "B"
    assert s["hop_mae"] == pytest.approx(0.9 / 6)
    with pytest.raises(VmebError, match="shapes differ"):
        composition_scores(pred[:2], true, groups)


def test_summarise_seeds_by_hand():
    one = composition_scores(np.array([1.1, 2.0]), np.array([1.0, 2.0]), np.array(["A", "B"]))
    two = composition_scores(np.array([1.0, 2.3]), np.array([1.0, 2.0]), np.array(["A", "B"]))
    s = summarise_seeds({0: one, 1: two})
    assert s["groups"] == pytest.approx({"A": 0.05, "B": 0.15})
    assert s["worst_group"] == "B" and s["worst"] == pytest.approx(0.15)
    assert s["mean"] == pytest.approx((0.05 + 0.15) / 2)
    assert s["mean_std"] == pytest.approx(0.05)
    assert s["mean_abs_bias"] == pytest.approx(((0.1 + 0) / 2 + (0 + 0.3) / 2) / 2)
    assert s["mean_centred"] == pytest.approx(0.0, abs=1e-12)  # one hop per composition


def test_selection_never_scores_the_compositions_it_predicts():
    groups = np.array(["A", "A", "B", "C"])
    true = np.array([1.0, 1.0, 2.0, 3.0])
    # "a" is exact on A and off by 0.4 on B and C; "bc" the reverse, off by 0.2 on A
    a = true + np.array([0.0, 0.0, 0.4, -0.4])
    bc = true + np.array([0.2, -0.2, 0.0, 0.0])
    candidates = {"a": [a, a + 0.01], "bc": [bc, bc]}
    # the whole table prefers "bc" (mean 0.2 / 3 against 0.8 / 3 eV) ...
    assert select_outside_fold(candidates, true, groups, []) == "bc"
    # ... but with A held out only B and C count, and with B, C held out only A
    assert select_outside_fold(candidates, true, groups, ["A"]) == "bc"
    assert select_outside_fold(candidates, true, groups, ["B", "C"]) == "a"
    folds = [Fold(0, ("A",)), Fold(1, ("B", "C"))]
    pred, chosen = selected_predictions(candidates, true, groups, folds, seed_index=1)
    assert chosen == ["bc", "a"]
    # each fold gets the other candidate's worse predictions (of seed 1): the selection's cost
    np.testing.assert_allclose(pred, [1.2, 0.8, 2.41, 2.61])
    assert composition_scores(pred, true, groups)["mean"] == pytest.approx((0.2 + 0.41 + 0.39) / 3)
    with pytest.raises(VmebError, match="nothing to choose"):
        select_outside_fold(candidates, true, groups, ["A", "B", "C"])
