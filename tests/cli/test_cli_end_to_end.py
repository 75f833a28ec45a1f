"""End to end through the CLI on external DFT data: import -> train -> evaluate -> predict.

A compact CNN (4 conv layers of 8 filters on 8^3 maps of 1.5 Å voxels, r_c = 5 Å: three
neighbour shells; lattice-symmetry augmentation) is trained for 3 seeded epochs on one DFT sample
of equimolar NbMoTaWV and evaluated on another, unseen sample of it. The recorded MAE was measured
with this exact command sequence (torch 2.13.0 CPU, 2 threads); the tolerance covers
floating-point differences between machines, not a different model.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vmeb.cli.main import main

TRAIN_FOLDERS = ("NbMoTaWV",)
TEST_FOLDER = "NbMoTaWV_2"
#: Test MAE (eV) of the run below on NbMoTaWV_2, measured once; see the module docstring.
RECORDED_TEST_MAE = 0.1966
MAE_TOLERANCE = 0.02  # eV


@pytest.fixture(autouse=True)
def _clean_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_import_train_evaluate_predict(fpnnk_dir, tmp_path, capsys):
    train_data, test_data = tmp_path / "train_data", tmp_path / "test_data"
    folders = [str(fpnnk_dir / name) for name in TRAIN_FOLDERS]
    assert main(["import", "fpnnk", *folders, "-o", str(train_data)]) == 0
    assert main(["import", "fpnnk", str(fpnnk_dir / TEST_FOLDER), "-o", str(test_data)]) == 0

    model_dir = tmp_path / "model"
    train_args = ["train", str(train_data), "-o", str(model_dir), "--kind", "cnn"]
    train_args += ["--depth", "1", "--filters", "8", "--r-c", "5.0", "--l-c", "6.0"]
    train_args += ["--delta", "1.5", "--augment", "lattice", "--mirror", "false", "--epochs", "3"]
    train_args += ["--batch-size", "64", "--val-per-group", "64", "--seed", "0"]
    assert main([*train_args, "--threads", "2", "--no-progress"]) == 0
    epochs = [json.loads(x) for x in (model_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    capsys.readouterr()

    evaluation = tmp_path / "evaluation"
    model = str(model_dir / "model.pt")
    assert main(["evaluate", model, str(test_data), "-o", str(evaluation), "--no-progress"]) == 0
    report = json.loads((evaluation / "report.json").read_text())
    overall = report["overall"]
    print(f"recorded test MAE {overall['mae']:.5f} eV over {overall['count']} hops")
    predictions = pd.read_csv(evaluation / "predictions.csv")
    assert overall["count"] == len(predictions) > 1000
    np.testing.assert_allclose(
        overall["mae"], np.abs(predictions.predicted - predictions.barrier).mean(), rtol=1e-9
    )
    # better than predicting the training mean for every hop, and as recorded
    baseline = np.abs(predictions.barrier - predictions.barrier.mean()).mean()
    assert overall["mae"] < baseline
    assert abs(overall["mae"] - RECORDED_TEST_MAE) < MAE_TOLERANCE, overall["mae"]
    assert {"parity.png", "distributions.png"} <= {p.name for p in evaluation.iterdir()}

    spectra = tmp_path / "spectra"
    poscar = fpnnk_dir / TEST_FOLDER / "POSCAR"
    args = ["predict", model, str(poscar), "--format", "vasp", "-o", str(spectra)]
    assert main([*args, "--reference", str(test_data), "--no-progress"]) == 0
    hops = pd.read_csv(spectra / "hops.csv")
    assert len(hops) == 8 * 128 and hops.barrier.between(0.0, 5.0).all()
    # the same hops through evaluate and predict give the same barriers
    merged = hops.merge(
        predictions, left_on=["site", "moving_index"], right_on=["vacancy_index", "moving_index"]
    )
    assert len(merged) == len(predictions)
    np.testing.assert_allclose(merged.barrier_x, merged.predicted, atol=1e-6)
    stats = pd.read_csv(spectra / "spectrum.csv")
    assert stats.moving_species.tolist()[-1] == "all" and stats["count"].iloc[-1] == 8 * 128
    assert (spectra / "spectrum.png").stat().st_size > 1000
