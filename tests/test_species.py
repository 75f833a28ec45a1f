"""vmeb.species: one default species order, one membership check, channels by element name."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from vmeb.data.dataset import HEADER_FILE, open_dataset
from vmeb.errors import VmebError
from vmeb.learn.checkpoints import load_checkpoint, read_checkpoint
from vmeb.learn.environment import hop_environments
from vmeb.learn.evaluate import evaluate_model
from vmeb.species import (
    ELEMENT_FEATURES,
    ELEMENT_PROPERTIES,
    SpeciesTable,
    default_order,
    element_features,
)
from vmeb.testing import CountingModel, make_dataset, random_alloy

#: Atomic numbers (periodic table) of the elements used below, written out independently of ase.
Z = {"V": 23, "Nb": 41, "Mo": 42, "Ta": 73, "W": 74}


def test_default_order_is_atomic_number():
    symbols = ["W", "Ta", "Ta", "Mo", "V", "Nb", "W"]
    assert default_order(symbols) == ("V", "Nb", "Mo", "Ta", "W")
    assert default_order(symbols) == tuple(sorted(set(symbols), key=Z.__getitem__))


def test_default_order_follows_a_reference():
    potential_elements = ("Ta", "Nb", "Mo", "W")
    assert default_order(["Mo", "Ta", "Mo"], potential_elements) == ("Ta", "Mo")
    with pytest.raises(VmebError, match=r"\['V'\] not in the species \['Ta', 'Nb', 'Mo'\]"):
        default_order(["V", "Ta"], ("Ta", "Nb", "Mo"))


def test_table_is_validated_and_frozen():
    table = SpeciesTable(("Ta", "Nb", "Mo"))
    assert len(table) == 3 and list(table) == ["Ta", "Nb", "Mo"] and "Nb" in table
    with pytest.raises(AttributeError):
        table.symbols = ("Nb",)  # type: ignore[misc]
    with pytest.raises(VmebError, match="distinct"):
        SpeciesTable(("Ta", "Ta"))
    with pytest.raises(VmebError, match=r"\['Xx'\] are not element symbols"):
        SpeciesTable(("Ta", "Xx"))
    with pytest.raises(VmebError, match="at least one element"):
        SpeciesTable(())


def test_indices_and_membership():
    table = SpeciesTable(("Ta", "Nb", "Mo"))
    np.testing.assert_array_equal(table.indices(["Mo", "Ta", "Mo", "Nb"]), [2, 0, 2, 1])
    assert table.indices([]).shape == (0,)
    assert table.index_of("Nb") == 1
    with pytest.raises(VmebError, match=r"element 'W' not in the species \['Ta', 'Nb', 'Mo'\]"):
        table.index_of("W")
    message = r"structure holds element\(s\) \['V', 'W'\] \(e.g. atom 2\) not in the species"
    with pytest.raises(VmebError, match=message):
        table.indices(["Ta", "Nb", "W", "V", "W"])
    assert table.unknown(["W", "Ta", "V"]) == ["V", "W"]
    table.require(["Ta", "Mo"])
    with pytest.raises(VmebError, match=r"sample holds element\(s\) \['W'\]"):
        table.require(["W"], "sample")


def test_for_symbols_union_present_and_json():
    symbols = ["Mo", "Ta", "Nb"]
    assert SpeciesTable.for_symbols(symbols).symbols == ("Nb", "Mo", "Ta")
    given = SpeciesTable.for_symbols(symbols, given=["Ta", "Nb", "Mo", "W"])
    assert given.symbols == ("Ta", "Nb", "Mo", "W")
    with pytest.raises(VmebError, match=r"\['W'\] not in the species"):
        SpeciesTable.for_symbols(["W"], given=["Ta"])
    union = SpeciesTable.union([("Ta", "Nb"), SpeciesTable(("Mo", "Ta")), ["W"]])
    assert union.symbols == ("Ta", "Nb", "Mo", "W")
    assert given.present(["Mo", "Ta"]).symbols == ("Ta", "Mo")
    # the on-disk form is the plain list datasets and checkpoints always stored
    assert given.to_json() == ["Ta", "Nb", "Mo", "W"]
    assert SpeciesTable.from_json(json.loads(json.dumps(given.to_json()))) == given
    with pytest.raises(VmebError, match=r"h\.json: 'species' must be a non-empty list"):
        SpeciesTable.from_json("TaNbMo", source="h.json")


def test_channels_follow_the_table_not_the_dataset_order():
    rng = np.random.default_rng(3)
    atoms = random_alloy(3, rng)
    vac, mov = [0, 5], [53, 24]
    a = hop_environments(atoms, vac, mov, ("Ta", "Nb", "Mo"), r_c=5.0)
    b = hop_environments(atoms, vac, mov, ("Mo", "Ta", "Nb"), r_c=5.0)
    valid = a.species >= 0
    np.testing.assert_array_equal(a.positions, b.positions)
    names_a = np.array(["Ta", "Nb", "Mo"])[a.species[valid]]
    names_b = np.array(["Mo", "Ta", "Nb"])[b.species[valid]]
    np.testing.assert_array_equal(names_a, names_b)
    assert not np.array_equal(a.species[valid], b.species[valid])


def _reorder_header(root, species):
    path = root / HEADER_FILE
    header = json.loads(path.read_text())
    header["species"] = list(species)
    path.write_text(json.dumps(header))


def test_dataset_and_model_species_order_mismatch(tmp_path):
    # barriers come from a model whose channel 0 is Ta; the dataset header lists Mo first
    rng = np.random.default_rng(5)
    root = make_dataset(tmp_path / "data", {"a": random_alloy(3, rng), "b": random_alloy(3, rng)})
    _reorder_header(root, ("Mo", "Nb", "Ta"))
    dataset = open_dataset(root)
    assert dataset.species == ("Mo", "Nb", "Ta")
    report = evaluate_model(CountingModel(), dataset, progress=False)
    assert report.overall["count"] == 2 * 54 * 8
    assert report.overall["mae"] == pytest.approx(0.0, abs=1e-12)

    # a model that really had Mo in channel 0 predicts other barriers: the check can fail
    class MoFirst(CountingModel):
        species = ("Mo", "Nb", "Ta")

    assert evaluate_model(MoFirst(), dataset, progress=False).overall["mae"] > 0.05


def test_checkpoint_species_order_differs_from_dataset(tiny_setup, tmp_path):
    dataset_root, checkpoint, _ = tiny_setup
    trained = load_checkpoint(checkpoint)
    assert list(trained.species) == read_checkpoint(checkpoint)["species"]  # stored as a list
    reference = evaluate_model(trained, open_dataset(dataset_root), progress=False)

    shuffled = tmp_path / "shuffled"
    shutil.copytree(dataset_root, shuffled)
    _reorder_header(shuffled, tuple(reversed(trained.species)))
    report = evaluate_model(trained, open_dataset(shuffled), progress=False)
    np.testing.assert_allclose(report.hops["predicted"], reference.hops["predicted"], atol=1e-6)


def _group_and_period(z: int) -> tuple[int, int]:
    """Group and period of a main-group-3 or d-block element from its atomic number."""
    for first, period, offset in ((21, 4, 18), (39, 5, 36), (72, 6, 68)):
        if first <= z < first + 10:
            return z - offset, period
    assert z == 13  # Al
    return 3, 3


def test_element_properties_follow_the_periodic_table_and_bcc_lattice_constants():
    from ase.data import atomic_numbers, reference_states

    for symbol, (vec, period, radius) in ELEMENT_PROPERTIES.items():
        assert (vec, period) == _group_and_period(atomic_numbers[symbol]), symbol
        state = reference_states[atomic_numbers[symbol]]
        if state and state.get("symmetry") == "bcc":
            # 12-fold metallic radius = half the BCC nearest-neighbour distance / 0.97
            # (Goldschmidt's coordination correction), within 2 %
            nn = state["a"] * np.sqrt(3.0) / 2.0
            assert radius == pytest.approx(nn / 2.0 / 0.97, rel=0.02), symbol


def test_element_features_are_scaled_properties_in_table_order():
    names = ("occupied", "vec", "period", "radius")
    table = element_features(["Ta", "V", "Mo"], names)
    assert table.shape == (3, 4) and table.dtype == np.float32
    for row, symbol in zip(table, ["Ta", "V", "Mo"], strict=True):
        vec, period, radius = ELEMENT_PROPERTIES[symbol]
        raw = (1.0, vec, period, radius)
        expected = [
            (v - ELEMENT_FEATURES[n][0]) / ELEMENT_FEATURES[n][1]
            for n, v in zip(names, raw, strict=True)
        ]
        np.testing.assert_allclose(row, expected, rtol=1e-6)
    np.testing.assert_allclose(table[:, 1], [-1.0, -1.0, 1.0])  # group 5, 5, 6
    np.testing.assert_allclose(table[:, 2], [1.0, -1.0, 0.0])  # periods 6, 4, 5
    both = element_features(["Ta", "V", "Mo"], ("onehot", "vec"))  # C identity columns, then vec
    np.testing.assert_array_equal(both, np.hstack([np.eye(3), table[:, 1:2]]))


def test_element_features_reject_unknown_names_and_elements():
    with pytest.raises(VmebError, match=r"element feature\(s\) \['charge'\] unknown"):
        element_features(["Nb"], ["vec", "charge"])
    with pytest.raises(VmebError, match=r"\['Au'\] have no tabulated properties"):
        element_features(["Nb", "Au"], ["vec"])
