"""Arguments that make each ``vmeb`` subcommand parse, for the command-line tests."""

from __future__ import annotations

from pathlib import Path

#: Arguments that make each subcommand parse (files named here are created by `cli_files`);
#: OUTPUT is replaced by a fresh path that does not exist. Commands that take no output omit it.
MINIMAL_ARGS: dict[tuple[str, ...], list[str]] = {
    ("run",): ["-o", "OUTPUT"],
    ("build",): ["--composition", "TaNbMo", "--cells", "2", "-o", "OUTPUT"],
    ("neb",): ["sample.extxyz", "-o", "OUTPUT"],
    ("import", "fpnnk"): ["folder", "-o", "OUTPUT"],
    ("import", "csv"): ["sample.extxyz", "barriers.csv", "-o", "OUTPUT"],
    ("sdm",): ["sample.extxyz", "--vacancy", "0", "--moving", "1", "-o", "OUTPUT"],
    ("train",): ["dataset", "-o", "OUTPUT"],
    ("evaluate",): ["model.pt", "dataset", "-o", "OUTPUT"],
    ("predict",): ["model.pt", "sample.extxyz", "-o", "OUTPUT"],
    ("order",): ["sample.extxyz", "-o", "OUTPUT"],
    ("analyse",): ["sample.extxyz", "-o", "OUTPUT"],
    ("properties",): ["-o", "OUTPUT"],
    ("kmc",): [
        "model.pt", "sample.extxyz", "--temperature", "1000", "--steps", "3", "-o", "OUTPUT"
    ],
    ("map",): ["model.pt", "--elements", "Ta,Nb,Mo", "--divisions", "2", "-o", "OUTPUT"],
    ("ensemble", "train"): ["dataset", "-o", "OUTPUT"],
    ("ensemble", "predict"): ["ensemble", "sample.extxyz", "-o", "OUTPUT"],
    ("ensemble", "calibrate"): ["ensemble", "dataset", "-o", "OUTPUT"],
}  # fmt: skip


def argv_for(command: tuple[str, ...], output: Path, extra: list[str] = ()) -> list[str]:
    """``command`` with its minimal arguments, OUTPUT replaced, then ``extra``; an option in
    ``extra`` replaces the same option (and its value) of the minimal arguments."""
    base = [str(output) if a == "OUTPUT" else a for a in MINIMAL_ARGS[command]]
    for option in [e.split("=", 1)[0] for e in extra if e.startswith("-")]:
        if option in base:
            i = base.index(option)
            del base[i : i + 2]
    return [*command, *base, *extra]
