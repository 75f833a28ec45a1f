"""``vmeb ensemble predict`` writes the spectrum directory of ``vmeb predict``; a single model
is refused in one line (use ``vmeb predict``), before any output is written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vmeb.cli.main import main
from vmeb.learn.ensembles import assemble_ensemble
from vmeb.spectra.output import SPECTRUM_FILES
from vmeb.structure.io import write_structure_file


@pytest.mark.parametrize("model", ["tanbmo-eam", "single"])
@pytest.mark.parametrize("action", ["predict", "calibrate"])
def test_single_model_is_refused(tiny_setup, tmp_path, monkeypatch, capsys, model, action):
    dataset, checkpoint, atoms = tiny_setup
    monkeypatch.chdir(tmp_path)
    write_structure_file(tmp_path / "s.extxyz", atoms)
    given = str(checkpoint) if model == "single" else model
    second = "s.extxyz" if action == "predict" else str(dataset)
    assert main(["ensemble", action, given, second, "-o", "out", "--no-progress"]) == 2
    lines = capsys.readouterr().err.splitlines()
    instead = "vmeb predict" if action == "predict" else "vmeb evaluate"
    assert lines == [
        f"vmeb: error: {given}: is a single model, not an ensemble (use {instead}"
        f"{' for its spectrum' if action == 'predict' else ' for its errors'})"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.extxyz"]


def test_ensemble_predict_writes_the_spectrum_directory_of_predict(tiny_setup, tmp_path, capsys):
    _, checkpoint, atoms = tiny_setup
    structure = write_structure_file(tmp_path / "s.extxyz", atoms)
    ensemble = assemble_ensemble(tmp_path / "ens", [checkpoint, checkpoint])
    one, many = tmp_path / "one", tmp_path / "many"
    common = [str(structure), "--sites", "0,5,9", "--no-progress"]
    assert main(["predict", str(checkpoint), *common, "-o", str(one)]) == 0
    assert main(["ensemble", "predict", str(ensemble), *common, "-o", str(many)]) == 0
    assert "mean ensemble σ 0.0000 eV" in capsys.readouterr().out
    assert sorted(p.name for p in one.iterdir()) == sorted(SPECTRUM_FILES)
    assert sorted(p.name for p in many.iterdir()) == sorted(SPECTRUM_FILES)
    single, mean = pd.read_csv(one / "hops.csv"), pd.read_csv(many / "hops.csv")
    assert list(mean.columns) == [*single.columns, "barrier_std", "angle_std", "total_std"]
    assert mean.site.tolist() == [0] * 8 + [5] * 8 + [9] * 8
    np.testing.assert_allclose(mean.barrier, single.barrier, atol=1e-6)  # two equal members
    np.testing.assert_allclose(mean.barrier_std, 0.0, atol=1e-6)
    np.testing.assert_allclose(mean.total_std, mean.angle_std, atol=1e-6)
    pd.testing.assert_frame_equal(
        pd.read_csv(many / "histograms.csv")[["Ta", "Nb", "Mo", "all"]].sum().to_frame(),
        pd.read_csv(one / "histograms.csv")[["Ta", "Nb", "Mo", "all"]].sum().to_frame(),
    )
    stats = pd.read_csv(many / "spectrum.csv").set_index("moving_species")
    assert stats.loc["all", "angle_std_mean"] == pytest.approx(mean.angle_std.mean(), abs=1e-9)
    a, b = (
        json.loads((one / "spectrum.json").read_text()),
        json.loads((many / "spectrum.json").read_text()),
    )
    assert list(b) == ["ensemble", "members", "structure", "n_atoms", "n_sites", "path", "spectra"]
    assert b["members"] == 2 and b["n_sites"] == a["n_sites"] == 3 and b["path"] == a["path"]
    for x, y in zip(a["spectra"], b["spectra"], strict=True):
        assert y["mean"] == pytest.approx(x["mean"], abs=1e-6)


@pytest.mark.parametrize("change", [["--kind", "lr"], ["--r-c", "4.5"]])
def test_refused_train_resume_writes_nothing(tiny_setup, tmp_path, capsys, change):
    """A resumed ensemble with another setting was refused only after config.yaml had been
    rewritten; now the members' checkpoints are compared first."""
    dataset, _, _ = tiny_setup
    out = tmp_path / "ens"
    argv = ["ensemble", "train", str(dataset), "-o", str(out), "--members", "2", "--kind", "nn",
            "--r-c", "4.0", "--epochs", "1", "--val-per-group", "10", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    (out / "ensemble.json").unlink()  # as if killed before the header: resumable
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    capsys.readouterr()
    assert main([*argv, "--resume", *change]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "member_00" in err[0] and "cannot resume: config differs in" in err[0]
    assert change[0].lstrip("-").replace("-", "_") in err[0]
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert main([*argv, "--resume"]) == 0  # the same settings resume
    assert (out / "ensemble.json").is_file()
