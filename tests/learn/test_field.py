"""The whole-lattice network (kind ``latfield``): windows, lattice passes, symmetry, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.geometry import find_mic

from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.learn.checkpoints import (
    TrainedModel,
    load_checkpoint,
    model_from_record,
    model_record,
)
from vmeb.learn.field import (
    AXIS_PERMUTATIONS,
    field_site_barriers,
    hop_windows,
    onehot_windows,
    permute_windows,
    snap_lattice,
    window_offsets,
)
from vmeb.learn.field_model import BCCConv, LatticeFieldNet
from vmeb.learn.lattice import DIRECTIONS, fit_bcc_lattice
from vmeb.learn.models import LatticeModel
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.species import SpeciesTable
from vmeb.spectra.predict import predict_barriers
from vmeb.testing import SPECIES, CountingModel, make_dataset, random_alloy

#: Whole-lattice and per-hop predictions of the same model, fp32 (eV).
PATH_TOLERANCE = 1e-5


def _untrained(depth: int = 3, filters: int = 4, seed: int = 0) -> TrainedModel:
    """A random latfield model (fp32), as loaded from a checkpoint."""
    torch.manual_seed(seed)
    model = LatticeModel(LatticeFieldNet(len(SPECIES), depth, filters, (8,)))
    model.set_target_normalisation(1.0, 0.3)
    config = TrainConfig(
        kind="latfield", depth=depth, filters=filters, hidden=(8,), precision="fp32"
    )
    return model_from_record(model_record(model, config, tuple(SPECIES), None))


def _channel(atoms) -> np.ndarray:
    return SpeciesTable(SPECIES).indices(atoms.get_chemical_symbols())


def _window_predictions(trained, fit, channel, vac, mov) -> np.ndarray:
    half = trained.train_config.depth
    x = onehot_windows(torch.as_tensor(hop_windows(fit, channel, vac, mov, half)), 3, half)
    with torch.no_grad():
        images = [trained.model(permute_windows(x, p).contiguous()) for p in AXIS_PERMUTATIONS]
    return torch.stack(images).mean(0).double().numpy()


def _site_hops(fit, sites):
    vac = np.repeat(sites, 8)
    mov = fit.lookup(fit.coords[sites][:, None, :] + DIRECTIONS[None]).reshape(-1)
    return vac, mov


def test_windows_hold_the_species_at_the_window_positions():
    """Each window site's species is that of the atom at vacancy + s * w * a / 2 (positions,
    minimum image), the hop direction's signs s taking the moving atom to (1, 1, 1)."""
    atoms = random_alloy(2, 2)
    fit = fit_bcc_lattice(atoms)
    channel = _channel(atoms)
    vac = np.array([5, 11])
    mov = fit.lookup(fit.coords[vac] + DIRECTIONS[[3, 6]])
    windows = hop_windows(fit, channel, vac, mov, half=2)
    offsets = window_offsets(2)
    a = fit.lattice_constant
    for h in range(2):
        signs = np.sign(find_mic(atoms.positions[mov[h]] - atoms.positions[vac[h]], atoms.cell)[0])
        target = atoms.positions[vac[h]] + signs * offsets * a / 2
        for w, point in enumerate(target):
            delta, dist = find_mic(atoms.positions - point, atoms.cell)
            atom = int(np.argmin(dist))
            expected = -1 if (atom == vac[h] and np.any(offsets[w])) else channel[atom]
            assert windows[h, w] == expected
    assert (windows == -1).any()  # 2 cells: the vacancy's images 2 cells away are in the window


def test_reverse_windows_are_the_forward_windows_of_the_swapped_sample():
    atoms = random_alloy(4, 3)
    fit = fit_bcc_lattice(atoms)
    channel = _channel(atoms)
    vac = np.array([0, 9, 40])
    mov = fit.lookup(fit.coords[vac] + DIRECTIONS[[0, 5, 7]])
    back = hop_windows(fit, channel, vac, mov, half=2, reverse=True)
    for h in range(3):
        swapped = atoms.copy()
        symbols = swapped.get_chemical_symbols()
        symbols[vac[h]], symbols[mov[h]] = symbols[mov[h]], symbols[vac[h]]
        swapped.set_chemical_symbols(symbols)
        forward = hop_windows(fit, _channel(swapped), mov[[h]], vac[[h]], half=2)
        np.testing.assert_array_equal(back[h], forward[0])


