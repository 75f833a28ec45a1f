"""Evaluation of a trained model on a barrier dataset: metrics overall, per group, per species.

Groups are the dataset's metrics groups (composition or CSRO label, `BarrierDataset.group_of`).
Only valid hops (status ok, positive finite barrier) are evaluated. Metrics follow the usual
definitions: MAE = mean |p - t|, RMSE = sqrt(mean (p - t)^2), R^2 = 1 - SS_res / SS_tot (NaN when
the true barriers of a subset have no spread).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vmeb.data.dataset import BarrierDataset
from vmeb.errors import VmebError
from vmeb.files import write_json
from vmeb.learn.inference import model_cutoff, predict_hops
from vmeb.learn.metrics import grouped_metrics, regression_metrics
from vmeb.species import SpeciesTable
from vmeb.structure.neighbours import ghosted_cell

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationReport:
    """Result of `evaluate_model`.

    Attributes:
        overall: Metrics over all evaluated hops (see `regression_metrics`).
        per_group: Metrics per group (composition or CSRO label), one row each.
        per_species: Metrics per moving species, one row each.
        hops: The evaluated hops with ``group`` and ``predicted`` (eV) columns added.
    """

    overall: dict[str, float]
    per_group: pd.DataFrame
    per_species: pd.DataFrame
    hops: pd.DataFrame

    def to_json(self) -> dict[str, Any]:
        """The metrics as a JSON-serialisable dict (no per-hop rows)."""
        return {
            "overall": _clean(self.overall),
            "per_group": [_clean(r) for r in self.per_group.to_dict(orient="records")],
            "per_species": [_clean(r) for r in self.per_species.to_dict(orient="records")],
        }


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe values: numpy scalars to Python, NaN to None."""
    out = {}
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        out[key] = value
    return out


def evaluate_model(
    trained: Any,
    dataset: BarrierDataset,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
) -> EvaluationReport:
    """Predict every valid hop of a dataset and compare with its barriers.

    Args:
        trained: A `vmeb.learn.checkpoints.TrainedModel`.
        dataset: The dataset (any species order: channels follow the model's species).
        batch_size: Hops per model batch.
        device: Torch device of the model evaluation.
        progress: Show a tqdm bar over samples.

    Returns:
        The report.

    Raises:
        VmebError: if the dataset has no valid hops or holds elements the model does not know.
    """
    unknown = SpeciesTable.of(trained.species).unknown(dataset.species)
    if unknown:
        raise VmebError(
            f"{dataset.root}: dataset species {unknown} not known to the model "
            f"(it was trained on {list(trained.species)})"
        )
    hops = dataset.with_groups()
    if hops.empty:
        raise VmebError(f"{dataset.root}: no valid hops to evaluate")
    predicted = np.full(len(hops), np.nan)
    r_c = model_cutoff(trained)
    for sample_id, atoms, sample_hops in dataset.iter_samples(hops, progress=progress):
        rows = sample_hops.index.to_numpy()
        try:
            predicted[rows] = predict_hops(
                trained,
                atoms,
                hops["vacancy_index"].to_numpy()[rows],
                hops["moving_index"].to_numpy()[rows],
                ghosts=ghosted_cell(atoms, r_c),
                batch_size=batch_size,
                device=device,
            )
        except VmebError as exc:
            raise VmebError(f"{dataset.root}: sample {sample_id}: {exc}") from exc
    hops["predicted"] = predicted
    overall = regression_metrics(hops["barrier"].to_numpy(), predicted)
    logger.info("evaluated %d hops: MAE %.4f eV", overall["count"], overall["mae"])
    return EvaluationReport(
        overall=overall,
        per_group=grouped_metrics(hops, "group"),
        per_species=grouped_metrics(hops, "moving_species"),
        hops=hops,
    )


def write_report(
    report: EvaluationReport, directory: str | os.PathLike, meta: dict[str, Any] | None = None
) -> list[Path]:
    """Write an evaluation report and its figures into a directory.

    Files: ``report.json`` (metrics and ``meta``), ``metrics_per_group.csv``,
    ``metrics_per_species.csv``, ``predictions.csv`` (every hop with its prediction),
    ``parity.png`` and ``distributions.png`` (paper Fig. 3 style, MAE on each panel).

    Args:
        report: The report.
        directory: Existing output directory (write into a staging directory and rename it for
            an all-or-nothing result).
        meta: Extra JSON fields (model and dataset paths ...).

    Returns:
        The written paths.
    """
    from vmeb.files import save_figure
    from vmeb.plots.figures import distribution_panels, parity_plot

    directory = Path(directory)
    written = []
    payload = {**(meta or {}), **report.to_json()}
    path = directory / "report.json"
    write_json(path, payload)
    written.append(path)
    for name, table in (
        ("metrics_per_group.csv", report.per_group),
        ("metrics_per_species.csv", report.per_species),
        ("predictions.csv", report.hops),
    ):
        table.to_csv(directory / name, index=False)
        written.append(directory / name)
    true = report.hops["barrier"].to_numpy()
    pred = report.hops["predicted"].to_numpy()
    written.append(save_figure(parity_plot(true, pred), directory / "parity.png"))
    written.append(save_figure(distribution_panels(report.hops), directory / "distributions.png"))
    return written
