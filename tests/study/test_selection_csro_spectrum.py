"""Supp. Note 2 (k-means choice), Fig. 4 (error per CSRO state) and Supp. Fig. 3 (spectrum
against NEB) on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vmeb.errors import VmebError
from vmeb.learn.evaluate import EvaluationReport
from vmeb.study.csro_states import md_step, state_errors, state_errors_figure
from vmeb.study.selection import kmeans_choice, random_choice
from vmeb.study.spectrum import compare_spectra, spectra_figure


def test_kmeans_takes_one_hop_per_cluster_and_random_is_distinct():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat([0, 1, 2], [50, 5, 100])  # unbalanced: random choice under-samples 1
    features = centres[labels] + rng.normal(scale=0.1, size=(len(labels), 2))
    chosen = kmeans_choice(features, 3, seed=0)
    assert sorted(labels[chosen]) == [0, 1, 2]
    # each chosen hop is the one nearest its cluster's mean
    for c in range(3):
        members = np.nonzero(labels == c)[0]
        nearest = members[np.argmin(((features[members] - features[members].mean(0)) ** 2).sum(1))]
        assert nearest in chosen
    picked = random_choice(155, 20, seed=1)
    assert len(set(picked)) == 20 and picked.max() < 155
    with pytest.raises(VmebError, match="cannot choose 4 of 3"):
        kmeans_choice(features[:3], 4, seed=0)


def _report(rows: list[tuple[str, float, float]]) -> EvaluationReport:
    hops = pd.DataFrame(rows, columns=["group", "barrier", "predicted"])
    hops["moving_species"] = "Ta"
    return EvaluationReport({}, pd.DataFrame(), pd.DataFrame(), hops)


def test_state_errors_ratio_to_the_random_state(tmp_path):
    report = _report([
        ("TaNbMo_md0", 1.0, 1.02), ("TaNbMo_md0", 1.2, 1.18),
        ("TaNbMo_md20000", 1.0, 1.03), ("TaNbMo_md20000", 0.8, 0.83),
        ("TaNbMo_md2000", 1.1, 1.1), ("TaNbMo_md2000", 0.9, 0.95),
    ])  # fmt: skip
    table = state_errors(report)
    assert list(table["md_step"]) == [0, 2000, 20000]
    np.testing.assert_allclose(table["mae"], [0.02, 0.025, 0.03])
    np.testing.assert_allclose(table["ratio"], [1.0, 1.25, 1.5])
    state_errors_figure(report, table).savefig(tmp_path / "fig4.png")
    assert md_step("TaNbMo_md5000") == 5000 and md_step("random") is None
    with pytest.raises(VmebError, match="no CSRO state of MD step 0"):
        state_errors(_report([("a_md5", 1.0, 1.0)]))


def test_compare_spectra_per_species(tmp_path):
    predicted = pd.DataFrame({"moving_species": ["Ta", "Ta", "Nb"], "barrier": [1.0, 1.2, 0.7]})
    neb = pd.DataFrame({"moving_species": ["Ta", "Nb", "Nb"], "barrier": [1.05, 0.6, 0.8]})
    stats = compare_spectra(predicted, neb, ["Ta", "Nb", "Mo"]).set_index("species")
    assert stats.loc["Ta", "mean_predicted"] == pytest.approx(1.1)
    assert stats.loc["Ta", "mean_difference"] == pytest.approx(0.05)
    assert stats.loc["Nb", "n_neb"] == 2 and stats.loc["Mo", "n_predicted"] == 0
    assert stats.loc["all", "mean_neb"] == pytest.approx(2.45 / 3)
    spectra_figure(predicted, neb, ["Ta", "Nb", "Mo"]).savefig(tmp_path / "s.png")
    with pytest.raises(VmebError, match=r"NEB hop table lacks columns \['moving_species'\]"):
        compare_spectra(predicted, neb.drop(columns="moving_species"), ["Ta"])
