"""Files: the cache folder, outputs that appear whole, JSON records and figures.

Every file vmeb writes goes through this module so that a reader sees either the complete file
(or directory) or none, never a half-written one:

- `atomic_output` yields a unique temporary path beside the target and renames it onto the
  target when the block succeeds (removing it when the block raises); `atomic_write_text`,
  `atomic_write_bytes`, `write_json` and `save_figure` are built on it.
- `staged_output` does the same for a whole directory (`staging_dir` + `publish_directory`);
  staging directories left by a killed run are removed by the next run of the same output
  (`remove_stale_staging`).
- `to_json` / `json_default` are the one JSON encoding (numpy scalars and arrays, paths,
  dataclasses); `read_json_record` reads a bookkeeping file back.

This module imports no other vmeb module except `vmeb.errors` (bottom of the layer order).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from vmeb.errors import file_error

logger = logging.getLogger(__name__)

#: The process umask, read once (``os.umask`` can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


#: Suffix of the temporary files of `atomic_output` (and of nothing else).
TMP_SUFFIX = ".tmp"


def is_temporary(name: str) -> bool:
    """Whether a file name is one of `atomic_output`'s temporary files (a write cut short)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def cache_dir() -> Path:
    """The vmeb cache folder: ``$VMEB_CACHE`` or ``~/.cache/vmeb`` (created on demand)."""
    root = os.environ.get("VMEB_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "vmeb"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------- single files


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Write a file through a unique temporary file beside it and one rename.

    Usage::

        with atomic_output(path) as tmp:
            frame.to_csv(tmp)

    The temporary file is hidden (``.NAME.XXXX.tmp``, same folder, see `is_temporary`) and
    created empty; writers that guess the format from the file name must be told it. When the
    block finishes, the file is synced to disk and renamed onto ``path``; when the block raises
    (any exception, including ``KeyboardInterrupt``) it is removed and ``path`` is left as it
    was.

    Args:
        path: The file to write; its parent folder is created if missing.

    Yields:
        The temporary path to write to.

    Raises:
        VmebError: naming ``path``, if it is an existing directory (before anything is written).
    """
    path = Path(path)
    if path.is_dir():  # os.replace would fail after the work, naming the temporary file
        raise file_error(path, "is a directory, not a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # as a plain open() would create it
    try:
        yield tmp
        with open(tmp, "rb") as handle:  # data on disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); returns the path."""
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (temporary file, fsync, rename)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# ----------------------------------------------------------------------------- JSON


def json_default(value: Any) -> Any:
    """``default=`` hook of `json.dumps`: numpy scalars and arrays, paths, dataclasses, sets.

    Raises:
        TypeError: for any other type (as `json.dumps` expects).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON text with `json_default` (no trailing newline)."""
    return json.dumps(value, indent=indent, default=json_default)


def write_json(path: str | os.PathLike, value: Any, indent: int | None = 2) -> Path:
    """Write ``value`` as JSON (with a trailing newline) to ``path`` atomically."""
    return atomic_write_text(path, to_json(value, indent=indent) + "\n")


def read_json_record(path: str | os.PathLike) -> Any:
    """The JSON content of a bookkeeping file, or None if it does not exist.

    Raises:
        VmebError: naming the file, if it is not valid JSON.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise file_error(path, f"not valid JSON ({exc}); remove it to start over") from exc


# ----------------------------------------------------------------------------- figures


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Write a matplotlib figure atomically, then close it (also when saving fails).

    Args:
        fig: The `matplotlib.figure.Figure`.
        path: Output path; the format follows its suffix (PNG when it has none).
        dpi: Resolution.

    Returns:
        The written path.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - keep matplotlib out of plain imports

    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
    finally:
        plt.close(fig)
    return path


# ----------------------------------------------------------------------------- directories


#: Suffix of the staging directories of `staging_dir` (and of nothing else).
STAGING_SUFFIX = ".partial"
#: The middle of a staging directory's name, ``.NAME.<middle>.partial``: this host (8 hex
#: digits of its name's CRC), the process id and mkdtemp's 8 random characters; in older
#: versions (no owner recorded) only the 8 random characters.
_STAGING_OWNED = re.compile(r"^vmeb-([0-9a-f]{8})-(\d+)-[a-z0-9_]{8}$")
_STAGING_LEGACY = re.compile(r"^[a-z0-9_]{8}$")
#: A staging directory without an owner in its name is stale when untouched this long (s).
LEGACY_STAGING_AGE = 24 * 3600.0


def _host_tag() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _stale_staging(entry: Path, name: str, now: float) -> bool:
    """Whether ``entry`` is a staging directory of output ``name`` whose run is gone."""
    prefix = f".{name}."
    if not (entry.name.startswith(prefix) and entry.name.endswith(STAGING_SUFFIX)):
        return False
    middle = entry.name[len(prefix) : -len(STAGING_SUFFIX)]
    owned = _STAGING_OWNED.match(middle)
    if owned:  # only this host's processes can be checked; another host's are left alone
        return owned.group(1) == _host_tag() and not _process_alive(int(owned.group(2)))
    if _STAGING_LEGACY.match(middle):
        try:
            return now - entry.stat().st_mtime > LEGACY_STAGING_AGE
        except OSError:
            return False
    return False


def remove_stale_staging(root: str | os.PathLike) -> list[Path]:
    """Remove the staging directories of ``root`` left by runs that were killed (SIGKILL, a lost
    node) before they could clean up.

    Only directories beside ``root`` named as `staging_dir` names them for ``root`` count:
    ``.NAME.vmeb-HOST-PID-XXXXXXXX.partial`` of this host whose process no longer exists, and
    the owner-less ``.NAME.XXXXXXXX.partial`` of older versions once untouched for a day. A
    live run's staging directory (its process exists), another host's, another output's and
    anything else are left alone.

    Args:
        root: The output whose stale staging directories go.

    Returns:
        The directories removed.
    """
    root = Path(root)
    if not root.name or not root.parent.is_dir():
        return []
    now = time.time()
    removed = []
    try:
        entries = [e for e in root.parent.iterdir() if e.name.startswith(f".{root.name}.")]
    except OSError:
        return []
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink() and _stale_staging(entry, root.name, now):
            shutil.rmtree(entry, ignore_errors=True)
            logger.info("removed %s, left by a run that was killed", entry)
            removed.append(entry)
    return removed


def staging_dir(root: str | os.PathLike) -> Path:
    """A fresh hidden directory beside ``root`` to build it in:
    ``.NAME.vmeb-HOST-PID-XXXXXXXX.partial`` (host and process recorded so that the next run
    can tell it from a live one). Stale staging directories of ``root`` (`remove_stale_staging`)
    are removed first."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(root)
    prefix = f".{root.name}.vmeb-{_host_tag()}-{os.getpid()}-"
    return Path(tempfile.mkdtemp(dir=root.parent, prefix=prefix, suffix=STAGING_SUFFIX))


def publish_directory(staging: Path, root: Path, *, overwrite: bool = False) -> Path:
    """Move a directory built in ``staging`` to ``root`` in one rename.

    Args:
        staging: The complete directory (from `staging_dir`).
        root: Where it goes.
        overwrite: Replace an existing ``root`` (removed first) instead of refusing.

    Raises:
        VmebError: if ``root`` exists and not ``overwrite`` (``staging`` is removed, ``root``
            left untouched).
    """
    staging, root = Path(staging), Path(root)
    if root.exists() and overwrite:
        shutil.rmtree(root)
    if root.exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise file_error(root, "already exists (choose another output or remove it)")
    root.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, root)
    return root


@contextmanager
def staged_output(output: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Build an output directory beside it and publish it whole, or leave nothing behind.

    Usage::

        with staged_output(output) as staging:
            (staging / "table.csv").write_text(...)

    The block writes into a fresh staging directory (`staging_dir`). When the block finishes,
    the staging directory is renamed to ``output`` in one step (`publish_directory`); when the
    block or the rename raises (any exception, including ``KeyboardInterrupt``), the staging
    directory is removed and the exception propagates. A reader therefore sees either the
    complete output or none. Whether ``output`` exists is checked only at the rename; callers
    that want to fail before expensive work check first.

    Args:
        output: The directory to create; its parent is created if missing.
        overwrite: Replace an existing ``output`` at the rename instead of refusing.

    Yields:
        The staging directory (empty) to write into.

    Raises:
        VmebError: if ``output`` exists when the block finishes (and not ``overwrite``).
    """
    output = Path(output)
    staging = staging_dir(output)
    try:
        yield staging
        publish_directory(staging, output, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
