"""Importing external barrier data into the vmeb dataset format (`vmeb.data.dataset`).

Two sources:

* `import_fpnnk`: the DFT VASP CI-NEB barriers of the First-principle-NNK repository (Xing,
  Rupert, Pan, Cao, Nat. Commun. 15, 3879 (2024) and its first-principles follow-up): one folder
  per sample with ``POSCAR``, ``atomid_for_NN.txt`` and ``barrier_for_NN.txt`` (1-based ids).
* `import_csv`: one structure file plus a CSV of (vacancy index, moving index, barrier).

Barriers that are not finite, not positive or above `MAX_BARRIER` (10 eV) are failed calculations,
not physics: they are stored as ``failed`` hops with the reason (never as ``ok`` hops, never
trained on) and counted per sample. A hop listed twice (same vacancy and moving atom), a moving
atom that is not a first neighbour of the vacancy and a ``moving_species`` column that contradicts
the structure are errors: the import is refused with the count and the first offending entry.
Every import builds the dataset in a staging directory beside the output and renames it at the
end, so a failed import leaves nothing behind.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from vmeb.data.dataset import (
    MAX_BARRIER,
    DatasetHeader,
    append_hops,
    create_dataset,
    write_structure,
)
from vmeb.errors import VmebError, file_error
from vmeb.files import staged_output
from vmeb.species import SpeciesTable, default_order
from vmeb.structure.io import read_structure
from vmeb.structure.lattice import bcc_lattice_constant_from_volume
from vmeb.structure.neighbours import is_first_neighbour_pair

logger = logging.getLogger(__name__)

FPNNK_POSCAR = "POSCAR"
FPNNK_IDS = "atomid_for_NN.txt"
FPNNK_BARRIERS = "barrier_for_NN.txt"

#: How the First-principle-NNK barriers were computed (their README), stored in the header.
FPNNK_METHOD: dict[str, Any] = {
    "kind": "neb",
    "engine": "vasp",
    "method": "climbing-image NEB",
    "functional": "PBE",
    "encut_eV": 440,
    "kpoints": "2x2x2",
    "images": 3,
    "spring": -5,
    "ediffg_eV_per_A": -0.03,
    "isif": 2,
    "structures": "ideal unrelaxed BCC lattice sites, 128-atom 4x4x4 conventional supercells",
    "source": "github.com/UCICaoLab/First-principle-NNK DFT_training_data "
    "(commit 0390a8f8484bbee1a6bf8caa592897a53e45f2b8)",
    "citation": "B. Xing, T. J. Rupert, X. Pan, P. Cao, Neural network kinetics for exploring "
    "diffusion multiplicity and chemical ordering in compositionally complex materials, "
    "Nat. Commun. 15, 3879 (2024)",
}
FPNNK_SOURCE = "fpnnk-dft"

_REPLICA_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class SampleCounts:
    """Hops of one imported sample.

    Attributes:
        sample_id: Sample id in the dataset.
        group: Composition (or other) label used to group metrics.
        read: Hops read from the source.
        kept: Hops stored as ``ok``.
        rejected: Hops with a non-physical barrier (<= 0, above `MAX_BARRIER` or not finite),
            stored as ``failed``.
    """

    sample_id: str
    group: str
    read: int
    kept: int
    rejected: int


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote.

    Attributes:
        root: The new dataset directory.
        species: Species order of its header.
        samples: Per-sample hop counts, in import order.
    """

    root: Path
    species: tuple[str, ...]
    samples: tuple[SampleCounts, ...]

    def by_group(self) -> list[tuple[str, int, int, int, int]]:
        """Per group (composition), in order of first appearance: (group, samples, read, kept,
        rejected)."""
        totals: dict[str, list[int]] = {}
        for s in self.samples:
            row = totals.setdefault(s.group, [0, 0, 0, 0])
            row[0] += 1
            row[1] += s.read
            row[2] += s.kept
            row[3] += s.rejected
        return [(group, *row) for group, row in totals.items()]

    def table(self) -> str:
        """A plain-text table of hops read, kept and rejected per composition, with a total."""
        lines = [f"{'composition':<20} {'samples':>7} {'read':>7} {'kept':>7} {'rejected':>8}"]
        rows = self.by_group()
        rows.append(
            (
                "total",
                len(self.samples),
                sum(s.read for s in self.samples),
                sum(s.kept for s in self.samples),
                sum(s.rejected for s in self.samples),
            )
        )
        for group, samples, read, kept, rejected in rows:
            lines.append(f"{group:<20} {samples:>7} {read:>7} {kept:>7} {rejected:>8}")
        return "\n".join(lines)


