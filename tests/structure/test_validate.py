"""Structure checks before work: every bad structure refused with one line naming the file and the
problem, relaxed and thermal BCC samples still accepted."""

from __future__ import annotations

import re

import numpy as np
import pytest
from ase.build import bulk

from vmeb.errors import VmebError
from vmeb.structure.io import read_structure, write_structure_file
from vmeb.structure.validate import (
    BCC_FIRST_SHELL,
    bcc_site_count,
    shell_summary,
    validate_structure,
)
from vmeb.testing import A, random_alloy


@pytest.fixture
def alloy():
    return random_alloy(4, np.random.default_rng(3))  # 128 atoms, a = 3.30 Å


def _written(tmp_path, name, atoms):
    return write_structure_file(tmp_path / name, atoms)


def test_perfect_and_relaxed_samples_are_accepted(tmp_path, alloy):
    summary = validate_structure(alloy, "perfect")
    assert summary.first_shell == pytest.approx(BCC_FIRST_SHELL * A, abs=1e-9)
    assert np.all(summary.counts == 8)
    assert summary.lattice_constant == pytest.approx(A, abs=1e-9)
    # relaxed (0.05 Å) and thermal-like (0.1 Å per coordinate) displacements stay accepted
    for sigma in (0.05, 0.1):
        moved = alloy.copy()
        moved.rattle(sigma, seed=11)
        path = _written(tmp_path, f"rattled{sigma}.extxyz", moved)
        back = read_structure(path)
        np.testing.assert_allclose(back.positions, moved.positions, atol=1e-6)
    # cells that are not whole conventional cubes: primitive BCC, orthorhombic setting
    assert validate_structure(bulk("Ta", "bcc", a=A), "primitive") is not None
    ortho = bulk("Ta", "bcc", a=A, orthorhombic=True).repeat((3, 3, 2))
    assert validate_structure(ortho, "orthorhombic") is not None
    # lattice=None checks only coordinates and overlaps
    assert validate_structure(bulk("Cu", "fcc", a=3.6).repeat(2), "fcc", lattice=None)


def test_site_count_of_cubic_and_other_cells(alloy):
    assert bcc_site_count(alloy, A) == (128, "4x4x4 BCC cell")
    prim = bulk("Ta", "bcc", a=A).repeat(3)
    assert bcc_site_count(prim, A) == (27, "BCC cell of this volume")


def _error(path, **kwargs) -> str:
    with pytest.raises(VmebError) as info:
        read_structure(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


def test_non_finite_coordinates(tmp_path, alloy):
    bad = alloy.copy()
    bad.positions[5, 1] = np.nan
    path = tmp_path / "nan.extxyz"
    _written(tmp_path, "nan.extxyz", bad)
    message = _error(path)
    assert "1 atom(s) with non-finite coordinates, first atom 5 (" in message
    assert "nan" in message


def test_overlapping_atoms(tmp_path, alloy):
    bad = alloy.copy()
    bad.positions[7] = bad.positions[9] + [0.1, 0.05, 0.0]
    path = _written(tmp_path, "overlap.extxyz", bad)
    message = _error(path, lattice=None)
    distance = np.linalg.norm([0.1, 0.05, 0.0])
    pattern = rf"overlapping atoms: atoms (7 and 9|9 and 7) are {distance:.3f} Å apart"
    assert re.search(pattern, message)
    assert f"below {0.5 * BCC_FIRST_SHELL * A:.2f} Å" in message


@pytest.mark.parametrize(
    ("lattice", "found"),
    [
        ("fcc", "12 first neighbours per atom (FCC/HCP-like)"),
        ("sc", "6 first neighbours per atom (simple-cubic-like)"),
    ],
)
def test_other_lattices_refused(tmp_path, lattice, found):
    atoms = bulk("Ta", lattice, a=4.2 if lattice == "fcc" else 3.0, cubic=True).repeat(3)
    path = _written(tmp_path, f"{lattice}.extxyz", atoms)
    message = _error(path)
    assert f"not a BCC lattice: {found}" in message


def test_amorphous_refused(tmp_path, alloy):
    amorphous = alloy.copy()
    amorphous.rattle(0.3, seed=2)  # ~0.5 Å rms: the BCC shells are washed out
    path = _written(tmp_path, "glass.extxyz", amorphous)
    message = _error(path)
    assert "not a BCC lattice: amorphous or strongly disordered: first-shell count" in message
    counts = shell_summary(amorphous).counts
    assert f"spread {counts.min()}..{counts.max()}" in message


def test_vacancy_refused_where_a_perfect_sample_is_needed(tmp_path, alloy):
    holed = alloy.copy()
    del holed[10]
    path = _written(tmp_path, "vacancy.extxyz", holed)
    message = _error(path)
    assert "127 atoms, but a 4x4x4 BCC cell with a = 3.3000 Å has 128 sites" in message
    assert "1 site(s) empty (a vacancy is already present" in message
    # the 8 atoms around the empty site are named (indices shift by one after atom 10)
    dist = alloy.get_distances(10, range(len(alloy)), mic=True)
    around = [int(i - (i > 10)) for i in np.nonzero(np.abs(dist - BCC_FIRST_SHELL * A) < 1e-6)[0]]
    assert f"atoms next to it: {sorted(around)}" in message
    # where the command allows a vacancy, the structure is accepted
    assert len(read_structure(path, perfect=False)) == 127


def test_empty_file_is_named(tmp_path):
    for name, text in (("empty.extxyz", ""), ("blank.xyz", "\n  \n"), ("POSCAR", "")):
        path = tmp_path / name
        path.write_text(text)
        assert _error(path).endswith("empty file (no structure in it)")


@pytest.mark.parametrize(
    ("case", "found"),
    [
        ("fcc", "not a BCC lattice: 12 first neighbours per atom (FCC/HCP-like)"),
        ("glass", "not a BCC lattice: amorphous or strongly disordered"),
        ("vacancy", "127 atoms, but a 4x4x4 BCC cell with a = 3.3000 Å has 128 sites"),
    ],
)
def test_analyse_refuses_what_is_not_a_perfect_bcc_sample(tmp_path, alloy, capsys, case, found):
    """`vmeb analyse` once reported an FCC or amorphous cell as strongly ordered BCC."""
    from vmeb.cli.main import main

    if case == "fcc":
        atoms = bulk("Ta", "fcc", a=4.2, cubic=True).repeat(3)
    elif case == "glass":
        atoms = alloy.copy()
        atoms.rattle(0.3, seed=2)
    else:
        atoms = alloy.copy()
        del atoms[0]
    path = _written(tmp_path, f"{case}.extxyz", atoms)
    out = tmp_path / "out"
    assert main(["analyse", str(path), "-o", str(out)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"vmeb: error: {path}: {found}"), lines
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_file_without_periodic_boundaries_is_read_as_bulk_with_a_warning(tmp_path, alloy, caplog):
    slab = alloy.copy()
    slab.pbc = [True, True, False]
    path = tmp_path / "slab.extxyz"
    slab.write(path)
    with caplog.at_level("WARNING", logger="vmeb.structure.io"):
        atoms = read_structure(path)
    assert atoms.pbc.all()
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: not periodic along z in the file; read as a bulk sample, periodic along x, y "
        "and z"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="vmeb.structure.io"):
        read_structure(_written(tmp_path, "bulk.extxyz", alloy))
    assert not caplog.records
