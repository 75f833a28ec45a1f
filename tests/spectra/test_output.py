"""Output of spectra: Parquet and CSV hop tables, histograms, per-site structure files, and the
spectrum directory every predicting command writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from ase.io import read

from vmeb.errors import VmebError
from vmeb.spectra.output import (
    SPECTRUM_FILES,
    check_output_names,
    per_site_arrays,
    read_hop_table,
    spectrum_histograms,
    write_hop_table,
    write_per_site,
    write_spectrum,
)
from vmeb.spectra.predict import predict_barriers, spectrum_statistics
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


def test_spectrum_directory_holds_the_documented_files(predicted, tmp_path):
    atoms, table = predicted
    species = ("W", *SPECIES)  # a model species without hops gets no row
    written = write_spectrum(
        tmp_path / "out", table, atoms, species, meta={"model": "m.pt"}, title="t"
    )
    out = tmp_path / "out"
    assert written.directory == out
    assert sorted(p.name for p in out.iterdir()) == sorted(SPECTRUM_FILES)
    pd.testing.assert_frame_equal(read_hop_table(out / "hops.csv"), table, check_dtype=False)
    stats = pd.read_csv(out / "spectrum.csv")
    expected = spectrum_statistics(table, SPECIES)
    pd.testing.assert_frame_equal(stats, expected, check_dtype=False, atol=1e-12)
    assert stats["moving_species"].tolist() == [*SPECIES, "all"]
    assert stats["count"].tolist()[-1] == len(table) == 8 * len(atoms)
    hist = pd.read_csv(out / "histograms.csv")
    pd.testing.assert_frame_equal(hist, spectrum_histograms(table, SPECIES), check_dtype=False)
    payload = json.loads((out / "spectrum.json").read_text())
    assert list(payload) == ["model", "n_atoms", "n_sites", "path", "spectra"]
    assert payload == written.summary
    assert payload["n_atoms"] == payload["n_sites"] == len(atoms)
    assert payload["path"] == table.attrs["path"] == "exact"
    assert [row["moving_species"] for row in payload["spectra"]] == [*SPECIES, "all"]
    assert payload["spectra"][-1]["mean"] == pytest.approx(table["barrier"].mean(), abs=1e-9)
    assert (out / "spectrum.png").stat().st_size > 1000
    assert not list(tmp_path.glob(".*"))  # no staging folder left


def test_ensemble_spreads_are_summarised_per_species(predicted, tmp_path):
    atoms, table = predicted
    rng = np.random.default_rng(5)
    table = table.copy()
    table["barrier_std"] = rng.uniform(0.0, 0.1, len(table))
    table["angle_std"] = rng.uniform(0.0, 0.05, len(table))
    table["total_std"] = np.hypot(table["barrier_std"], table["angle_std"])
    written = write_spectrum(tmp_path / "ens", table, atoms, SPECIES, meta={"members": 2})
    stats = pd.read_csv(tmp_path / "ens" / "spectrum.csv").set_index("moving_species")
    assert "total_std_mean" not in stats
    moving = table["moving_species"].to_numpy()
    for column in ("barrier_std", "angle_std"):
        values = table[column].to_numpy()
        for symbol in SPECIES:
            expected = values[moving == symbol].mean()
            assert stats.loc[symbol, f"{column}_mean"] == pytest.approx(expected, abs=1e-12)
        assert stats.loc["all", f"{column}_mean"] == pytest.approx(values.mean(), abs=1e-12)
    hops = pd.read_csv(tmp_path / "ens" / "hops.csv")
    np.testing.assert_allclose(hops["total_std"], table["total_std"], atol=1e-12)
    assert written.summary["members"] == 2
    assert set(written.summary["spectra"][0]) >= {"barrier_std_mean", "angle_std_mean"}


def test_spectrum_extras_parquet_per_site_structure_reference(predicted, tmp_path):
    atoms, table = predicted
    reference = table.iloc[::3].copy()
    out = tmp_path / "out"
    write_spectrum(
        out,
        table,
        atoms,
        SPECIES,
        hops="hops.parquet",
        per_site="sites.extxyz",
        structure="sample.extxyz",
        reference=reference,
    )
    names = {p.name for p in out.iterdir()}
    assert names == {*SPECTRUM_FILES, "sites.extxyz", "sample.extxyz", "hops.parquet"} - {
        "hops.csv"
    }
    back = read_hop_table(out / "hops.parquet")
    np.testing.assert_allclose(back["barrier"], table["barrier"], atol=0)
    sites = read(out / "sites.extxyz")
    groups = table.groupby("site")["barrier"]
    np.testing.assert_allclose(sites.arrays["barrier_mean"], groups.mean().to_numpy())
    sample = read(out / "sample.extxyz")
    np.testing.assert_allclose(sample.positions, atoms.positions, atol=1e-8)
    assert sample.get_chemical_symbols() == atoms.get_chemical_symbols()


def test_spectrum_directory_is_refused_or_replaced_whole(predicted, tmp_path):
    atoms, table = predicted
    with pytest.raises(VmebError, match="plain name"):
        write_spectrum(tmp_path / "bad", table, atoms, SPECIES, hops="sub/hops.csv")
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "out"
    write_spectrum(out, table.iloc[:16], atoms, SPECIES)
    with pytest.raises(VmebError, match="exists"):
        write_spectrum(out, table, atoms, SPECIES)
    assert len(pd.read_csv(out / "hops.csv")) == 16
    written = write_spectrum(out, table, atoms, SPECIES, overwrite=True)
    assert len(pd.read_csv(out / "hops.csv")) == len(table)
    assert written.summary["n_sites"] == len(atoms)