def fpnnk_group_name(folder_name: str) -> str:
    """Group label of an FPNNK folder: the name without a trailing ``_<digits>`` replica suffix."""
    return _REPLICA_SUFFIX.sub("", folder_name)


def _species_order(structures: Sequence[tuple[Path, Atoms]], species: Sequence[str] | None):
    """Species order: the given one (checked to cover all elements) or `default_order`."""
    if species is None:
        return default_order(s for _, atoms in structures for s in atoms.get_chemical_symbols())
    try:
        table = SpeciesTable(tuple(species))
    except VmebError as exc:
        raise VmebError(f"--species: {exc}") from exc
    for path, atoms in structures:
        unknown = table.unknown(atoms.get_chemical_symbols())
        if unknown:
            raise file_error(path, f"elements {unknown} are not in the species {table}")
    return table.symbols


def _lattice(structures: Sequence[tuple[Path, Atoms]]) -> dict[str, Any]:
    """BCC lattice description: mean and range of a = (2 V / N)^(1/3) over the samples (Å)."""
    a = [
        bcc_lattice_constant_from_volume(atoms.get_volume(), len(atoms)) for _, atoms in structures
    ]
    return {
        "type": "bcc",
        "a": round(float(np.mean(a)), 5),
        "a_range": [round(float(min(a)), 5), round(float(max(a)), 5)],
    }


