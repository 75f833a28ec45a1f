"""vmeb.structure.lattice: minimum images and the BCC lattice constant of a cell."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.geometry import find_mic

from vmeb.errors import VmebError
from vmeb.structure.lattice import (
    bcc_lattice_constant_from_volume,
    minimum_image,
    sample_lattice_constant,
    volume_lattice_constant,
)


def test_minimum_image_matches_ase_on_an_orthogonal_cell():
    rng = np.random.default_rng(0)
    cell = np.diag([9.9, 10.2, 9.6])
    vectors = rng.uniform(-25.0, 25.0, (200, 3))
    reference, _ = find_mic(vectors, cell, pbc=True)
    np.testing.assert_allclose(minimum_image(vectors, cell), reference, atol=1e-10)
    # shape [..., 3] is kept
    assert minimum_image(vectors.reshape(10, 20, 3), cell).shape == (10, 20, 3)


def test_minimum_image_of_a_skewed_cell_is_a_lattice_shift_into_the_centred_cell():
    rng = np.random.default_rng(1)
    cell = np.diag([9.9, 10.2, 9.6]) + rng.normal(0.0, 0.2, (3, 3))
    vectors = rng.uniform(-25.0, 25.0, (200, 3))
    reduced = minimum_image(vectors, cell)
    shift = np.linalg.solve(cell.T, (vectors - reduced).T).T
    np.testing.assert_allclose(shift, np.round(shift), atol=1e-9)
    frac = np.linalg.solve(cell.T, reduced.T).T
    assert np.all(np.abs(frac) <= 0.5 + 1e-12)


def test_bcc_lattice_constant_from_volume():
    atoms = bulk("Ta", "bcc", a=3.3, cubic=True).repeat((3, 4, 5))  # 120 sites
    assert bcc_lattice_constant_from_volume(atoms.get_volume(), len(atoms)) == pytest.approx(3.3)
    assert sample_lattice_constant(atoms) == pytest.approx(3.3)
    atoms.info["a"] = 3.25  # an explicit value takes precedence
    assert sample_lattice_constant(atoms) == 3.25
    assert volume_lattice_constant(atoms) == pytest.approx(3.3)  # the volume only
    with pytest.raises(VmebError, match="empty structure"):
        bcc_lattice_constant_from_volume(10.0, 0)
    with pytest.raises(VmebError, match="not positive"):
        bcc_lattice_constant_from_volume(0.0, 2)
