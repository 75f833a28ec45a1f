"""``vmeb neb --scheduler``: a malformed or unreachable Dask address is one line naming it,
before the dataset folder is created."""

from __future__ import annotations

import time

import pytest

from vmeb.cli.main import main
from vmeb.cli.neb import scheduler_address


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
        ("host:8786", "tcp://host:8786"),
        ("tls://host.example.org:1", "tls://host.example.org:1"),
        ("[::1]:8786", "tcp://[::1]:8786"),
    ],
)
def test_scheduler_addresses_accepted(text, address):
    assert scheduler_address(text) == address


@pytest.mark.parametrize(
    "value",
    ["notahost:xx", "tcp://", "tcp://:8786", "http://host:8786", "host", "host:0", "host:65536"],
)
def test_malformed_scheduler_is_refused_in_one_line(cli_files, capsys, value):
    assert main(["neb", "sample.extxyz", "-o", "data", "--scheduler", value]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert f"argument --scheduler: {value!r}: not a Dask scheduler address" in lines[0]
    assert not (cli_files / "data").exists()


@pytest.mark.usefixtures("eam")  # the built-in potential, loaded before the scheduler is reached
def test_unreachable_scheduler_is_refused_quickly(cli_files, capsys):
    pytest.importorskip("distributed")
    start = time.perf_counter()
    status = main(["neb", "sample.extxyz", "-o", "data", "--scheduler", "tcp://127.0.0.1:1"])
    elapsed = time.perf_counter() - start
    assert status == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("vmeb: error: cannot reach Dask scheduler 'tcp://127.0.0.1:1'")
    assert elapsed < 30  # the connection gives up after 5 s (not distributed's 30 s or 60 s)
    assert not (cli_files / "data").exists()
    assert sorted(p.name for p in cli_files.iterdir() if p.name.startswith(".")) == []
