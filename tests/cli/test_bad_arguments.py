"""Bad argument values are one error line naming the flag, before any output is written.

Boundary values of every size/count option of every subcommand are found by introspecting the
parser (each numeric option's ``type=``), so a new option is covered without editing this file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from vmeb.cli import common
from vmeb.cli.main import build_parser, main
from vmeb.errors import VmebError
from vmeb.testing import MINIMAL_ARGS, argv_for

#: (refused values, accepted values) of each checked type, by type name.
BOUNDARIES = {
    "positive_int": (("0", "-1"), ("1",)),
    "optional_positive_int": (("0", "-1"), ("1",)),
    "nonnegative_int": (("-1",), ("0", "1")),
    "positive_float": (("0", "-1", "nan", "inf"), ("1",)),
    "optional_positive_float": (("0", "-1"), ("1",)),
    "nonnegative_float": (("-1", "nan"), ("0", "1")),
    "finite_float": (("nan", "inf"), ("-1", "0", "1")),
    "probability": (("-1", "1.5"), ("0", "1")),
}


def _boundaries(kind) -> tuple[tuple[str, ...], tuple[str, ...]]:
    name = kind.__name__
    match = re.fullmatch(r"int_at_least_(\d+)", name)
    if match:
        low = int(match.group(1))
        return (str(low - 1), "0", "-1"), (str(low),)
    return BOUNDARIES[name]


def _cases():
    cases = []
    for words, sub in common.leaf_parsers(build_parser()).items():
        if words not in MINIMAL_ARGS:
            continue
        for action in sub._actions:
            name = getattr(action.type, "__name__", "")
            if not action.option_strings or action.help == common.SUPPRESS:
                continue
            if name in BOUNDARIES or name.startswith("int_at_least_"):
                cases.append((words, action.option_strings[-1], action.dest, action.type))
    return cases


CASES = _cases()


def test_numeric_cases_found():
    found = {(words, flag) for words, flag, _, _ in CASES}
    for expected in [
        (("evaluate",), "--batch-size"),
        (("neb",), "--retries"),
        (("neb",), "--random-sites"),
        (("build",), "--cells"),
        (("kmc",), "--temperature"),
        (("train",), "--epochs"),
        (("map",), "--chunk-sites"),
    ]:
        assert expected in found


@pytest.mark.parametrize(
    ("words", "flag", "dest", "kind"), CASES, ids=[f"{' '.join(c[0])} {c[1]}" for c in CASES]
)
def test_boundary_values(cli_files, capsys, words, flag, dest, kind):
    refused, accepted = _boundaries(kind)
    output = cli_files / "out"
    for value in refused:
        status = main(argv_for(words, output, [f"{flag}={value}"]))
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2, (flag, value)
        assert len(err) == 1 and flag in err[0] and repr(value) in err[0], err
        assert "Traceback" not in err[0]
        assert not output.exists()
    parser = build_parser()
    for value in accepted:
        args = parser.parse_args(argv_for(words, output, [f"{flag}={value}"]))
        got = getattr(args, dest)
        assert (got[0] if isinstance(got, list) else got) == float(value), (flag, value)
    assert not output.exists()


def test_evaluate_negative_batch_size_writes_nothing(cli_files, capsys):
    """The reported bug: --batch-size=-3 wrote a report of zero predictions."""
    output = cli_files / "report"
    assert main(["evaluate", "model.pt", "dataset", "-o", str(output), "--batch-size=-3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--batch-size" in err and "'-3'" in err
    assert not output.exists()


def test_neb_negative_retries_refused(cli_files, capsys):
    assert main(["neb", "sample.extxyz", "-o", "ds", "--retries", "-1"]) == 2
    assert "--retries" in capsys.readouterr().err
    assert not (cli_files / "ds").exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--sites", "1,x"), ("--sites", "-2"), ("--species", "Ta,nb"), ("--sites-file", "nope.txt"),
     ("--species", "Ta,Nb,Xx"), ("--species", "Ta,Ta,Mo")],
)  # fmt: skip
def test_bad_lists_and_files(cli_files, capsys, flag, value):
    assert main(argv_for(("predict",), cli_files / "out", [flag, value])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0], err


@pytest.mark.parametrize(
    ("value", "message"),
    [("Ta,Nb,Xx", "not element symbols: 'Xx'"),
     ("Ta,Ta,Mo", "each element once, got 'Ta' more than once in 'Ta,Ta,Mo'")],
)  # fmt: skip
def test_species_of_lammps_types_checked_by_the_flag(cli_files, capsys, value, message):
    """``--species Ta,Nb,Xx`` for a LAMMPS data file used to end in a KeyError traceback."""
    import ase.io

    ase.io.write(cli_files / "s.data", ase.io.read("sample.extxyz"), format="lammps-data")
    assert main(["predict", "model.pt", "s.data", "-o", "out", "--species", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "argument --species: " + message in err[0], err
    assert not (cli_files / "out").exists()


@pytest.mark.parametrize("name", ["sample.extxyz", "POSCAR"])
@pytest.mark.parametrize("words", [("analyse",), ("sdm",)], ids=" ".join)
def test_species_checked_against_a_file_that_names_its_elements(cli_files, capsys, name, words):
    """``--species`` only mapped LAMMPS types; for extxyz and POSCAR it was silently ignored."""
    import ase.io

    ase.io.write(cli_files / "POSCAR", ase.io.read("sample.extxyz"), format="vasp")
    argv = argv_for(words, cli_files / "out.npy", ["--species", "Ta,Mo"])
    argv[len(words)] = name
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert (
        f"{name}: holds element(s) ['Nb'] not in the given species ['Ta', 'Mo'] (--species); "
        "the file's elements: ['Nb', 'Ta']" in err[0]
    ), err
    assert not (cli_files / "out.npy").exists()


def test_species_may_list_more_elements_than_the_file_holds(cli_files):
    from vmeb.structure.io import read_structure

    atoms = read_structure(cli_files / "sample.extxyz", species=["Mo", "Nb", "Ta"])
    assert sorted(set(atoms.get_chemical_symbols())) == ["Nb", "Ta"]


def test_neb_bare_site_zero_says_how_to_name_one_site(cli_files, capsys):
    """``--sites 0`` is still the deprecated count; the error used to say only 'must be a
    positive integer', hiding that ``--sites 0,`` names site 0."""
    assert main(["neb", "sample.extxyz", "-o", "ds", "--sites", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sites" in err[0] and "write --sites 0," in err[0], err
    assert not (cli_files / "ds").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["build", "--composition", "TaNb", "--cells", "2", "--a", "3.3", "-o", "folder"],
      "folder: is a directory; --composition writes one structure file"),
     (["build", "--grid", "Ta,Nb", "--cells", "2", "--a", "3.3", "-o", "sample.extxyz"],
      "sample.extxyz: is a file; --grid writes a folder of samples"),
     (["build", "--composition", "TaNb", "--cells", "2", "--a", "3.3", "-o", "out.txt"],
      "out.txt: --composition writes extxyz, but this name would not be read back as extxyz; "
      "name the -o file *.extxyz or *.xyz"),
     (["build", "--composition", "TaNb", "--cells", "2", "--a", "3.3", "-o", "s.data"],
      "s.data: --composition writes extxyz, but this name would not be read back as extxyz"),
     (["build", "--composition", "TaNb", "--cells", "2", "--a", "3.3", "-o", "new.extxyz",
       "--lammps-data", "folder"], "folder: is a directory; --lammps-data names a file"),
     (["build", "--grid", "Ta,W", "--divisions", "2", "--cells", "2", "-o", "grid"],
      "has no parameters for ['W']"),
     (["sdm", "sample.extxyz", "--vacancy", "0", "--moving", "1", "-o", "new.npy", "--png",
       "folder"], "folder: is a directory; --png names the picture file to write"),
     (["properties", "--elements", "Ta", "--cells", "3", "-o", "folder"],
      "folder: is a directory; -o names the CSV file to write"),
     (["map", "model.pt", "--elements", "Ta,Nb,Mo", "--divisions", "2", "--balance", "Ta:1,Nb:1",
       "-o", "new"], "--balance is for a line scan (--line), not --divisions")],
)  # fmt: skip
def test_misplaced_outputs_and_options_before_any_work(cli_files, capsys, argv, message):
    """Each of these used to write part of its output (the grid's first sample, the extxyz before
    the LAMMPS file, the .npy before the picture) or do all the work (properties' NEBs) and then
    fail naming a hidden temporary file, or ignore the option (--balance)."""
    before = sorted(p.name for p in cli_files.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in cli_files.iterdir()) == before
    assert not list((cli_files / "folder").iterdir())


