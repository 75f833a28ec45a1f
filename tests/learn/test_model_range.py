"""A model applied outside its training ranges: lattice constants warned beyond 2 %, refused
beyond 10 %, naming both ranges; compositions warned beyond 10 at.%; older checkpoints without
the ranges are not checked."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from ase.io import read

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.learn.checkpoints import load_checkpoint, read_checkpoint
from vmeb.learn.inference import (
    check_composition,
    check_lattice,
    composition_excursions,
    composition_outside,
    predict_hops,
)
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


def without(model_path, tmp_path, key: str):
    """The checkpoint at ``model_path`` saved without ``key`` (an older format) and loaded."""
    record = read_checkpoint(model_path)
    del record[key]
    old = tmp_path / f"without_{key}.pt"
    torch.save(record, old)
    return load_checkpoint(old)


def test_old_checkpoint_without_range_is_not_checked(tiny_setup, tmp_path, caplog):
    _, model_path, atoms = tiny_setup
    trained = without(model_path, tmp_path, "lattice_range")
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


def fractions(atoms) -> dict[str, float]:
    symbols = atoms.get_chemical_symbols()
    return {s: symbols.count(s) / len(symbols) for s in ("Ta", "Nb", "Mo")}


def test_checkpoint_records_training_compositions(tiny_setup):
    dataset, model_path, _ = tiny_setup
    samples = [read(path) for path in sorted((dataset / "structures").glob("*.extxyz"))]
    assert len(samples) == 2
    expected = {
        s: [min(fractions(a)[s] for a in samples), max(fractions(a)[s] for a in samples)]
        for s in ("Ta", "Nb", "Mo")
    }
    record = read_checkpoint(model_path)["composition_range"]
    trained = load_checkpoint(model_path)
    assert list(record) == list(trained.composition_range) == list(trained.species)
    for s, (low, high) in trained.composition_range.items():
        assert record[s] == pytest.approx(expected[s], abs=1e-5)
        assert (low, high) == pytest.approx(tuple(expected[s]), abs=1e-5)
        assert 0.1 < low <= high < 0.6  # random 54-atom Ta-Nb-Mo cells


def with_fraction(atoms, symbol: str, count: int):
    """``atoms`` with the first ``count`` sites made ``symbol`` and the rest kept."""
    out = atoms.copy()
    symbols = out.get_chemical_symbols()
    others = [i for i, s in enumerate(symbols) if s != symbol]
    have = len(symbols) - len(others)
    for i in others[: max(0, count - have)]:
        symbols[i] = symbol
    out.set_chemical_symbols(symbols)
    return out


def test_composition_far_outside_warns_naming_element_and_range(tiny_setup, caplog):
    _, model_path, atoms = tiny_setup
    trained = load_checkpoint(model_path)
    low, high = trained.composition_range["Ta"]
    rich = with_fraction(atoms, "Ta", 49)  # 49/54 = 0.907 Ta
    x_nb, x_mo = fractions(rich)["Nb"], fractions(rich)["Mo"]
    assert x_nb < trained.composition_range["Nb"][0] - 0.1
    with caplog.at_level(logging.WARNING, logger="vmeb.learn.inference"):
        table = predict_barriers(trained, rich, [0, 1], progress=False)
        predict_barriers(trained, rich, [2], progress=False)  # once per composition
    assert len(table) == 16 and np.all(np.isfinite(table["barrier"]))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    nb_low, nb_high = trained.composition_range["Nb"]
    mo_low, mo_high = trained.composition_range["Mo"]
    assert warnings == [
        "composition of the structure lies more than 10 at.% outside the model's training "
        f"compositions: Ta 0.907 (trained {low:.3f}-{high:.3f}), Nb {x_nb:.3f} (trained "
        f"{nb_low:.3f}-{nb_high:.3f}), Mo {x_mo:.3f} (trained {mo_low:.3f}-{mo_high:.3f}); "
        "predictions extrapolate in composition and may be unreliable"
    ]


def test_composition_near_training_range_is_silent(tiny_setup, caplog):
    _, model_path, atoms = tiny_setup
    trained = load_checkpoint(model_path)
    high = trained.composition_range["Ta"][1]
    count = int(np.floor((high + 0.09) * len(atoms)))  # < 10 at.% above the range
    near = with_fraction(atoms, "Ta", count)
    assert 0 < fractions(near)["Ta"] - high < 0.1
    with caplog.at_level(logging.WARNING, logger="vmeb.learn.inference"):
        check_composition(near, trained)
        check_composition(atoms, trained)
    assert not caplog.records


def test_old_checkpoint_without_compositions_is_not_checked(tiny_setup, tmp_path, caplog):
    _, model_path, atoms = tiny_setup
    trained = without(model_path, tmp_path, "composition_range")
    assert trained.composition_range is None
    with caplog.at_level(logging.DEBUG, logger="vmeb.learn.inference"):
        check_composition(with_fraction(atoms, "Ta", 54), trained)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "composition range (older checkpoint): not checked" in caplog.records[0].getMessage()


def test_composition_excursions_by_hand():
    span = {"Ta": (0.2, 0.4), "Nb": (0.0, 0.5), "Mo": (0.3, 0.3)}
    x = {"Ta": 0.7, "Nb": 0.1}  # Mo absent: 0
    assert composition_excursions(x, span) == pytest.approx({"Ta": 0.3, "Nb": -0.1, "Mo": 0.3})
    model = SimpleNamespace(composition_range=span)
    assert composition_outside(x, model) == pytest.approx(0.3)
    assert composition_outside({"Ta": 0.3, "Nb": 0.4, "Mo": 0.3}, model) == 0.0
    assert np.isnan(composition_outside(x, SimpleNamespace(composition_range=None)))
