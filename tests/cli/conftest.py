"""Fixtures of the command-line tests: the parser, its subcommands, input files."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.build import bulk

from vmeb.cli.common import leaf_parsers
from vmeb.cli.main import build_parser


@pytest.fixture(scope="session")
def parser():
    """The full ``vmeb`` parser."""
    return build_parser()


@pytest.fixture(scope="session")
def leaves(parser):
    """Every runnable subcommand parser, keyed by its command words."""
    return leaf_parsers(parser)


@pytest.fixture
def cli_files(tmp_path, monkeypatch) -> Path:
    """A working directory holding the input files `MINIMAL_ARGS` names (cwd = this dir)."""
    atoms = bulk("Nb", "bcc", a=3.3, cubic=True).repeat(2)
    atoms.set_chemical_symbols(np.array(["Ta", "Nb"] * 8))
    ase.io.write(tmp_path / "sample.extxyz", atoms)
    (tmp_path / "barriers.csv").write_text("vacancy,moving,barrier\n0,1,1.0\n")
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    for folder in ("dataset", "ensemble", "folder"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path
