"""One-hot site descriptors: template shell counts, symmetry, assignment of real environments."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from vmeb.learn.descriptors import (
    FIRST_SHELL,
    align_to_lattice,
    assign_sites,
    lattice_roll,
    onehot_descriptors,
    rotate_about_x,
    site_template,
    symmetry_images,
    template_symmetries,
)
from vmeb.learn.environment import hop_environments
from vmeb.testing import random_alloy

#: Cumulative BCC coordination within r (units of a): shells 8, 6, 12, 24, 8, 6, 24, 24, 24.
BCC_CUMULATIVE = {0.9: 8, 1.1: 14, 1.5: 26, 1.7: 50, 1.8: 58, 2.1: 64, 2.2: 88, 2.3: 112, 2.5: 136}


def _ase_count(cutoff: float) -> int:
    """Neighbours of one atom of a BCC crystal (a = 1) within cutoff, from ASE."""
    atoms = bulk("Fe", "bcc", a=1.0, cubic=True)
    i, _ = neighbor_list("ij", atoms, cutoff)
    return int((i == 0).sum())


@pytest.mark.parametrize("cutoff", sorted(BCC_CUMULATIVE))
def test_template_counts_match_bcc_shells(cutoff):
    template = site_template(cutoff)
    assert template.n_sites == BCC_CUMULATIVE[cutoff] == _ase_count(cutoff)
    dist = np.linalg.norm(template.sites, axis=1)
    assert np.all(np.diff(dist) >= -1e-9)  # ordered by distance
    # the moving atom's site is the first one on +x
    assert np.any(np.all(np.isclose(template.sites, [FIRST_SHELL, 0, 0]), axis=1))


def test_template_symmetries_are_point_group():
    template = site_template(2.3)
    perms = template_symmetries(template)
    assert perms.shape == (6, 112)
    assert len({tuple(p) for p in perms}) == 6
    # every operation keeps the hop axis: the moving site maps to itself
    moving = int(np.argmin(np.linalg.norm(template.sites - [FIRST_SHELL, 0, 0], axis=1)))
    assert np.all(perms[:, moving] == moving)
    # operation 1 is a 120 degree turn: applying it three times is the identity
    p = perms[1]
    assert np.array_equal(p[p[p]], np.arange(112))


@pytest.fixture
def alloy():
    return random_alloy(4, 7, ("Ta", "Nb", "Mo"), a=3.3)


def _all_hops(atoms, n_sites=6):
    from vmeb.structure.neighbours import first_neighbours

    sites = np.arange(n_sites)
    neighbours, _ = first_neighbours(atoms, sites, 8)
    return np.repeat(sites, 8), neighbours.reshape(-1)


def test_assignment_of_a_real_environment(alloy):
    species = ("Ta", "Nb", "Mo")
    vac, mov = _all_hops(alloy)
    env = hop_environments(alloy, vac, mov, species, r_c=7.6)
    template = site_template(2.3)
    psi, a = lattice_roll(env.positions, env.species)
    np.testing.assert_allclose(a, 3.3, rtol=1e-5)
    site = assign_sites(env.positions, env.species, template)
    real = env.species >= 0
    # 7.6 / 3.3 = 2.30 a: exactly the 112 sites of the template, each hit once per hop
    assert np.all(real.sum(axis=1) == 112)
    assert np.all(site[real] >= 0)
    assert all(len(set(row[row >= 0].tolist())) == 112 for row in site)
    x = onehot_descriptors(env.positions, env.species, 3, template).reshape(len(env), 112, 3)
    moving = int(np.argmin(np.linalg.norm(template.sites - [FIRST_SHELL, 0, 0], axis=1)))
    symbols = np.array(alloy.get_chemical_symbols())
    expected = np.array([species.index(s) for s in symbols[mov]])
    assert np.array_equal(x[:, moving].argmax(axis=1), expected)
    # the aligned environment sits on the template points (scaled by a)
    aligned = align_to_lattice(env.positions, env.species) / 3.3
    gap = np.linalg.norm(aligned[real] - template.sites[site[real]], axis=1)
    assert gap.max() < 1e-4


def test_descriptors_invariant_under_roll_and_mirror(alloy):
    species = ("Ta", "Nb", "Mo")
    vac, mov = _all_hops(alloy, n_sites=3)
    env = hop_environments(alloy, vac, mov, species, r_c=7.6)
    template = site_template(2.3)
    perms = template_symmetries(template)
    x = onehot_descriptors(env.positions, env.species, 3, template)
    rng = np.random.default_rng(0)
    turned = rotate_about_x(env.positions, rng.uniform(0, 2 * np.pi, len(env)))
    turned[..., 2] *= -1  # and a mirror through the xy plane
    y = onehot_descriptors(turned.astype(np.float32), env.species, 3, template)
    # the same hop seen from another angle: identical up to a point-group permutation
    images = symmetry_images(x, perms, 3)
    match = np.all(images == y[None], axis=2)  # [6, H]
    assert np.all(match.any(axis=0))
    np.testing.assert_array_equal(images.mean(0), symmetry_images(y, perms, 3).mean(0))
