"""Shared test fixtures: CPU torch with a fixed thread count, Agg plots, shared data paths."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

#: Read-only reference material beside the checkout (paper, potentials, DFT dataset).
SHARED = Path(os.environ.get("VMEB_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
FPNNK_DIR = SHARED / "datasets" / "fpnnk-dft"
EAM_FILE = SHARED / "potentials" / "TaNbMo_EAM_Zhou04_Lin13" / "TaNbMo_Zhou04_Lin13.eam.alloy"
SNAP_DIR = SHARED / "potentials" / "NbMoTaW_SNAP_Li2020"


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
