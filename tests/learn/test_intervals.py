"""Calibrated composition intervals: distance, fit, coverage, checkpoints and predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vmeb.errors import InputFileError, VmebError
from vmeb.learn.checkpoints import load_checkpoint, read_checkpoint, save_checkpoint
from vmeb.learn.intervals import (
    CompositionIntervals,
    composition_distance,
    fit_intervals,
    interval_coverage,
    sigma_from_mae,
)
from vmeb.spectra.output import write_spectrum
from vmeb.spectra.predict import predict_barriers

EQUIMOLAR = {"Ta": 1 / 3, "Nb": 1 / 3, "Mo": 1 / 3}


def test_distance_is_the_fraction_of_atoms_to_change():
    assert composition_distance({"Ta": 1.0}, [{"Ta": 0.5, "Nb": 0.5}]) == pytest.approx(0.5)
    assert composition_distance({"W": 1.0}, [EQUIMOLAR]) == pytest.approx(1.0)
    # the nearest composition counts: pure Nb is 2/3 from equimolar, 0.2 from Nb80Ta20
    nearest = composition_distance({"Nb": 1.0}, [EQUIMOLAR, {"Nb": 0.8, "Ta": 0.2}])
    assert nearest == pytest.approx(0.2)
    with pytest.raises(VmebError, match="at least one training composition"):
        composition_distance(EQUIMOLAR, [])


def test_fit_recovers_the_slope_of_synthetic_errors():
    rng = np.random.default_rng(3)
    hop, slope = 0.05, 0.3
    groups = np.repeat(np.arange(40), 500)
    d = rng.uniform(0.0, 0.6, 40)[groups]
    errors = rng.normal(0.0, np.sqrt(hop**2 + (slope * d) ** 2))
    fit = fit_intervals(errors, d, groups, hop, [EQUIMOLAR])
    assert fit.level_slope == pytest.approx(slope, rel=0.1)
    # errors that do not grow with distance give no slope
    flat = fit_intervals(rng.normal(0.0, hop, len(d)), d, groups, hop, [EQUIMOLAR])
    assert flat.level_slope < 0.05
    cover = interval_coverage(errors, fit.sigma(d))
    assert cover["within_1sigma"] == pytest.approx(0.6827, abs=0.02)
    assert cover["within_2sigma"] == pytest.approx(0.9545, abs=0.01)
    # half the true sigma covers far less (normal: 38.3 % within one stated sigma)
    assert interval_coverage(errors, fit.sigma(d) / 2)["within_1sigma"] < 0.42


def test_sigma_from_mae_of_normal_errors():
    rng = np.random.default_rng(0)
    errors = rng.normal(0.0, 0.07, 200_000)
    assert sigma_from_mae(np.abs(errors).mean()) == pytest.approx(0.07, rel=0.01)


def test_record_round_trip_and_bad_values():
    intervals = CompositionIntervals(0.06, 0.3, (EQUIMOLAR,), "test")
    again = CompositionIntervals.from_record(json.loads(json.dumps(intervals.to_record())))
    assert again == intervals
    assert float(again.sigma(0.4)) == pytest.approx(np.hypot(0.06, 0.12))
    with pytest.raises(VmebError, match="hop_sigma > 0"):
        CompositionIntervals(0.0, 0.3, (EQUIMOLAR,))
    with pytest.raises(VmebError, match="format"):
        CompositionIntervals.from_record({"format": "other"})


def test_checkpoint_with_intervals_predicts_interval_std(tiny_setup, tmp_path):
    _, model_path, atoms = tiny_setup
    record = read_checkpoint(model_path)
    # the tiny samples are Ta-Nb-Mo; state one training composition, pure Ta
    intervals = CompositionIntervals(0.05, 0.4, ({"Ta": 1.0},), "test")
    record["intervals"] = intervals.to_record()
    path = save_checkpoint(record, tmp_path / "with_intervals.pt")
    trained = load_checkpoint(path)
    assert trained.intervals == intervals
    table = predict_barriers(trained, atoms, [0, 1], progress=False)
    symbols = atoms.get_chemical_symbols()
    distance = 1.0 - symbols.count("Ta") / len(symbols)
    assert table.attrs["composition_distance"] == pytest.approx(distance)
    assert np.allclose(table["interval_std"], np.hypot(0.05, 0.4 * distance))
    written = write_spectrum(tmp_path / "spectrum", table, atoms, trained.species)
    assert written.summary["interval_std"] == pytest.approx(table["interval_std"].iloc[0])
    assert "interval_std_mean" in written.statistics
    # a model without intervals adds nothing
    plain = predict_barriers(load_checkpoint(model_path), atoms, [0], progress=False)
    assert "interval_std" not in plain


def test_malformed_intervals_record_names_the_file(tiny_setup, tmp_path):
    _, model_path, _ = tiny_setup
    record = read_checkpoint(model_path)
    record["intervals"] = {"format": "vmeb-composition-intervals", "hop_sigma": -1.0}
    path = save_checkpoint(record, tmp_path / "bad.pt")
    with pytest.raises(InputFileError, match="bad.pt.*intervals record is malformed"):
        load_checkpoint(path)
