"""vmeb.files: atomic files and directories, JSON records, figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from vmeb.errors import VmebError
from vmeb.files import (
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    is_temporary,
    publish_directory,
    read_json_record,
    remove_stale_staging,
    save_figure,
    staged_output,
    staging_dir,
    to_json,
    write_json,
)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- single files


def test_atomic_write_text_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "table.csv"
    atomic_write_text(path, "a,b\n1,2\n")
    atomic_write_text(path, "a,b\n3,4\n")
    assert path.read_text() == "a,b\n3,4\n"
    assert _names(path.parent) == ["table.csv"]
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("old")
    for error in (RuntimeError("disk"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with atomic_output(path) as tmp:
                tmp.write_text("half written")
                assert is_temporary(tmp.name) and tmp.parent == tmp_path
                raise error
        assert path.read_text() == "old"
        assert _names(tmp_path) == ["record.json"]


def test_directory_in_the_way_is_named_before_anything_is_written(tmp_path):
    """It used to fail at the rename, after the work, naming the hidden temporary file."""
    folder = tmp_path / "out.csv"
    folder.mkdir()
    with pytest.raises(VmebError, match=r"out.csv: is a directory, not a file"):
        atomic_write_text(folder, "x")
    assert _names(tmp_path) == ["out.csv"] and _names(folder) == []


def test_temporary_names_are_unique_and_recognised(tmp_path):
    path = tmp_path / "a.extxyz"
    with atomic_output(path) as first, atomic_output(path) as second:
        assert first != second
        assert is_temporary(first.name) and is_temporary(second.name)
    assert not is_temporary("a.extxyz") and not is_temporary("a.tmp")


def test_written_files_get_the_mode_of_a_plain_open(tmp_path):
    # mkstemp creates 0600 files; outputs must get the mode open() gives (0666 less the umask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    path = atomic_write_text(tmp_path / "x.txt", "x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


# ----------------------------------------------------------------------------- JSON


@dataclasses.dataclass(frozen=True)
class _Point:
    x: float
    label: str


def test_to_json_encodes_numpy_paths_and_dataclasses():
    value = {
        "n": np.int64(3),
        "x": np.float32(0.5),
        "flag": np.bool_(True),
        "array": np.arange(3),
        "path": Path("/data/a.extxyz"),
        "point": _Point(1.5, "p"),
    }
    assert json.loads(to_json(value)) == {
        "n": 3,
        "x": 0.5,
        "flag": True,
        "array": [0, 1, 2],
        "path": "/data/a.extxyz",
        "point": {"x": 1.5, "label": "p"},
    }
    with pytest.raises(TypeError, match="object is not JSON serialisable"):
        to_json({"bad": object()})


def test_write_and_read_json_record(tmp_path):
    path = write_json(tmp_path / "r.json", {"a": np.float64(1.25)})
    assert path.read_text().endswith("\n")
    assert read_json_record(path) == {"a": 1.25}
    assert read_json_record(tmp_path / "missing.json") is None
    path.write_text("{broken")
    with pytest.raises(VmebError, match=r"r\.json: not valid JSON"):
        read_json_record(path)


# ----------------------------------------------------------------------------- figures


def test_save_figure_writes_png_and_closes(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)
    assert _names(tmp_path) == ["plot.png"]


def test_save_figure_failure_closes_and_leaves_nothing(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="not supported"):
        save_figure(fig, tmp_path / "plot.nosuchformat")
    assert not plt.fignum_exists(fig.number)
    assert _names(tmp_path) == []


# ----------------------------------------------------------------------------- directories


def test_staging_and_publish(tmp_path):
    target = tmp_path / "out" / "ds"
    tmp = staging_dir(target)
    assert tmp.parent == target.parent and tmp.name.startswith(".ds.")
    (tmp / "header.json").write_text("{}")
    assert publish_directory(tmp, target) == target
    assert not tmp.exists() and (target / "header.json").exists()
    again = staging_dir(target)
    with pytest.raises(VmebError, match="already exists"):
        publish_directory(again, target)
    assert not again.exists()
    third = staging_dir(target)
    (third / "new.txt").write_text("new")
    publish_directory(third, target, overwrite=True)
    assert _names(target) == ["new.txt"]


def test_staged_output_renames_on_success(tmp_path):
    target = tmp_path / "out" / "result"
    with staged_output(target) as staging:
        assert staging.is_dir() and staging.parent == target.parent
        assert not target.exists()
        (staging / "table.csv").write_text("a,b\n1,2\n")
    assert (target / "table.csv").read_text() == "a,b\n1,2\n"
    assert not staging.exists()
    assert _names(target.parent) == ["result"]


def test_staged_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "result"
    with pytest.raises(RuntimeError, match="boom"):
        with staged_output(target) as staging:
            (staging / "table.csv").write_text("half")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_staged_output_refuses_existing_output(tmp_path):
    target = tmp_path / "result"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    with pytest.raises(VmebError, match="already exists"):
        with staged_output(target) as staging:
            (staging / "keep.txt").write_text("new")
            (staging / "extra.txt").write_text("new")
    assert _names(target) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "old"
    assert _names(tmp_path) == ["result"]


def _killed_run_staging(output: Path) -> Path:
    """The staging directory a run of ``output`` leaves when SIGKILLed mid-way (a real child
    process makes it, writes a file into it and kills itself)."""
    import signal
    import subprocess
    import sys

    code = (
        "import os, signal, sys\n"
        "from vmeb.files import staging_dir\n"
        "d = staging_dir(sys.argv[1])\n"
        "(d / 'half.csv').write_text('site,barrier\\n0,1.')\n"
        "print(d, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(output)], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    stale = Path(done.stdout.strip())
    assert stale.is_dir() and (stale / "half.csv").exists()
    return stale


def test_next_run_removes_the_staging_folder_of_a_killed_run(tmp_path):
    output = tmp_path / "spectrum"
    stale = _killed_run_staging(output)
    live = staging_dir(tmp_path / "spectrum")  # this process is alive: its folder stays
    other = tmp_path / ".spectrum2.vmeb-00000000-1-abcdefgh.partial"  # another output's
    other.mkdir()
    foreign = tmp_path / ".spectrum.vmeb-00000000-1-abcdefgh.partial"  # another host's
    foreign.mkdir()
    with staged_output(output) as staging:
        (staging / "hops.csv").write_text("done\n")
    assert not stale.exists()
    assert live.is_dir() and other.is_dir() and foreign.is_dir()
    assert (output / "hops.csv").read_text() == "done\n"


def test_old_owner_less_staging_folders_go_once_a_day_old(tmp_path):
    import os
    import time

    young = tmp_path / ".out.abcd1234.partial"
    old = tmp_path / ".out.wxyz6789.partial"
    young.mkdir()
    old.mkdir()
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    assert remove_stale_staging(tmp_path / "out") == [old]
    assert young.is_dir() and not old.exists()
