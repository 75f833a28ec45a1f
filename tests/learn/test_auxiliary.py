"""Auxiliary (other-fidelity) barriers: offsets recovered exactly, never validation, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vmeb.cli.main import main as vmeb_main
from vmeb.data.dataset import DatasetHeader, create_dataset, open_dataset
from vmeb.errors import VmebError
from vmeb.learn.auxiliary import fidelity_offsets, is_auxiliary, load_with_auxiliary
from vmeb.learn.checkpoints import AUX_OFFSETS_FILE
from vmeb.learn.descriptors import site_template
from vmeb.learn.hops import split_hops
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.testing import SPECIES, A, cli_error_line, make_dataset, random_alloy

#: The auxiliary fidelity's level against the primary one, per moving species (eV).
OFFSET = {"Ta": 0.3, "Nb": -0.2, "Mo": 0.5}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("aux")
    primary = make_dataset(root / "primary", {f"p{k}": random_alloy(3, k) for k in range(3)})
    # the auxiliary samples are Ta-rich (1/2 Ta), a region the primary data see rarely
    rich = {f"r{k}": random_alloy(3, 10 + k, species=("Ta", "Ta", "Nb", "Mo")) for k in range(2)}
    aux = make_dataset(root / "aux", rich, offset=OFFSET, source="other-fidelity")
    return primary, aux


def test_offsets_of_a_shared_linear_model_are_recovered(datasets):
    """Both fidelities follow the counting model (linear in the orbit counts); the auxiliary
    one is shifted per moving species: the fit must return exactly those shifts."""
    primary, aux = datasets
    data = load_with_auxiliary([open_dataset(primary)], [open_dataset(aux)], 7.6)
    assert is_auxiliary(data.groups).sum() == 2 * 54 * 8
    assert set(data.groups[is_auxiliary(data.groups)]) == {"aux:r0", "aux:r1"}
    offsets = fidelity_offsets(data, site_template(7.6 / A), np.arange(len(data.groups)), 1e-6)
    expected = [OFFSET[s] for s in data.species]
    np.testing.assert_allclose(offsets, expected, atol=1e-4)


def test_auxiliary_hops_train_but_never_validate(datasets, tmp_path):
    primary, aux = datasets
    config = TrainConfig(
        kind="lr", augment="lattice", test_groups=("p2",), auxiliary=(str(aux),), val_per_group=40
    )
    data = load_with_auxiliary([open_dataset(primary)], [open_dataset(aux)], 7.6)
    split = split_hops(data.groups, config)
    assert not is_auxiliary(data.groups[split["val"]]).any()
    assert is_auxiliary(data.groups[split["train"]]).sum() == 2 * 54 * 8

    aligned = train_model([open_dataset(primary)], config, tmp_path / "aligned", progress=False)
    saved = json.loads((tmp_path / "aligned" / AUX_OFFSETS_FILE).read_text())["offsets_ev"]
    for symbol, value in OFFSET.items():  # ridge 10 on the site weights: close, not exact
        assert saved[symbol] == pytest.approx(value, abs=0.03)
    # the counting model is linear in the sites: the aligned fit predicts the unseen sample
    assert aligned.test["mae"] < 0.01


def test_unaligned_auxiliary_data_would_hurt(datasets, tmp_path):
    """The same auxiliary hops merged as primary data (no offsets) spoil the held-out sample."""
    primary, aux = datasets
    config = TrainConfig(kind="lr", augment="lattice", test_groups=("p2",), val_per_group=40)
    raw = train_model(
        [open_dataset(primary), open_dataset(aux)], config, tmp_path / "raw", progress=False
    )
    assert raw.test["mae"] > 0.05


def test_auxiliary_species_outside_the_primary_data_is_an_error(datasets, tmp_path):
    primary, _ = datasets
    other = tmp_path / "w-data"
    create_dataset(other, DatasetHeader(species=(*SPECIES[:2], "W"), lattice={"type": "bcc"}))
    with pytest.raises(VmebError, match=r"w-data: species \['W'\] are not in the primary"):
        load_with_auxiliary([open_dataset(primary)], [open_dataset(other)], 7.6)


def test_cli_trains_with_auxiliary_data_and_refuses_a_missing_one(datasets, tmp_path, capsys):
    primary, aux = datasets
    out = tmp_path / "run"
    args = ["train", str(primary), "-o", str(out), "--kind", "lr", "--augment", "lattice"]
    assert vmeb_main([*args, "--test-groups", "p2", "--auxiliary", str(aux)]) == 0
    assert json.loads((out / AUX_OFFSETS_FILE).read_text())["offsets_ev"]["Mo"] > 0.4
    capsys.readouterr()
    missing = tmp_path / "no-such-data"
    assert vmeb_main([*args[:3], str(tmp_path / "run2"), *args[4:], "--auxiliary", str(missing)])
    assert "no-such-data" in cli_error_line(capsys)
    assert not (tmp_path / "run2").exists()
