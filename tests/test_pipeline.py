"""The main job end to end (`vmeb run --quick`), its outputs and its resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from vmeb.cli.main import main
from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.pipeline import PipelineConfig, load_config, run_pipeline, summary_table
from vmeb.spectra.output import SPECTRUM_FILES


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick pipeline run through the CLI: (output directory, captured stdout)."""
    out = tmp_path_factory.mktemp("pipeline") / "out"
    capture = pytest.MonkeyPatch()
    capture.setenv("VMEB_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        status = main(["run", "-o", str(out), "--quick", "--no-progress"])
    finally:
        capture.undo()
    assert status == 0
    return out


def test_quick_run_writes_every_stage(quick_run):
    out = quick_run
    config = PipelineConfig.quick()
    summary = json.loads((out / "summary.json").read_text())
    for stage in ("samples", "neb", "train", "evaluate", "predict", "summary"):
        assert (out / "stages" / f"{stage}.json").is_file()
    for name in ("parity.png", "distributions.png", "spectrum.png"):
        assert (out / "figures" / name).stat().st_size > 1000
    train, test = open_dataset(out / "data" / "train"), open_dataset(out / "data" / "test")
    n_train = len(config.train_compositions) * config.sites_per_sample * 8
    assert len(train.hops) == n_train and len(test.hops) == 8
    # the held-out composition is in the test dataset only
    train_groups = {train.group_of(s) for s in train.sample_ids()}
    test_groups = {test.group_of(s) for s in test.sample_ids()}
    assert train_groups == {"Ta50Nb25Mo25", "Ta25Nb50Mo25"}
    assert test_groups == {"Ta33.33Nb33.33Mo33.33"} and not train_groups & test_groups
    assert summary["neb"]["hops"] == n_train + 8
    assert summary["neb"]["failed"] == int((train.hops["status"] != "ok").sum()) + int(
        (test.hops["status"] != "ok").sum()
    )
    # evaluation covers every valid test hop, and its MAE is that of predictions.csv
    predictions = pd.read_csv(out / "evaluate" / "predictions.csv")
    assert len(predictions) == len(test.valid_hops()) == summary["evaluate"]["overall"]["count"]
    mae = np.abs(predictions["predicted"] - predictions["barrier"]).mean()
    assert summary["evaluate"]["overall"]["mae"] == pytest.approx(mae, abs=1e-9)


def test_quick_run_spectrum_matches_its_hop_table(quick_run):
    out = quick_run
    summary = json.loads((out / "summary.json").read_text())
    hops = pd.read_csv(out / "predict" / "hops.csv")
    n_atoms = 2 * PipelineConfig.quick().predict_cells ** 3
    assert len(hops) == 8 * n_atoms == summary["predict"]["hops"]
    assert (hops.groupby("site").size() == 8).all()
    for row in summary["predict"]["spectrum"]:
        species = row["moving_species"]
        values = (
            hops["barrier"]
            if species == "all"
            else hops.loc[hops["moving_species"] == species, "barrier"]
        )
        assert row["count"] == len(values)
        assert row["mean"] == pytest.approx(values.mean(), abs=1e-9)
        assert row["std"] == pytest.approx(values.std(ddof=0), abs=1e-9)
    table = summary_table(summary)
    assert "held-out test: MAE" in table and len(table.splitlines()) == 4 + 4 + 1
    # the spectrum directory of vmeb predict (`write_spectrum`), plus the predicted sample
    assert {p.name for p in (out / "predict").iterdir()} == {*SPECTRUM_FILES, "sample.extxyz"}
    written = json.loads((out / "predict" / "spectrum.json").read_text())
    assert written["spectra"] == summary["predict"]["spectrum"]
    assert written["n_atoms"] == n_atoms == written["n_sites"]
    assert written["composition"] == PipelineConfig.quick().predict_composition


def test_rerun_skips_finished_stages_and_redoes_a_removed_one(quick_run):
    out = quick_run
    before = {p.name: p.read_text() for p in (out / "stages").glob("*.json")}
    hops_before = (out / "data" / "train" / "hops.csv").read_bytes()
    predicted_before = pd.read_csv(out / "predict" / "hops.csv")
    # remove the predict stage: only it runs again, with the same (deterministic) result
    (out / "stages" / "predict.json").unlink()
    shutil.rmtree(out / "predict")
    summary = run_pipeline(out, PipelineConfig.quick(), progress=False)
    for name in ("samples.json", "neb.json", "train.json", "evaluate.json"):
        assert (out / "stages" / name).read_text() == before[name]
    assert (out / "data" / "train" / "hops.csv").read_bytes() == hops_before
    predicted = pd.read_csv(out / "predict" / "hops.csv")
    np.testing.assert_allclose(predicted["barrier"], predicted_before["barrier"], atol=1e-6)
    assert summary["predict"]["hops"] == len(predicted)


def test_rerun_with_another_config_is_refused(quick_run):
    other = PipelineConfig.from_dict({"seed": 1}, PipelineConfig.quick())
    with pytest.raises(VmebError, match="another config"):
        run_pipeline(quick_run, other, progress=False)


def test_config_file_and_validation(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("sites_per_sample: 3\ntest_compositions: [Ta1Nb1Mo3]\n")
    config = load_config(path)
    assert config.sites_per_sample == 3 and config.test_compositions == ("Ta1Nb1Mo3",)
    assert config.train_compositions == PipelineConfig().train_compositions
    path.write_text("sites: 3\n")
    with pytest.raises(VmebError, match="p.yaml.*unknown pipeline config keys"):
        load_config(path)
    with pytest.raises(VmebError, match="both training and test"):
        PipelineConfig.from_dict({"test_compositions": ["Ta2Nb1Mo1"]}, PipelineConfig.quick())
    with pytest.raises(VmebError):
        PipelineConfig(neb={"n_replicas": 2})
    for text, message in (
        ("cells: two\n", "cells: expected an integer, got 'two'"),
        ("neb: {ftol: abc}\n", "pipeline 'neb' settings: ftol: expected a number, got 'abc'"),
        ("train: {lr: abc}\n", "pipeline 'train' settings: lr: expected a number, got 'abc'"),
    ):
        path.write_text(text)
        with pytest.raises(VmebError) as info:
            load_config(path)
        assert str(info.value) == f"{path}: {message}"


@pytest.mark.slow
def test_full_default_run(tmp_path):
    """The README's main job at full size (about 15 minutes on an idle 2-core machine)."""
    summary = run_pipeline(tmp_path / "out", PipelineConfig(), progress=False)
    assert summary["predict"]["atoms"] == 2000 and summary["predict"]["hops"] == 16000
    assert summary["neb"]["failed_fraction"] < 0.2
    # the compact CNN beats predicting the training mean on the held-out composition
    predictions = pd.read_csv(tmp_path / "out" / "evaluate" / "predictions.csv")
    train = open_dataset(tmp_path / "out" / "data" / "train").valid_hops()
    baseline = np.abs(predictions["barrier"] - train["barrier"].mean()).mean()
    assert summary["evaluate"]["overall"]["mae"] < baseline
