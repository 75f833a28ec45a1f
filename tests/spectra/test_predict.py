"""Barrier spectra of structures: hop enumeration against brute force, chunking, CLI, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from ase.build import bulk

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.learn.inference import predict_hops
from vmeb.spectra.predict import predict_barriers, spectrum_statistics
from vmeb.structure.io import write_structure_file
from vmeb.testing import (
    SPECIES,
    CountingModel,
    brute_force_counting_barriers,
    cli_error_line,
    random_alloy,
)


def test_counting_model_matches_brute_force():
    atoms = random_alloy(4, np.random.default_rng(1))
    table = predict_barriers(CountingModel(), atoms, progress=False)
    reference = brute_force_counting_barriers(atoms)
    assert len(table) == 8 * len(atoms) == len(reference)
    rows = zip(table.site, table.moving_index, table.barrier, strict=True)
    got = {(int(s), int(m)): b for s, m, b in rows}
    assert got.keys() == reference.keys()
    np.testing.assert_allclose([got[k] for k in reference], list(reference.values()), atol=1e-9)
    symbols = np.array(atoms.get_chemical_symbols())
    assert (table.moving_species.to_numpy() == symbols[table.moving_index]).all()
    assert (table.groupby("site").size() == 8).all()


def test_chunking_and_site_subsets_do_not_change_barriers():
    atoms = random_alloy(3, np.random.default_rng(2))
    model = CountingModel()
    whole = predict_barriers(model, atoms, progress=False)
    chunked = predict_barriers(model, atoms, chunk_sites=5, progress=False)
    pd.testing.assert_frame_equal(whole, chunked)
    sites = [17, 3, 40]
    subset = predict_barriers(model, atoms, sites, progress=False)
    assert subset.site.tolist() == list(np.repeat(sites, 8))
    expected = whole.set_index(["site", "moving_index"]).loc[
        list(zip(subset.site, subset.moving_index, strict=True)), "barrier"
    ]
    np.testing.assert_allclose(subset.barrier.to_numpy(), expected.to_numpy())


def test_predict_hops_equals_site_table():
    atoms = random_alloy(3, np.random.default_rng(3))
    model = CountingModel()
    table = predict_barriers(model, atoms, [5, 9], progress=False)
    hops = predict_hops(model, atoms, table.site.to_numpy(), table.moving_index.to_numpy())
    np.testing.assert_allclose(hops, table.barrier.to_numpy())


def test_cnn_prediction_invariant_to_translation_and_atom_order(tiny_setup):
    from vmeb.learn.checkpoints import load_checkpoint

    _, model_path, atoms = tiny_setup
    trained = load_checkpoint(model_path)
    sites = np.array([0, 11, 30])
    table = predict_barriers(trained, atoms, sites, progress=False)
    again = predict_barriers(trained, atoms, sites, progress=False)
    np.testing.assert_array_equal(table.barrier, again.barrier)  # deterministic
    perm = np.random.default_rng(5).permutation(len(atoms))
    moved = atoms[perm]
    moved.positions += np.array([1.3, -0.7, 2.1])
    moved.wrap()
    inverse = np.argsort(perm)  # old index -> new index
    shifted = predict_barriers(trained, moved, inverse[sites], progress=False)
    keys = zip(perm[shifted.site], perm[shifted.moving_index], strict=True)
    got = dict(zip(keys, shifted.barrier, strict=True))
    want = dict(zip(zip(table.site, table.moving_index, strict=True), table.barrier, strict=True))
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=0, atol=1e-5)
    assert np.ptp(table.barrier) > 2e-4  # the hops differ by far more than the tolerance


def test_spectrum_statistics_against_numpy():
    rng = np.random.default_rng(4)
    table = pd.DataFrame(
        {"moving_species": rng.choice(["Ta", "Mo"], 500), "barrier": rng.normal(1.0, 0.2, 500)}
    )
    stats = spectrum_statistics(table, ["Ta", "Nb", "Mo"]).set_index("moving_species")
    for symbol in ("Ta", "Mo"):
        values = table.barrier[table.moving_species == symbol].to_numpy()
        row = stats.loc[symbol]
        assert row["count"] == len(values)
        np.testing.assert_allclose(row[["mean", "std"]], [values.mean(), values.std()])
        np.testing.assert_allclose(row["q05"], np.quantile(values, 0.05))
        np.testing.assert_allclose(row["median"], np.median(values))
    assert stats.loc["Nb", "count"] == 0 and np.isnan(stats.loc["Nb", "mean"])
    assert stats.loc["all", "count"] == 500
    np.testing.assert_allclose(stats.loc["all", "max"], table.barrier.max())


def test_library_rejects_bad_input():
    model = CountingModel()
    atoms = random_alloy(3, np.random.default_rng(6))
    with pytest.raises(VmebError, match="out of range"):
        predict_barriers(model, atoms, [len(atoms)], progress=False)
    wrong = atoms.copy()
    wrong[4].symbol = "W"
    with pytest.raises(VmebError, match=r"\['W'\] not known to the model"):
        predict_barriers(model, wrong, progress=False)
    fcc = bulk("Ta", "fcc", a=4.2, cubic=True).repeat((3, 3, 3))
    with pytest.raises(VmebError, match="no clean shell of 8 first neighbours"):
        predict_barriers(model, fcc, [0], progress=False)


# ----------------------------------------------------------------------------- CLI


def test_cli_predict_outputs_and_formats(tiny_setup, tmp_path, capsys):
    from vmeb.learn.checkpoints import load_checkpoint

    dataset, model_path, atoms = tiny_setup
    xyz = write_structure_file(tmp_path / "sample.extxyz", atoms)
    data = write_structure_file(tmp_path / "sample.data", atoms, species=list(SPECIES))
    sites_file = tmp_path / "sites.txt"
    sites_file.write_text("# vacancy sites\n0, 7\n20  # comment\n")
    out1, out2 = tmp_path / "p1", tmp_path / "p2"
    assert (
        main(
            [
                "predict",
                str(model_path),
                str(xyz),
                "-o",
                str(out1),
                "--no-progress",
                "--sites-file",
                str(sites_file),
                "--reference",
                str(dataset),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "predict",
                str(model_path),
                str(data),
                "--species",
                ",".join(SPECIES),
                "-o",
                str(out2),
                "--no-progress",
                "--sites",
                "0,7,20",
            ]
        )
        == 0
    )
    capsys.readouterr()
    hops1, hops2 = pd.read_csv(out1 / "hops.csv"), pd.read_csv(out2 / "hops.csv")
    assert hops1.site.tolist() == [0] * 8 + [7] * 8 + [20] * 8
    pd.testing.assert_frame_equal(hops1, hops2, atol=1e-5)
    direct = predict_barriers(load_checkpoint(model_path), atoms, [0, 7, 20], progress=False)
    np.testing.assert_allclose(hops1.barrier, direct.barrier, atol=1e-6)
    stats = pd.read_csv(out1 / "spectrum.csv").set_index("moving_species")
    payload = json.loads((out1 / "spectrum.json").read_text())
    assert payload["n_sites"] == 3 and payload["n_atoms"] == len(atoms)
    assert stats.loc["all", "count"] == 24
    np.testing.assert_allclose(stats.loc["all", "mean"], hops1.barrier.mean())
    assert (out1 / "spectrum.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".*partial"))


@pytest.fixture
def bad_inputs(tiny_setup, tmp_path):
    """Paths of malformed inputs for the CLI error tests."""
    import torch

    from vmeb.learn.checkpoints import read_checkpoint

    _, model_path, atoms = tiny_setup
    good = write_structure_file(tmp_path / "good.extxyz", atoms)
    unknown = atoms.copy()
    unknown[3].symbol = "W"
    fcc = bulk("Ta", "fcc", a=4.2, cubic=True).repeat((3, 3, 3))
    corrupted = tmp_path / "corrupted.pt"
    corrupted.write_bytes(model_path.read_bytes()[:300])
    record = read_checkpoint(model_path)
    record["config"]["train"]["filters"] = 6  # weights were made with 4 filters
    mismatched = tmp_path / "mismatched.pt"
    torch.save(record, mismatched)
    return {
        "model": model_path,
        "good": good,
        "unknown": write_structure_file(tmp_path / "unknown.extxyz", unknown),
        "fcc": write_structure_file(tmp_path / "fcc.extxyz", fcc),
        "corrupted": corrupted,
        "mismatched": mismatched,
        "n_atoms": len(atoms),
    }


@pytest.mark.parametrize(
    ("case", "pattern"),
    [
        ("unknown", r"unknown\.extxyz: element\(s\) \['W'\] not known to the model"),
        ("fcc", r"fcc\.extxyz: not a BCC lattice: 12 first neighbours per atom \(FCC/HCP-like\)"),
        ("range", r"good\.extxyz: site index 999 out of range"),
        ("corrupted", r"corrupted\.pt: corrupted or unreadable checkpoint"),
        ("mismatched", r"mismatched\.pt: checkpoint does not match its model config"),
    ],
)
def test_cli_predict_bad_input(bad_inputs, tmp_path, capsys, case, pattern):
    model, structure, extra = bad_inputs["model"], bad_inputs["good"], []
    if case in ("unknown", "fcc"):
        structure = bad_inputs[case]
        extra = ["--sites", "0"] if case == "fcc" else []
    elif case == "range":
        extra = ["--sites", "1,999"]
    else:
        model = bad_inputs[case]
    out = tmp_path / "out"
    status = main(["predict", str(model), str(structure), "-o", str(out), "--no-progress", *extra])
    assert status == 2
    line = cli_error_line(capsys)
    assert __import__("re").search(pattern, line), line
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_cli_predict_bad_sites_file(bad_inputs, tmp_path, capsys):
    sites = tmp_path / "sites.txt"
    sites.write_text("1 2\nthree\n")
    out = tmp_path / "out"
    args = ["predict", str(bad_inputs["model"]), str(bad_inputs["good"]), "-o", str(out)]
    assert main([*args, "--sites-file", str(sites)]) == 2
    assert "sites.txt: line 2: 'three' is not an integer" in cli_error_line(capsys)
    sites.write_text(f"0\n{bad_inputs['n_atoms']}\n")
    assert main([*args, "--sites-file", str(sites), "--no-progress"]) == 2
    assert "sites.txt: site index" in cli_error_line(capsys)
    sites.write_bytes(b"\xf4\x00\xff")  # was a UnicodeDecodeError traceback
    assert main([*args, "--sites-file", str(sites)]) == 2
    assert "sites.txt: not a text file of site indices" in cli_error_line(capsys)
    assert not out.exists()


def test_cli_predict_refuses_a_cell_of_one_bcc_cube(tmp_path, capsys):
    """In a 2-atom cell the 8 first neighbours of a site are one atom through 8 periodic images:
    the lattice path used to predict 16 barriers from it (the exact path refused it; a
    lattice-window model such as tanbmo-eam takes the per-hop path and refuses it there)."""
    tiny = write_structure_file(tmp_path / "tiny.extxyz", bulk("Ta", "bcc", a=3.3, cubic=True))
    out = tmp_path / "out"
    assert main(["predict", "tanbmo-eam", str(tiny), "-o", str(out), "--no-progress"]) == 2
    line = cli_error_line(capsys)
    assert "tiny.extxyz: atom 1 is a first neighbour of site 0 through" in line
    assert "too small" in line
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_cli_predict_refuses_existing_output(bad_inputs, tmp_path, capsys):
    out = tmp_path / "exists"
    out.mkdir()
    args = ["predict", str(bad_inputs["model"]), str(bad_inputs["good"]), "-o", str(out)]
    assert main(args) == 2
    assert "exists: already exists" in cli_error_line(capsys)
