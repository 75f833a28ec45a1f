"""Typed errors: the subclasses callers catch instead of matching message text."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from vmeb.errors import CheckpointError, InputFileError, SiteIndexError, VmebError, file_error
from vmeb.testing import random_alloy


def test_file_error_carries_its_path_and_stays_a_vmeb_error():
    error = file_error(Path("data/hops.csv"), "missing columns ['barrier']")
    assert isinstance(error, InputFileError) and isinstance(error, VmebError)
    assert str(error) == "data/hops.csv: missing columns ['barrier']"
    assert error.path == Path("data/hops.csv")
    assert error.problem == "missing columns ['barrier']"
    with pytest.raises(VmebError, match=r"^data/hops\.csv: missing"):
        raise error


@pytest.mark.parametrize("kind", [InputFileError, CheckpointError])
def test_file_errors_survive_pickling(kind):
    """Worker processes (and Dask) send errors back pickled."""
    back = pickle.loads(pickle.dumps(kind("m.pt", "not a checkpoint")))
    assert type(back) is kind
    assert (back.path, back.problem, str(back)) == (
        "m.pt",
        "not a checkpoint",
        "m.pt: not a checkpoint",
    )
    site = pickle.loads(pickle.dumps(SiteIndexError("site index 9 out of range 0..3")))
    assert type(site) is SiteIndexError and str(site) == "site index 9 out of range 0..3"


def test_subclasses_are_told_apart():
    assert issubclass(CheckpointError, InputFileError)
    assert not issubclass(SiteIndexError, InputFileError)
    assert all(issubclass(k, VmebError) for k in (InputFileError, CheckpointError, SiteIndexError))


@pytest.mark.parametrize(
    ("sites", "message"),
    [
        ([0, 16], r"site index 16 out of range 0\.\.15 \(structure of 16 atoms\)"),
        ([-1], r"site index -1 out of range"),
        ([3, 5, 3], r"site index 3 given more than once"),
        ([1.5], r"site indices must be integers, got float64"),
    ],
)
def test_bad_sites_raise_site_index_error(sites, message):
    from vmeb.spectra.predict import check_sites

    atoms = random_alloy(2, np.random.default_rng(0))
    with pytest.raises(SiteIndexError, match=message):
        check_sites(atoms, np.array(sites))
    np.testing.assert_array_equal(check_sites(atoms, np.array([4, 0])), [4, 0])


def test_require_ensemble_refuses_a_single_model():
    from vmeb.learn.ensembles import DeepEnsemble, require_ensemble
    from vmeb.testing import CountingModel

    with pytest.raises(CheckpointError, match=r"^tanbmo-eam: is a single model, not an ensemble"):
        require_ensemble(CountingModel(), "tanbmo-eam", "use vmeb predict")
    ensemble = DeepEnsemble.__new__(DeepEnsemble)
    assert require_ensemble(ensemble, "dir", "use vmeb predict") is ensemble
