"""The barrier dataset format: structures, one table row per hop, and a JSON header.

A dataset is a directory::

    DATASET/
      header.json            format, version, species order, lattice, how barriers were made
      hops.csv               one row per hop (see `HOP_COLUMNS`); appended as work finishes
      structures/<id>.extxyz one perfect (vacancy-free) sample per file; hop indices refer to it

Indices are 0-based atom indices of the stored structure: ``vacancy_index`` is the atom removed to
make the vacancy, ``moving_index`` the first neighbour that jumps into it; ``barrier`` the
forward barrier in eV (saddle minus initial), ``reverse_barrier`` the barrier back,
``energy_change`` the final minus the initial energy. ``status`` is ``ok`` or ``failed``
(``reason`` says why); failed hops are stored, never dropped, and never trained on.
``docs/dataset_format.md`` is the full spec.

Appends are crash-safe: each call writes its rows with one ``write`` on an ``O_APPEND`` descriptor
followed by ``fsync``, and a reader ignores a trailing line without its newline (a write cut by a
kill), so a killed campaign never leaves a half row that is read as data.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
import pandas as pd
from ase import Atoms

from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_write_text, write_json
from vmeb.species import SpeciesTable
from vmeb.structure.neighbours import is_first_neighbour_pair
from vmeb.structure.validate import validate_structure

logger = logging.getLogger(__name__)

FORMAT_NAME = "vmeb-barrier-dataset"
FORMAT_VERSION = 1
HEADER_FILE = "header.json"
HOPS_FILE = "hops.csv"
STRUCTURES_DIR = "structures"
#: Largest barrier (eV) accepted as physics; vacancy-migration barriers in metals are 0.1-3 eV.
MAX_BARRIER = 10.0

#: Required columns of ``hops.csv``, in order. Extra columns (``iterations``, ``n_replicas``,
#: ``profile``, ``engine`` ...) are allowed after these and kept by the reader.
HOP_COLUMNS = (
    "sample_id",
    "vacancy_index",
    "moving_index",
    "moving_species",
    "barrier",
    "reverse_barrier",
    "energy_change",
    "converged",
    "status",
    "reason",
    "source",
)
#: Optional columns written by the NEB campaigns.
EXTRA_COLUMNS = ("engine", "n_replicas", "iterations", "profile")

_DTYPES = {
    "sample_id": str,
    "vacancy_index": "int64",
    "moving_index": "int64",
    "moving_species": str,
    "barrier": "float64",
    "reverse_barrier": "float64",
    "energy_change": "float64",
    "status": str,
    "reason": str,
    "source": str,
}


@dataclass(frozen=True)
class DatasetHeader:
    """The JSON header of a dataset.

    Attributes:
        species: Element symbols in channel order (SDM channels, one-hot columns).
        lattice: Lattice description, e.g. ``{"type": "bcc", "a": 3.2428}`` (Å).
        method: How barriers were computed, e.g. ``{"kind": "neb", "engine": "lammps", ...}``.
        format_version: Dataset format version; readers refuse versions they do not know.
        created: ISO-8601 creation time (UTC).
    """

    species: tuple[str, ...]
    lattice: Mapping[str, Any] = field(default_factory=lambda: {"type": "bcc"})
    method: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        """The header as a JSON-serialisable dict."""
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "species": list(self.species),
            "lattice": dict(self.lattice),
            "method": dict(self.method),
            "created": self.created or datetime.now(UTC).isoformat(timespec="seconds"),
        }


def read_header(root: str | os.PathLike) -> DatasetHeader:
    """Read and validate ``header.json`` of a dataset.

    Raises:
        VmebError: naming the file, if it is missing, not JSON, of another format or version.
    """
    path = Path(root) / HEADER_FILE
    if not path.exists():
        raise file_error(root, f"not a vmeb dataset (no {HEADER_FILE})")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise file_error(path, f"not valid JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise file_error(path, f"not a {FORMAT_NAME} header")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise file_error(
            path, f"dataset format version {version!r}; this vmeb reads version {FORMAT_VERSION}"
        )
    species = SpeciesTable.from_json(raw.get("species"), source=str(path))
    return DatasetHeader(
        species=species.symbols,
        lattice=raw.get("lattice", {}),
        method=raw.get("method", {}),
        format_version=version,
        created=raw.get("created", ""),
    )


def create_dataset(
    root: str | os.PathLike, header: DatasetHeader, *, exist_ok: bool = False
) -> Path:
    """Create an empty dataset directory (header, empty hop table, structures folder).

    Args:
        root: Directory to create.
        header: The dataset header.
        exist_ok: If True and a dataset with the same species already exists, keep it as it is
            (campaigns resume into it). If False, an existing directory is an error.

    Returns:
        The dataset root.

    Raises:
        VmebError: if the directory exists (and not ``exist_ok``), or holds a dataset of other
            species.
    """
    root = Path(root)
    if root.exists():
        if not exist_ok:
            raise file_error(root, "already exists (choose another output or remove it)")
        if (root / HEADER_FILE).exists():
            existing = read_header(root)
            if tuple(existing.species) != tuple(header.species):
                raise file_error(
                    root,
                    f"existing dataset has species {list(existing.species)}, "
                    f"not {list(header.species)}",
                )
            return root
    (root / STRUCTURES_DIR).mkdir(parents=True, exist_ok=True)
    hops = root / HOPS_FILE
    if not hops.exists():
        atomic_write_text(hops, ",".join(HOP_COLUMNS + EXTRA_COLUMNS) + "\n")
    write_json(root / HEADER_FILE, header.to_json())
    return root


def structure_path(root: str | os.PathLike, sample_id: str) -> Path:
    """Path of the extxyz file of ``sample_id`` in a dataset."""
    return Path(root) / STRUCTURES_DIR / f"{sample_id}.extxyz"


def write_structure(
    root: str | os.PathLike, sample_id: str, atoms: Atoms, group: str | None = None
) -> Path:
    """Store a perfect sample in the dataset (atomically).

    Args:
        root: Dataset root.
        sample_id: Identifier used in ``hops.csv``; letters, digits, ``-``, ``_``, ``.`` only.
        atoms: The vacancy-free structure that hop indices refer to.
        group: Label used to group metrics (composition or CSRO state); defaults to the formula.

    Returns:
        Path of the written file.

    Raises:
        VmebError: for a bad sample id, or a structure that is not a perfect BCC sample
            (`vmeb.structure.validate.validate_structure`).
    """
    if not sample_id or not all(c.isalnum() or c in "-_." for c in sample_id):
        raise VmebError(f"sample id {sample_id!r}: use letters, digits, '-', '_' and '.' only")
    validate_structure(atoms, f"sample {sample_id}")  # a perfect BCC sample, before it is stored
    atoms = atoms.copy()
    atoms.calc = None
    atoms.info["sample_id"] = sample_id
    atoms.info["group"] = group or atoms.info.get("group") or atoms.get_chemical_formula()
    buffer = io.StringIO()
    ase.io.write(buffer, atoms, format="extxyz")
    path = structure_path(root, sample_id)
    atomic_write_text(path, buffer.getvalue())
    return path


def _format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(_format_value(v) for v in value)
    return str(value)


def hop_rows_to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Serialise hop rows (dicts keyed by column name) as CSV text without a header line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = HOP_COLUMNS + EXTRA_COLUMNS
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise VmebError(f"hop row has unknown columns {sorted(unknown)}")
        writer.writerow([_format_value(row.get(c)) for c in columns])
    return buffer.getvalue()


def _repair_tail(path: Path) -> None:
    """Cut a trailing partial line (a write killed mid-way) so the next append starts clean."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        chunk = min(size, 1 << 20)
        handle.seek(size - chunk)
        data = handle.read(chunk)
        cut = data.rfind(b"\n")
        keep = size - chunk + cut + 1 if cut >= 0 else 0
        logger.warning("%s: dropping a partial last line (%d bytes)", path, size - keep)
        handle.truncate(keep)


