"""Hop environments against an independent ASE neighbour list, invariances and frame convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from vmeb.errors import VmebError
from vmeb.learn.environment import (
    LocalEnvironments,
    concatenate_environments,
    hop_environments,
    hop_frames,
    rotation_about_x,
)
from vmeb.structure.neighbours import first_neighbours, ghosted_cell
from vmeb.testing import random_alloy

SPECIES = ("Nb", "Mo", "Ta")
A = 3.30  # Å; 7th shell sqrt(19)/2 a = 7.19 Å and 8th shell sqrt(5) a = 7.38 Å lie inside 7.6 Å
#: BCC shell radii in units of a and atoms per shell, up to sqrt(5) a (8 shells, 112 atoms)
BCC_SHELLS = [
    (np.sqrt(3) / 2, 8),
    (1.0, 6),
    (np.sqrt(2), 12),
    (np.sqrt(11) / 2, 24),
    (np.sqrt(3), 8),
    (2.0, 6),
    (np.sqrt(19) / 2, 24),
    (np.sqrt(5), 24),
]
POSITION_TOL = 1e-5  # Å, float32 storage of positions


def all_hops(atoms: Atoms, sites: list[int]) -> tuple[np.ndarray, np.ndarray]:
    ids, _ = first_neighbours(atoms, np.array(sites))
    return np.repeat(sites, 8), ids.reshape(-1)


def shell_counts(distances: np.ndarray) -> list[int]:
    return [int(np.sum(np.abs(distances - r * A) < 1e-3)) for r, _ in BCC_SHELLS]


def test_shells_match_ase_neighbour_list_beyond_half_box():
    atoms = random_alloy(4, 0, SPECIES)  # 128 atoms, box 13.2 Å: r_c = 7.6 Å exceeds half the box
    site = 37
    vac, mov = all_hops(atoms, [site])
    env = hop_environments(atoms, vac, mov, SPECIES, r_c=7.6)
    i, j, d = neighbor_list("ijd", atoms, 7.6)
    ase_d, ase_j = d[i == site], j[i == site]
    assert len(ase_d) == 112
    for h in range(8):
        real = env.species[h] >= 0
        ours = np.linalg.norm(env.positions[h, real], axis=1)
        assert real.sum() == 112
        assert shell_counts(ours) == [n for _, n in BCC_SHELLS]
        assert shell_counts(ours) == shell_counts(ase_d)
        # same atoms (with multiplicity of their images) at the same distances
        ours_pairs = sorted(
            zip(
                env.atom_index[h, real].tolist(),
                np.round(ours.astype(float), 3).tolist(),
                strict=True,
            )
        )
        ase_pairs = sorted(zip(ase_j.tolist(), np.round(ase_d, 3).tolist(), strict=True))
        assert ours_pairs == ase_pairs
        symbols = np.array(atoms.get_chemical_symbols())[env.atom_index[h, real]]
        assert [SPECIES[k] for k in env.species[h, real]] == symbols.tolist()
    # padding is marked consistently
    assert np.all((env.species < 0) == (env.atom_index < 0))


def test_triclinic_primitive_cell_matches_ase():
    atoms = bulk("Mo", "bcc", a=A).repeat((5, 4, 6))  # primitive (triclinic) vectors, 120 atoms
    rng = np.random.default_rng(3)
    atoms.set_chemical_symbols(rng.choice(SPECIES, len(atoms)).tolist())
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    site = 11
    vac, mov = all_hops(atoms, [site])
    env = hop_environments(atoms, vac, mov, SPECIES, r_c=7.6)
    i, j, d = neighbor_list("ijd", atoms, 7.6)
    real = env.species[0] >= 0
    np.testing.assert_allclose(
        np.sort(np.linalg.norm(env.positions[0, real], axis=1)), np.sort(d[i == site]), atol=1e-5
    )
    assert sorted(env.atom_index[0, real]) == sorted(j[i == site])


def test_translation_invariance():
    atoms = random_alloy(4, 1, SPECIES, jitter=0.05)
    vac, mov = all_hops(atoms, [0, 77])
    ref = hop_environments(atoms, vac, mov, SPECIES)
    moved = atoms.copy()
    moved.translate([5.123, -2.71, 11.9])
    moved.wrap()
    env = hop_environments(moved, vac, mov, SPECIES)
    np.testing.assert_allclose(env.positions, ref.positions, atol=POSITION_TOL)
    np.testing.assert_array_equal(env.species, ref.species)
    np.testing.assert_array_equal(env.atom_index, ref.atom_index)


def test_supercell_gives_same_environment():
    atoms = random_alloy(4, 2, SPECIES, jitter=0.04)
    n = len(atoms)
    vac, mov = all_hops(atoms, [5])
    ref = hop_environments(atoms, vac, mov, SPECIES)
    big = atoms.repeat(2)  # atom k + m * n is an image of atom k
    ids, vectors = first_neighbours(big, np.array([5]))
    _, small_vectors = first_neighbours(atoms, np.array([5]))
    big_moving = []
    for vector in small_vectors[0]:
        match = np.nonzero(np.linalg.norm(vectors[0] - vector, axis=1) < 1e-6)[0]
        assert len(match) == 1
        big_moving.append(ids[0, match[0]])
    env = hop_environments(big, vac, np.array(big_moving), SPECIES)
    np.testing.assert_allclose(env.positions, ref.positions, atol=POSITION_TOL)
    np.testing.assert_array_equal(env.species, ref.species)
    np.testing.assert_array_equal(env.atom_index % n, ref.atom_index % n)


def test_moving_atom_on_plus_x_at_first_neighbour_distance():
    atoms = random_alloy(4, 4, SPECIES)
    vac, mov = all_hops(atoms, [9, 100])
    env = hop_environments(atoms, vac, mov, SPECIES)
    for h in range(len(vac)):
        slot = np.nonzero(env.atom_index[h] == mov[h])[0]
        assert len(slot) == 1  # 128-atom cell: one image of the moving atom within 7.6 Å
        np.testing.assert_allclose(env.positions[h, slot[0]], [A * np.sqrt(3) / 2, 0, 0], atol=1e-5)
    # the 8 first neighbours in the hop frame: the moving atom at +x, its opposite at -x
    first = np.linalg.norm(env.positions, axis=2) < A * 0.9
    assert np.all(first.sum(axis=1) == 8)


def test_hop_frame_of_a_cubic_cell():
    cell = np.eye(3) * 13.2
    frame = hop_frames(np.array([[1.0, 1.0, 1.0]]) * A / 2, cell)[0]
    np.testing.assert_allclose(frame[0], np.array([1, 1, 1]) / np.sqrt(3), atol=1e-12)
    np.testing.assert_allclose(frame[1], np.array([2, -1, -1]) / np.sqrt(6), atol=1e-12)
    np.testing.assert_allclose(frame[2], np.array([0, 1, -1]) / np.sqrt(2), atol=1e-12)
    # a hop along the first cell vector falls back to the second for y
    frame = hop_frames(np.array([[2.0, 0.0, 0.0]]), cell)[0]
    np.testing.assert_allclose(frame, np.eye(3), atol=1e-12)


def test_hop_frames_are_proper_rotations():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(50, 3))
    cell = rng.normal(size=(3, 3)) + 4 * np.eye(3)
    frames = hop_frames(vectors, cell)
    np.testing.assert_allclose(
        frames @ frames.transpose(0, 2, 1), np.tile(np.eye(3), (50, 1, 1)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(frames), 1.0, atol=1e-12)
    local = np.einsum("hij,hj->hi", frames, vectors)
    np.testing.assert_allclose(local[:, 1:], 0.0, atol=1e-12)
    assert np.all(local[:, 0] > 0)
    # the first cell vector lies in the x-y half-plane with y >= 0
    a1 = np.einsum("hij,j->hi", frames, cell[0])
    np.testing.assert_allclose(a1[:, 2], 0.0, atol=1e-12)
    assert np.all(a1[:, 1] > 0)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_rotation_about_x_maps_y_to_cos_sin(backend):
    angles = np.array([0.0, 0.3, np.pi / 2, 2.0, np.pi])
    if backend == "torch":
        q = rotation_about_x(torch.tensor(angles, dtype=torch.float64)).numpy()
    else:
        q = rotation_about_x(angles)
    assert q.shape == (5, 3, 3)
    np.testing.assert_allclose(
        q @ [0, 1, 0], np.stack([0 * angles, np.cos(angles), np.sin(angles)], 1), atol=1e-15
    )
    np.testing.assert_allclose(
        q @ [0, 0, 1], np.stack([0 * angles, -np.sin(angles), np.cos(angles)], 1), atol=1e-15
    )
    np.testing.assert_allclose(q @ [1, 0, 0], np.tile([1.0, 0, 0], (5, 1)), atol=1e-15)
    # composition: Q(a) Q(b) = Q(a + b)
    np.testing.assert_allclose(q[1] @ q[3], rotation_about_x(np.array([2.3]))[0], atol=1e-12)


def test_ghosts_can_be_shared_between_calls():
    atoms = random_alloy(4, 6, SPECIES)
    ghosts = ghosted_cell(atoms, 7.6)
    vac, mov = all_hops(atoms, [3, 4])
    a = hop_environments(atoms, vac, mov, SPECIES, ghosts=ghosts)
    b = hop_environments(atoms, vac[8:], mov[8:], SPECIES)
    np.testing.assert_array_equal(a.positions[8:], b.positions)


def test_concatenate_and_take_keep_padding_consistent():
    atoms = random_alloy(4, 7, SPECIES)
    vac, mov = all_hops(atoms, [1])
    small = hop_environments(atoms, vac[:2], mov[:2], SPECIES, r_c=3.5)  # 14 atoms
    large = hop_environments(atoms, vac[:3], mov[:3], SPECIES, r_c=7.6)  # 112 atoms
    both = concatenate_environments([small, large])
    assert isinstance(both, LocalEnvironments)
    assert both.positions.shape == (5, 112, 3)
    assert both.counts.tolist() == [14, 14, 112, 112, 112]
    np.testing.assert_array_equal(both.take([0, 1]).positions[:, :14], small.positions)
    assert np.all(both.species[:2, 14:] == -1) and np.all(both.positions[:2, 14:] == 0)


def test_bad_input_raises_clear_errors():
    atoms = random_alloy(4, 8, SPECIES)
    ids, _ = first_neighbours(atoms, np.array([0]))
    far = int(np.argmax(atoms.get_all_distances(mic=True)[0]))
    with pytest.raises(VmebError, match="not a first neighbour of vacancy site 0"):
        hop_environments(atoms, [0], [far], SPECIES)
    with pytest.raises(VmebError, match="out of range"):
        hop_environments(atoms, [128], [ids[0, 0]], SPECIES)
    with pytest.raises(VmebError, match=r"\['Ta'\]"):
        hop_environments(atoms, [0], [ids[0, 0]], ("Nb", "Mo"))
    with pytest.raises(VmebError, match="equal length"):
        hop_environments(atoms, [0, 1], [ids[0, 0]], SPECIES)
    with pytest.raises(VmebError, match="moving atom is the vacancy"):
        hop_environments(atoms, [0], [0], SPECIES)
