"""Regression metrics of barrier predictions, shared by training and evaluation.

MAE = mean |p - t|, RMSE = sqrt(mean (p - t)^2), R^2 = 1 - SS_res / SS_tot (NaN when the true
values have no spread); all in eV except R^2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Metric columns of the report tables.
METRIC_COLUMNS = ("count", "mae", "rmse", "r2", "mean_true", "mean_predicted")


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R^2 of predictions.

    Args:
        true: [N] reference barriers (eV).
        predicted: [N] predicted barriers (eV).

    Returns:
        ``count``, ``mae`` (eV), ``rmse`` (eV), ``r2`` (1), ``mean_true``, ``mean_predicted`` (eV);
        NaN values for N = 0 (and R^2 NaN when the true values are all equal).
    """
    true = np.asarray(true, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if true.shape != predicted.shape:
        raise ValueError(f"shapes differ: {true.shape} vs {predicted.shape}")
    nan = float("nan")
    if len(true) == 0:
        return dict(count=0, mae=nan, rmse=nan, r2=nan, mean_true=nan, mean_predicted=nan)
    error = predicted - true
    ss_res = float(np.sum(error**2))
    ss_tot = float(np.sum((true - true.mean()) ** 2))
    return {
        "count": int(len(true)),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else nan,
        "mean_true": float(true.mean()),
        "mean_predicted": float(predicted.mean()),
    }


def grouped_metrics(hops: pd.DataFrame, by: str) -> pd.DataFrame:
    """`regression_metrics` per value of column ``by`` of a table with barrier and predicted.

    Args:
        hops: Table with columns ``by``, ``barrier`` and ``predicted`` (eV).
        by: Grouping column.

    Returns:
        One row per group (sorted), columns ``by`` then `METRIC_COLUMNS`.
    """
    rows = []
    for key, part in hops.groupby(by, sort=True):
        metrics = regression_metrics(part["barrier"].to_numpy(), part["predicted"].to_numpy())
        rows.append({by: key, **metrics})
    return pd.DataFrame(rows, columns=[by, *METRIC_COLUMNS])


def training_metrics(pred: np.ndarray, true: np.ndarray, groups: np.ndarray) -> dict[str, Any]:
    """The metrics of a training run's split: `regression_metrics` overall and MAE per group.

    Args:
        pred: [N] predicted barriers (eV).
        true: [N] reference barriers (eV).
        groups: [N] group label of each hop.

    Returns:
        ``{"mae", "rmse", "n", "groups": {group: {"mae", "n"}}}`` (groups sorted).
    """
    groups = np.asarray(groups)
    overall = regression_metrics(true, pred)
    per_group = {}
    for g in sorted(set(groups.tolist())):
        part = groups == g
        per_group[str(g)] = {
            "mae": regression_metrics(true[part], pred[part])["mae"],
            "n": int(part.sum()),
        }
    return {"mae": overall["mae"], "rmse": overall["rmse"], "n": len(true), "groups": per_group}
