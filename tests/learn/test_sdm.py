"""Spatial density maps against a direct evaluation of paper Eq. 1, geometry and invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from ase.build import bulk

from vmeb.errors import VmebError
from vmeb.learn.environment import hop_environments
from vmeb.learn.sdm import INFERENCE_ANGLES, SDMConfig, encode_sdm, random_angles
from vmeb.structure.neighbours import first_neighbours
from vmeb.testing import direct_sdm

SPECIES = ("Ta", "Nb", "Mo")
#: float64 maps: exact up to the documented 1e-12 floor of the 1D factors (M * 1e-12 per voxel).
TOL64 = 1e-10
#: float32 maps: absolute error relative to one atom's peak value of 1.
TOL32 = 2e-6


def random_batch(batch, atoms, n_species, seed, extent=8.5):
    rng = np.random.default_rng(seed)
    positions = rng.uniform(-extent, extent, size=(batch, atoms, 3))
    species = rng.integers(0, n_species, size=(batch, atoms))
    species[:, -3:] = -1  # padding rows, with non-zero positions that must be ignored
    return positions, species


@pytest.mark.parametrize(
    "config", [SDMConfig(), SDMConfig(r_c=3.9, l_c=4.0, delta=0.5), SDMConfig(7.6, 8.0, 1.0)]
)
@pytest.mark.parametrize("rotate", [False, True])
def test_vectorised_matches_direct_evaluation(config, rotate):
    positions, species = random_batch(3, 40, 3, seed=1, extent=config.l_c + 0.5)
    angles = np.array([0.4, 2.5, 5.9]) if rotate else None
    expected = direct_sdm(positions, species, 3, config, angles)
    got = encode_sdm(
        torch.tensor(positions),
        torch.tensor(species),
        3,
        config,
        None if angles is None else torch.tensor(angles),
    )
    assert got.shape == (3, 3) + (config.grid_size,) * 3
    assert got.dtype == torch.float64
    assert expected.max() > 0.5  # atoms do land in the map
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL64)


def test_float32_matches_direct_evaluation():
    config = SDMConfig()
    positions, species = random_batch(2, 113, 3, seed=2)
    expected = direct_sdm(positions, species, 3, config)
    got = encode_sdm(torch.tensor(positions, dtype=torch.float32), torch.tensor(species), 3, config)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL32)


def test_uneven_species_groups_and_empty_channels():
    config = SDMConfig(r_c=3.9, l_c=4.0, delta=0.5)
    positions, species = random_batch(4, 30, 4, seed=3, extent=4.0)
    species[0] = 0  # one channel only
    species[1, :] = -1  # nothing at all
    species[2, :5] = 3
    species[2, 5:] = 1
    expected = direct_sdm(positions, species, 4, config)
    got = encode_sdm(torch.tensor(positions), torch.tensor(species), 4, config)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=TOL64)
    assert float(got[1].abs().max()) == 0.0
    assert float(got[0, 1:].abs().max()) == 0.0


def test_single_atom_peaks_at_its_voxel():
    config = SDMConfig()
    centres = config.centres()
    assert config.grid_size == 32
    np.testing.assert_allclose(centres[[0, -1]], [-7.75, 7.75])
    ix, iy, iz = 20, 9, 27
    position = torch.tensor([[[centres[ix], centres[iy], centres[iz]]]])
    sdm = encode_sdm(position, torch.tensor([[1]]), 3, config)[0]
    flat = int(torch.argmax(sdm))
    assert np.unravel_index(flat, sdm.shape) == (1, iz, iy, ix)  # layout [c, z, y, x]
    assert float(sdm.max()) == pytest.approx(1.0, abs=1e-6)
    # neighbouring voxel along x: exp(-delta^2 / (2 delta^2)) = exp(-1/2)
    assert float(sdm[1, iz, iy, ix + 1]) == pytest.approx(math.exp(-0.5), rel=1e-5)


def test_rotation_moves_the_peak():
    config = SDMConfig()
    position = torch.tensor([[[0.25, 2.25, 0.25]]], dtype=torch.float64)
    sdm = encode_sdm(position, torch.tensor([[0]]), 1, config, torch.tensor([math.pi / 2]))[0, 0]
    # Q(pi/2) (x, y, z) = (x, -z, y) = (0.25, -0.25, 2.25): voxels x 16, y 15, z 20
    assert np.unravel_index(int(torch.argmax(sdm)), sdm.shape) == (20, 15, 16)


def test_quarter_turn_is_a_voxel_rotation():
    config = SDMConfig()
    positions, species = random_batch(2, 60, 3, seed=4, extent=7.0)
    pos = torch.tensor(positions)
    sp = torch.tensor(species)
    plain = encode_sdm(pos, sp, 3, config)
    turned = encode_sdm(pos, sp, 3, config, torch.full((2,), math.pi / 2, dtype=torch.float64))
    # new[z' = y, y' = -z] = old[z, y]: a rot90 in the (z, y) plane of [b, c, z, y, x]
    np.testing.assert_allclose(
        turned.numpy(), torch.rot90(plain, -1, dims=(2, 3)).numpy(), atol=1e-12
    )


def test_cutoff_and_padding_are_masked():
    config = SDMConfig()
    inside = [7.59, 0.0, 0.0]
    outside = [7.61, 0.0, 0.0]
    pos = torch.tensor([[inside, outside, [0.0, 0.0, 0.0]]], dtype=torch.float64)
    sdm = encode_sdm(pos, torch.tensor([[0, 1, -1]]), 2, config)
    expected = direct_sdm(pos.numpy()[:, :1], np.array([[0]]), 1, config)[0, 0]
    np.testing.assert_allclose(sdm[0, 0].numpy(), expected, atol=TOL64)
    assert float(sdm[0, 1].abs().max()) == 0.0  # outside r_c, and padding at the origin ignored
    # rotation preserves |r|: an atom just outside stays out at any angle
    turned = encode_sdm(pos, torch.tensor([[0, 1, -1]]), 2, config, torch.tensor([1.234]))
    assert float(turned[0, 1].abs().max()) == 0.0


def test_sdm_of_a_hop_is_the_same_in_a_supercell_and_after_translation():
    rng = np.random.default_rng(5)
    atoms = bulk("Ta", "bcc", a=3.30, cubic=True).repeat(4)
    atoms.set_chemical_symbols(rng.choice(SPECIES, len(atoms)).tolist())
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    ids, _ = first_neighbours(atoms, np.array([17]))
    ref_env = hop_environments(atoms, [17] * 8, ids[0], SPECIES)
    moved = atoms.copy()
    moved.translate([1.7, 3.1, -4.2])
    moved.wrap()
    env = hop_environments(moved, [17] * 8, ids[0], SPECIES)
    big = atoms.repeat(2)
    big_ids, big_vec = first_neighbours(big, np.array([17]))
    _, vec = first_neighbours(atoms, np.array([17]))
    order = [int(np.argmin(np.linalg.norm(big_vec[0] - v, axis=1))) for v in vec[0]]
    big_env = hop_environments(big, [17] * 8, big_ids[0, order], SPECIES)
    angles = torch.tensor(INFERENCE_ANGLES[:8])
    maps = [
        encode_sdm(torch.tensor(e.positions), torch.tensor(e.species), 3, SDMConfig(), angles)
        for e in (ref_env, env, big_env)
    ]
    assert float(maps[0].max()) > 0.9
    np.testing.assert_allclose(maps[1].numpy(), maps[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(maps[2].numpy(), maps[0].numpy(), atol=1e-5)
    # each channel integrates to (number of its atoms) x (2 pi)^(3/2) when tails stay inside:
    # check the 8 first neighbours alone (well inside the map)
    first = np.linalg.norm(ref_env.positions, axis=2) < 3.0
    pos = torch.tensor(np.where(first[..., None], ref_env.positions, 0.0))
    sp = torch.tensor(np.where(first, ref_env.species, -1))
    total = encode_sdm(pos, sp, 3, SDMConfig()).sum(dim=(2, 3, 4))
    counts = np.stack([(np.where(first, ref_env.species, -1) == k).sum(1) for k in range(3)], 1)
    np.testing.assert_allclose(total.numpy(), counts * (2 * math.pi) ** 1.5, rtol=1e-4)


def test_out_buffer_and_chunking_give_the_same_maps(monkeypatch):
    import vmeb.learn.sdm as sdm_module

    config = SDMConfig(r_c=3.9, l_c=4.0, delta=0.5)
    positions, species = random_batch(7, 50, 3, seed=9, extent=4.2)
    expected = direct_sdm(positions, species, 3, config)
    pos, sp = torch.tensor(positions), torch.tensor(species)
    monkeypatch.setattr(sdm_module, "_CPU_CHUNK_BYTES", 1)  # one sample per chunk
    buffer = torch.full((7, 3, 16, 16, 16), 99.0, dtype=torch.float64)
    result = encode_sdm(pos, sp, 3, config, out=buffer)
    assert result.data_ptr() == buffer.data_ptr()
    np.testing.assert_allclose(buffer.numpy(), expected, atol=TOL64)
    with pytest.raises(VmebError, match="out buffer"):
        encode_sdm(pos, sp, 3, config, out=torch.empty(7, 3, 16, 16, 16))  # float32


def test_random_angles_uniform_and_reproducible():
    a = random_angles(20000, torch.Generator().manual_seed(11), "cpu")
    b = random_angles(20000, torch.Generator().manual_seed(11), "cpu")
    c = random_angles(20000, torch.Generator().manual_seed(12), "cpu")
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float32 and a.shape == (20000,)
    assert float(a.min()) >= 0.0 and float(a.max()) < 2 * math.pi
    # uniform on [0, 2 pi): mean pi, standard error 2 pi / sqrt(12 n)
    assert abs(float(a.double().mean()) - math.pi) < 4 * 2 * math.pi / math.sqrt(12 * 20000)
    counts = torch.histc(a, bins=8, min=0, max=2 * math.pi)
    assert float(counts.min()) > 2500 * 0.9


def test_inference_angles_equally_spaced():
    angles = np.array(INFERENCE_ANGLES)
    assert len(angles) == 8
    np.testing.assert_allclose(np.diff(angles), math.pi / 4)
    assert angles[0] == 0.0


def test_config_validation_and_grid():
    assert SDMConfig().grid_size == 32
    assert SDMConfig(r_c=7.6, l_c=8.0, delta=1.0).grid_size == 16
    assert SDMConfig(r_c=4.0, l_c=4.2, delta=0.4).grid_size == 21
    centres = SDMConfig(4.0, 4.2, 0.4).centres()
    np.testing.assert_allclose(centres, -centres[::-1], atol=1e-12)
    with pytest.raises(VmebError, match="whole number"):
        SDMConfig(l_c=8.0, delta=0.3)
    with pytest.raises(VmebError, match="positive"):
        SDMConfig(delta=0.0)


def test_bad_inputs():
    config = SDMConfig()
    with pytest.raises(VmebError, match="species index 3"):
        encode_sdm(torch.zeros(1, 2, 3), torch.tensor([[0, 3]]), 3, config)
    with pytest.raises(VmebError, match=r"\[B, M, 3\]"):
        encode_sdm(torch.zeros(2, 3), torch.tensor([[0, 1]]), 3, config)
    with pytest.raises(VmebError, match="angles"):
        encode_sdm(
            torch.zeros(2, 2, 3), torch.zeros(2, 2, dtype=torch.long), 3, config, torch.zeros(3)
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu():
    config = SDMConfig()
    positions, species = random_batch(16, 113, 3, seed=6)
    angles = torch.rand(16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cpu = encode_sdm(torch.tensor(positions), torch.tensor(species), 3, config, angles)
    gpu = encode_sdm(
        torch.tensor(positions, device="cuda"),
        torch.tensor(species, device="cuda"),
        3,
        config,
        angles.cuda(),
    )
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), atol=1e-10)


def test_sdm_command_matches_independent_pipeline(tmp_path, capsys):
    """`vmeb sdm` on a structure file vs ASE neighbours, a hand-built frame and Eq. 1 directly."""
    import ase.io
    from ase.neighborlist import neighbor_list

    from vmeb.cli.main import main

    rng = np.random.default_rng(8)
    atoms = bulk("Nb", "bcc", a=3.2, cubic=True).repeat(3)  # 54 atoms: r_c above half the box
    atoms.set_chemical_symbols(rng.choice(SPECIES, len(atoms)).tolist())
    atoms.positions += rng.normal(scale=0.03, size=atoms.positions.shape)
    ase.io.write(tmp_path / "s.extxyz", atoms)
    vacancy = 13
    i, j, vec = neighbor_list("ijD", atoms, 5.6)
    mine = i == vacancy
    j, vec = j[mine], vec[mine]
    moving_slot = int(np.argmin(np.linalg.norm(vec, axis=1)))
    moving = int(j[moving_slot])
    x = vec[moving_slot] / np.linalg.norm(vec[moving_slot])
    a1 = atoms.cell[0]
    y = a1 - (a1 @ x) * x
    y /= np.linalg.norm(y)
    frame = np.stack([x, y, np.cross(x, y)])
    keep = j != vacancy
    local = vec[keep] @ frame.T
    channel = np.array([("Ta", "Mo", "Nb").index(s) for s in atoms.get_chemical_symbols()])
    config = SDMConfig(r_c=5.6, l_c=6.0, delta=0.5)
    angle = 30.0
    expected = direct_sdm(
        local[None], channel[j[keep]][None], 3, config, np.array([math.radians(angle)])
    )[0]

    out = tmp_path / "hop.npy"
    argv = ["sdm", str(tmp_path / "s.extxyz"), "--vacancy", str(vacancy), "--moving", str(moving)]
    argv += ["--species", "Ta,Mo,Nb", "--angle", str(angle), "--r-c", "5.6", "--l-c", "6"]
    assert main(argv + ["-o", str(out), "--png", str(tmp_path / "hop.png")]) == 0
    got = np.load(out)
    assert got.dtype == np.float32 and got.shape == (3, 24, 24, 24)
    np.testing.assert_allclose(got, expected, atol=TOL32)
    assert (tmp_path / "hop.png").stat().st_size > 10_000
    # bad input: one line naming the file
    capsys.readouterr()
    bad = ["sdm", str(tmp_path / "s.extxyz"), "--vacancy", str(vacancy), "--moving", str(vacancy)]
    assert main(bad + ["-o", str(tmp_path / "bad.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s.extxyz" in err[0] and not (tmp_path / "bad.npy").exists()
