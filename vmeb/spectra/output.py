"""Output of barrier spectra that stays practical for million-atom samples.

`write_spectrum` writes the spectrum directory of every command that predicts one (``vmeb
predict``, ``vmeb ensemble predict``, the predict stage of ``vmeb run``), always the same files
(`SPECTRUM_FILES`):

* ``hops.csv``: the hop table (``site``, ``moving_index``, ``moving_species``, ``barrier`` in eV;
  an ensemble adds ``barrier_std``, ``angle_std``, ``total_std``; a model with calibrated
  intervals adds ``interval_std``, `vmeb.learn.intervals`); another name or ``.parquet``
  on request.
* ``spectrum.csv``: `spectrum_summary`, the statistics per moving species plus ``all`` (count,
  mean, std, quantiles; an ensemble adds the mean of each `SPREAD_COLUMNS`).
* ``spectrum.json``: the caller's metadata, ``n_atoms``, ``n_sites``, ``path`` (lattice or exact)
  and ``spectra`` (the rows of ``spectrum.csv``).
* ``histograms.csv``: `spectrum_histograms`.
* ``spectrum.png``: `vmeb.plots.figures.spectrum_plot`, reference barriers drawn under the curves.
* on request, the structure with per-site barriers (`write_per_site`) and the structure itself.

* Hop table (`vmeb.spectra.predict.predict_barriers`): Parquet (``.parquet``, columnar,
  compressed: ~8 bytes per hop instead of ~30 of CSV, and read back in a second) or CSV
  (``.csv``, small runs); `write_hop_table` / `read_hop_table` choose by the file suffix.
* `spectrum_histograms`: barrier counts per moving species on common bins (a small table
  however large the sample).
* Per-site results written into the structure, so OVITO (or ASE) can colour the sample:
  `per_site_arrays` gives, for every atom that was a vacancy site, the mean, min and max of its
  8 barriers and the barrier of each of the 8 hop directions; `write_per_site` writes them as
  per-atom arrays of an extended XYZ file (``.extxyz``/``.xyz``) or as columns of a LAMMPS dump
  (``.dump``/``.lammpstrj``). Atoms without predicted hops get NaN.

Hop direction k (0..7) is the sign pattern of the hop vector (site -> moving atom, minimum image)
along the cell vectors, in the order of `vmeb.learn.lattice.DIRECTIONS`:
``k = 4 [a > 0] + 2 [b > 0] + [c > 0]``, so k = 0 is (-, -, -) and k = 7 is (+, +, +).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ase import Atoms

from vmeb.errors import VmebError, file_error

logger = logging.getLogger(__name__)

#: Suffixes of `write_hop_table` / `read_hop_table`.
TABLE_SUFFIXES = (".parquet", ".csv")
#: Suffixes of `write_per_site`: extended XYZ and LAMMPS dump.
EXTXYZ_SUFFIXES = (".extxyz", ".xyz")
DUMP_SUFFIXES = (".dump", ".lammpstrj")
#: Per-atom arrays of `per_site_arrays`.
PER_SITE_FIELDS = ("barrier_mean", "barrier_min", "barrier_max", "barrier_dir")
#: Files of every spectrum directory (`write_spectrum`), with the default hop table name.
SPECTRUM_FILES = ("hops.csv", "spectrum.csv", "spectrum.json", "histograms.csv", "spectrum.png")
#: Spread columns (eV) of an ensemble hop table whose mean `spectrum_summary` adds per species.
SPREAD_COLUMNS = ("barrier_std", "angle_std", "interval_std")


def _suffix(path: Path, allowed: Sequence[str], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise file_error(path, f"unknown {what} format {suffix!r}: use one of {list(allowed)}")
    return suffix


def check_output_names(hops: str, per_site: str | None = None) -> None:
    """Check output file names before a long prediction: plain names with known suffixes.

    Args:
        hops: Hop table file name (`TABLE_SUFFIXES`).
        per_site: Per-site structure file name (`EXTXYZ_SUFFIXES`, `DUMP_SUFFIXES`) or None.

    Raises:
        VmebError: naming the bad name.
    """
    checks = [(hops, TABLE_SUFFIXES)]
    if per_site is not None:
        checks.append((per_site, EXTXYZ_SUFFIXES + DUMP_SUFFIXES))
    for name, allowed in checks:
        if Path(name).name != name or Path(name).suffix.lower() not in allowed:
            raise VmebError(
                f"output file name {name!r}: give a plain name ending in one of {list(allowed)}"
            )


def write_hop_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a hop table as Parquet or CSV, by the suffix of ``path``.

    Raises:
        VmebError: for another suffix.
    """
    path = Path(path)
    if _suffix(path, TABLE_SUFFIXES, "hop table") == ".parquet":
        table.to_parquet(path, index=False, compression="zstd")
    else:
        table.to_csv(path, index=False)
    return path


