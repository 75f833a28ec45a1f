"""Shared test fixtures: CPU torch with a fixed thread count, Agg plots, shared data paths."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from vmeb.testing import EAM_FILE, FPNNK_DIR, SNAP_DIR, make_dataset, random_alloy, train_tiny_cnn

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(2)
    yield


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def fpnnk_dir() -> Path:
    """The shared DFT barrier data (skips when ../shared is absent)."""
    if not FPNNK_DIR.is_dir():
        pytest.skip(f"shared DFT dataset not found at {FPNNK_DIR}")
    return FPNNK_DIR


@pytest.fixture
def shared_eam_file() -> Path:
    """The shared reference Ta-Nb-Mo EAM file (skips when ../shared is absent)."""
    if not EAM_FILE.is_file():
        pytest.skip(f"shared EAM file not found at {EAM_FILE}")
    return EAM_FILE


@pytest.fixture
def snap_dir() -> Path:
    """The shared NbMoTaW SNAP folder (skips when ../shared is absent)."""
    if not SNAP_DIR.is_dir():
        pytest.skip(f"shared SNAP potential not found at {SNAP_DIR}")
    return SNAP_DIR


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """(dataset dir, checkpoint path, sample): a counting-model dataset and a tiny CNN trained on
    it."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(7)
    samples = {"s0": random_alloy(3, rng), "s1": random_alloy(3, rng)}
    dataset = make_dataset(root / "data", samples)
    model = train_tiny_cnn(dataset, root / "model")
    return dataset, model, samples["s0"]
