"""Calculator potentials: ``ase:`` specs, their errors, and ASE energies and relaxations checked
against LAMMPS with the built-in EAM as the calculator (`vmeb.testing.eam_lammpslib`)."""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest

from vmeb.errors import VmebError
from vmeb.lammps.calculators import CalculatorPotential
from vmeb.lammps.lattice import lattice_constant
from vmeb.lammps.potentials import load_potential, potential_difference
from vmeb.lammps.session import forces, lammps_session, potential_energy, relax
from vmeb.neb.site import NEBConfig, resolve_engine
from vmeb.testing import EAM_CALCULATOR_SPEC, equiatomic_alloy

#: ASE's LAMMPSlib and vmeb's session evaluate the same LAMMPS commands: energies equal to this.
SAME_ENERGY = 1e-8


def test_ase_spec_kwargs_as_json_or_pairs():
    by_pairs = load_potential("ase:ase.calculators.emt:EMT:asap_cutoff=true,label=x")
    assert isinstance(by_pairs, CalculatorPotential) and by_pairs.kind == "calculator"
    assert by_pairs.factory == "ase.calculators.emt:EMT" and by_pairs.name == "EMT"
    assert by_pairs.kwargs == {"asap_cutoff": True, "label": "x"}
    by_json = load_potential('ase:ase.calculators.emt:EMT:{"label": "x", "asap_cutoff": true}')
    assert by_json.kwargs == by_pairs.kwargs and by_json.kwargs_json == by_pairs.kwargs_json
    assert load_potential("ase:m.n:f:device=cuda:1").device == "cuda:1"
    assert "device" not in load_potential("ase:m.n:f:device=cuda:1").kwargs


def test_file_kwargs_are_absolute_and_hashed_and_records_have_no_paths(tmp_path, monkeypatch):
    (tmp_path / "model.pt").write_bytes(b"weights")
    monkeypatch.chdir(tmp_path)
    potential = load_potential("ase:mypkg.pot:make:model=model.pt,cutoff=5.0")
    assert potential.kwargs == {"model": str(tmp_path / "model.pt"), "cutoff": 5.0}
    record = potential.to_json()
    assert record["kwargs"] == {"model": "model.pt", "cutoff": 5.0}
    assert record["files"] == [
        {"name": "model.pt", "sha256": hashlib.sha256(b"weights").hexdigest()}
    ]
    assert str(tmp_path) not in str(record)
    assert potential_difference(record, potential) == ""
    (tmp_path / "model.pt").write_bytes(b"other weights")
    changed = load_potential("ase:mypkg.pot:make:model=model.pt,cutoff=5.0")
    assert "another version" in potential_difference(record, changed)
    other = load_potential("ase:mypkg.pot:make:model=model.pt,cutoff=6.0")
    assert "kwargs" in potential_difference(record, other)
    assert potential_difference(record, load_potential("default")) == (
        "potential 'make' (ase), not 'TaNbMo_Zhou04_Lin13' (eam/alloy)"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ase:", "nothing after 'ase:'"),
        ("ase:ase.calculators.emt", "use ase:MODULE:FACTORY"),
        ("ase:ase.calculators.emt:1x", "use ase:MODULE:FACTORY"),
        ("ase:ase calculators:EMT", "is not a Python module name"),
        ("ase:m:f:{bad json", "kwargs are not valid JSON"),
        ("ase:m:f:[1, 2]", "is not key=value"),
        ("ase:m:f:cutoff", "is not key=value"),
        ("sevennet:7net-9", "unknown sevennet model '7net-9'"),
        ("chgnet:9.9.9", "unknown chgnet model '9.9.9'"),
    ],
)
def test_bad_calculator_spec_is_refused_in_one_line(spec, message):
    with pytest.raises(VmebError) as caught:
        load_potential(spec)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_package_names_what_to_install(monkeypatch):
    potential = load_potential("ase:vmeb_no_such_package.calc:make")
    with pytest.raises(VmebError, match="needs the Python package 'vmeb_no_such_package'"):
        potential.calculator(["Ta"])
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sevenn" else real(name, *a)
    )
    with pytest.raises(VmebError, match=r"pip install sevenn \(pip install -e '.\[umlip\]'\)"):
        load_potential("sevennet:7net-0")


