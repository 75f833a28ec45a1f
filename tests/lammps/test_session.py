"""LAMMPS on Atoms: frames, energies and forces vs ASE's EAM, relaxations, lattice constants."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.eam import EAM
from scipy.optimize import minimize_scalar

from vmeb.errors import VmebError
from vmeb.lammps.lattice import lattice_constant
from vmeb.lammps.session import (
    forces,
    lammps_session,
    potential_energy,
    read_positions,
    relax,
    species_of,
)
from vmeb.structure.build import bcc_supercell
from vmeb.testing import equiatomic_alloy

ENERGY_TOL = 1e-6  # eV/atom, LAMMPS vs ASE reading the same setfl
FORCE_TOL = 1e-5  # eV/Å


def tilted_rotated(atoms: Atoms, seed: int) -> Atoms:
    """The same crystal, strained by a small tilt, rotated, with atoms shifted out of the cell."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(rotation) < 0:
        rotation = -rotation
    out = atoms.copy()
    strain = np.eye(3) + np.array([[0, 0.03, -0.02], [0.01, 0, 0.04], [0.02, -0.01, 0]])
    out.set_cell(atoms.cell.array @ strain @ rotation.T, scale_atoms=True)
    out.positions += out.cell.array.sum(axis=0) * 0.7 + rng.normal(scale=3.0, size=(1, 3))
    return out


def ase_reference(atoms: Atoms, path) -> tuple[float, np.ndarray]:
    ref = atoms.copy()
    ref.calc = EAM(potential=str(path))
    return ref.get_potential_energy(), ref.get_forces()


def test_species_of_orders_by_potential_or_atomic_number(eam):
    atoms = Atoms("MoTaMoNb", positions=np.zeros((4, 3)), cell=np.eye(3) * 5, pbc=True)
    assert species_of(atoms) == ("Nb", "Mo", "Ta")
    assert species_of(atoms, eam) == ("Ta", "Nb", "Mo")
    assert species_of(atoms[[0, 2]], eam) == ("Mo",)
    with pytest.raises(VmebError, match="no parameters"):
        species_of(Atoms("W", cell=np.eye(3) * 3, pbc=True), eam)


@pytest.mark.parametrize("triclinic", [False, True])
def test_energy_and_forces_match_ase_eam(eam, triclinic):
    atoms = equiatomic_alloy(3, 3.24, seed=1, rattle=0.05)
    if triclinic:
        atoms = tilted_rotated(atoms, seed=2)
    e_ref, f_ref = ase_reference(atoms, eam.files[0])
    energy = potential_energy(atoms, eam)
    assert abs(energy - e_ref) / len(atoms) < ENERGY_TOL
    np.testing.assert_allclose(forces(atoms, eam), f_ref, atol=FORCE_TOL)
    # the type order is a labelling only
    assert potential_energy(atoms, eam, species=("Mo", "Ta", "Nb")) == pytest.approx(
        energy, abs=1e-9
    )


def test_rotation_and_translation_invariance(eam):
    atoms = equiatomic_alloy(3, 3.24, seed=3, rattle=0.05)
    moved = tilted_rotated(atoms, seed=4)
    strained = atoms.copy()
    strained.set_cell(moved.cell.cellpar(), scale_atoms=True)  # same shape, ASE's standard frame
    e1, e2 = potential_energy(moved, eam), potential_energy(strained, eam)
    assert e1 == pytest.approx(e2, abs=1e-8 * len(atoms))


def test_read_positions_round_trip_keeps_ase_frame(eam):
    atoms = tilted_rotated(equiatomic_alloy(2, 3.2, seed=5, rattle=0.05), seed=6)
    atoms.info["tag"] = "kept"
    with lammps_session(atoms, eam) as lmp:
        lmp.command("run 0")  # reneighbouring wraps atoms into the box
        back = read_positions(lmp, atoms)
    np.testing.assert_allclose(back.positions, atoms.positions, atol=1e-10)
    np.testing.assert_allclose(back.cell.array, atoms.cell.array, atol=1e-12)
    assert back.info["tag"] == "kept"
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()


