"""The public test helpers of `vmeb.testing` against independent counts and closed forms."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from vmeb.learn.sdm import SDMConfig
from vmeb.testing import SPECIES, cli_error_line, direct_sdm, equiatomic_alloy, random_alloy


def test_random_alloy_is_seeded_bcc_and_jittered():
    atoms = random_alloy(3, 5, a=3.2)
    again = random_alloy(3, np.random.default_rng(5), a=3.2)
    assert len(atoms) == 54 and atoms.get_chemical_symbols() == again.get_chemical_symbols()
    assert set(atoms.get_chemical_symbols()) <= set(SPECIES)
    np.testing.assert_allclose(atoms.cell.lengths(), [9.6, 9.6, 9.6])
    d = atoms.get_all_distances(mic=True)
    assert np.min(d[d > 0]) == pytest.approx(3.2 * np.sqrt(3) / 2)
    jittered = random_alloy(3, 5, a=3.2, jitter=0.05)
    assert jittered.get_chemical_symbols() == atoms.get_chemical_symbols()
    shift = np.linalg.norm(jittered.positions - atoms.positions, axis=1)
    assert 0.02 < shift.mean() < 0.15  # 3D Gaussian of sd 0.05 Å: mean 0.08 Å


def test_equiatomic_alloy_has_exact_counts():
    atoms = equiatomic_alloy(4, 3.24, seed=1, species=("Ta", "Nb", "Mo", "W"))
    assert Counter(atoms.get_chemical_symbols()) == {"Ta": 32, "Nb": 32, "Mo": 32, "W": 32}
    odd = Counter(equiatomic_alloy(3, 3.24, seed=2).get_chemical_symbols())
    assert odd == {"Ta": 18, "Nb": 18, "Mo": 18}
    assert Counter(equiatomic_alloy(2, 3.24, seed=2).get_chemical_symbols()) == {
        "Ta": 6, "Nb": 5, "Mo": 5,
    }  # fmt: skip


def test_direct_sdm_of_one_atom_is_a_gaussian():
    config = SDMConfig(r_c=3.0, l_c=3.0, delta=1.0)  # 6^3 voxels, centres at +-0.5, 1.5, 2.5 Å
    positions = np.array([[[0.5, -1.5, 2.5], [9.0, 0.0, 0.0]]])
    species = np.array([[1, 0]])  # the second atom is beyond r_c
    maps = direct_sdm(positions, species, 2, config)
    assert maps.shape == (1, 2, 6, 6, 6) and not maps[0, 0].any()
    z, y, x = np.unravel_index(np.argmax(maps[0, 1]), (6, 6, 6))
    assert (z, y, x) == (5, 1, 3) and maps[0, 1, z, y, x] == pytest.approx(1.0)
    assert maps[0, 1, z, y, x + 1] == pytest.approx(np.exp(-0.5))


def test_cli_error_line():
    assert cli_error_line("vmeb: error: bad\n") == "vmeb: error: bad"
    with pytest.raises(AssertionError, match="one error line"):
        cli_error_line("vmeb: error: a\nvmeb: error: b\n")
    with pytest.raises(AssertionError, match="does not start"):
        cli_error_line("Traceback\n")
