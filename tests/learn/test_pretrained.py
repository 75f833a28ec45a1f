"""The shipped pretrained model nbmotawv-dft: registry, card, loading by name, accuracy, species.

The accuracy bound was measured on the shared DFT data with the shipped checkpoint (see
``MEASURED_MAE``); the model was trained on all 22 folders, so this checks that the packaged
weights, template and species order reproduce the training fit, not generalisation (that is the
card's cross-validated MAE, from ``benchmarks/dft_cv.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from vmeb.errors import VmebError
from vmeb.learn.inference import check_species
from vmeb.learn.predictors import load_model
from vmeb.learn.pretrained import (
    CARD_FIELDS,
    PRETRAINED_ROOT,
    is_pretrained_name,
    list_pretrained,
    pretrained_card,
    pretrained_card_text,
    pretrained_path,
    resolve_checkpoint,
    write_pretrained,
)

NAME = "nbmotawv-dft"
#: Composition whose shared DFT barriers the shipped models are checked on, and their MAE (eV)
#: measured with the shipped checkpoints through ``vmeb import fpnnk`` + ``vmeb evaluate NAME``
#: (this test, torch 2.13.0 CPU); the slack covers floating-point differences between machines
#: only. (In-sample: NbMoTaW is among the training folders.)
COMPOSITION = "NbMoTaW"
MEASURED_MAE = {
    "nbmotawv-dft": 0.0350,
    "nbmotawv-dft-fast": 0.0365,
    "nbmotawv-dft-nn": 0.0558,
    "nbmotawv-dft-ensemble": 0.0355,
}
MAE_SLACK = 0.005


def test_registry_lists_the_shipped_model():
    assert NAME in list_pretrained()
    assert is_pretrained_name(NAME)
    assert not is_pretrained_name("no-such-model")
    path = pretrained_path(NAME)
    assert path.parent == PRETRAINED_ROOT / NAME
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    assert sum(p.stat().st_size for p in files) < 5e6  # a few MB at most
    assert resolve_checkpoint(NAME) == path
    with pytest.raises(VmebError, match="no shipped model named 'nope'"):
        pretrained_card("nope")


def test_card_fields():
    card = pretrained_card(NAME)
    assert set(CARD_FIELDS) <= set(card)
    assert card["name"] == NAME
    assert sorted(card["species"]) == ["Mo", "Nb", "Ta", "V", "W"]
    low, high = card["lattice_constant_range"]
    assert 2.9 < low <= high < 3.5  # Å, BCC refractory alloys
    assert "Nat. Commun. 15, 3879 (2024)" in card["citation"]
    assert "First-principle-NNK" in card["citation"]
    assert card["training_data"]["hops"] == 22517
    assert len(card["training_data"]["folders"]) == 22
    cv = card["cv"]
    assert len(cv["per_composition_mae"]) == 19
    per = list(cv["per_composition_mae"].values())
    assert cv["mean_mae"] == pytest.approx(np.mean(per), abs=2e-4)
    assert cv["worst_mae"] == max(cv["per_composition_mae"].values())
    assert card["command"].startswith("python benchmarks/dft_ship.py")
    text = pretrained_card_text(NAME)
    assert f"{cv['mean_mae']:.4f}" in text and "Nat. Commun. 15, 3879 (2024)" in text


def test_loads_by_name_and_a_real_path_wins(tmp_path, monkeypatch):
    trained = load_model(NAME)  # a checkpoint or, for an ensemble card, a DeepEnsemble
    card = pretrained_card(NAME)
    assert trained.kind == card["kind"]
    assert list(trained.species) == card["species"]
    assert trained.r_c == pytest.approx(card["r_c"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).write_text("not a checkpoint")
    with pytest.raises(VmebError, match="not a vmeb model checkpoint|corrupted"):
        load_model(NAME)  # the file of that name, not the shipped model


def test_species_outside_the_model_refused():
    trained = load_model(NAME)
    atoms = bulk("Fe", "bcc", a=2.87, cubic=True).repeat(2)
    atoms.symbols[0] = "Cr"
    with pytest.raises(VmebError, match=r"\['Cr', 'Fe'\].*trained on \[") as info:
        check_species(atoms, trained.species)
    for element in trained.species:
        assert element in str(info.value)
    check_species(Atoms("NbMoTaWV", positions=np.zeros((5, 3))), trained.species)


def test_cards_record_the_training_compositions():
    for name in list_pretrained():
        span = load_model(name).composition_range
        assert pretrained_card(name)["composition_range"] == {k: list(v) for k, v in span.items()}
        assert "Training compositions (atomic fraction per element)" in pretrained_card_text(name)
    # 128-atom DFT cells: X80 = 104 atoms of X (V, Nb, Mo, Ta), W at most 52 (NbMoTaW40V); the
    # ternaries lack two elements each
    for name in MEASURED_MAE:
        expected = {s: [0.0, 104 / 128] for s in ("V", "Nb", "Mo", "Ta")} | {"W": [0.0, 52 / 128]}
        assert pretrained_card(name)["composition_range"] == expected


def test_composition_outside_the_training_range_warns(caplog):
    import logging

    from vmeb.spectra.predict import predict_barriers

    trained = load_model(NAME)
    atoms = bulk("W", "bcc", a=3.16, cubic=True).repeat(4)  # 128 sites, a inside the range
    for i in range(0, 128, 4):
        atoms.symbols[i] = "Mo"  # W 0.75, Mo 0.25
    with caplog.at_level(logging.WARNING, logger="vmeb.learn.inference"):
        table = predict_barriers(trained, atoms, [0, 1], progress=False)
    assert np.all(np.isfinite(table["barrier"]))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "W 0.750 (trained 0.000-0.406)" in warnings[0]
    assert "lattice" not in warnings[0] and "Mo" not in warnings[0]


@pytest.mark.parametrize("name", sorted(MEASURED_MAE))
def test_predicts_shared_dft_barriers(fpnnk_dir, tmp_path, name):
    from vmeb.cli.main import main

    dataset = tmp_path / "data"
    assert main(["import", "fpnnk", str(fpnnk_dir / COMPOSITION), "-o", str(dataset)]) == 0
    out = tmp_path / "evaluation"
    assert main(["evaluate", name, str(dataset), "-o", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    mae = report["overall"]["mae"]
    assert mae == pytest.approx(MEASURED_MAE[name], abs=MAE_SLACK)
    assert report["overall"]["count"] == 1024
    assert report["overall"]["r2"] > 0.8  # follows the barriers, not just their mean


def test_write_pretrained_round_trip(tmp_path):
    card = dict(pretrained_card(NAME), name="copy")
    target = write_pretrained("copy", pretrained_path(NAME), card, "# copy\n", root=tmp_path)
    assert list_pretrained(tmp_path) == ["copy"]
    assert pretrained_card("copy", tmp_path) == card
    source = pretrained_path(NAME)
    copied = target / card["checkpoint"]
    pairs = [(source, copied)] if source.is_file() else [
        (p, copied / p.relative_to(source)) for p in source.rglob("*") if p.is_file()
    ]  # fmt: skip
    assert pairs and all(a.read_bytes() == b.read_bytes() for a, b in pairs)
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in target.rglob("*"))
    with pytest.raises(VmebError, match=r"lacks fields \['cv'\]"):
        write_pretrained("bad", pretrained_path(NAME), {k: v for k, v in card.items() if k != "cv"},
                         "", root=tmp_path)  # fmt: skip


def test_ensemble_pairs_one_hot_and_element_feature_members():
    """nbmotawv-dft-ensemble averages nbmotawv-dft's recipe (one-hot species) and a type-map CNN
    of element properties (docs/results_dft.md, fifth study); its barrier is their mean."""
    card = pretrained_card("nbmotawv-dft-ensemble")
    assert card["kind"] == "ensemble"
    assert card["recipe"] == "latcnn_linear_f16+latcnn_linear_elem"
    recipes = [m["recipe"] for m in card["members"]]
    assert [r["element_features"] for r in recipes] == [[], ["occupied", "vec", "period", "radius"]]
    ensemble = load_model("nbmotawv-dft-ensemble")
    single = load_model(NAME)
    assert ensemble.species == tuple(single.species)
    atoms = bulk("Nb", "bcc", a=3.2, cubic=True).repeat(4)
    rng = np.random.default_rng(0)
    atoms.symbols[:] = rng.choice(["V", "Nb", "Mo", "Ta", "W"], size=len(atoms))
    from vmeb.spectra.predict import predict_barriers

    table = predict_barriers(ensemble, atoms, [0, 5], progress=False)
    members = [predict_barriers(m, atoms, [0, 5], progress=False) for m in ensemble.members]
    np.testing.assert_allclose(
        table["barrier"], np.mean([m["barrier"] for m in members], axis=0), atol=1e-6
    )
    # the one-hot member is nbmotawv-dft itself
    np.testing.assert_allclose(
        members[0]["barrier"], predict_barriers(single, atoms, [0, 5], progress=False)["barrier"],
        atol=1e-6,
    )  # fmt: skip
    assert np.abs(members[0]["barrier"] - members[1]["barrier"]).max() > 0.005


def test_shipped_recipe_is_the_winning_config():
    """configs/dft_best.yaml (the cross-validation winner, docs/results_dft.md) is what ships."""
    from pathlib import Path

    import yaml

    from vmeb.learn.settings import TrainConfig

    card = pretrained_card(NAME)
    best = Path(__file__).resolve().parents[2] / "configs" / "dft_best.yaml"
    if not best.is_file():
        pytest.skip("configs/ not beside this installation")
    values = yaml.safe_load(best.read_text())
    shipped = {k: v for k, v in card["recipe"].items() if k not in ("seed", "test_groups")}
    assert (
        TrainConfig.from_dict(values).to_dict()
        == TrainConfig.from_dict(dict(shipped, seed=values.get("seed", 0))).to_dict()
    )
    assert card["members"][0]["recipe_file"] in ("configs/dft_best.yaml",
                                                 "configs/dft_latcnn_linear_f16.yaml")  # fmt: skip


def test_shipped_intervals_widen_away_from_the_dft_compositions(fpnnk_dir):
    """nbmotawv-dft's calibrated intervals: hop_sigma at a training composition (its NbMoTaW
    DFT barriers, in-sample, lie within 2 sigma at least as often as normal errors would), wider
    the further from the DFT compositions (pure Nb: 0.19 from Nb80MoTaWV; pure W: 0.59 from the
    W40 cell)."""
    from vmeb.data.importers import read_fpnnk_sample
    from vmeb.learn.inference import atomic_fractions
    from vmeb.spectra.predict import predict_barriers

    trained = load_model(NAME)
    intervals = trained.intervals
    assert intervals is not None and len(intervals.compositions) == 19
    assert pretrained_card(NAME)["intervals"] == intervals.to_record()
    atoms, vacancy, moving, barrier = read_fpnnk_sample(fpnnk_dir / COMPOSITION)
    assert intervals.distance(atomic_fractions(atoms, trained.species)) == pytest.approx(0.0)
    table = predict_barriers(trained, atoms, progress=False)
    assert np.allclose(table["interval_std"], intervals.hop_sigma)
    truth = dict(zip(zip(vacancy, moving, strict=True), barrier, strict=True))
    pairs = zip(table.site, table.moving_index, strict=True)
    error = table["barrier"] - [truth[pair] for pair in pairs]
    assert np.mean(np.abs(error) <= 2 * table["interval_std"]) >= 0.95
    pure_nb = intervals.distance({"Nb": 1.0})
    assert pure_nb == pytest.approx(1 - 104 / 128, abs=1e-6)  # Nb80MoTaWV: 104 Nb of 128
    pure_w = intervals.distance({"W": 1.0})  # no DFT composition has more than 40.6 % W
    assert pure_w == pytest.approx(1 - 52 / 128, abs=1e-6)
    assert intervals.hop_sigma < float(intervals.sigma(pure_nb)) < float(intervals.sigma(pure_w))
    assert float(intervals.sigma(pure_w)) > 2.5 * intervals.hop_sigma
