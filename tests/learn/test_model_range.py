"""A model applied outside its training lattice range: warned beyond 2 %, refused beyond 10 %,
naming both ranges; older checkpoints without the range are not checked."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.learn.inference import check_lattice, predict_hops
from vmeb.learn.training import load_checkpoint, read_checkpoint
from vmeb.spectra.predict import predict_barriers
from vmeb.structure.io import write_structure_file
from vmeb.testing import A


def scaled(atoms, factor):
    out = atoms.copy()
    out.set_cell(out.cell.array * factor, scale_atoms=True)
    return out


def test_checkpoint_records_training_range(tiny_setup):
    _, model_path, _ = tiny_setup
    record = read_checkpoint(model_path)
    # both tiny samples are random_alloy cells at a = A
    assert record["lattice_range"] == pytest.approx([A, A], abs=1e-5)
    assert load_checkpoint(model_path).lattice_range == pytest.approx((A, A), abs=1e-5)


def test_far_outside_refused_naming_both(tiny_setup):
    _, model_path, atoms = tiny_setup
    trained = load_checkpoint(model_path)
    with pytest.raises(VmebError) as info:
        predict_barriers(trained, scaled(atoms, 1.5), [0], progress=False)
    assert str(info.value) == (
        f"lattice constant a = {1.5 * A:.4f} Å of the structure is 50.0 % above the model's "
        f"training range a = {A:.4f}-{A:.4f} Å; refused beyond 10 % (the model never saw such "
        "distances)"
    )
    with pytest.raises(VmebError, match=r"is 20\.0 % below the model's training range"):
        predict_hops(trained, scaled(atoms, 0.8), np.array([0]), np.array([1]))


def test_near_outside_warns_once_and_predicts(tiny_setup, caplog):
    _, model_path, atoms = tiny_setup
    trained = load_checkpoint(model_path)
    with caplog.at_level(logging.WARNING, logger="vmeb.learn.inference"):
        check_lattice(scaled(atoms, 1.01), trained)  # 1 %: silent
        assert not caplog.records
        stretched = scaled(atoms, 1.05)
        table = predict_barriers(trained, stretched, [0, 1], progress=False)
        predict_barriers(trained, stretched, [2], progress=False)
    assert len(table) == 16 and np.all(np.isfinite(table["barrier"]))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"lattice constant a = {1.05 * A:.4f} Å of the structure is 5.0 % above the model's "
        f"training range a = {A:.4f}-{A:.4f} Å; predictions may be unreliable"
    ]


def test_old_checkpoint_without_range_is_not_checked(tiny_setup, tmp_path, caplog):
    _, model_path, atoms = tiny_setup
    record = read_checkpoint(model_path)
    del record["lattice_range"]
    old = tmp_path / "old.pt"
    torch.save(record, old)
    trained = load_checkpoint(old)
    assert trained.lattice_range is None
    with caplog.at_level(logging.DEBUG, logger="vmeb.learn.inference"):
        table = predict_barriers(trained, scaled(atoms, 1.5), [0], progress=False)
    assert len(table) == 8
    assert any("not checked" in r.getMessage() for r in caplog.records)


def test_cli_predict_refuses_stretched_structure(tiny_setup, tmp_path, capsys):
    _, model_path, atoms = tiny_setup
    structure = write_structure_file(tmp_path / "stretched.extxyz", scaled(atoms, 1.5))
    out = tmp_path / "out"
    status = main(["predict", str(model_path), str(structure), "-o", str(out), "--no-progress"])
    assert status == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "stretched.extxyz" in lines[0] and "50.0 % above the model's training range" in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
