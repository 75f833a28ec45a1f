"""NEB with a calculator potential: the ``ase`` engine on the built-in EAM as an ASE calculator
(`vmeb.testing.eam_lammpslib`) gives the barriers of the LAMMPS route; the band's images are
evaluated in batches; a campaign's dataset records the calculator and reads back like any."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from ase.mep import NEB

from vmeb.cli.main import main
from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.lammps.calculators import clear_calculators
from vmeb.lammps.potentials import load_potential
from vmeb.lammps.session import forces, potential_energy
from vmeb.neb.campaign import ranks_per_task, run_neb_campaign
from vmeb.neb.engines.ase import BandCalculator
from vmeb.neb.properties import properties_table
from vmeb.neb.site import NEBConfig, final_state, interpolate_path, prepare_vacancy, run_hop
from vmeb.structure.io import write_structure_file
from vmeb.testing import EAM_CALCULATOR_SPEC, cli_error_line, equiatomic_alloy

#: Barriers of the ASE route and the LAMMPS route on the same energy surface (eV; issue 27 asks
#: 1-2 meV; measured 1e-6 eV on the 8 hops of a 54-atom site).
ROUTE_AGREEMENT = 1e-3
SPECIES = ["Ta", "Nb", "Mo"]


@pytest.fixture(scope="module")
def calc_potential():
    return load_potential(EAM_CALCULATOR_SPEC)


@pytest.fixture(autouse=True)
def _fresh_calculators():
    """A new LAMMPSlib instance per test: one kept from earlier tests of the session ran
    LAMMPS commands 10x slower inside pytest (28 ms, not 2 ms, per ``run 0``; not seen outside
    pytest), which made the campaign test take 3 minutes instead of 20 s."""
    clear_calculators()
    yield


def test_calculator_neb_gives_the_barriers_of_the_lammps_route(calc_potential, tmp_path):
    atoms = equiatomic_alloy(3, 3.2428, seed=1)
    default = load_potential("default")
    by_lammps = prepare_vacancy(atoms, 5, default, NEBConfig(), SPECIES)
    by_ase = prepare_vacancy(atoms, 5, calc_potential, NEBConfig(), SPECIES)
    assert by_ase.energy == pytest.approx(by_lammps.energy, abs=1e-6)
    moving = int(by_lammps.neighbours[6])
    reference = run_hop(by_lammps, moving, default, NEBConfig(), SPECIES, tmp_path)
    hop = run_hop(by_ase, moving, calc_potential, NEBConfig(), SPECIES, tmp_path)
    assert reference.engine == "inproc" and hop.engine == "ase"
    assert hop.status == "ok" and hop.converged, hop.reason
    assert 0.3 < reference.barrier < 2.5
    assert hop.barrier == pytest.approx(reference.barrier, abs=ROUTE_AGREEMENT)
    assert hop.reverse_barrier == pytest.approx(reference.reverse_barrier, abs=ROUTE_AGREEMENT)
    assert hop.energy_change == pytest.approx(reference.energy_change, abs=1e-5)


def _band(calc_potential):
    atoms = equiatomic_alloy(2, 3.2428, seed=0)
    config = NEBConfig(relax_ftol=1e-3)
    vacancy = prepare_vacancy(atoms, 0, calc_potential, config, SPECIES)
    final, _ = final_state(vacancy, int(vacancy.neighbours[0]), calc_potential, config, SPECIES)
    return interpolate_path(vacancy.atoms, final, 5)


def test_band_images_are_evaluated_in_one_batch_per_step(calc_potential):
    batched = dataclasses.replace(calc_potential, batch="vmeb.testing:sequential_batch")
    images = _band(batched)
    shared = BandCalculator(batched, SPECIES, images)
    for image, calc in zip(images, shared.image_calculators(), strict=True):
        image.calc = calc
    neb = NEB(images, climb=False, method="improvedtangent")
    neb.get_forces()
    assert (shared.calls, shared.evaluations) == (1, 5)  # first step: the ends too
    for image in images:
        assert image.get_potential_energy() == pytest.approx(
            potential_energy(image, "default"), abs=1e-8
        )
        np.testing.assert_allclose(image.get_forces(), forces(image, "default"), atol=1e-8)
    assert shared.calls == 1  # answered from the batch
    neb.set_positions(neb.get_positions() + 0.01)
    neb.get_forces()
    assert (shared.calls, shared.evaluations) == (2, 8)  # the 3 moving images, one call
    unbatched = BandCalculator(calc_potential, SPECIES, images)
    assert unbatched.batch is None
    assert unbatched.results(2, images[2])["energy"] == pytest.approx(
        images[2].get_potential_energy(), abs=1e-8
    )


def test_calculator_campaign_records_the_calculator_and_reads_back(calc_potential, tmp_path):
    fast = NEBConfig(n_replicas=5, ftol=0.02, max_steps=100, climb_steps=300, relax_ftol=1e-3)
    fast = dataclasses.replace(fast, retry_replicas=())
    samples = {"s": equiatomic_alloy(2, 3.2428, seed=4)}
    assert ranks_per_task(fast, calc_potential, 15) >= 1
    report = run_neb_campaign(
        samples, tmp_path / "ds", calc_potential, fast, sites=[0], progress=False
    )
    assert report.n_hops_ok + report.n_hops_failed == 8 and report.n_task_errors == 0
    dataset = open_dataset(tmp_path / "ds")
    record = dataset.header.method["potential"]
    assert record["kind"] == "calculator" and record["factory"] == "vmeb.testing:eam_lammpslib"
    assert dataset.header.method["engine"] == "ase"
    hops = dataset.hops
    assert len(hops) == 8 and set(hops["engine"]) == {"ase"}
    assert set(hops["source"]) == {"neb-ase:eam_lammpslib"}
    ok = hops[hops["status"] == "ok"]
    assert len(ok) >= 6 and ok["barrier"].between(0.2, 2.5).all()
    again = run_neb_campaign(samples, tmp_path / "ds", calc_potential, fast, sites=[0])
    assert again.n_sites_run == 0 and again.n_sites_skipped == 1
    with pytest.raises(VmebError, match="dataset was computed with potential 'eam_lammpslib'"):
        run_neb_campaign(samples, tmp_path / "ds", "default", fast, sites=[0])
    with pytest.raises(VmebError, match="NEB engine 'lammps' runs LAMMPS"):
        run_neb_campaign(
            samples, tmp_path / "ds2", calc_potential, dataclasses.replace(fast, engine="lammps")
        )


def test_properties_of_the_calculator_route_equal_the_lammps_route(calc_potential):
    by_lammps = properties_table(["Mo"], "default", cells=3).iloc[0]
    by_ase = properties_table(["Mo"], calc_potential, cells=3, config=NEBConfig(engine="ase"))
    row = by_ase.iloc[0]
    assert row["E_m_status"] == "ok" and row["potential"] == "eam_lammpslib"
    assert row["a"] == pytest.approx(by_lammps["a"], abs=1e-4)
    assert row["a"] == pytest.approx(3.1501, abs=5e-4)  # 2 re / sqrt(3), Zhou et al. 2004
    assert row["E_vf"] == pytest.approx(by_lammps["E_vf"], abs=1e-4)
    assert row["E_m"] == pytest.approx(by_lammps["E_m"], abs=ROUTE_AGREEMENT)


def test_neb_command_refuses_a_lammps_engine_for_a_calculator(tmp_path, capsys):
    sample = tmp_path / "s.extxyz"
    write_structure_file(sample, equiatomic_alloy(2, 3.2428, seed=0), fmt="extxyz")
    argv = ["neb", str(sample), "-o", str(tmp_path / "ds"), "--sites", "0,"]
    code = main([*argv, "--potential", EAM_CALCULATOR_SPEC, "--engine", "lammps"])
    line = cli_error_line(capsys.readouterr().err)
    assert code != 0 and "NEB engine 'lammps' runs LAMMPS" in line
    assert not (tmp_path / "ds").exists()
