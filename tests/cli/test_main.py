"""The ``vmeb`` entry point: one error line, and the full traceback on request."""

from __future__ import annotations

import pytest

from vmeb.cli.main import TRACEBACK_ENV, main

#: A command refused with a `VmebError` in its ``run``, before any work: a bad hop table name.
REFUSED = ["predict", "model.pt", "sample.extxyz", "-o", "out", "--hops", "hops.txt"]
MESSAGE = (
    "vmeb: error: output file name 'hops.txt': give a plain name ending in one of "
    "['.parquet', '.csv']"
)


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)


@pytest.mark.usefixtures("cli_files", "no_env")
def test_an_error_is_one_line_without_traceback(capsys):
    assert main(REFUSED) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [MESSAGE]
    assert captured.out == ""


@pytest.mark.usefixtures("cli_files", "no_env")
def test_traceback_flag_prints_the_traceback_then_the_line(capsys):
    assert main(["--traceback", *REFUSED]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any("vmeb/cli/predict.py" in line for line in lines)
    assert lines[-2] == "vmeb.errors.VmebError: " + MESSAGE.removeprefix("vmeb: error: ")
    assert lines[-1] == MESSAGE


@pytest.mark.parametrize(
    ("value", "shown"), [("1", True), ("yes", True), ("0", False), ("", False)]
)
@pytest.mark.usefixtures("cli_files")
def test_traceback_environment_variable(monkeypatch, capsys, value, shown):
    monkeypatch.setenv(TRACEBACK_ENV, value)
    assert main(REFUSED) == 2
    err = capsys.readouterr().err
    assert ("Traceback (most recent call last):" in err) is shown
    assert err.splitlines()[-1] == MESSAGE


@pytest.mark.usefixtures("no_env")
def test_traceback_flag_is_global_only(capsys):
    """``--traceback`` belongs before the subcommand; after it, it is an unknown argument."""
    assert main(["models", "--traceback"]) == 2
    assert "unrecognized arguments: --traceback" in capsys.readouterr().err
