"""The ensemble of a round: training on the labelled hops, spreads on the pool, test errors.

`train_round` trains K seeded members (`vmeb.learn.ensembles.train_ensemble`, resumable: a
finished member is kept, an interrupted one continues from its ``checkpoint.pt``);
`predict_sites` gives the ensemble mean and epistemic spread of the 8 hops of candidate sites;
`evaluate_test` the errors on the fixed test set, overall and per composition.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vmeb.active.pool import Pool, site_hops
from vmeb.data.dataset import BarrierDataset, open_dataset
from vmeb.learn.ensembles import (
    DeepEnsemble,
    EnsembleRecorder,
    load_ensemble,
    predict_dataset,
    train_ensemble,
)
from vmeb.learn.inference import predict_hops

logger = logging.getLogger(__name__)

#: Member seeds of round r start at ``seed + ROUND_SEED_STEP * r``.
ROUND_SEED_STEP = 1000


def train_round(
    dataset: Path,
    config: Any,
    members: int,
    folder: Path,
    round_index: int,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Train the round's ensemble on every labelled hop of ``dataset`` (resumable).

    Args:
        dataset: The campaign's labelled dataset.
        config: The members' `vmeb.learn.settings.TrainConfig` (seed of round 0).
        members: K.
        folder: The ensemble directory.
        round_index: Round r; member k uses seed ``config.seed + 1000 r + k``.
        progress: tqdm bars.

    Returns:
        ``{"members": K, "val_mae": [K] eV, "hops": training-set size}``.
    """
    seeded = dataclasses.replace(config, seed=config.seed + ROUND_SEED_STEP * round_index)
    opened = open_dataset(dataset)
    result = train_ensemble([opened], seeded, folder, members, resume=True, progress=progress)
    return {
        "members": members,
        "val_mae": [float(v) for v in result.val_mae],
        "hops": len(opened.valid_hops()),
    }


def predict_sites(
    ensemble: DeepEnsemble, pool: Pool, candidates: pd.DataFrame, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Ensemble mean and spread of the 8 hops of each candidate site.

    Args:
        ensemble: The round's ensemble.
        pool: The pool (samples).
        candidates: N candidate rows (``sample_id``, ``vacancy_index``).
        device: Torch device.

    Returns:
        ``(mean, spread)``: [N, 8] barriers and epistemic standard deviations (eV), hops in the
        order of `vmeb.active.pool.site_hops`.
    """
    mean = np.zeros((len(candidates), 8))
    spread = np.zeros((len(candidates), 8))
    table = candidates.reset_index(drop=True)
    for sample_id, part in table.groupby("sample_id", sort=False):
        atoms = pool.samples[str(sample_id)]
        sites = part["vacancy_index"].to_numpy()
        moving = site_hops(atoms, sites)
        recorder = EnsembleRecorder(ensemble)
        predict_hops(recorder, atoms, np.repeat(sites, 8), moving.reshape(-1), device=device)
        joined = recorder.joined(len(ensemble.members))
        index = part.index.to_numpy()
        mean[index] = joined.mean.reshape(-1, 8)
        spread[index] = joined.epistemic_std.reshape(-1, 8)
    return mean, spread


def evaluate_test(
    ensemble: DeepEnsemble,
    dataset: BarrierDataset,
    groups: tuple[str, ...] | None,
    device: str = "cpu",
) -> tuple[dict[str, float], pd.DataFrame]:
    """Errors of the ensemble on the test hops (valid hops of ``groups``, or all).

    Returns:
        ``(metrics, table)``: ``test_mae``, ``test_mae_worst`` (the worst composition's MAE),
        ``test_spread`` (mean epistemic spread), ``test_hops`` (eV, count); the per-hop table of
        `vmeb.learn.ensembles.predict_dataset`.
    """
    hops = dataset.hops
    if groups is not None:
        keep = {s for s in dataset.sample_ids() if dataset.group_of(s) in set(groups)}
        hops = hops[hops["sample_id"].isin(keep)]
    table = predict_dataset(ensemble, dataset.subset(hops), device=device)
    errors = table["error"].abs()
    per_group = errors.groupby(table["group"]).mean()
    metrics = {
        "test_mae": float(errors.mean()),
        "test_mae_worst": float(per_group.max()),
        "test_spread": float(table["barrier_std"].mean()),
        "test_hops": len(table),
    }
    return metrics, table


def load_round_ensemble(folder: Path, device: str = "cpu") -> DeepEnsemble:
    """The ensemble a round trained."""
    return load_ensemble(folder, device=device)