def test_bcc_convolution_treats_corner_and_body_sites_alike():
    """Translating the lattice by half a cube diagonal (corners <-> bodies) translates the
    features: the convolution has one weight set for both sublattices."""
    torch.manual_seed(1)
    conv = BCCConv(3, 5)
    x = torch.rand(1, 6, 4, 5, 6)
    out = conv(x, circular=(True, True, True))
    # body site of cell c becomes the corner of cell c + 1; corner of c becomes body of c
    shifted = torch.cat([torch.roll(x[:, 3:], (1, 1, 1), (2, 3, 4)), x[:, :3]], dim=1)
    out_shifted = conv(shifted, circular=(True, True, True))
    expected = torch.cat([torch.roll(out[:, 5:], (1, 1, 1), (2, 3, 4)), out[:, :5]], dim=1)
    torch.testing.assert_close(out_shifted, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cells", [(7, 7, 7), (7, 8, 9)])
def test_whole_lattice_passes_equal_the_per_hop_windows(cells):
    atoms = random_alloy(1, 4).repeat(cells)
    atoms.set_chemical_symbols(np.random.default_rng(4).choice(SPECIES, size=len(atoms)))
    fit = fit_bcc_lattice(atoms)
    channel = _channel(atoms)
    trained = _untrained()
    whole = field_site_barriers(trained, fit, channel)
    sites = np.arange(0, len(atoms), 29)
    vac, mov = _site_hops(fit, sites)
    per_hop = _window_predictions(trained, fit, channel, vac, mov)
    np.testing.assert_allclose(whole[sites].reshape(-1), per_hop, atol=PATH_TOLERANCE)
    assert whole.std() > 1e-3  # the random model is not constant


def test_predictions_are_invariant_under_a_lattice_rotation():
    """Swapping the x and y axes of the sample maps each hop onto a hop of the rotated sample
    with the same barrier (point-group averaging plus the canonical frame)."""
    atoms = random_alloy(7, 6)
    trained = _untrained(seed=2)
    fit = fit_bcc_lattice(atoms)
    before = field_site_barriers(trained, fit, _channel(atoms))
    rotated = atoms.copy()
    rotated.positions = atoms.positions[:, [1, 0, 2]]
    rotated.cell = atoms.cell.array[[1, 0, 2]][:, [1, 0, 2]]
    fit_r = fit_bcc_lattice(rotated)
    after = field_site_barriers(trained, fit_r, _channel(rotated))
    sites = np.arange(0, len(atoms), 11)
    for site in sites:
        mov = fit.lookup(fit.coords[site] + DIRECTIONS)
        mov_r = fit_r.lookup(fit_r.coords[site] + DIRECTIONS)
        for k in range(8):
            k_r = int(np.nonzero(mov_r == mov[k])[0][0])
            assert after[site, k_r] == pytest.approx(before[site, k], abs=PATH_TOLERANCE)


def test_latfield_learns_counting_barriers_and_paths_agree(tmp_path):
    """Trained on a closed-form barrier model it predicts unseen samples far better than the
    spread of the barriers; whole-lattice and per-hop (exact) paths agree on a 686-atom sample;
    a sample too small for the passes takes the per-hop windows."""
    rng = np.random.default_rng(3)
    samples = {f"s{i}": random_alloy(4, rng) for i in range(6)}
    dataset = open_dataset(make_dataset(tmp_path / "data", samples))
    config = TrainConfig(
        kind="latfield", depth=2, filters=8, hidden=(32,), epochs=10, batch_size=64, seed=0,
        precision="fp32", lr=3e-3,
    )  # fmt: skip
    result = train_model([dataset], config, tmp_path / "run", progress=False)
    trained = load_checkpoint(result.model_path)
    big = random_alloy(5, 9)
    fast = predict_barriers(trained, big, progress=False)
    exact = predict_barriers(trained, big, progress=False, path="exact")
    assert (fast.attrs["path"], exact.attrs["path"]) == ("lattice", "exact")
    np.testing.assert_array_equal(fast["moving_index"], exact["moving_index"])
    np.testing.assert_allclose(fast["barrier"], exact["barrier"], atol=PATH_TOLERANCE)
    truth = predict_barriers(CountingModel(), big, progress=False)["barrier"].to_numpy()
    mae = np.abs(fast["barrier"].to_numpy() - truth).mean()
    assert mae < 0.4 * np.abs(truth - truth.mean()).mean()
    small = predict_barriers(trained, random_alloy(4, 10), progress=False)
    assert small.attrs["path"] == "exact"


def test_off_lattice_samples_are_snapped_or_refused(tmp_path):
    trained = _untrained(depth=1)
    jittered = random_alloy(3, 5, jitter=0.02)
    table = predict_barriers(trained, jittered, progress=False)
    assert table.attrs["path"] == "exact" and np.isfinite(table["barrier"]).all()
    on_lattice = random_alloy(3, 5)
    reference = predict_barriers(trained, on_lattice, progress=False, path="exact")
    np.testing.assert_allclose(table["barrier"], reference["barrier"], atol=PATH_TOLERANCE)
    with pytest.raises(VmebError, match="complete BCC supercell"):
        snap_lattice(random_alloy(3, 5, jitter=0.6))


def test_kmc_provider_reads_windows_from_the_current_species():
    """The KMC barrier provider of a window model (cached lattice, windows from the species
    array) gives the per-hop path's barriers, also after species moved."""
    from vmeb.spectra.kmc import ModelBarrierProvider

    trained = _untrained(depth=2, seed=3)
    atoms = random_alloy(4, 8)
    provider = ModelBarrierProvider(trained, atoms)
    fit = fit_bcc_lattice(atoms)
    site = 21
    moving = fit.lookup(fit.coords[site] + DIRECTIONS)
    work = atoms.copy()
    work.numbers[[site, moving[0]]] = work.numbers[[moving[0], site]]  # a jump happened
    got = provider(work, site, moving)
    table = predict_barriers(trained, work, [site], progress=False, path="exact")
    expected = table.set_index("moving_index").loc[moving, "barrier"].to_numpy()
    np.testing.assert_allclose(got, expected, atol=PATH_TOLERANCE)


def test_a_slightly_sheared_relaxed_cell_is_snapped():
    """Relaxed DFT cells are sheared by a few 0.1 % (one shared DFT cell: 0.028 Å); their
    windows are those of the ideal cell."""
    atoms = random_alloy(4, 12)
    sheared = atoms.copy()
    strain = np.eye(3) + np.array([[0, 0, 0], [0.001, 0, 0], [-0.002, 0.0006, 0]])
    sheared.set_cell(atoms.cell.array @ strain.T, scale_atoms=True)
    with pytest.raises(VmebError, match="orthogonal supercell"):
        fit_bcc_lattice(sheared, 0.5)
    vac, mov = _site_hops(fit_bcc_lattice(atoms), np.array([0, 33]))
    channel = _channel(atoms)
    expected = hop_windows(fit_bcc_lattice(atoms), channel, vac, mov, 2)
    got = hop_windows(snap_lattice(sheared), channel, vac, mov, 2)
    np.testing.assert_array_equal(got, expected)


def test_subnormal_weights_are_flushed_on_loading_without_changing_predictions():
    """Weight decay leaves subnormal weights, on which fp32 CPU convolutions run ~5x slower;
    loading sets them to zero, and the predictions stay the same."""
    trained = _untrained(depth=2, seed=4)
    state = trained.model.state_dict()
    weight = state["body.convs.1.same"]
    weight.view(-1)[:50] = 1e-40  # subnormal in float32
    model = LatticeModel(LatticeFieldNet(len(SPECIES), 2, 4, (8,)))
    model.load_state_dict(state)
    x = onehot_windows(torch.as_tensor(np.random.default_rng(0).integers(0, 3, (16, 250))), 3, 2)
    with torch.no_grad():
        before = model.eval()(x)
    record = model_record(model, trained.train_config, tuple(SPECIES), None)
    loaded = model_from_record(record).model
    flushed = loaded.state_dict()["body.convs.1.same"]
    assert int((flushed.view(-1)[:50] != 0).sum()) == 0
    assert torch.equal(flushed.view(-1)[50:], weight.view(-1)[50:])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), before, atol=0, rtol=0)
