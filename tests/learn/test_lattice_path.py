"""On-lattice encoding: lattice fit, SDM templates against encode_sdm, fast vs exact barriers."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from ase.build import bulk

from vmeb.data.dataset import open_dataset
from vmeb.learn.batches import batch, operations, prepare_inputs
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.ensembles import DeepEnsemble
from vmeb.learn.environment import hop_environments
from vmeb.learn.lattice import (
    DIRECTIONS,
    NotOnLattice,
    fit_bcc_lattice,
    hop_geometry,
    inference_image_count,
    inference_network,
    lattice_operation_predictions,
    map_encoder,
    site_occupancy,
)
from vmeb.learn.predictors import set_precision
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.spectra.predict import predict_barriers, predict_barriers_with_uncertainty
from vmeb.testing import SPECIES, A, random_alloy


def _channels(atoms):
    lookup = {s: k for k, s in enumerate(SPECIES)}
    return np.array([lookup[s] for s in atoms.get_chemical_symbols()], dtype=np.int8)


def test_fit_maps_every_atom_to_its_lattice_site():
    atoms = random_alloy(3, np.random.default_rng(0))
    fit = fit_bcc_lattice(atoms)
    assert fit.lattice_constant == pytest.approx(A)
    assert fit.max_deviation < 1e-9
    # doubled coordinates reproduce the positions, the table inverts them
    np.testing.assert_allclose(fit.origin + fit.coords @ fit.axes / 2, atoms.positions, atol=1e-9)
    np.testing.assert_array_equal(fit.lookup(fit.coords), np.arange(len(atoms)))
    # periodic wrap: a shift by one cell edge (6 doubled units) finds the same atoms
    np.testing.assert_array_equal(fit.lookup(fit.coords + [6, 0, -6]), np.arange(len(atoms)))


def test_first_neighbours_from_the_table_match_distances():
    atoms = random_alloy(3, np.random.default_rng(1))
    fit = fit_bcc_lattice(atoms)
    geometry = hop_geometry(fit, atoms.cell.array, 5.0)
    _, moving = site_occupancy(fit, _channels(atoms), np.arange(len(atoms)), geometry)
    dist = atoms.get_all_distances(mic=True)
    for i in (0, 17, 53):
        expected = np.nonzero(np.abs(dist[i] - np.sqrt(3) / 2 * A) < 1e-6)[0]
        assert sorted(moving[i].tolist()) == expected.tolist()
    # offsets: every lattice site within r_c once, ordered by distance
    r = np.linalg.norm(geometry.offsets @ fit.axes / 2, axis=1)
    assert np.all(np.diff(r) > -1e-9) and r.max() < 5.0
    assert geometry.n_sites == 8 + 6 + 12  # shells at 2.86, 3.30, 4.67 Å below 5 Å


def test_displaced_or_incomplete_structures_are_not_on_lattice():
    atoms = random_alloy(3, np.random.default_rng(2))
    moved = atoms.copy()
    moved.positions[5] += [0.05, 0.0, 0.0]
    with pytest.raises(NotOnLattice, match="from its ideal BCC site"):
        fit_bcc_lattice(moved, tolerance=0.01)
    assert fit_bcc_lattice(moved, tolerance=0.1).max_deviation == pytest.approx(0.05, abs=0.01)
    with pytest.raises(NotOnLattice, match="atoms for"):
        fit_bcc_lattice(atoms[:-1])
    sheared = atoms.copy()
    sheared.set_cell(atoms.cell.array + [[0, 0, 0], [1.0, 0, 0], [0, 0, 0]], scale_atoms=True)
    with pytest.raises(NotOnLattice):
        fit_bcc_lattice(sheared)


@pytest.mark.parametrize("augment", ["random", "lattice"])
def test_template_maps_equal_encode_sdm(augment):
    """SDM = one-hot occupancy x per-site templates, equal to Eq. 1 on the same environments."""
    atoms = random_alloy(3, np.random.default_rng(3))
    config = TrainConfig(kind="cnn", r_c=7.6, l_c=8.0, delta=0.5, augment=augment, mirror=True)
    fit = fit_bcc_lattice(atoms)
    geometry = hop_geometry(fit, atoms.cell.array, config.r_c)
    ops = operations(config, "cnn")
    encoder = map_encoder(geometry, config.sdm_config(), ops, align=augment == "lattice")
    sites = np.array([0, 7, 30])
    occupancy, moving = site_occupancy(fit, _channels(atoms), sites, geometry)
    vac = np.repeat(sites, 8)
    direction = np.tile(np.arange(8), len(sites))
    env = hop_environments(atoms, vac, moving.reshape(-1), SPECIES, r_c=config.r_c)
    inputs = prepare_inputs(env, config, 3, None)
    occ = torch.as_tensor(np.repeat(occupancy, 8, axis=0).astype(np.int64))
    hops = torch.arange(len(vac))
    expected = torch.stack([batch(inputs, hops, 3, config, None, op) for op in ops], dim=1)
    got = torch.stack(
        [encoder.maps(occ, torch.as_tensor(direction), o, 3) for o in range(len(ops))], dim=1
    )
    assert got.shape == expected.shape == (len(vac), len(ops), 3, 32, 32, 32)
    assert float(expected[:, :, :, 16].sum()) > 1.0
    if augment == "random":  # the frame's roll is fixed by the cell: operation by operation
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=2e-5)
        return
    # lattice-aligned frames are fixed up to the hop's point group, whose elements are the
    # operations: each hop's set of maps is the same (the averaged barrier too)
    for h in range(len(vac)):
        diff = (got[h][:, None] - expected[h][None, :]).abs().flatten(2).amax(dim=2)
        assert int((diff < 2e-5).sum()) == len(ops)
        assert sorted(diff.argmin(dim=1).tolist()) == list(range(len(ops)))


def test_folded_network_equals_the_model(tiny_setup):
    _, checkpoint, _ = tiny_setup
    model = load_checkpoint(checkpoint).model
    x = torch.rand(16, 3, 8, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(inference_network(model)(x), model(x), atol=1e-5)


def _compare_paths(trained, atoms, caplog):
    with caplog.at_level(logging.INFO, logger="vmeb.spectra.predict"):
        fast = predict_barriers(trained, atoms, progress=False)
    assert fast.attrs["path"] == "lattice"
    assert "lattice path" in caplog.text
    exact = predict_barriers(trained, atoms, progress=False, path="exact")
    assert exact.attrs["path"] == "exact"
    np.testing.assert_array_equal(fast["moving_index"], exact["moving_index"])
    np.testing.assert_array_equal(fast["site"], exact["site"])
    np.testing.assert_allclose(fast["barrier"], exact["barrier"], atol=1e-4)
    assert fast["barrier"].std() > 0
    return fast


def test_fast_path_equals_exact_path_cnn(tiny_setup, caplog):
    _, checkpoint, sample = tiny_setup
    trained = load_checkpoint(checkpoint)
    _compare_paths(trained, sample, caplog)
    second = load_checkpoint(checkpoint)
    with torch.no_grad():
        second.model.output.bias += 0.5  # a second member shifted by 0.5 target std
    ensemble = DeepEnsemble(members=[trained, second])
    fast = predict_barriers_with_uncertainty(ensemble, sample, progress=False)
    exact = predict_barriers_with_uncertainty(ensemble, sample, progress=False, path="exact")
    assert (fast.attrs["path"], exact.attrs["path"]) == ("lattice", "exact")
    for column in ("barrier", "barrier_std", "angle_std", "total_std"):
        np.testing.assert_allclose(fast[column], exact[column], atol=1e-4)
    assert fast["barrier_std"].mean() > 1e-3


def test_fast_path_in_a_rotated_non_cubic_cell(tiny_setup, caplog):
    _, checkpoint, _ = tiny_setup
    trained = load_checkpoint(checkpoint)
    atoms = bulk("Ta", "bcc", a=A, cubic=True).repeat((3, 2, 4))
    atoms.set_chemical_symbols(np.random.default_rng(4).choice(SPECIES, size=len(atoms)))
    atoms.rotate(30, "z", rotate_cell=True)
    atoms.rotate(20, "x", rotate_cell=True)
    _compare_paths(trained, atoms, caplog)


@pytest.mark.parametrize("kind", ["nn", "lr"])
def test_fast_path_equals_exact_path_descriptor_models(tiny_setup, tmp_path, kind, caplog):
    dataset, _, sample = tiny_setup
    config = TrainConfig(kind=kind, r_c=5.0, epochs=2, batch_size=64, augment="lattice")
    result = train_model([open_dataset(dataset)], config, tmp_path / kind, progress=False)
    trained = load_checkpoint(result.model_path)
    _compare_paths(trained, sample, caplog)
    # the NN averages the hop's C3v images (order 6); LR averages descriptors, one pass
    assert inference_image_count(trained) == {"nn": 6, "lr": 1}[kind]


def test_displaced_atoms_take_the_exact_path(tiny_setup, caplog):
    _, checkpoint, sample = tiny_setup
    trained = load_checkpoint(checkpoint)
    moved = sample.copy()
    moved.positions[3] += [0.1, -0.05, 0.0]
    with caplog.at_level(logging.INFO, logger="vmeb.spectra.predict"):
        table = predict_barriers(trained, moved, progress=False)
    assert table.attrs["path"] == "exact"
    assert "not on-lattice" in caplog.text
    with pytest.raises(NotOnLattice):
        predict_barriers(trained, moved, progress=False, path="lattice")
    # with a tolerance above the displacement the lattice path runs on ideal sites
    loose = predict_barriers(trained, moved, progress=False, lattice_tolerance=0.2)
    assert loose.attrs["path"] == "lattice"


def test_direction_order_is_the_sign_pattern():
    assert DIRECTIONS.tolist()[0] == [-1, -1, -1] and DIRECTIONS.tolist()[7] == [1, 1, 1]
    k = 4 * (DIRECTIONS[:, 0] > 0) + 2 * (DIRECTIONS[:, 1] > 0) + (DIRECTIONS[:, 2] > 0)
    np.testing.assert_array_equal(k, np.arange(8))


def test_sample_without_some_model_species(tiny_setup, caplog):
    _, checkpoint, sample = tiny_setup
    atoms = sample.copy()
    atoms.set_chemical_symbols(np.random.default_rng(5).choice(["Nb", "Mo"], size=len(atoms)))
    _compare_paths(load_checkpoint(checkpoint), atoms, caplog)


def test_precision_change_reaches_the_cached_network(tiny_setup):
    # the geometry caches the prepared network; a caller who changes the model's precision on
    # the same geometry must get that precision's network and numbers
    _, checkpoint, sample = tiny_setup
    trained = load_checkpoint(checkpoint)
    fit = fit_bcc_lattice(sample)
    sites = np.arange(0, len(sample), 5)
    channel = np.array([trained.species.index(s) for s in sample.get_chemical_symbols()])

    def run(geometry, precision):
        set_precision(trained, precision)
        occupancy, _ = site_occupancy(fit, channel, sites, geometry)
        direction = np.tile(np.arange(8), len(sites))
        return lattice_operation_predictions(
            trained, np.repeat(occupancy, 8, axis=0), direction, geometry
        )

    shared = hop_geometry(fit, sample.cell.array, trained.train_config.r_c)
    bf16 = run(shared, "bf16")
    fp32_cached = run(shared, "fp32")
    fp32_fresh = run(hop_geometry(fit, sample.cell.array, trained.train_config.r_c), "fp32")
    assert np.abs(bf16 - fp32_fresh).max() > 1e-6  # the two precisions differ on this model
    np.testing.assert_array_equal(fp32_cached, fp32_fresh)
    # one prepared network per precision (bf16 may change the memory layout, `prepare_model`)
    assert sorted(k[-2] for k in shared.cache if k[0] == "network") == ["bf16", "fp32"]