def append_hops(root: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> int:
    """Append hop rows to ``hops.csv`` in one crash-safe write.

    Args:
        root: Dataset root (must exist).
        rows: Dicts keyed by `HOP_COLUMNS` (and optional `EXTRA_COLUMNS`).

    Returns:
        The number of rows written.
    """
    path = Path(root) / HOPS_FILE
    if not path.exists():
        raise file_error(root, f"not a vmeb dataset (no {HOPS_FILE})")
    rows = list(rows)
    if not rows:
        return 0
    data = hop_rows_to_csv(rows).encode()
    _repair_tail(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        written = os.write(fd, data)
        if written != len(data):  # pragma: no cover - disk full
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(rows)


#: Accepted spellings of ``converged`` (any case, surrounding blanks ignored).
TRUE_VALUES = ("true", "1", "yes")
FALSE_VALUES = ("false", "0", "no")
#: Accepted values of ``status``.
STATUS_VALUES = ("ok", "failed")


def _first_bad(column: str, bad: pd.Series, values: pd.Series, allowed: str) -> str:
    """The problem text of a column with values outside ``allowed``: count and first line."""
    k = int(np.argmax(bad.to_numpy()))
    return (
        f"{int(bad.sum())} row(s) whose {column} is not {allowed}, first on line "
        f"{_line(values.index[k])}: {values.iloc[k]!r}"
    )


def _parse_bool(series: pd.Series, path: Path) -> pd.Series:
    """``converged`` as booleans; any value but `TRUE_VALUES` / `FALSE_VALUES` is refused."""
    words = series.astype(str).str.strip().str.lower()
    bad = ~words.isin(TRUE_VALUES + FALSE_VALUES)
    if bad.any():
        allowed = "/".join(f"{t}/{f}" for t, f in zip(TRUE_VALUES, FALSE_VALUES, strict=True))
        raise file_error(path, _first_bad("converged", bad, series, allowed))
    return words.isin(TRUE_VALUES)


def _check_status(series: pd.Series, path: Path) -> None:
    """Refuse a ``status`` other than `STATUS_VALUES` (such a row was silently never trained on)."""
    bad = ~series.isin(STATUS_VALUES)
    if bad.any():
        raise file_error(path, _first_bad("status", bad, series, " or ".join(STATUS_VALUES)))


def read_hops(root: str | os.PathLike) -> pd.DataFrame:
    """Read ``hops.csv`` as a DataFrame with typed columns.

    A trailing line without its newline (a write cut by a kill) is ignored.

    Raises:
        VmebError: naming the file, if columns are missing or values do not parse, or if a
            ``converged`` or ``status`` value is not one of the allowed ones (naming the line).
    """
    path = Path(root) / HOPS_FILE
    if not path.exists():
        raise file_error(root, f"not a vmeb dataset (no {HOPS_FILE})")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise file_error(path, f"cannot parse hop table (not text: {exc.reason})") from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], na_filter=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise file_error(path, f"cannot parse hop table ({exc})") from exc
    missing = [c for c in HOP_COLUMNS if c not in frame.columns]
    if missing:
        raise file_error(path, f"missing columns {missing}")
    try:
        for column in ("vacancy_index", "moving_index"):
            frame[column] = frame[column].astype("int64")
        for column in ("barrier", "reverse_barrier", "energy_change"):
            frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="raise")
    except ValueError as exc:
        raise file_error(path, f"bad value in hop table ({exc})") from exc
    frame["converged"] = _parse_bool(frame["converged"], path)
    _check_status(frame["status"], path)
    for column in ("n_replicas", "iterations"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
    return frame


def valid_mask(hops: pd.DataFrame) -> pd.Series:
    """[rows] bool: the hop rows usable for learning (status ok, finite positive barrier)."""
    return (hops["status"] == "ok") & np.isfinite(hops["barrier"]) & (hops["barrier"] > 0)


@dataclass
class BarrierDataset:
    """A dataset opened for reading.

    Attributes:
        root: Dataset directory.
        header: Its header.
        hops: The hop table (all rows, failed ones included).
    """

    root: Path
    header: DatasetHeader
    hops: pd.DataFrame
    _structures: dict[str, Atoms] = field(default_factory=dict, repr=False)

    @property
    def species(self) -> tuple[str, ...]:
        """Species order of the dataset."""
        return tuple(self.header.species)

    @property
    def species_table(self) -> SpeciesTable:
        """Species order of the dataset as a `SpeciesTable` (channel order of its header)."""
        return SpeciesTable(self.header.species)

    def structure(self, sample_id: str) -> Atoms:
        """The perfect sample ``sample_id`` (cached after the first read)."""
        if sample_id not in self._structures:
            path = structure_path(self.root, sample_id)
            if not path.exists():
                raise file_error(path, "structure missing for a sample in hops.csv")
            try:
                atoms = ase.io.read(path, format="extxyz")
            except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
                raise file_error(path, f"cannot read structure ({exc})") from exc
            validate_structure(atoms, str(path))
            self._structures[sample_id] = atoms
        return self._structures[sample_id]

    def sample_ids(self) -> list[str]:
        """Ids of the stored structures, sorted."""
        return sorted(p.stem for p in (self.root / STRUCTURES_DIR).glob("*.extxyz"))

    def group_of(self, sample_id: str) -> str:
        """The metrics group (composition or CSRO label) of a sample."""
        atoms = self.structure(sample_id)
        return str(atoms.info.get("group") or atoms.get_chemical_formula())

    def subset(self, hops: pd.DataFrame) -> BarrierDataset:
        """The same dataset restricted to some of its hop rows (structures cache shared)."""
        subset = BarrierDataset(self.root, self.header, hops.reset_index(drop=True))
        subset._structures = self._structures
        return subset

    def valid_hops(self) -> pd.DataFrame:
        """Rows usable for learning: status ok, finite positive barrier (`valid_mask`)."""
        return self.hops.loc[valid_mask(self.hops)].reset_index(drop=True)

    def iter_samples(
        self, hops: pd.DataFrame | None = None, *, progress: bool = False, desc: str = "samples"
    ) -> Iterator[tuple[str, Atoms, pd.DataFrame]]:
        """The hops of a table sample by sample, with each sample's structure.

        Args:
            hops: A hop table of this dataset (default: `with_groups`, the valid hops with their
                ``group``).
            progress: Show a tqdm bar over samples.
            desc: Label of the bar.

        Yields:
            ``(sample_id, atoms, rows)``: samples in order of first appearance in ``hops``;
            ``rows`` the sample's rows of ``hops`` (index kept, so ``rows.index`` locates them).
        """
        from tqdm.auto import tqdm  # noqa: PLC0415

        hops = self.with_groups() if hops is None else hops
        samples = hops.groupby("sample_id", sort=False)
        for sample_id, rows in tqdm(samples, desc=desc, disable=not progress):
            yield str(sample_id), self.structure(str(sample_id)), rows

    def with_groups(self, hops: pd.DataFrame | None = None) -> pd.DataFrame:
        """A copy of ``hops`` (default: valid hops) with a ``group`` column added."""
        hops = self.valid_hops() if hops is None else hops
        groups = {sid: self.group_of(sid) for sid in hops["sample_id"].unique()}
        out = hops.copy()
        out["group"] = out["sample_id"].map(groups)
        return out


def open_dataset(root: str | os.PathLike) -> BarrierDataset:
    """Open a dataset directory for reading (header validated, hop table parsed)."""
    root = Path(root)
    if not root.is_dir():
        raise file_error(root, "no such dataset directory")
    header = read_header(root)
    hops = read_hops(root)
    unknown = SpeciesTable(header.species).unknown(hops["moving_species"])
    if unknown:
        raise file_error(root / HOPS_FILE, f"moving species {unknown} not in header species")
    check_hop_table(hops, root / HOPS_FILE)
    dataset = BarrierDataset(root=root, header=header, hops=hops)
    check_hops_against_structures(dataset)
    return dataset


def _line(row: int) -> int:
    """Line number in ``hops.csv`` of table row ``row`` (line 1 is the header)."""
    return int(row) + 2


def check_barrier_range(hops: pd.DataFrame, path: str | os.PathLike) -> None:
    """Raise if an ``ok`` hop has a barrier above `MAX_BARRIER` (eV).

    Barriers <= 0 or not finite on ``ok`` rows are left to `BarrierDataset.valid_hops`, which
    never trains on them (an NEB whose initial state is its highest image gives 0).

    Raises:
        VmebError: naming ``path``, the bound, the number of such rows and the first one.
    """
    ok = (hops["status"] == "ok").to_numpy()
    barrier = hops["barrier"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.nonzero(ok & (barrier > MAX_BARRIER))[0]
    if bad.size:
        k = int(bad[0])
        raise file_error(
            path,
            f"{bad.size} ok hop(s) with a barrier above {MAX_BARRIER:g} eV (not a vacancy "
            f"migration barrier), first on line {_line(k)}: {barrier[k]:g} eV; mark them failed "
            "or fix the values",
        )


def check_duplicate_hops(hops: pd.DataFrame, path: str | os.PathLike) -> None:
    """Raise if an ``ok`` hop (sample, vacancy, moving atom) appears more than once.

    Failed rows are history (a hop may fail, then be computed again) and are not compared.

    Raises:
        VmebError: naming ``path``: the number of conflicting duplicates (different barriers) or
            of plain duplicates, with the first pair of lines.
    """
    ok = hops.loc[hops["status"] == "ok", ["sample_id", "vacancy_index", "moving_index", "barrier"]]
    keys = ["sample_id", "vacancy_index", "moving_index"]
    repeated = ok[ok.duplicated(keys, keep=False)]
    if repeated.empty:
        return
    spread = repeated.groupby(keys, sort=False)["barrier"].agg(["min", "max", "size"])
    conflicting = spread[(spread["max"] - spread["min"]) > 1e-9]
    first = conflicting if len(conflicting) else spread
    key = first.index[0]
    lines = [_line(r) for r in repeated.index[(repeated[keys] == list(key)).all(axis=1)][:2]]
    where = f"sample {key[0]} vacancy {key[1]} moving {key[2]} on lines {lines[0]} and {lines[1]}"
    if len(conflicting):
        raise file_error(
            path,
            f"{len(conflicting)} conflicting duplicate hop(s) (same sample, vacancy and moving "
            f"atom, different barriers), first: {where} ({first['min'].iloc[0]:g} and "
            f"{first['max'].iloc[0]:g} eV)",
        )
    extra = int((spread["size"] - 1).sum())
    raise file_error(
        path,
        f"{extra} duplicate hop row(s) (same sample, vacancy and moving atom), first: {where}",
    )


def check_hop_table(hops: pd.DataFrame, path: str | os.PathLike) -> None:
    """The row checks that need no structure: barrier range and duplicates (see above)."""
    check_barrier_range(hops, path)
    check_duplicate_hops(hops, path)


def check_hops_against_structures(dataset: BarrierDataset) -> None:
    """Raise if a hop row contradicts its structure.

    Every row (failed ones too) must name atoms of its sample, a moving atom that is a first
    neighbour of the vacancy, and the moving atom's element as ``moving_species``.

    Raises:
        VmebError: naming ``hops.csv``, the number of such rows of a sample and the first one.
    """
    path = dataset.root / HOPS_FILE
    hops = dataset.hops
    for sample_id, rows in hops.groupby("sample_id", sort=False):
        atoms = dataset.structure(str(sample_id))
        n = len(atoms)
        vac = rows["vacancy_index"].to_numpy(dtype=np.int64)
        mov = rows["moving_index"].to_numpy(dtype=np.int64)
        out = (vac < 0) | (vac >= n) | (mov < 0) | (mov >= n)
        if out.any():
            k = int(np.argmax(out))
            raise file_error(
                path,
                f"{int(out.sum())} row(s) of sample {sample_id} with an atom index outside "
                f"0..{n - 1}, first on line {_line(rows.index[k])}: vacancy {vac[k]}, moving "
                f"{mov[k]}",
            )
        symbols = np.asarray(atoms.get_chemical_symbols())
        wrong = symbols[mov] != rows["moving_species"].to_numpy(dtype=str)
        if wrong.any():
            k = int(np.argmax(wrong))
            raise file_error(
                path,
                f"{int(wrong.sum())} row(s) of sample {sample_id} whose moving_species contradicts "
                f"the structure, first on line {_line(rows.index[k])}: "
                f"{rows['moving_species'].iloc[k]} but atom {mov[k]} is {symbols[mov[k]]}",
            )
        try:
            far = ~is_first_neighbour_pair(atoms, vac, mov)
        except VmebError as exc:
            raise file_error(path, f"sample {sample_id}: {exc}") from exc
        if far.any():
            k = int(np.argmax(far))
            raise file_error(
                path,
                f"{int(far.sum())} row(s) of sample {sample_id} whose moving atom is not a first "
                f"neighbour of the vacancy, first on line {_line(rows.index[k])}: vacancy "
                f"{vac[k]}, moving {mov[k]}",
            )