def test_devices_apply_to_calculator_potentials_only():
    with pytest.raises(VmebError, match="runs in LAMMPS on the CPU"):
        load_potential("default", device="cuda")
    assert load_potential("default", device="cpu").kind == "lammps"
    assert load_potential(EAM_CALCULATOR_SPEC, device="cuda").device == "cuda"
    with pytest.raises(VmebError, match="takes no device"):
        load_potential(EAM_CALCULATOR_SPEC, device="cuda").calculator(["Ta"])


def test_lammps_engines_and_sessions_refuse_a_calculator_potential():
    potential = load_potential(EAM_CALCULATOR_SPEC)
    assert resolve_engine(NEBConfig(), potential, 53) == "ase"
    assert resolve_engine(NEBConfig(engine="ase"), potential, 53) == "ase"
    for engine in ("lammps", "inproc", "pool"):
        with pytest.raises(VmebError, match=f"NEB engine '{engine}' runs LAMMPS"):
            resolve_engine(NEBConfig(engine=engine), potential, 53)
    with pytest.raises(VmebError, match="is an ASE calculator"):
        with lammps_session(equiatomic_alloy(2, 3.25, seed=0), potential):
            pass


def test_calculator_energy_and_forces_equal_lammps():
    atoms = equiatomic_alloy(2, 3.25, seed=3, rattle=0.05)
    potential = load_potential(EAM_CALCULATOR_SPEC)
    energy = potential_energy(atoms, potential)
    assert energy == pytest.approx(potential_energy(atoms, "default"), abs=SAME_ENERGY)
    assert -8.5 * len(atoms) < energy < -7.0 * len(atoms)  # cohesive energies of Ta, Nb, Mo
    np.testing.assert_allclose(forces(atoms, potential), forces(atoms, "default"), atol=1e-8)


def test_calculator_relaxations_reach_the_lammps_minimum():
    atoms = equiatomic_alloy(2, 3.25, seed=3, rattle=0.05)
    del atoms[0]
    potential = load_potential(EAM_CALCULATOR_SPEC)
    by_ase, e_ase = relax(atoms, potential, ftol=1e-4)
    by_lammps, e_lammps = relax(atoms, "default", ftol=1e-4)
    assert e_ase == pytest.approx(e_lammps, abs=1e-6)
    np.testing.assert_allclose(by_ase.positions, by_lammps.positions, atol=2e-3)
    fixed, _ = relax(atoms, potential, ftol=1e-3, fixed_indices=[3])
    np.testing.assert_allclose(fixed.positions[3], atoms.positions[3], atol=1e-12)
    iso, _ = relax(atoms, potential, box="iso", ftol=1e-4)
    iso_lammps, _ = relax(atoms, "default", box="iso", ftol=1e-4)
    assert iso.cell.volume == pytest.approx(iso_lammps.cell.volume, rel=1e-4)
    assert iso.cell.volume != pytest.approx(atoms.cell.volume, rel=1e-4)


def test_calculator_lattice_constant_equals_lammps():
    potential = load_potential(EAM_CALCULATOR_SPEC)
    a = lattice_constant(potential, {"Mo": 1.0}, cells=2, cache=False)
    assert a == pytest.approx(lattice_constant("default", {"Mo": 1.0}, cells=2), abs=1e-4)
    assert a == pytest.approx(3.1501, abs=5e-4)


def test_swap_monte_carlo_refuses_a_calculator_potential():
    from vmeb.csro.montecarlo import lattice_swap_mc  # noqa: PLC0415

    with pytest.raises(VmebError, match=r"swap Monte Carlo \(vmeb order\) runs in LAMMPS"):
        lattice_swap_mc(equiatomic_alloy(2, 3.25, seed=0), load_potential(EAM_CALCULATOR_SPEC))


def test_calculator_lattice_constant_defaults_to_the_small_cell():
    """A calculator potential's default lattice-constant cell is CALCULATOR_CELLS^3 (54 atoms),
    the same random alloy as LAMMPS relaxes with ``cells=CALCULATOR_CELLS``."""
    from vmeb.lammps.lattice import CALCULATOR_CELLS

    potential = load_potential(EAM_CALCULATOR_SPEC)
    composition = {"Ta": 0.5, "Mo": 0.5}
    a = lattice_constant(potential, composition, cache=False)
    small = lattice_constant("default", composition, cells=CALCULATOR_CELLS, cache=False)
    assert a == pytest.approx(small, abs=1e-4)
    assert 3.15 < a < 3.31  # between pure Mo and pure Ta