def test_read_positions_sees_type_changes(eam):
    atoms = equiatomic_alloy(2, 3.24, seed=7, rattle=0.0)
    species = ("Ta", "Nb", "Mo")
    first = atoms.get_chemical_symbols()[0]
    new_type = 3 if first != "Mo" else 1
    with lammps_session(atoms, eam, species=species) as lmp:
        lmp.command(f"set atom 1 type {new_type}")
        back = read_positions(lmp, atoms)
    assert back.get_chemical_symbols()[0] == species[new_type - 1]
    assert back.get_chemical_symbols()[1:] == atoms.get_chemical_symbols()[1:]


def test_relax_reaches_force_tolerance_and_keeps_fixed_atoms(eam):
    atoms = tilted_rotated(equiatomic_alloy(2, 3.24, seed=8, rattle=0.1), seed=9)
    fixed = [0, 5]
    relaxed, energy = relax(atoms, eam, ftol=1e-4, fixed_indices=fixed)
    e_ref, f_ref = ase_reference(relaxed, eam.files[0])
    assert energy == pytest.approx(e_ref, abs=ENERGY_TOL * len(atoms))
    assert energy < potential_energy(atoms, eam) - 0.1
    free = np.setdiff1d(np.arange(len(atoms)), fixed)
    assert np.linalg.norm(f_ref[free]) < 1e-4 + FORCE_TOL
    np.testing.assert_allclose(relaxed.positions[fixed], atoms.positions[fixed], atol=1e-12)
    np.testing.assert_allclose(relaxed.cell.array, atoms.cell.array, atol=1e-12)


def test_box_relax_finds_the_energy_minimum_over_volume(eam):
    atoms = equiatomic_alloy(2, 3.30, seed=10, rattle=0.0)
    relaxed, energy = relax(atoms, eam, box=True, ftol=1e-8)
    # shape kept (iso), volume at the minimum: scaling either way costs energy
    cell = relaxed.cell.array
    np.testing.assert_allclose(cell / cell[0, 0], np.eye(3), atol=1e-12)
    for factor in (0.999, 1.001):
        scaled = relaxed.copy()
        scaled.set_cell(cell * factor, scale_atoms=True)
        assert potential_energy(scaled, eam) > energy
    assert potential_energy(relaxed, eam) == pytest.approx(energy, abs=1e-9)


def _box_relax_reference(atoms: Atoms, potential) -> tuple[Atoms, float, float]:
    """LAMMPS's own ``fix box/relax iso 0`` + CG (the independent reference)."""
    with lammps_session(atoms, potential) as lmp:
        lmp.commands_list(
            [
                "fix box all box/relax iso 0.0 vmax 0.001",
                "min_style cg",
                "minimize 0.0 1e-6 20000 200000",
                "minimize 0.0 1e-6 20000 200000",
                "run 0",
            ]
        )
        energy, pressure = float(lmp.get_thermo("pe")), float(lmp.get_thermo("press"))
        return read_positions(lmp, atoms), energy, pressure


@pytest.mark.parametrize("tilted", [False, True])
def test_volume_relaxation_matches_lammps_box_relax(eam, tilted):
    atoms = equiatomic_alloy(3, 3.2428, seed=12, rattle=0.0)
    del atoms[5]  # a vacancy cell, as the NEB initial state
    if tilted:
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.02 * np.triu(np.ones((3, 3)), 1)))
    relaxed, energy = relax(atoms, eam, box=True, ftol=1e-6)
    reference, e_ref, p_ref = _box_relax_reference(atoms, eam)
    assert abs(p_ref) < 1.0
    assert energy == pytest.approx(e_ref, abs=1e-7)
    # same shape, same volume, same positions
    np.testing.assert_allclose(relaxed.cell.array, reference.cell.array, atol=2e-5)
    np.testing.assert_allclose(relaxed.positions, reference.positions, atol=1e-4)
    with lammps_session(relaxed, eam) as lmp:
        lmp.command("run 0")
        assert abs(float(lmp.get_thermo("press"))) < 10.0  # bar


