"""The shipped model tanbmo-eam: card, loading by name, the paper's Fig. 3 test compositions, the
pure-element barriers of its potential, and ``vmeb predict tanbmo-eam`` on a structure file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk
from ase.io import write

from vmeb.cli.main import main
from vmeb.data.dataset import open_dataset
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.evaluate import evaluate_model
from vmeb.learn.pretrained import CARD_FIELDS, list_pretrained, pretrained_card
from vmeb.spectra.predict import predict_barriers
from vmeb.study.grid import grid_split

NAME = "tanbmo-eam"
#: Vacancy migration barriers of the pure elements with the built-in EAM (eV), LAMMPS 7-replica
#: CI-NEB in 686-atom cells (../shared/potentials/TaNbMo_EAM_Zhou04_Lin13/NOTE.md).
PURE = {"Ta": (3.3025, 0.995), "Nb": (3.3004, 0.768), "Mo": (3.1501, 1.543)}


def test_card_and_checkpoint_agree():
    assert NAME in list_pretrained()
    card = pretrained_card(NAME)
    assert set(CARD_FIELDS) <= set(card)
    trained = load_checkpoint(NAME)
    assert list(trained.species) == card["species"] == ["Ta", "Nb", "Mo"]
    assert trained.kind == card["kind"]
    low, high = card["lattice_constant_range"]
    assert low == pytest.approx(3.1501, abs=0.01) and high == pytest.approx(3.3025, abs=0.01)
    cv = card["cv"]
    assert len(cv["per_composition_mae"]) == 9
    assert cv["mean_mae"] == pytest.approx(np.mean(list(cv["per_composition_mae"].values())))
    assert cv["worst_mae"] == max(cv["per_composition_mae"].values())
    assert card["command"].startswith("python examples/paper/ship_tanbmo.py")


@pytest.mark.parametrize("element", sorted(PURE))
def test_pure_element_barriers_of_the_potential(element):
    a, barrier = PURE[element]
    atoms = bulk(element, "bcc", a=a, cubic=True).repeat(4)
    table = predict_barriers(load_checkpoint(NAME), atoms, sites=[0, 5], progress=False)
    np.testing.assert_allclose(table["barrier"], barrier, atol=0.03)


def test_unseen_compositions_of_the_shared_grid(tanbmo_dir):
    """The 9 test compositions of the shared campaign (never trained on): the card's error."""
    dataset = open_dataset(tanbmo_dir / "tanbmo-eam-250")
    split = grid_split(dataset, tanbmo_dir / "samples" / "index.csv")
    report = evaluate_model(load_checkpoint(NAME), dataset, progress=False)
    hops = report.hops[report.hops["group"].isin(split.test_groups)]
    assert len(hops) == 1436
    mae = float(np.mean(np.abs(hops["predicted"] - hops["barrier"])))
    assert mae == pytest.approx(pretrained_card(NAME)["cv"]["shipped_all_mae"], abs=1e-3)


def test_vmeb_predict_by_name(tmp_path):
    rng = np.random.default_rng(4)
    atoms = bulk("Ta", "bcc", a=3.243, cubic=True).repeat(4)
    atoms.set_chemical_symbols(rng.choice(["Ta", "Nb", "Mo"], size=len(atoms)))
    write(tmp_path / "sample.extxyz", atoms)
    out = tmp_path / "pred"
    argv = ["predict", NAME, str(tmp_path / "sample.extxyz"), "-o", str(out), "--no-progress"]
    assert main(argv) == 0
    table = pd.read_csv(out / "hops.csv")
    assert len(table) == 8 * len(atoms)
    direct = predict_barriers(load_checkpoint(NAME), atoms, progress=False)
    np.testing.assert_allclose(table["barrier"], direct["barrier"], atol=1e-5)
    assert table["barrier"].between(0.3, 2.5).all()
