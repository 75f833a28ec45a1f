"""The active-learning loop end to end: pool mode on a made dataset, and a tiny NEB campaign
with the built-in EAM (54-atom cells) through a Dask LocalCluster, killed and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vmeb import testing
from vmeb.active.config import ActiveConfig, load_active_config
from vmeb.active.curve import CURVE_COLUMNS
from vmeb.active.loop import run_active_campaign
from vmeb.data.dataset import open_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HOP_SECONDS = 1.2
#: A tiny NEB campaign: 2 compositions, 54-atom cells, 6 candidate sites per sample, a loose
#: 5-replica NEB, 2 sites per round, 1 random test site, 2 members trained 2 epochs, 2 rounds.
TINY = {
    "compositions": ["Ta0.5Nb0.5", "Ta0.34Nb0.33Mo0.33"],
    "cells": 3,
    "a": 3.28,
    "sites_per_sample": 6,
    "neb": {"n_replicas": 5, "ftol": 0.01, "max_steps": 200, "climb_steps": 400,
            "retry_replicas": []},
    "train": {"epochs": 2},
    "workers": 1,
    "members": 2,
    "initial_sites": 2,
    "batch_sites": 2,
    "test_sites": 1,
    "max_rounds": 2,
    "seed": 4,
}  # fmt: skip


def _keys(table: pd.DataFrame) -> list[tuple]:
    return sorted(zip(table["sample_id"], table["vacancy_index"], table["moving_index"],
                      strict=True))  # fmt: skip


# ------------------------------------------------------------------------------ pool mode


@pytest.fixture(scope="module")
def pool_data(tmp_path_factory):
    """A counting-model dataset: 6 samples of 54 atoms in three compositions; g2 is the test."""
    root = tmp_path_factory.mktemp("pool")
    rng = np.random.default_rng(3)
    samples = {f"s{i}": testing.random_alloy(3, rng) for i in range(6)}
    groups = {f"s{i}": f"g{i % 3}" for i in range(6)}
    return testing.make_dataset(root / "data", samples, groups=groups)


def _pool_config(pool_data: Path, **change) -> ActiveConfig:
    values = {
        "pool_datasets": [str(pool_data)], "test_dataset": str(pool_data),
        "test_groups": ["g2"], "initial_sites": 4, "batch_sites": 3, "members": 2,
        "max_rounds": 2, "train": {"epochs": 2}, "hop_seconds": HOP_SECONDS,
    }  # fmt: skip
    return load_active_config(None, {**values, **change})


@pytest.mark.parametrize("mode", ["active", "random"])
def test_pool_mode_reveals_rows_and_draws_the_curve(tmp_path, pool_data, mode):
    result = run_active_campaign(_pool_config(pool_data, mode=mode), tmp_path, progress=False)
    assert result.rounds == 2 and result.stop_reason == "max_rounds 2 reached"
    pool = pd.read_csv(tmp_path / "pool" / "candidates.csv")
    assert len(pool) == 4 * 54 and set(pool["group"]) == {"g0", "g1"}  # test samples left out
    source = open_dataset(pool_data).hops
    labelled = open_dataset(tmp_path / "dataset").hops
    assert len(labelled) == 8 * (4 + 3) and len(set(_keys(labelled))) == len(labelled)
    merged = labelled.merge(source, on=["sample_id", "vacancy_index", "moving_index"])
    assert len(merged) == len(labelled)
    np.testing.assert_allclose(merged["barrier_x"], merged["barrier_y"])  # revealed as stored
    curve = pd.read_csv(tmp_path / "learning_curve.csv")
    assert list(curve.columns) == list(CURVE_COLUMNS) and curve["round"].tolist() == [0, 1]
    assert curve["hops"].tolist() == [32, 56] and curve["sites"].tolist() == [4, 7]
    assert curve["cpu_seconds"].tolist() == pytest.approx([32 * HOP_SECONDS, 56 * HOP_SECONDS])
    assert (curve["test_mae"] > 0).all() and (curve["test_mae"] < 1).all()
    assert (curve["test_mae_worst"] >= curve["test_mae"] - 1e-12).all()
    assert (curve["pool_spread"] > 0).all() and (curve["mode"] == mode).all()
    test_rows = pd.read_csv(tmp_path / "rounds" / "round_01" / "test_predictions.csv")
    assert len(test_rows) == 2 * 54 * 8 and set(test_rows["group"]) == {"g2"}
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    first = pd.read_csv(tmp_path / "rounds" / "round_00" / "selected.csv")
    assert len(first) == 4  # round 0 is random in both modes: identical footing


def test_batch_growth_doubles_the_labelled_set(tmp_path, pool_data):
    """batch_growth 2: rounds label 4, 3, 6, 12 sites (cumulative 4, 7, 13, 25)."""
    config = _pool_config(pool_data, mode="random", batch_growth=2.0, max_rounds=4)
    curve = run_active_campaign(config, tmp_path, progress=False).curve
    assert curve["sites"].tolist() == [4, 7, 13, 25]
    sizes = [len(pd.read_csv(tmp_path / "rounds" / f"round_{r:02d}" / "selected.csv"))
             for r in range(4)]  # fmt: skip
    assert sizes == [4, 3, 6, 12]


def test_pool_mode_resumes_after_a_lost_stage(tmp_path, pool_data):
    """A round whose last stages were lost (state rewound) redoes them to the same numbers."""
    config = _pool_config(pool_data)
    before = run_active_campaign(config, tmp_path, progress=False).curve
    state = tmp_path / "rounds" / "round_01" / "state.json"
    record = json.loads(state.read_text())
    for stage in ("train", "evaluate", "score"):
        del record["done"][stage]
    state.write_text(json.dumps(record))
    after = run_active_campaign(config, tmp_path, progress=False).curve
    columns = ["hops", "sites", "cpu_seconds", "test_mae", "test_mae_worst", "pool_spread"]
    pd.testing.assert_frame_equal(before[columns], after[columns])
    assert len(open_dataset(tmp_path / "dataset").hops) == 8 * 7  # nothing revealed twice


# ------------------------------------------------------------------------------ NEB mode


@pytest.fixture(scope="module")
def neb_reference(tmp_path_factory, eam):
    """The tiny campaign run uninterrupted, its NEB through a Dask LocalCluster."""
    from distributed import LocalCluster

    out = tmp_path_factory.mktemp("reference") / "campaign"
    config = load_active_config(None, TINY)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:  # fmt: skip
        result = run_active_campaign(
            config, out, scheduler=cluster.scheduler_address, progress=False
        )
    return out, result


def test_two_rounds_of_a_tiny_neb_campaign(neb_reference):
    out, result = neb_reference
    assert result.rounds == 2
    hops = open_dataset(out / "dataset").hops
    assert len(hops) == 8 * 4 and len(set(_keys(hops))) == 32  # 2 + 2 sites, no repeats
    assert hops["source"].nunique() == 1 and hops["source"].iloc[0].startswith("neb-")
    valid = hops[hops["status"] == "ok"]
    assert len(valid) >= 24 and valid["barrier"].between(0.05, 3.0).all()
    test = open_dataset(out / "test_dataset").hops
    assert len(test) == 8
    curve = pd.read_csv(out / "learning_curve.csv")
    assert curve["round"].tolist() == [0, 1] and curve["sites"].tolist() == [2, 4]
    assert curve["hops"].iloc[-1] == len(valid)
    assert (curve["cpu_seconds"].diff().dropna() > 0).all()
    assert (curve["test_mae"].between(0.0, 1.0)).all() and (curve["pool_spread"] > 0).all()
    for r in (0, 1):
        folder = out / "rounds" / f"round_{r:02d}"
        assert (folder / "ensemble" / "ensemble.json").is_file()
        assert len(pd.read_csv(folder / "selected.csv")) == 2
    assert (out / "learning_curve.png").is_file() and (out / "config.yaml").is_file()


def _wait_for_rows(path: Path, rows: int, process, timeout: float = 240.0) -> None:
    start = time.time()
    while time.time() - start < timeout:
        if path.is_file() and path.read_text().count("\n") >= rows + 1:
            return
        if process.poll() is not None:
            pytest.fail(f"campaign ended before {path} had {rows} rows")
        time.sleep(0.05)
    pytest.fail(f"{path} never had {rows} rows")


def test_killed_campaign_resumes_to_the_same_result(tmp_path, neb_reference, eam):
    reference, _ = neb_reference
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    command = [sys.executable, "-m", "vmeb.cli.main", "campaign", "--config", "c.yaml",
               "-o", "out", "--no-progress", "--threads", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:  # kill the whole session (mpiexec included) once the first training site is in
        _wait_for_rows(tmp_path / "out" / "dataset" / "hops.csv", 8, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed = open_dataset(tmp_path / "out" / "dataset").hops
    assert 8 <= len(killed) < 32
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "out"
    hops, expected = open_dataset(out / "dataset").hops, open_dataset(reference / "dataset").hops
    assert _keys(hops) == _keys(expected)  # the same sites, and no hop twice
    both = hops.merge(expected, on=["sample_id", "vacancy_index", "moving_index"])
    np.testing.assert_allclose(both["barrier_x"], both["barrier_y"], atol=1e-6)
    assert killed.iloc[:8].equals(hops.iloc[:8])  # rows before the kill kept, not recomputed
    for r in (0, 1):
        mine = pd.read_csv(out / "rounds" / f"round_{r:02d}" / "selected.csv")
        theirs = pd.read_csv(reference / "rounds" / f"round_{r:02d}" / "selected.csv")
        assert mine["candidate"].tolist() == theirs["candidate"].tolist()
    curve, ref_curve = (pd.read_csv(p / "learning_curve.csv") for p in (out, reference))
    columns = ["round", "hops", "sites", "test_mae", "pool_spread"]
    pd.testing.assert_frame_equal(curve[columns], ref_curve[columns], atol=1e-6)


def test_hop_budget_cuts_the_last_batch_and_stops(tmp_path, pool_data):
    config = _pool_config(pool_data, hop_budget=40, max_rounds=5)
    result = run_active_campaign(config, tmp_path, progress=False)
    assert result.stop_reason == "hop budget" and result.rounds == 2
    assert result.curve["sites"].tolist() == [4, 5]  # 32 hops, then one site of 8 more
    assert result.curve["hops"].tolist() == [32, 40]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"] == "hop budget" and summary["last"]["hops"] == 40
    again = run_active_campaign(config, tmp_path, progress=False)  # a finished campaign
    pd.testing.assert_frame_equal(again.curve, result.curve)
