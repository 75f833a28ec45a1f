"""Shared test fixtures: CPU torch, Agg plots, a private cache, the built-in EAM, the tiny model
(built once per session) and the shared-data folders (skip with the reason when absent).

Helpers (alloys, datasets, references) live in the public `vmeb.testing`, not here.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

from vmeb import testing

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _torch_threads():
    """CPU torch with 2 threads (set per test: tests may change it)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(2)
    yield


@pytest.fixture
def one_torch_thread():
    """One torch thread: tiny models gain nothing from a second one and lose much on busy cores.

    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session", autouse=True)
def _no_bf16_units():
    """``precision: auto`` resolves to fp32 on every CPU (session-wide, before the tiny model is
    trained), so that comparisons of exact and fast paths hold on AMX and AVX512-BF16 machines
    too; bf16 is tested where a test forces it or patches the CPU flags (`test_precision.py`)."""
    from vmeb.learn import precision

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(precision, "cpu_flags", frozenset)
        yield


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """A session cache folder (``VMEB_CACHE``), so tests never write to the user's cache."""
    before = os.environ.get("VMEB_CACHE")
    os.environ["VMEB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("VMEB_CACHE", None)
    else:
        os.environ["VMEB_CACHE"] = before


@pytest.fixture(scope="session")
def eam(_private_cache):
    """The built-in Ta-Nb-Mo EAM (generated from the published tables; needs no shared data)."""
    from vmeb.lammps.potentials import default_potential

    return default_potential()


@pytest.fixture(scope="session")
def _tiny_model(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        return testing.tiny_setup(tmp_path_factory.mktemp("tiny"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def tiny_setup(_tiny_model):
    """(dataset dir, checkpoint path, sample): a counting-model dataset and a tiny CNN trained on
    it, built once per session; the sample is a fresh copy, the files must not be modified."""
    dataset, model, atoms = _tiny_model
    return dataset, model, atoms.copy()


@pytest.fixture
def fpnnk_dir() -> Path:
    """The shared DFT barrier data (skips when the shared folder is absent)."""
    if not testing.FPNNK_DIR.is_dir():
        pytest.skip(f"shared DFT dataset not found at {testing.FPNNK_DIR} (set VMEB_SHARED)")
    return testing.FPNNK_DIR


@pytest.fixture
def tanbmo_dir() -> Path:
    """The shared Ta-Nb-Mo EAM grid campaign (skips when the shared folder is absent)."""
    if not (testing.TANBMO_DIR / "tanbmo-eam-250" / "hops.csv").is_file():
        pytest.skip(f"shared Ta-Nb-Mo EAM dataset not found at {testing.TANBMO_DIR}")
    return testing.TANBMO_DIR


@pytest.fixture
def shared_eam_file() -> Path:
    """The shared reference EAM file, for the tests that compare the built-in one against it."""
    if not testing.EAM_FILE.is_file():
        pytest.skip(f"shared EAM reference file not found at {testing.EAM_FILE} (set VMEB_SHARED)")
    return testing.EAM_FILE


@pytest.fixture
def snap_dir() -> Path:
    """The shared NbMoTaW SNAP folder (skips when the shared folder is absent)."""
    if not testing.SNAP_DIR.is_dir():
        pytest.skip(f"shared SNAP potential not found at {testing.SNAP_DIR} (set VMEB_SHARED)")
    return testing.SNAP_DIR


@pytest.fixture
def snap(snap_dir):
    """The shared NbMoTaW SNAP potential (Li et al. 2020); skips when the shared data is absent."""
    from vmeb.lammps.potentials import snap_potential

    return snap_potential(
        snap_dir / "Ta-W-Nb-Mo.snapcoeff", snap_dir / "Ta-W-Nb-Mo.newlammps.snapparam"
    )