def _hop_rows(
    atoms: Atoms,
    sample_id: str,
    vacancies: np.ndarray,
    moving: np.ndarray,
    barriers: np.ndarray,
    source: str,
    engine: str,
    extra: dict[str, np.ndarray] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Hop rows of one sample; non-physical barriers become failed rows. Returns (rows, kept)."""
    symbols = atoms.get_chemical_symbols()
    rows, kept = [], 0
    extra = extra or {}
    for k, (i, j, barrier) in enumerate(zip(vacancies, moving, barriers, strict=True)):
        ok = bool(math.isfinite(barrier) and 0 < barrier <= MAX_BARRIER)
        kept += ok
        bound = f" (> {MAX_BARRIER:g} eV)" if barrier > MAX_BARRIER else ""
        row = {
            "sample_id": sample_id,
            "vacancy_index": int(i),
            "moving_index": int(j),
            "moving_species": symbols[int(j)],
            "barrier": float(barrier) if ok else math.nan,
            "reverse_barrier": math.nan,
            "energy_change": math.nan,
            "converged": ok,
            "status": "ok" if ok else "failed",
            "reason": "" if ok else f"non-physical barrier {float(barrier):g} eV in source{bound}",
            "source": source,
            "engine": engine,
        }
        for column, values in extra.items():
            row[column] = float(values[k]) if ok else math.nan
        rows.append(row)
    return rows, kept


def _check_first_neighbours(
    atoms: Atoms, vacancies: np.ndarray, moving: np.ndarray, path: Path, one_based: bool
) -> None:
    """Every (vacancy, moving) pair must be first neighbours, else an error naming ``path``."""
    n = len(atoms)
    offset = 1 if one_based else 0
    for name, values in (("vacancy", vacancies), ("moving", moving)):
        bad = np.nonzero((values < 0) | (values >= n))[0]
        if bad.size:
            raise file_error(
                path,
                f"row {int(bad[0]) + 1}: {name} id {int(values[bad[0]]) + offset} out of range "
                f"{offset}..{n - 1 + offset}",
            )
    try:
        is_first = is_first_neighbour_pair(atoms, vacancies, moving)
    except VmebError as exc:
        raise file_error(path, f"structure is not BCC-like ({exc})") from exc
    bad = np.nonzero(~is_first)[0]
    if bad.size:
        k = int(bad[0])
        raise file_error(
            path,
            f"entry {k + 1}: atom {int(moving[k]) + offset} is not a first neighbour of vacancy "
            f"{int(vacancies[k]) + offset}",
        )


def _check_duplicates(
    vacancies: np.ndarray, moving: np.ndarray, barriers: np.ndarray, path: Path, one_based: bool
) -> None:
    """No (vacancy, moving) pair may be listed twice, else an error naming ``path`` with counts."""
    offset = 1 if one_based else 0
    pairs = np.stack([vacancies, moving], axis=1)
    _, first, inverse, counts = np.unique(
        pairs, axis=0, return_index=True, return_inverse=True, return_counts=True
    )
    inverse = inverse.reshape(-1)
    repeated = np.nonzero(counts[inverse] > 1)[0]
    if not repeated.size:
        return
    values = np.where(np.isfinite(barriers), barriers, np.inf)
    conflicting = [
        u
        for u in np.unique(inverse[repeated])
        if np.ptp(values[inverse == u]) > 1e-9 or np.isinf(np.ptp(values[inverse == u]))
    ]
    u = conflicting[0] if conflicting else inverse[repeated[0]]
    entries = np.nonzero(inverse == u)[0][:2]
    k, m = (int(e) for e in entries)
    where = (
        f"vacancy {int(vacancies[k]) + offset} moving {int(moving[k]) + offset} in entries "
        f"{k + 1} and {m + 1}"
    )
    if conflicting:
        raise file_error(
            path,
            f"{len(conflicting)} conflicting duplicate hop(s) (same vacancy and moving atom, "
            f"different barriers), first: {where} ({barriers[k]:g} and {barriers[m]:g} eV)",
        )
    extra = int(np.sum(counts[counts > 1] - 1))
    raise file_error(
        path,
        f"{extra} duplicate hop(s) (same vacancy and moving atom listed again), first: {where}",
    )


def _check_species_column(atoms: Atoms, moving: np.ndarray, given: np.ndarray, path: Path) -> None:
    """A ``moving_species`` column must name the element of each moving atom in the structure."""
    symbols = np.asarray(atoms.get_chemical_symbols())[moving]
    wrong = np.nonzero(symbols != given)[0]
    if wrong.size:
        k = int(wrong[0])
        raise file_error(
            path,
            f"{wrong.size} hop(s) whose moving_species contradicts the structure, first: entry "
            f"{k + 1} says {given[k]} but atom {int(moving[k])} is {symbols[k]}",
        )


def _load_matrix(path: Path, shape: tuple[int, int], dtype: type) -> np.ndarray:
    if not path.is_file():
        raise file_error(path, "no such file")
    if not path.read_bytes().strip():  # np.loadtxt would warn on stderr, then fail on the shape
        raise file_error(path, "empty file")
    try:
        values = np.loadtxt(path, dtype=dtype, ndmin=2)
    except ValueError as exc:  # UnicodeDecodeError (a binary file) included
        raise file_error(path, f"cannot parse numbers ({exc})") from exc
    if values.shape != shape:
        raise file_error(path, f"expected {shape[0]} rows x {shape[1]} columns, got {values.shape}")
    return values


def read_fpnnk_sample(
    folder: str | os.PathLike,
) -> tuple[Atoms, np.ndarray, np.ndarray, np.ndarray]:
    """Read one First-principle-NNK sample folder.

    Args:
        folder: Folder with ``POSCAR``, ``atomid_for_NN.txt``, ``barrier_for_NN.txt``.

    Returns:
        ``(atoms, vacancy, moving, barrier)``: the perfect sample and [N * 8] 0-based vacancy
        indices, 0-based moving-atom indices and barriers (eV) in file order.

    Raises:
        VmebError: naming the file, if one is missing, malformed, or lists a non-neighbour.
    """
    folder = Path(folder)
    atoms = read_structure(folder / FPNNK_POSCAR, fmt="vasp")
    n = len(atoms)
    ids_path = folder / FPNNK_IDS
    ids = _load_matrix(ids_path, (n, 8), float)
    if not np.all(ids == np.round(ids)):
        raise file_error(ids_path, "atom ids must be integers")
    barriers = _load_matrix(folder / FPNNK_BARRIERS, (n, 8), float)
    vacancies = np.repeat(np.arange(n), 8)
    moving = ids.astype(np.int64).reshape(-1) - 1  # 1-based in the source
    _check_first_neighbours(atoms, vacancies, moving, ids_path, one_based=True)
    _check_duplicates(vacancies, moving, barriers.reshape(-1), ids_path, one_based=True)
    return atoms, vacancies, moving, barriers.reshape(-1)


def _fpnnk_folders(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Sample folders: each path is a sample folder (has POSCAR) or a parent of sample folders."""
    folders: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if not path.is_dir():
            problem = "is a file, not a directory" if path.exists() else "no such directory"
            raise file_error(path, problem)
        if (path / FPNNK_POSCAR).exists():
            folders.append(path)
            continue
        children = sorted(p for p in path.iterdir() if (p / FPNNK_POSCAR).is_file())
        if not children:
            raise file_error(path, f"no {FPNNK_POSCAR} here or in its sub-folders")
        folders.extend(children)
    names = [f.name for f in folders]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise VmebError(f"sample folders given twice (same name): {duplicates}")
    return folders


def _build(
    output: Path,
    header: DatasetHeader,
    samples: Sequence[tuple[str, str, Atoms, list[dict[str, Any]], int]],
) -> ImportReport:
    """Write samples into a staging directory and rename it to ``output``."""
    if output.exists():
        raise file_error(output, "already exists (choose another output or remove it)")
    with staged_output(output) as tmp:
        create_dataset(tmp, header, exist_ok=True)
        counts = []
        for sample_id, group, atoms, rows, kept in samples:
            write_structure(tmp, sample_id, atoms, group=group)
            append_hops(tmp, rows)
            counts.append(SampleCounts(sample_id, group, len(rows), kept, len(rows) - kept))
            logger.debug(
                "%s (%s): %d hops read, %d kept, %d rejected",
                sample_id,
                group,
                len(rows),
                kept,
                len(rows) - kept,
            )
    return ImportReport(root=output, species=tuple(header.species), samples=tuple(counts))


def import_fpnnk(
    folders: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    species: Sequence[str] | None = None,
) -> ImportReport:
    """Import First-principle-NNK DFT barrier folders into a new dataset.

    One sample per folder: sample id = folder name, group = composition label (folder name without
    a ``_<digits>`` replica suffix). Ids are converted from 1-based to 0-based.

    Args:
        folders: Sample folders, or parent folders whose sub-folders are samples.
        output: The dataset directory to create (must not exist).
        species: Species (channel) order; default: order of first appearance across the POSCARs.

    Returns:
        The report of hops read, kept and rejected per sample.

    Raises:
        VmebError: naming the file, for missing or malformed input or an existing output.
    """
    output = Path(output)
    if output.exists():
        raise file_error(output, "already exists (choose another output or remove it)")
    loaded = []
    for folder in _fpnnk_folders(folders):
        atoms, vacancies, moving, barriers = read_fpnnk_sample(folder)
        loaded.append((folder, atoms, vacancies, moving, barriers))
    order = _species_order([(f / FPNNK_POSCAR, a) for f, a, *_ in loaded], species)
    header = DatasetHeader(
        species=order,
        lattice=_lattice([(f, a) for f, a, *_ in loaded]),
        method=dict(FPNNK_METHOD),
    )
    samples = []
    for folder, atoms, vacancies, moving, barriers in loaded:
        rows, kept = _hop_rows(
            atoms, folder.name, vacancies, moving, barriers, FPNNK_SOURCE, "vasp"
        )
        samples.append((folder.name, fpnnk_group_name(folder.name), atoms, rows, kept))
    return _build(output, header, samples)


#: Accepted CSV header names of each column (case-insensitive).
_CSV_ALIASES = {
    "vacancy_index": ("vacancy_index", "vacancy", "site", "i"),
    "moving_index": ("moving_index", "moving", "neighbour", "neighbor", "j"),
    "barrier": ("barrier", "barrier_ev", "forward_barrier", "e_barrier"),
    "reverse_barrier": ("reverse_barrier", "reverse_barrier_ev"),
    "energy_change": ("energy_change", "energy_change_ev", "delta_e"),
    "moving_species": ("moving_species", "species", "element"),
}


def read_barrier_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a CSV of hops: vacancy index, moving index, barrier (eV), optional extras.

    With a header line, columns are found by name (`_CSV_ALIASES`, case-insensitive; also
    ``reverse_barrier``, ``energy_change`` and ``moving_species``, the element of the moving atom,
    checked against the structure). Without one, the first three columns are vacancy index, moving
    index and barrier.

    Returns:
        Column name -> [K] array (indices as int64, energies as float64, species as str).

    Raises:
        VmebError: naming the file, if it is missing, empty, or has bad values.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such file")
    try:
        with open(path, newline="") as handle:
            rows = [r for r in csv.reader(handle) if r and not r[0].lstrip().startswith("#")]
    except UnicodeDecodeError as exc:
        raise file_error(path, f"not a text CSV file ({exc.reason})") from None
    if not rows:
        raise file_error(path, "no rows")
    first = [c.strip().lower() for c in rows[0]]
    try:
        [float(c) for c in first[:3]]
        has_header = False
    except ValueError:
        has_header = True
    if has_header:
        columns = {}
        for name, aliases in _CSV_ALIASES.items():
            match = [k for k, c in enumerate(first) if c in aliases]
            if match:
                columns[name] = match[0]
        missing = [c for c in ("vacancy_index", "moving_index", "barrier") if c not in columns]
        if missing:
            raise file_error(path, f"header {rows[0]} lacks columns {missing}")
        body = rows[1:]
    else:
        columns = {"vacancy_index": 0, "moving_index": 1, "barrier": 2}
        body = rows
    if not body:
        raise file_error(path, "no hop rows")
    out: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        if name == "moving_species":
            try:
                out[name] = np.asarray([row[column].strip() for row in body], dtype=str)
            except IndexError as exc:
                raise file_error(path, f"a row lacks the {name} column") from exc
            continue
        values = []
        for line, row in enumerate(body, start=2 if has_header else 1):
            if column >= len(row):
                raise file_error(path, f"line {line}: no {name} (only {len(row)} fields)")
            try:
                text = row[column].strip()
                value = float(text) if text else math.nan
            except ValueError as exc:
                raise file_error(path, f"line {line}: bad {name} ({exc})") from exc
            if name.endswith("_index") and (not math.isfinite(value) or value != int(value)):
                raise file_error(path, f"line {line}: {name} must be an integer, got {text!r}")
            values.append(value)
        dtype = np.int64 if name.endswith("_index") else np.float64
        out[name] = np.asarray(values, dtype=dtype)
    return out


def import_csv(
    structure: str | os.PathLike,
    table: str | os.PathLike,
    output: str | os.PathLike,
    species: Sequence[str] | None = None,
    one_based: bool = False,
    sample_id: str | None = None,
    group: str | None = None,
    fmt: str | None = None,
    method: dict[str, Any] | None = None,
) -> ImportReport:
    """Import one structure file plus a CSV of hop barriers into a new dataset.

    Args:
        structure: The perfect (vacancy-free) sample: extxyz, LAMMPS data or dump, POSCAR.
        table: CSV of (vacancy index, moving index, barrier in eV), see `read_barrier_csv`.
        output: The dataset directory to create (must not exist).
        species: Species order; also the element of each LAMMPS atom type (type 1 first).
            Default: order of first appearance in the structure.
        one_based: The CSV indices count from 1.
        sample_id: Sample id (default: the structure file name without its suffix).
        group: Metrics group (default: the chemical formula).
        fmt: Structure format (default: guessed from the name).
        method: How the barriers were computed, for the header.

    Returns:
        The report of hops read, kept and rejected.

    Raises:
        VmebError: naming the file, for missing or malformed input, out-of-range indices or a
            pair that is not a first-neighbour pair.
    """
    structure, table, output = Path(structure), Path(table), Path(output)
    if output.exists():
        raise file_error(output, "already exists (choose another output or remove it)")
    atoms = read_structure(structure, fmt, list(species) if species else None)
    columns = read_barrier_csv(table)
    offset = 1 if one_based else 0
    vacancies = columns["vacancy_index"] - offset
    moving = columns["moving_index"] - offset
    _check_first_neighbours(atoms, vacancies, moving, table, one_based)
    _check_duplicates(vacancies, moving, columns["barrier"], table, one_based)
    if "moving_species" in columns:
        _check_species_column(atoms, moving, columns["moving_species"], table)
    order = _species_order([(structure, atoms)], species)
    sample_id = sample_id or re.sub(r"[^A-Za-z0-9_.-]", "_", structure.name.split(".")[0])
    header = DatasetHeader(
        species=order,
        lattice=_lattice([(structure, atoms)]),
        method=dict(method or {"kind": "imported", "source_file": table.name}),
    )
    extra = {k: v for k, v in columns.items() if k in ("reverse_barrier", "energy_change")}
    rows, kept = _hop_rows(
        atoms,
        sample_id,
        vacancies,
        moving,
        columns["barrier"],
        f"csv:{table.name}",
        "external",
        extra,
    )
    label = group or atoms.get_chemical_formula()
    return _build(output, header, [(sample_id, label, atoms, rows, kept)])