def read_hop_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a hop table written by `write_hop_table` (Parquet or CSV, by the suffix).

    Raises:
        VmebError: naming the file if it is missing or of another suffix.
    """
    path = Path(path)
    suffix = _suffix(path, TABLE_SUFFIXES, "hop table")
    if not path.is_file():
        raise file_error(path, "no such hop table")
    return pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)


def spectrum_histograms(
    table: pd.DataFrame,
    species: Sequence[str] | None = None,
    bins: int = 60,
    value_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Barrier histograms per moving species on common bins.

    Args:
        table: Hop table with ``moving_species`` and ``barrier`` (eV).
        species: Species columns, in order (default: sorted species present).
        bins: Number of equal bins.
        value_range: (low, high) eV; default the range of all barriers.

    Returns:
        One row per bin: ``low``, ``high`` (eV), then the hop count of each species and ``all``.
    """
    order = list(species) if species is not None else sorted(table["moving_species"].unique())
    values = table["barrier"].to_numpy(float)
    if value_range is None:
        value_range = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
        if value_range[1] <= value_range[0]:
            value_range = (value_range[0] - 0.5, value_range[0] + 0.5)
    edges = np.linspace(value_range[0], value_range[1], bins + 1)
    out = pd.DataFrame({"low": edges[:-1], "high": edges[1:]})
    moving = table["moving_species"].to_numpy()
    for symbol in order:
        out[symbol] = np.histogram(values[moving == symbol], bins=edges)[0]
    out["all"] = np.histogram(values, bins=edges)[0]
    return out