def test_missing_input_file_is_one_line(cli_files, capsys):
    assert main(["order", "missing.extxyz", "-o", "out"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.extxyz: no such file" in err[0]


@pytest.mark.parametrize("words", sorted(MINIMAL_ARGS), ids=" ".join)
def test_unwritable_output_is_one_line(cli_files, capsys, words):
    blocker = cli_files / "a_file"
    blocker.write_text("x")
    output = blocker / "out"
    assert main(argv_for(words, output)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "-o/--output" in err[0] and "not a directory" in err[0], err


def test_read_only_directory_is_one_line(cli_files, capsys):
    import os

    if os.geteuid() == 0:
        pytest.skip("root may write into a read-only directory")
    locked = cli_files / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(argv_for(("predict",), locked / "out")) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not writable" in err[0]
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("words", [("predict",), ("train",), ("map",)], ids=" ".join)
def test_output_on_a_file_system_that_refuses_is_one_line(cli_files, capsys, words):
    """/proc passes the permission bits for root but refuses new files: probed, not assumed."""
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    assert main(argv_for(words, Path("/proc/vmeb-out"))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/proc/vmeb-out: cannot be created" in err[0], err


def _output_kinds() -> dict[tuple[str, ...], object]:
    kinds = {}
    for words, sub in common.leaf_parsers(build_parser()).items():
        if words in MINIMAL_ARGS:
            shown = [a for a in sub._actions if a.dest == "output" and a.help != common.SUPPRESS]
            kinds[words] = shown[0].type
    return kinds


NEW_OUTPUT = sorted(w for w, kind in _output_kinds().items() if kind is common.new_output_path)
#: Commands that resume into (neb, train, ensemble train, run) or overwrite an existing output.
REUSED_OUTPUT = [("neb",), ("train",), ("ensemble", "train"), ("run",), ("build",), ("sdm",),
                 ("properties",)]  # fmt: skip


def test_output_conventions_cover_every_command():
    assert set(NEW_OUTPUT) | set(REUSED_OUTPUT) == set(MINIMAL_ARGS)
    assert not set(NEW_OUTPUT) & set(REUSED_OUTPUT)


@pytest.mark.parametrize("words", NEW_OUTPUT, ids=" ".join)
def test_existing_output_is_one_line(cli_files, capsys, words):
    existing = cli_files / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    assert main(argv_for(words, existing)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "existing: already exists" in err[0], err
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("words", REUSED_OUTPUT, ids=" ".join)
def test_resumable_output_may_exist(cli_files, words):
    existing = cli_files / "existing"
    existing.mkdir()
    args = build_parser().parse_args(argv_for(words, existing))
    assert args.output == existing


needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _device_commands():
    return [
        words
        for words, sub in common.leaf_parsers(build_parser()).items()
        if words in MINIMAL_ARGS and any(a.dest == "device" for a in sub._actions)
    ]


@needs_no_cuda
@pytest.mark.parametrize("words", _device_commands(), ids=" ".join)
def test_device_cuda_without_cuda(cli_files, capsys, words):
    output = cli_files / "out"
    assert main(argv_for(words, output, ["--device", "cuda"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device" in err[0] and "not available" in err[0], err
    assert "checkpoint" not in err[0]
    assert not output.exists()


@needs_no_cuda
def test_library_device_checks(tmp_path):
    from vmeb.learn.predictors import check_device, load_predictor
    from vmeb.learn.settings import resolve_train_config

    assert check_device("cpu") == "cpu"
    with pytest.raises(VmebError, match="'cuda:0' is not available"):
        check_device("cuda:0")
    with pytest.raises(VmebError, match="not a torch device"):
        check_device("gpu-please")
    # a real checkpoint path does not matter: the device is reported, not a "corrupted" file
    (tmp_path / "m.pt").write_bytes(b"junk")
    with pytest.raises(VmebError, match="not available"):
        load_predictor(tmp_path / "m.pt", "cuda")
    config = tmp_path / "train.yaml"
    config.write_text("device: cuda\n")
    with pytest.raises(VmebError, match="not available"):
        resolve_train_config({}, config)


@needs_no_cuda
def test_train_config_file_device_is_one_line(cli_files, capsys):
    (cli_files / "train.yaml").write_text("device: cuda:3\n")
    assert main(["train", "dataset", "-o", "run", "--config", "train.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not available" in err[0], err
    assert not (cli_files / "run").exists()
