"""vmeb.learn.metrics: the one metrics function of training and evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from vmeb.learn.metrics import regression_metrics, training_metrics


def test_training_metrics_by_hand():
    true = np.array([1.0, 1.2, 0.8, 1.5])
    pred = np.array([1.1, 1.0, 0.8, 1.9])
    groups = np.array(["b", "a", "b", "a"])
    metrics = training_metrics(pred, true, groups)
    assert metrics["n"] == 4
    assert metrics["mae"] == pytest.approx((0.1 + 0.2 + 0.0 + 0.4) / 4)
    assert metrics["rmse"] == pytest.approx(np.sqrt((0.01 + 0.04 + 0.0 + 0.16) / 4))
    assert list(metrics["groups"]) == ["a", "b"]
    assert metrics["groups"]["a"] == {"mae": pytest.approx(0.3), "n": 2}
    assert metrics["groups"]["b"] == {"mae": pytest.approx(0.05), "n": 2}
    # the same numbers as the evaluation report
    overall = regression_metrics(true, pred)
    assert (overall["mae"], overall["rmse"]) == (metrics["mae"], metrics["rmse"])
