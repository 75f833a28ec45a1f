"""Paper Fig. 2: g(r) peaks of BCC and the shells study (environment cut after n peaks)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.settings import TrainConfig
from vmeb.study.shells import peak_shells, radial_figure, shells_figure, shells_study
from vmeb.testing import A, make_dataset, random_alloy


def _sites_within(r: float, a: float) -> int:
    """BCC sites (vacancy at the origin excluded) within r, by brute force."""
    span = range(-8, 9)
    count = 0
    for u in itertools.product(span, span, span):
        if len({x % 2 for x in u}) == 1 and any(u):
            count += np.linalg.norm(np.array(u) * a / 2) < r
    return count


def test_six_peaks_are_the_papers_112_sites_within_7_6_angstrom():
    a = 3.2428  # equiatomic TaNbMo with the built-in EAM
    peaks = peak_shells(a, 8)
    assert peaks.edges[6] == pytest.approx(7.6, abs=0.01)  # the paper's r_c for six shells
    assert list(np.cumsum(peaks.coordination)) == [8, 14, 26, 58, 64, 112, 136, 168]
    for n in range(1, 9):
        assert _sites_within(peaks.edges[n], a) == peaks.coordination[:n].sum()
    with pytest.raises(VmebError, match="1..10"):
        peak_shells(a, 0)


def test_shells_study_cuts_template_and_environment(tmp_path):
    rng = np.random.default_rng(5)
    samples = {"s0": random_alloy(3, rng), "s1": random_alloy(3, rng)}
    dataset = open_dataset(make_dataset(tmp_path / "data", samples))
    recipe = TrainConfig(kind="lr", augment="lattice")
    table = shells_study([dataset], {"lr": recipe}, A, [1, 3, 4], [0], tmp_path / "runs")
    assert list(table["sites"]) == [8, 26, 58]
    for n, r_c in zip(table["shells"], table["r_c"], strict=True):
        trained = load_checkpoint(tmp_path / "runs" / "lr" / f"shells{n}" / "seed0" / "model.pt")
        assert trained.template().n_sites == table.loc[table["shells"] == n, "sites"].item()
        assert trained.r_c == pytest.approx(r_c)
    # the counting model sees the first neighbours of the moving atom, the farthest of them at
    # (1, 1, 1) a from the vacancy: 4 peaks (58 sites) hold all of them and the error vanishes
    mae = dict(zip(table["shells"], table["val_mae"], strict=True))
    assert mae[4] < 1e-6 < 1e-3 < mae[3] < mae[1]
    shells_figure(table, 0.0137).savefig(tmp_path / "shells.png")
    radial_figure(samples["s0"], 4).savefig(tmp_path / "gr.png")