def hop_directions(atoms: Atoms, sites: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Direction index 0..7 of hops (module docstring): sign pattern along the cell vectors.

    Args:
        atoms: The structure.
        sites: [H] vacancy atom indices.
        moving: [H] moving atom indices.

    Returns:
        [H] int64 direction indices.
    """
    cell = np.asarray(atoms.cell.array, dtype=float)
    delta = atoms.positions[moving] - atoms.positions[sites]
    frac = delta @ np.linalg.inv(cell)
    frac -= np.round(frac)
    positive = frac > 0
    return 4 * positive[:, 0] + 2 * positive[:, 1] + positive[:, 2].astype(np.int64)


def per_site_arrays(atoms: Atoms, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-atom results of a hop table (8 rows per site).

    Args:
        atoms: The structure the table was predicted on.
        table: Hop table with ``site``, ``moving_index``, ``barrier`` (eV), 8 rows per site.

    Returns:
        ``barrier_mean``, ``barrier_min``, ``barrier_max``: [N] float64 (eV) over each site's 8
        hops; ``barrier_dir``: [N, 8] barrier of each hop direction (eV). NaN for atoms that
        were no vacancy site; ``barrier_dir`` is all NaN (with a warning) where the 8 hops of
        the sites do not take 8 distinct directions (cell not along the cube axes).

    Raises:
        VmebError: if the table does not hold 8 hops per site or names an atom out of range.
    """
    n = len(atoms)
    site = table["site"].to_numpy(np.int64)
    moving = table["moving_index"].to_numpy(np.int64)
    barrier = table["barrier"].to_numpy(np.float64)
    if len(site) % 8 or np.any(site.reshape(-1, 8) != site.reshape(-1, 8)[:, :1]):
        raise VmebError("hop table does not hold 8 consecutive hops per site")
    if len(site) and (max(site.max(), moving.max()) >= n or min(site.min(), moving.min()) < 0):
        raise VmebError(f"hop table names atoms outside the structure of {n} atoms")
    per = barrier.reshape(-1, 8)
    owners = site[::8]
    out = {name: np.full(n, np.nan) for name in PER_SITE_FIELDS[:3]}
    out["barrier_mean"][owners] = per.mean(axis=1)
    out["barrier_min"][owners] = per.min(axis=1)
    out["barrier_max"][owners] = per.max(axis=1)
    directions = np.full((n, 8), np.nan)
    k = hop_directions(atoms, site, moving).reshape(-1, 8)
    if np.all(np.sort(k, axis=1) == np.arange(8)):
        rows = np.repeat(owners, 8)
        directions[rows, k.reshape(-1)] = barrier
    else:
        logger.warning("hops of a site do not take 8 distinct directions: barrier_dir left NaN")
    out["barrier_dir"] = directions
    return out


def write_per_site(atoms: Atoms, table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the structure with per-site results (`per_site_arrays`), format by suffix.

    ``.extxyz``/``.xyz``: extended XYZ with per-atom arrays ``barrier_mean``, ``barrier_min``,
    ``barrier_max`` and ``barrier_dir`` (8 columns). ``.dump``/``.lammpstrj``: LAMMPS dump of an
    orthogonal cell with columns ``id type element x y z barrier_mean barrier_min barrier_max
    barrier_d0 .. barrier_d7`` (types numbered by element in order of first appearance).

    Raises:
        VmebError: for another suffix, or a dump of a non-orthogonal cell.
    """
    path = Path(path)
    suffix = _suffix(path, EXTXYZ_SUFFIXES + DUMP_SUFFIXES, "per-site")
    arrays = per_site_arrays(atoms, table)
    if suffix in EXTXYZ_SUFFIXES:
        from ase.io import write

        out = atoms.copy()
        for name, values in arrays.items():
            out.new_array(name, values)
        write(path, out, format="extxyz")
    else:
        _write_dump(atoms, arrays, path)
    return path


def _write_dump(atoms: Atoms, arrays: dict[str, np.ndarray], path: Path) -> None:
    cell = np.asarray(atoms.cell.array, dtype=float)
    if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-8:
        raise file_error(path, "LAMMPS dump output needs an orthogonal cell; use .extxyz")
    symbols = np.asarray(atoms.get_chemical_symbols())
    names, first, inverse = np.unique(symbols, return_index=True, return_inverse=True)
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(names))  # types by first appearance
    types = rank[inverse] + 1
    columns = ["barrier_mean", "barrier_min", "barrier_max"]
    columns += [f"barrier_d{k}" for k in range(8)]
    values = np.column_stack(
        [
            arrays["barrier_mean"],
            arrays["barrier_min"],
            arrays["barrier_max"],
            arrays["barrier_dir"],
        ]
    )
    header = [
        "ITEM: TIMESTEP",
        "0",
        "ITEM: NUMBER OF ATOMS",
        str(len(atoms)),
        "ITEM: BOX BOUNDS pp pp pp",
        *[f"0.0 {cell[i, i]:.10g}" for i in range(3)],
        "ITEM: ATOMS id type element x y z " + " ".join(columns),
    ]
    frame = pd.DataFrame(
        {
            "id": np.arange(1, len(atoms) + 1),
            "type": types,
            "element": symbols,
            **{axis: atoms.positions[:, i] for i, axis in enumerate("xyz")},
            **{name: values[:, k] for k, name in enumerate(columns)},
        }
    )
    with open(path, "w") as handle:
        handle.write("\n".join(header) + "\n")
        frame.to_csv(handle, sep=" ", header=False, index=False, float_format="%.6g", na_rep="nan")


@dataclass(frozen=True)
class WrittenSpectrum:
    """What `write_spectrum` wrote.

    Attributes:
        directory: The spectrum directory.
        statistics: The table of ``spectrum.csv`` (`spectrum_summary`), ``all`` last.
        summary: The content of ``spectrum.json``.
    """

    directory: Path
    statistics: pd.DataFrame = field(repr=False)
    summary: dict[str, Any] = field(repr=False)


def spectrum_summary(table: pd.DataFrame, species: Sequence[str]) -> pd.DataFrame:
    """Spectrum statistics per moving species, with the mean spreads of an ensemble.

    Args:
        table: Hop table with ``moving_species`` and ``barrier`` (eV), and any `SPREAD_COLUMNS`.
        species: Row order: species with hops (an ``all`` row follows).

    Returns:
        `vmeb.spectra.predict.spectrum_statistics`, plus ``<column>_mean`` (eV) for each of
        `SPREAD_COLUMNS` in the table.
    """
    from vmeb.spectra.predict import spectrum_statistics  # noqa: PLC0415 - loads the models

    stats = spectrum_statistics(table, species)
    for column in SPREAD_COLUMNS:
        if column not in table:
            continue
        means = table.groupby("moving_species")[column].mean()
        stats[f"{column}_mean"] = [
            float(table[column].mean()) if s == "all" else float(means[s])
            for s in stats["moving_species"]
        ]
    return stats


def write_spectrum(
    output: str | os.PathLike,
    table: pd.DataFrame,
    atoms: Atoms,
    species: Sequence[str],
    *,
    meta: Mapping[str, Any] | None = None,
    hops: str = "hops.csv",
    per_site: str | None = None,
    structure: str | None = None,
    reference: pd.DataFrame | None = None,
    title: str = "",
    overwrite: bool = False,
) -> WrittenSpectrum:
    """Write a spectrum directory (module docstring), complete or not at all.

    Args:
        output: The directory; it must not exist unless ``overwrite``.
        table: Hop table of `vmeb.spectra.predict.predict_barriers` (or of
            ``predict_barriers_with_uncertainty``), barriers in eV.
        atoms: The structure the table was predicted on.
        species: The model's species, in order; those with hops give the rows and panels.
        meta: Leading entries of ``spectrum.json`` (model, structure ...).
        hops: Hop table file name (`TABLE_SUFFIXES`).
        per_site: File name of the structure with per-site barriers (`write_per_site`), or None.
        structure: File name to write the structure itself to (extxyz), or None.
        reference: Hop table of true barriers (``moving_species``, ``barrier``) drawn under the
            predicted curves, or None.
        title: Figure title.
        overwrite: Replace an existing directory.

    Returns:
        The directory, the statistics and the ``spectrum.json`` content.

    Raises:
        VmebError: for a bad file name (before anything is written).
    """
    from vmeb.files import save_figure, staged_output, write_json  # noqa: PLC0415
    from vmeb.plots.figures import spectrum_plot  # noqa: PLC0415
    from vmeb.spectra.predict import barriers_by_species  # noqa: PLC0415
    from vmeb.structure.io import write_structure_file  # noqa: PLC0415

    check_output_names(hops, per_site)
    present = set(table["moving_species"])
    order = [s for s in species if s in present]
    stats = spectrum_summary(table, order)
    summary = {
        **(meta or {}),
        "n_atoms": len(atoms),
        "n_sites": int(table["site"].nunique()),
        "path": table.attrs.get("path"),
        **{k: table.attrs[k] for k in ("composition_distance", "interval_std") if k in table.attrs},
        "spectra": json.loads(stats.to_json(orient="records")),
    }
    truth = None if reference is None else barriers_by_species(reference, order)
    with staged_output(output, overwrite=overwrite) as staging:
        write_hop_table(table, staging / hops)
        stats.to_csv(staging / "spectrum.csv", index=False)
        write_json(staging / "spectrum.json", summary)
        spectrum_histograms(table, order).to_csv(staging / "histograms.csv", index=False)
        if per_site:
            write_per_site(atoms, table, staging / per_site)
        if structure:
            write_structure_file(staging / structure, atoms)
        figure = spectrum_plot(barriers_by_species(table, order), truth, title=title)
        save_figure(figure, staging / "spectrum.png")
    return WrittenSpectrum(Path(output), stats, summary)
