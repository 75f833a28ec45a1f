"""CSRO runs: hybrid MC/MD and lattice swap MC in LAMMPS.

Checked: order parameters leave the random-sampling band (computed by `random_reference`) while
the inherent energy falls; the swap schedule of the paper (30 trials per pair every 100 steps);
the Metropolis wiring at its two limits (T -> 0: no uphill move; T -> infinity: every swap
accepted); energies recorded along a run against independent LAMMPS evaluations; outputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ase import Atoms

from vmeb.csro.montecarlo import (
    HybridMCMDConfig,
    LatticeMCConfig,
    hybrid_mcmd,
    lattice_swap_mc,
    write_order_result,
)
from vmeb.csro.order_parameters import pair_counts, random_reference
from vmeb.errors import VmebError
from vmeb.lammps.session import potential_energy
from vmeb.structure.io import read_structure
from vmeb.testing import equiatomic_alloy

A = 3.24  # Å, near the EAM's equiatomic TaNbMo lattice constant
SPECIES = ("Ta", "Nb", "Mo")


def significance(atoms: Atoms, reference, parameter: str = "alpha") -> float:
    """Largest |alpha| (or |delta|) of shells 1-2 in units of the random-sample spread."""
    counts = pair_counts(atoms, 2, a=A, species=SPECIES)
    if parameter == "alpha":
        return float(np.max(np.abs(counts.warren_cowley()) / reference.alpha_std))
    return float(np.max(np.abs(counts.delta()) / reference.delta_std))


def test_hybrid_mcmd_orders_while_inherent_energy_falls(eam):
    start = equiatomic_alloy(4, A, seed=5)
    reference = random_reference(start, n_shells=2, n_samples=300, seed=2)
    config = HybridMCMDConfig(steps=3000, record_interval=1000, snapshot_steps=(0, 3000))
    result = hybrid_mcmd(start, eam, config, seed=3)
    traj = result.trajectory
    assert list(traj["md_step"]) == [0, 1000, 2000, 3000]
    # paper schedule: 30 trials per pair every 100 MD steps
    assert list(result.swaps["pair"]) == ["Ta-Nb", "Ta-Mo", "Nb-Mo"]
    assert list(result.swaps["attempted"]) == [30 * 3000 // 100] * 3
    assert np.all(result.swaps["accepted"] > 0)
    # the random start is random; the end is ordered beyond 3 sigma of random sampling
    first, last = result.snapshots
    assert significance(first, reference) < 3.5
    assert significance(last, reference) > 4.0
    assert significance(first, reference, "delta") < 3.5
    assert significance(last, reference, "delta") > 4.0
    # inherent energy falls by more than 5 meV/atom
    per_atom = traj["inherent_energy_per_atom"].to_numpy()
    assert per_atom[-1] < per_atom[0] - 0.005
    # the thermostat holds 300 K within thermal fluctuation of 128 atoms (~ 300 * sqrt(2/3N))
    assert np.all(np.abs(traj["temperature"].iloc[1:] - 300.0) < 5 * 300 * np.sqrt(2 / (3 * 128)))
    # species counts are conserved and the recorded energy is that of the stored snapshot
    assert sorted(last.get_chemical_symbols()) == sorted(start.get_chemical_symbols())
    assert last.info["potential_energy"] == pytest.approx(potential_energy(last, eam), abs=1e-6)
    assert last.info["group"] == "TaNbMo_md3000" and last.info["md_step"] == 3000
    # the delta columns of the trajectory are the paper's delta of the snapshot
    delta = pair_counts(last, 2, a=A, species=SPECIES).delta()
    assert traj["delta_1_Nb-Mo"].iloc[-1] == pytest.approx(delta[0, 1, 2])
    assert traj["delta_2_Ta-Ta"].iloc[-1] == pytest.approx(delta[1, 0, 0])


def test_lattice_mc_orders_while_energy_falls(eam):
    start = equiatomic_alloy(4, A, seed=6)
    reference = random_reference(start, n_shells=2, n_samples=300, seed=2)
    config = LatticeMCConfig(
        temperature=300.0, sweeps=30, record_interval=10, snapshot_sweeps=(30,)
    )
    result = lattice_swap_mc(start, eam, seed=4, config=config)
    traj = result.trajectory
    assert list(traj["mc_sweep"]) == [0, 10, 20, 30]
    # one sweep = N trials split over the 3 pairs
    assert list(result.swaps["attempted"]) == [30 * int(np.ceil(128 / 3))] * 3
    (last,) = result.snapshots
    assert significance(start, reference) < 3.5
    assert significance(last, reference) > 4.0
    assert significance(last, reference, "delta") > 4.0
    assert (
        traj["inherent_energy_per_atom"].iloc[-1] < traj["inherent_energy_per_atom"].iloc[0] - 0.005
    )
    # the rigid-lattice energy the MC saw is the energy of the final arrangement on the
    # starting sites, evaluated independently
    rigid = start.copy()
    rigid.set_chemical_symbols(last.get_chemical_symbols())
    assert traj["potential_energy"].iloc[-1] == pytest.approx(
        potential_energy(rigid, eam), abs=1e-6
    )
    assert last.info["group"] == "TaNbMo_mc30"


def test_lattice_mc_settings_have_one_source():
    # the config is the one source of truth: arguments beside it are refused, not merged
    start = equiatomic_alloy(2, A, seed=0)
    config = LatticeMCConfig(temperature=900.0, sweeps=3)
    with pytest.raises(VmebError, match="temperature given both as argument and in config"):
        lattice_swap_mc(start, None, temperature=300.0, config=config)
    with pytest.raises(VmebError, match="sweeps given both"):
        lattice_swap_mc(start, None, sweeps=100, config=config)


def test_lattice_mc_metropolis_limits(eam):
    start = equiatomic_alloy(3, A, seed=8)  # 54 atoms
    config = LatticeMCConfig(temperature=1.0, sweeps=6, record_interval=1)
    cold = lattice_swap_mc(start, eam, seed=1, config=config)
    energies = cold.trajectory["potential_energy"].to_numpy()
    # at 1 K (kT = 86 micro-eV) no swap raises the energy by more than a few kT
    assert np.all(np.diff(energies) < 1e-3)
    assert energies[-1] < energies[0] - 0.1
    hot = lattice_swap_mc(start, eam, temperature=1e8, sweeps=2, seed=1)
    # kT = 8.6 keV: exp(-dE/kT) > 0.999 for every swap
    assert np.all(hot.swaps["acceptance"] > 0.995)


def test_write_order_result_and_cli(eam, tmp_path):
    from vmeb.cli.main import main

    start = equiatomic_alloy(3, A, seed=9)
    sample = tmp_path / "sample.extxyz"
    start.write(sample)
    out = tmp_path / "ordered"
    status = main(
        [
            "order", str(sample), "--potential", f"eam/alloy:{eam.files[0]}", "--steps", "400",
            "--snapshots", "0,400", "--record-every", "200", "--seed", "2", "-o", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    traj = pd.read_csv(out / "trajectory.csv")
    assert list(traj["md_step"]) == [0, 200, 400]
    swaps = pd.read_csv(out / "swaps.csv")
    assert list(swaps["attempted"]) == [120, 120, 120]
    snap = read_structure(out / "snapshots" / "TaNbMo_md400.extxyz")
    assert snap.info["group"] == "TaNbMo_md400" and len(snap) == 54
    assert snap.info["potential_energy"] == pytest.approx(traj["inherent_energy"].iloc[-1])
    assert (out / "figures" / "energy_delta.png").stat().st_size > 1000
    # the output exists: a second run refuses, nothing half-written appears
    assert main(["order", str(sample), "--steps", "10", "-o", str(out)]) == 2
    assert (
        main(
            ["order", str(sample), "--snapshots", "50", "--steps", "10", "-o", str(tmp_path / "x")]
        )
        == 2
    )
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ordered", "sample.extxyz"]
    with pytest.raises(VmebError, match="exists"):
        write_order_result(hybrid_mcmd(start, eam, HybridMCMDConfig(steps=0)), out)
