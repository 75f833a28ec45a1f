"""Output of spectra: Parquet and CSV hop tables, histograms, per-site structure files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase.io import read

from vmeb.errors import VmebError
from vmeb.spectra.output import (
    check_output_names,
    per_site_arrays,
    read_hop_table,
    spectrum_histograms,
    write_hop_table,
    write_per_site,
)
from vmeb.spectra.predict import predict_barriers
from vmeb.testing import SPECIES, CountingModel, random_alloy


@pytest.fixture(scope="module")
def predicted():
    atoms = random_alloy(3, np.random.default_rng(11))
    return atoms, predict_barriers(CountingModel(), atoms, progress=False)


def test_parquet_round_trip_equals_csv(predicted, tmp_path):
    _, table = predicted
    csv = read_hop_table(write_hop_table(table, tmp_path / "hops.csv"))
    parquet = read_hop_table(write_hop_table(table, tmp_path / "hops.parquet"))
    pd.testing.assert_frame_equal(parquet, csv, check_dtype=False)
    pd.testing.assert_frame_equal(parquet, table.reset_index(drop=True), check_dtype=False)
    with pytest.raises(VmebError, match="unknown hop table format"):
        write_hop_table(table, tmp_path / "hops.txt")


def test_histograms_count_every_hop_of_each_species(predicted):
    _, table = predicted
    hist = spectrum_histograms(table, SPECIES, bins=7)
    assert len(hist) == 7
    for symbol in SPECIES:
        assert hist[symbol].sum() == int((table["moving_species"] == symbol).sum())
    assert hist["all"].sum() == len(table)
    np.testing.assert_allclose(hist["low"].iloc[0], table["barrier"].min())
    np.testing.assert_allclose(hist["high"].iloc[-1], table["barrier"].max())


def _direction(atoms, site, moving):
    """Independent reference: sign pattern of the minimum-image hop vector along x, y, z."""
    vector = atoms.get_distance(site, moving, mic=True, vector=True)
    return 4 * int(vector[0] > 0) + 2 * int(vector[1] > 0) + int(vector[2] > 0)


def test_per_site_extxyz_holds_the_hop_table(predicted, tmp_path):
    atoms, table = predicted
    path = write_per_site(atoms, table, tmp_path / "sites.extxyz")
    back = read(path)
    np.testing.assert_allclose(back.positions, atoms.positions)
    groups = table.groupby("site")["barrier"]
    np.testing.assert_allclose(back.arrays["barrier_mean"], groups.mean().to_numpy())
    np.testing.assert_allclose(back.arrays["barrier_min"], groups.min().to_numpy())
    np.testing.assert_allclose(back.arrays["barrier_max"], groups.max().to_numpy())
    directions = back.arrays["barrier_dir"]
    assert directions.shape == (len(atoms), 8)
    for row in table.sample(40, random_state=0).itertuples():
        k = _direction(atoms, row.site, row.moving_index)
        assert directions[row.site, k] == pytest.approx(row.barrier)


def test_per_site_dump_columns_and_unvisited_atoms(predicted, tmp_path):
    atoms, _ = predicted
    table = predict_barriers(CountingModel(), atoms, sites=[4, 9], progress=False)
    path = write_per_site(atoms, table, tmp_path / "sites.dump")
    lines = path.read_text().splitlines()
    assert lines[8].split()[2:] == [
        "id",
        "type",
        "element",
        "x",
        "y",
        "z",
        "barrier_mean",
        "barrier_min",
        "barrier_max",
    ] + [f"barrier_d{k}" for k in range(8)]
    rows = [line.split() for line in lines[9:]]
    assert len(rows) == len(atoms)
    values = np.array([[float(v) for v in r[3:]] for r in rows])
    np.testing.assert_allclose(values[:, :3], atoms.positions, atol=1e-5)
    arrays = per_site_arrays(atoms, table)
    np.testing.assert_allclose(values[:, 3], arrays["barrier_mean"], rtol=1e-5)
    assert np.isnan(values[0, 3]) and not np.isnan(values[4, 3])
    assert values[9, 3] == pytest.approx(table.loc[table.site == 9, "barrier"].mean(), rel=1e-5)
    assert [r[2] for r in rows] == atoms.get_chemical_symbols()


def test_output_names_are_checked():
    check_output_names("hops.parquet", "sites.extxyz")
    with pytest.raises(VmebError, match="plain name"):
        check_output_names("dir/hops.csv")
    with pytest.raises(VmebError, match="plain name"):
        check_output_names("hops.csv", "sites.vtk")