@pytest.mark.parametrize(("symbol", "published"), [("Ta", 3.3025), ("Nb", 3.3004), ("Mo", 3.1501)])
def test_pure_lattice_constant_matches_brute_force_and_published(
    eam, symbol, published, tmp_path, monkeypatch
):
    monkeypatch.setenv("VMEB_CACHE", str(tmp_path))
    a = lattice_constant(eam, {symbol: 1.0}, cells=3)

    def energy(a_trial: float) -> float:
        crystal = bcc_supercell({symbol: 2}, 1, a_trial, np.random.default_rng(0))
        return potential_energy(crystal, eam)

    brute = minimize_scalar(energy, bracket=(3.0, 3.3, 3.5), tol=1e-10).x
    assert a == pytest.approx(brute, abs=2e-5)
    assert a == pytest.approx(published, abs=2e-3)  # NOTE.md of the shared EAM


def test_lattice_constant_cache_is_keyed_and_reused(eam, tmp_path, monkeypatch):
    monkeypatch.setenv("VMEB_CACHE", str(tmp_path))
    composition = {"Ta": 1, "Nb": 1, "Mo": 1}
    a = lattice_constant(eam, composition, cells=2, seed=1)
    assert 3.20 < a < 3.28
    path = tmp_path / "lattice_constants.json"
    data = json.loads(path.read_text())
    assert list(data.values()) == [pytest.approx(a)]
    # a planted value under the same key is returned without recomputing
    data = {key: 9.0 for key in data}
    path.write_text(json.dumps(data))
    assert lattice_constant(eam, {"Mo": 2, "Ta": 2, "Nb": 2}, cells=2, seed=1) == 9.0
    assert lattice_constant(eam, composition, cells=2, seed=1, cache=False) == pytest.approx(a)
    assert lattice_constant(eam, composition, cells=2, seed=2) != 9.0
    assert len(json.loads(path.read_text())) == 2


def test_snap_session_energy_and_forces_match_finite_differences(snap):
    atoms = equiatomic_alloy(2, 3.27, seed=11, rattle=0.08)
    with lammps_session(atoms, snap) as lmp:
        lmp.command("run 0")
        energy = lmp.get_thermo("pe")
    f = forces(atoms, snap)
    assert np.isfinite(energy) and np.all(np.isfinite(f))
    assert np.abs(f).max() > 0.05  # a rattled alloy has real forces
    h = 1e-4
    for index, axis in [(0, 0), (3, 1), (9, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[index, axis] += h
        minus.positions[index, axis] -= h
        numeric = -(potential_energy(plus, snap) - potential_energy(minus, snap)) / (2 * h)
        assert f[index, axis] == pytest.approx(numeric, abs=1e-5)


@pytest.mark.parametrize(("symbol", "measured"), [("Ta", 3.3183), ("Nb", 3.3265), ("Mo", 3.1667)])
def test_snap_pure_lattice_constants(snap, symbol, measured, tmp_path, monkeypatch):
    # values measured with LAMMPS for the SNAP of Li et al. 2020 (shared potentials README)
    monkeypatch.setenv("VMEB_CACHE", str(tmp_path))
    assert lattice_constant(snap, {symbol: 1}, cells=2) == pytest.approx(measured, abs=1e-4)


@pytest.mark.slow
def test_snap_equiatomic_lattice_constant(snap, tmp_path, monkeypatch):
    monkeypatch.setenv("VMEB_CACHE", str(tmp_path))
    a = lattice_constant(snap, {"Ta": 1, "Nb": 1, "Mo": 1}, cells=6)
    assert a == pytest.approx(3.2665, abs=1.5e-3)


def test_lammps_errors_become_one_line_vmeb_errors(eam):
    atoms = equiatomic_alloy(2, 3.24, seed=12, rattle=0.05)
    with pytest.raises(VmebError, match="LAMMPS failed") as info:
        with lammps_session(atoms, eam) as lmp:
            lmp.command("fix bad all no_such_style")
    assert "\n" not in str(info.value)
    with pytest.raises(VmebError, match="not in the species"):
        with lammps_session(atoms, eam, species=("Ta", "Nb")):
            pass
