"""Evaluation: metrics against scikit-learn, exact errors of a closed-form model, CLI, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from vmeb.cli.main import main
from vmeb.data.dataset import HOPS_FILE, open_dataset, read_hops
from vmeb.errors import VmebError
from vmeb.learn.evaluate import evaluate_model, regression_metrics, write_report
from vmeb.testing import CountingModel, cli_error_line, make_dataset, random_alloy


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    true = rng.normal(1.0, 0.3, 200)
    pred = true + rng.normal(0.02, 0.05, 200)
    metrics = regression_metrics(true, pred)
    assert metrics["count"] == 200
    np.testing.assert_allclose(metrics["mae"], mean_absolute_error(true, pred), rtol=1e-12)
    np.testing.assert_allclose(metrics["rmse"], np.sqrt(mean_squared_error(true, pred)), rtol=1e-12)
    np.testing.assert_allclose(metrics["r2"], r2_score(true, pred), rtol=1e-12)
    assert np.isnan(regression_metrics(np.ones(3), np.ones(3) * 2)["r2"])
    assert np.isnan(regression_metrics(np.zeros(0), np.zeros(0))["mae"])


@pytest.fixture
def perturbed_dataset(tmp_path):
    """Counting-model dataset whose stored barriers carry known per-hop offsets, shuffled rows and
    failed hops; returns (dataset root, offsets by (sample, vacancy, moving))."""
    rng = np.random.default_rng(11)
    samples = {"A": random_alloy(3, rng), "B": random_alloy(3, rng, species=("Ta", "Mo"))}
    root = make_dataset(tmp_path / "data", samples)
    hops = read_hops(root)
    offsets = rng.normal(0.0, 0.08, len(hops))
    hops["barrier"] = hops["barrier"] + offsets
    hops["offset"] = offsets
    failed = rng.choice(len(hops), 20, replace=False)
    hops.loc[failed, "status"] = "failed"
    hops.loc[failed, "reason"] = "test"
    hops = hops.sample(frac=1.0, random_state=3).reset_index(drop=True)
    hops.drop(columns="offset").to_csv(root / HOPS_FILE, index=False)
    return root, hops[hops.status == "ok"]


def test_evaluate_model_recovers_known_errors(perturbed_dataset):
    root, ok = perturbed_dataset
    report = evaluate_model(CountingModel(), open_dataset(root), progress=False)
    # the model predicts the unperturbed barrier, so the error of each hop is -offset
    assert report.overall["count"] == len(ok)
    np.testing.assert_allclose(report.overall["mae"], np.abs(ok.offset).mean(), rtol=1e-9)
    np.testing.assert_allclose(report.overall["rmse"], np.sqrt(np.mean(ok.offset**2)), rtol=1e-9)
    np.testing.assert_allclose(
        report.overall["r2"], r2_score(ok.barrier, ok.barrier - ok.offset), rtol=1e-9
    )
    groups = report.per_group.set_index("group")
    for group, part in ok.groupby("sample_id"):
        np.testing.assert_allclose(groups.loc[group, "mae"], np.abs(part.offset).mean())
        assert groups.loc[group, "count"] == len(part)
    per_species = report.per_species.set_index("moving_species")
    assert set(per_species.index) == set(ok.moving_species)
    for symbol, part in ok.groupby("moving_species"):
        np.testing.assert_allclose(
            per_species.loc[symbol, "rmse"], np.sqrt(np.mean(part.offset**2))
        )
    merged = report.hops.merge(ok, on=["sample_id", "vacancy_index", "moving_index"])
    np.testing.assert_allclose(merged.predicted, merged.barrier_y - merged.offset, atol=1e-9)


def test_write_report_files(perturbed_dataset, tmp_path):
    root, _ = perturbed_dataset
    report = evaluate_model(CountingModel(), open_dataset(root), progress=False)
    out = tmp_path / "report"
    out.mkdir()
    write_report(report, out, meta={"model": "counting"})
    payload = json.loads((out / "report.json").read_text())
    assert payload["model"] == "counting"
    np.testing.assert_allclose(payload["overall"]["mae"], report.overall["mae"])
    assert {g["group"] for g in payload["per_group"]} == {"A", "B"}
    assert len(pd.read_csv(out / "predictions.csv")) == report.overall["count"]
    for name in ("parity.png", "distributions.png"):
        assert (out / name).stat().st_size > 1000


def test_evaluate_rejects_unknown_species(tmp_path):
    class TwoSpecies(CountingModel):
        species = ("Ta", "Nb")

    root = make_dataset(tmp_path / "d", {"A": random_alloy(2, np.random.default_rng(1))})
    with pytest.raises(VmebError, match=r"dataset species \['Mo'\] not known to the model"):
        evaluate_model(TwoSpecies(), open_dataset(root), progress=False)


def test_cli_evaluate(tiny_setup, tmp_path, capsys):
    from vmeb.learn.checkpoints import load_checkpoint

    dataset, model_path, _ = tiny_setup
    out = tmp_path / "eval"
    assert main(["evaluate", str(model_path), str(dataset), "-o", str(out), "--no-progress"]) == 0
    line = capsys.readouterr().out.strip()
    payload = json.loads((out / "report.json").read_text())
    direct = evaluate_model(load_checkpoint(model_path), open_dataset(dataset), progress=False)
    np.testing.assert_allclose(payload["overall"]["mae"], direct.overall["mae"], rtol=1e-6)
    assert f"MAE {direct.overall['mae']:.4f} eV" in line
    per_group = pd.read_csv(out / "metrics_per_group.csv")
    assert sorted(per_group.group) == ["s0", "s1"]
    assert (out / "parity.png").is_file() and (out / "distributions.png").is_file()


def test_cli_evaluate_bad_input(tiny_setup, tmp_path, capsys):
    dataset, model_path, _ = tiny_setup
    other = tmp_path / "v2"
    make_dataset(other, {"A": random_alloy(2, np.random.default_rng(2))})
    header = json.loads((other / "header.json").read_text())
    header["format_version"] = 2
    (other / "header.json").write_text(json.dumps(header))
    out = tmp_path / "out"
    assert main(["evaluate", str(model_path), str(other), "-o", str(out)]) == 2
    assert re.search(
        r"v2/header\.json: dataset format version 2; this vmeb reads", cli_error_line(capsys)
    )
    garbage = tmp_path / "model.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(garbage), str(dataset), "-o", str(out)]) == 2
    assert "model.pt: corrupted or unreadable checkpoint" in cli_error_line(capsys)
    assert main(["evaluate", str(tmp_path / "missing.pt"), str(dataset), "-o", str(out)]) == 2
    assert "missing.pt: no such checkpoint file" in cli_error_line(capsys)
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
