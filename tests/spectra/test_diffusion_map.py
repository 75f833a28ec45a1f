"""Diffusivity maps: a constant-barrier model at a pure corner against the analytic vacancy
mechanism, and the command's outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from vmeb.learn.checkpoints import model_from_record, save_checkpoint
from vmeb.spectra.kmc import BOLTZMANN_EV_K
from vmeb.spectra.maps import MapConfig
from vmeb.spectra.walkers import BCC_CORRELATION_FACTOR, WalkerConfig
from vmeb.testing import SPECIES, tiny_field_record

BARRIER = 0.9


def test_pure_corner_matches_the_analytic_vacancy_mechanism():
    from vmeb.spectra.diffusion_map import diffusion_map

    trained = model_from_record(tiny_field_record(0, mean=BARRIER, constant=True))
    a, temperature = 3.3, 1200.0
    table = diffusion_map(
        trained,
        [{SPECIES[0]: 1.0, SPECIES[1]: 0.0, SPECIES[2]: 0.0}],
        MapConfig(cells=6, lattice_constant=a),
        WalkerConfig(temperature, 1500, walkers=16),
    )
    row = table.iloc[0]
    assert row["atoms"] == 432 and np.isnan(row[f"D_{SPECIES[1]}"])
    d_v = 1e13 * a**2 * np.exp(-BARRIER / (BOLTZMANN_EV_K * temperature))
    assert abs(row["D_vacancy"] - d_v) < 3 * row["D_vacancy_error"]
    f = row[f"f_{SPECIES[0]}"]
    assert abs(f - BCC_CORRELATION_FACTOR) < 3 * row[f"f_{SPECIES[0]}_error"] + 0.005
    assert row["D_mean"] == pytest.approx(row[f"D_{SPECIES[0]}"])
    expected = BCC_CORRELATION_FACTOR * d_v / 432
    assert abs(row["D_mean"] - expected) < 3 * row[f"D_{SPECIES[0]}_error"] + 0.03 * expected


def test_vmeb_diffusion_map_writes_the_grid_and_its_maps(tmp_path):
    from vmeb.cli.main import main

    save_checkpoint(tiny_field_record(0, mean=BARRIER), tmp_path / "m.pt")
    out = tmp_path / "map"
    assert main(["diffusion-map", str(tmp_path / "m.pt"), "--elements", ",".join(SPECIES),
                 "--divisions", "2", "--cells", "4", "--lattice-constant", "3.3",
                 "--temperature", "1300", "--steps", "60", "--walkers", "4", "--no-progress",
                 "-o", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out / "diffusion.csv")
    assert len(table) == 6
    x = table[[f"x_{e}" for e in SPECIES]].to_numpy()
    d = table[[f"D_{e}" for e in SPECIES]].to_numpy()
    np.testing.assert_allclose(table["D_mean"], np.nansum(x * np.nan_to_num(d), axis=1))
    assert np.all(np.isnan(d[x == 0])) and np.all(d[x > 0] >= 0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["compositions"] == 6 and summary["temperature_K"] == 1300
    assert (out / "ternary_diffusion.png").is_file()
