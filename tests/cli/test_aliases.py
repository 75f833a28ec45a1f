"""Old flag spellings keep working for one release, with a logged deprecation warning; the new
site flags reach the library calls."""

from __future__ import annotations

import logging

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from vmeb.cli.main import build_parser, main


def _parse(argv):
    return build_parser().parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "dest", "expected", "warning"),
    [
        (["predict", "model.pt", "sample.extxyz", "--out", "o"], "output", "o", "--out"),
        (["train", "dataset", "--out", "o"], "output", "o", "--out"),
        (["neb", "sample.extxyz", "-o", "d", "--sites", "20"], "random_sites", 20, "--sites 20"),
        (["neb", "sample.extxyz", "-o", "d", "--neb-config", "cfg.yaml"], "config", "cfg.yaml",
         "--neb-config"),
        (["analyse", "sample.extxyz", "-o", "a", "--sites", "5"], "random_sites", 5, "--sites 5"),
        (["map", "model.pt", "--elements", "Ta,Nb", "--divisions", "2", "-o", "m",
          "--max-sites", "7"], "random_sites", 7, "--max-sites"),
        (["predict", "model.pt", "sample.extxyz", "-o", "p", "--sites", "3", "1", "4"], "sites",
         (3, 1, 4), "space-separated --sites"),
        (["predict", "model.pt", "sample.extxyz", "-o", "p", "--species", "Ta", "Nb"], "species",
         ("Ta", "Nb"), "space-separated --species"),
        (["import", "fpnnk", "folder", "-o", "x", "--species", "Nb", "Mo", "Ta"], "species",
         ("Nb", "Mo", "Ta"), "space-separated --species"),
    ],
)  # fmt: skip
def test_old_spellings_parse_and_note(cli_files, argv, dest, expected, warning):
    (cli_files / "cfg.yaml").write_text("n_replicas: 5\n")
    args = _parse(argv)
    got = getattr(args, dest)
    assert (str(got) if dest in ("output", "config") else got) == expected
    assert any(warning in note for note in args._deprecations), args._deprecations


def test_new_spellings_carry_no_warning(cli_files):
    args = _parse(["neb", "sample.extxyz", "-o", "d", "--sites", "4,", "--species", "Ta,Nb"])
    assert args.sites == (4,) and args.random_sites is None and args.species == ("Ta", "Nb")
    assert not getattr(args, "_deprecations", None)
    args = _parse(["neb", "sample.extxyz", "-o", "d", "--sites", "all"])
    assert args.sites is None and args.random_sites is None and args._deprecations


def test_old_and_new_output_are_exclusive(cli_files, capsys):
    assert main(["predict", "model.pt", "sample.extxyz", "-o", "a", "--out", "b"]) == 2
    assert "not allowed" in capsys.readouterr().err


def test_deprecated_run_logs_warning_and_works(tmp_path, monkeypatch, caplog):
    """``vmeb sdm --out X --species A B C`` still writes the map, and says what to use now."""
    monkeypatch.chdir(tmp_path)
    atoms = bulk("Nb", "bcc", a=3.3, cubic=True).repeat(3)
    atoms.set_chemical_symbols(np.random.default_rng(1).choice(["Ta", "Nb", "Mo"], len(atoms)))
    ase.io.write("s.extxyz", atoms)
    i, j, d = neighbor_list("ijd", atoms, 3.0)
    moving = int(j[(i == 0) & (d < 2.9)][0])
    argv = ["sdm", "s.extxyz", "--vacancy", "0", "--moving", str(moving), "--l-c", "4"]
    argv += ["--r-c", "4", "--delta", "1"]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--out", "old.npy", "--species", "Ta", "Nb", "Mo"]) == 0
    notes = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("--out is deprecated; use -o/--output" in n for n in notes), notes
    assert any("--species Ta,Nb,Mo" in n for n in notes), notes
    caplog.clear()
    assert main([*argv, "-o", "new.npy", "--species", "Ta,Nb,Mo"]) == 0
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]
    np.testing.assert_array_equal(np.load("old.npy"), np.load("new.npy"))
    assert np.load("new.npy").shape == (3, 8, 8, 8)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--sites", "0,5,9"], [0, 5, 9]),
        (["--sites-file", "sites.txt"], [2, 7, 11]),
        (["--random-sites", "3"], 3),
        (["--sites", "3"], 3),  # deprecated count
        ([], None),
    ],
)
def test_neb_sites_reach_the_campaign(cli_files, monkeypatch, extra, expected):
    """`vmeb neb` passes explicit sites, a sites file or a random count to the campaign."""
    import vmeb.neb.campaign as campaign

    seen = {}

    class Report:
        def to_json(self):
            return {"ok": True}

    def fake_campaign(samples, out, potential, config, **kwargs):
        seen.update(kwargs, out=out, samples=samples)
        return Report()

    monkeypatch.setattr(campaign, "run_neb_campaign", fake_campaign)
    (cli_files / "sites.txt").write_text("2 7 # comment\n11\n")
    assert main(["neb", "sample.extxyz", "-o", "ds", *extra, "--no-progress"]) == 0
    assert seen["sites"] == expected
    assert list(seen["samples"]) == ["sample"] and str(seen["out"]) == "ds"
