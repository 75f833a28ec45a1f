"""Climbing-image NEB: LAMMPS `neb` against ASE NEB, path checks, retries, hop records."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms

from vmeb.data.dataset import DatasetHeader, append_hops, create_dataset, read_hops
from vmeb.errors import VmebError
from vmeb.neb.site import (
    HopResult,
    NEBConfig,
    NEBRun,
    check_path,
    compute_site_barriers,
    final_states,
    interpolate_path,
    prepare_vacancy,
    run_hop,
)
from vmeb.structure.build import bcc_supercell
from vmeb.testing import equiatomic_alloy

#: LAMMPS `neb` and ASE NEB must agree on a barrier to this (eV), issue 3.
ENGINE_AGREEMENT = 1e-3
SPECIES = ["Ta", "Nb", "Mo"]


def test_lammps_and_ase_neb_agree_on_an_alloy_hop(eam, tmp_path):
    atoms = equiatomic_alloy(3, 3.2428, seed=2)
    config = NEBConfig(engine="lammps")
    vacancy = prepare_vacancy(atoms, 0, eam, config, SPECIES)
    moving = int(vacancy.neighbours[0])
    by_lammps = run_hop(vacancy, moving, eam, config, SPECIES, tmp_path / "lammps")
    by_ase = run_hop(vacancy, moving, eam, NEBConfig(engine="ase"), SPECIES, tmp_path / "ase")
    for hop in (by_lammps, by_ase):
        assert hop.status == "ok", hop.reason
        assert hop.converged and hop.n_replicas == 7
        assert hop.moving_species == atoms[moving].symbol
    assert by_lammps.engine == "lammps" and by_ase.engine == "ase"
    assert 0.3 < by_lammps.barrier < 2.5
    assert abs(by_lammps.barrier - by_ase.barrier) < ENGINE_AGREEMENT
    assert abs(by_lammps.reverse_barrier - by_ase.reverse_barrier) < ENGINE_AGREEMENT
    # end states are the same relaxed structures in both engines
    assert abs(by_lammps.energy_change - by_ase.energy_change) < 1e-6
    assert by_lammps.barrier == pytest.approx(max(by_lammps.profile))
    assert by_lammps.barrier - by_lammps.reverse_barrier == pytest.approx(by_lammps.energy_change)


def test_ase_bfgs_band_and_one_climbing_image_give_the_lammps_barrier(eam, tmp_path):
    """The cheap protocol of the universal-potential study (examples/umlip/neb_umlip.yaml): BFGS
    on a band of one climbing image, forces to 0.01 eV/Å, against LAMMPS `neb` with 7 replicas."""
    atoms = equiatomic_alloy(3, 3.2428, seed=2)
    config = NEBConfig(engine="lammps")
    vacancy = prepare_vacancy(atoms, 0, eam, config, SPECIES)
    cheap = NEBConfig(
        engine="ase",
        ase_optimizer="bfgs",
        n_replicas=3,
        force_norm="max",
        ftol=0.01,
        max_steps=1,
        climb_steps=200,
        max_advance=0.8,
    )
    for moving in vacancy.neighbours[:2]:
        reference = run_hop(vacancy, int(moving), eam, config, SPECIES, tmp_path / "lammps")
        fast = run_hop(vacancy, int(moving), eam, cheap, SPECIES, tmp_path / "bfgs")
        assert fast.status == "ok" and fast.n_replicas == 3, fast.reason
        assert fast.iterations < 60
        assert abs(fast.barrier - reference.barrier) < 5e-3
    with pytest.raises(VmebError, match="ase_optimizer 'lbfgs'"):
        NEBConfig(ase_optimizer="lbfgs")


def test_pure_mo_metastable_midpoint_is_rejected_and_retried(eam, tmp_path):
    """5 replicas of a pure-Mo hop settle on the metastable midpoint; 7 find the saddle."""
    atoms = bcc_supercell({"Mo": 54}, 3, 3.1501, rng=np.random.default_rng(0))
    config = NEBConfig(n_replicas=5, retry_replicas=(7,))
    vacancy = prepare_vacancy(atoms, 0, eam, config, ["Mo"])
    hop = run_hop(vacancy, int(vacancy.neighbours[0]), eam, config, ["Mo"], tmp_path)
    assert hop.status == "ok" and hop.reason == ""
    assert hop.n_replicas == 7  # the 5-replica band was rejected and rerun
    # the symmetric hop: forward = reverse, no energy change
    assert abs(hop.energy_change) < 1e-4
    assert hop.reverse_barrier == pytest.approx(hop.barrier, abs=1e-4)
    midpoint_only = run_hop(
        vacancy,
        int(vacancy.neighbours[0]),
        eam,
        NEBConfig(n_replicas=5, retry_replicas=()),
        ["Mo"],
        tmp_path / "five",
    )
    assert midpoint_only.status == "failed" and math.isnan(midpoint_only.barrier)
    assert "saddle between replicas" in midpoint_only.reason
    # the rejected 5-replica top (the metastable state) lies below the true saddle
    assert max(midpoint_only.profile) < hop.barrier - 0.05


# ---- path checks on synthetic bands: one moving atom on a 1D energy curve ----------------------

HOP = np.array([2.5, 0.0, 0.0])


def _band(fractions, energy, slope, slide: float = 0.0) -> tuple[NEBRun, np.ndarray]:
    """A band where atom 0 moves along HOP; E(s) and dE/ds given; others optionally slid."""
    rng = np.random.default_rng(0)
    cell = np.eye(3) * 10.0
    base = rng.uniform(0, 10, size=(12, 3))
    base[0] = [1.0, 5.0, 5.0]
    fractions = np.asarray(fractions, dtype=float)
    positions = np.repeat(base[None], len(fractions), axis=0)
    positions[:, 0] += fractions[:, None] * HOP
    forces = np.zeros_like(positions)
    length = np.linalg.norm(HOP)
    forces[:, 0] = -(np.array([slope(s) for s in fractions]) / length)[:, None] * HOP / length
    if slide:
        positions[1:-1, 1:] += np.array([slide, 0.0, 0.0])
    run = NEBRun(
        energies=np.array([energy(s) for s in fractions]),
        positions=positions,
        forces=forces,
        iterations=10,
        converged=True,
        residual=0.0,
        engine="test",
    )
    return run, cell


def _bump(s):
    return 1.0 * math.sin(math.pi * s) ** 2


def _bump_slope(s):
    return math.pi * math.sin(2 * math.pi * s)


def _double(s):
    """Two saddles near s = 0.33 and 0.67 (1.68 eV) around a metastable midpoint (1.44 eV)."""
    return 1.44 * math.sin(math.pi * s) ** 2 + 0.8 * math.sin(2 * math.pi * s) ** 2


def _double_slope(s):
    return 1.44 * math.pi * math.sin(2 * math.pi * s) + 1.6 * math.pi * math.sin(4 * math.pi * s)


def test_check_path_accepts_a_clean_single_hump():
    run, cell = _band(np.linspace(0, 1, 7), _bump, _bump_slope)
    assert check_path(run, 0, cell, NEBConfig()) == ""


@pytest.mark.parametrize(
    ("fractions", "expected"),
    [
        ([0, 0.02, 0.05, 0.07, 0.9, 0.95, 1.0], "band collapsed"),
        ([0, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0], "does not advance"),
    ],
)
def test_check_path_flags_a_stalled_or_collapsed_moving_atom(fractions, expected):
    run, cell = _band(fractions, _bump, _bump_slope)
    assert expected in check_path(run, 0, cell, NEBConfig())


def test_check_path_flags_a_whole_cell_slide():
    run, cell = _band(np.linspace(0, 1, 7), _bump, _bump_slope, slide=0.3)
    assert "slide together by 0.300" in check_path(run, 0, cell, NEBConfig())
    small, _ = _band(np.linspace(0, 1, 7), _bump, _bump_slope, slide=0.05)
    assert check_path(small, 0, cell, NEBConfig()) == ""


def test_check_path_flags_a_metastable_state_below_the_ends():
    def dip(s):
        return -0.2 * math.sin(math.pi * s) ** 2

    def dip_slope(s):
        return -0.2 * math.pi * math.sin(2 * math.pi * s)

    run, cell = _band(np.linspace(0, 1, 7), dip, dip_slope)
    assert "metastable state: replica 3 lies 0.200 eV" in check_path(run, 0, cell, NEBConfig())


def test_check_path_finds_a_saddle_hidden_between_replicas():
    coarse, cell = _band(np.linspace(0, 1, 5), _double, _double_slope)
    assert "saddle between replicas" in check_path(coarse, 0, cell, NEBConfig())
    fine, _ = _band(np.linspace(0, 1, 11), _double, _double_slope)
    assert check_path(fine, 0, cell, NEBConfig()) == ""


def test_check_path_reports_non_convergence_before_the_path():
    from vmeb.neb.site import _attempt_reason

    run, cell = _band(np.linspace(0, 1, 7), _bump, _bump_slope)
    stuck = NEBRun(**{**run.__dict__, "converged": False, "residual": 0.5, "iterations": 3000})
    assert _attempt_reason(stuck, 0, cell, NEBConfig()).startswith("not converged")


# ---- set-up, records, input checks -------------------------------------------------------------


def test_interpolate_path_uses_the_minimum_image_across_the_boundary():
    cell = np.eye(3) * 10.0
    initial = Atoms("Ta2", positions=[[9.5, 5.0, 5.0], [2.0, 2.0, 2.0]], cell=cell, pbc=True)
    final = initial.copy()
    final.positions[0] = [0.9, 5.0, 5.0]  # 1.4 Å across x = 10, stored wrapped
    images = interpolate_path(initial, final, 5)
    x = [image.positions[0, 0] for image in images]
    np.testing.assert_allclose(x, [9.5, 9.85, 10.2, 10.55, 10.9])
    np.testing.assert_allclose(images[2].positions[1], [2.0, 2.0, 2.0])


def test_hop_rows_round_trip_through_the_dataset(tmp_path):
    ok = HopResult(
        vacancy_index=3, moving_index=7, moving_species="Nb", barrier=0.8125,
        reverse_barrier=0.75, energy_change=0.0625, converged=True, status="ok", reason="",
        profile=(0.0, 0.5, 0.8125, 0.0625), iterations=120, n_replicas=7, engine="lammps",
    )  # fmt: skip
    failed = HopResult(
        vacancy_index=3, moving_index=9, moving_species="Mo", barrier=math.nan,
        reverse_barrier=math.nan, energy_change=math.nan, converged=False, status="failed",
        reason="7 replicas: not converged", profile=(0.0, 1.2), iterations=4000,
        n_replicas=11, engine="lammps",
    )  # fmt: skip
    root = create_dataset(tmp_path / "ds", DatasetHeader(species=("Ta", "Nb", "Mo")))
    append_hops(root, [ok.to_row("s0", "neb-lammps:eam"), failed.to_row("s0", "neb-lammps:eam")])
    hops = read_hops(root)
    assert list(hops["moving_index"]) == [7, 9]
    assert hops.loc[0, "barrier"] == 0.8125 and hops.loc[0, "status"] == "ok"
    assert math.isnan(hops.loc[1, "barrier"]) and hops.loc[1, "status"] == "failed"
    assert hops.loc[1, "reason"] == "7 replicas: not converged"
    assert hops.loc[0, "profile"] == "0.0;0.5;0.8125;0.0625"
    assert list(hops["n_replicas"]) == [7, 11]


def test_bad_input_is_a_clear_error(eam):
    atoms = equiatomic_alloy(3, 3.2428, seed=2)
    with pytest.raises(VmebError, match="out of range"):
        compute_site_barriers(atoms, 54, eam)
    with pytest.raises(VmebError, match="engine"):
        NEBConfig(engine="vasp")
    with pytest.raises(VmebError, match="quickmin"):
        NEBConfig(min_style="cg")
    with pytest.raises(VmebError, match="multiple"):
        from vmeb.neb.engines.lammps import _ranks

        _ranks(NEBConfig(n_procs=4), 7)


@pytest.mark.slow
def test_site_of_pure_ta_has_eight_equal_barriers(eam, tmp_path):
    atoms = bcc_supercell({"Ta": 128}, 4, 3.3025, rng=np.random.default_rng(0))
    # exercises the overlapping NEB subprocesses
    config = NEBConfig(engine="lammps", concurrent_hops=4)
    hops = compute_site_barriers(atoms, 5, eam, config, workdir=tmp_path)
    assert len(hops) == 8 and all(h.status == "ok" for h in hops)
    barriers = np.array([h.barrier for h in hops])
    assert np.ptp(barriers) < 1e-4
    assert barriers.mean() == pytest.approx(0.998, abs=0.01)  # 686 atoms: 0.995
    assert all(abs(h.energy_change) < 1e-4 for h in hops)


@pytest.mark.slow
def test_engines_agree_on_every_hop_of_a_128_atom_alloy_site(eam, tmp_path):
    atoms = bcc_supercell({"Ta": 43, "Nb": 43, "Mo": 42}, 4, 3.2428, rng=np.random.default_rng(1))
    lammps = NEBConfig(engine="lammps")
    by_lammps = compute_site_barriers(atoms, 0, eam, lammps, workdir=tmp_path / "l")
    by_ase = compute_site_barriers(atoms, 0, eam, NEBConfig(engine="ase"), workdir=tmp_path / "a")
    for a, b in zip(by_lammps, by_ase, strict=True):
        assert a.moving_index == b.moving_index
        if a.status == "ok" and b.status == "ok" and a.n_replicas == b.n_replicas:
            assert abs(a.barrier - b.barrier) < ENGINE_AGREEMENT


def test_static_ends_and_sleeping_ranks_leave_the_band_unchanged(eam, tmp_path):
    # the end replicas of the costly-replica mode hold their energies instead of evaluating
    # the potential; the NEB must follow the same path to the same saddle
    atoms = equiatomic_alloy(3, 3.2428, seed=3)
    vacancy = prepare_vacancy(atoms, 4, eam, NEBConfig(), SPECIES)
    moving = int(vacancy.neighbours[2])
    hops = {
        costly: run_hop(
            vacancy,
            moving,
            eam,
            NEBConfig(engine="lammps", costly_replicas=costly),
            SPECIES,
            tmp_path / str(costly),
        )
        for costly in (False, True)
    }
    live, static = hops[False], hops[True]
    assert live.status == static.status == "ok"
    assert static.barrier == pytest.approx(live.barrier, abs=1e-6)
    assert static.energy_change == pytest.approx(live.energy_change, abs=1e-8)
    # the other replicas stop anywhere within the force tolerance
    np.testing.assert_allclose(static.profile, live.profile, atol=1e-5)
    assert abs(static.iterations - live.iterations) <= 2


def test_final_states_in_worker_processes_equal_serial_ones(eam):
    atoms = equiatomic_alloy(3, 3.2428, seed=4)
    config = NEBConfig()
    vacancy = prepare_vacancy(atoms, 9, eam, config, SPECIES)
    hops = [int(j) for j in vacancy.neighbours[:3]]
    serial = final_states(vacancy, hops, eam, NEBConfig(relax_workers=1), SPECIES)
    pooled = final_states(vacancy, hops, eam, NEBConfig(relax_workers=2), SPECIES)
    assert list(pooled) == hops
    for j in hops:
        np.testing.assert_allclose(pooled[j].positions, serial[j].positions, atol=1e-10)
        # the moving atom sits on the vacant site of the relaxed initial state
        index = vacancy.cell_index(j)
        assert np.linalg.norm(serial[j].positions[index] - vacancy.site) < 0.2


def test_pool_engine_takes_the_lammps_engine_steps_to_the_same_saddle(eam, tmp_path):
    # the pool engine re-implements LAMMPS's fix neb + quickmin in Python: same band
    atoms = equiatomic_alloy(3, 3.2428, seed=5)
    vacancy = prepare_vacancy(atoms, 11, eam, NEBConfig(), SPECIES)
    moving = int(vacancy.neighbours[1])
    by = {
        engine: run_hop(vacancy, moving, eam, NEBConfig(engine=engine), SPECIES, tmp_path / engine)
        for engine in ("lammps", "pool")
    }
    lammps, pool = by["lammps"], by["pool"]
    assert lammps.status == pool.status == "ok", (lammps.reason, pool.reason)
    assert pool.engine == "pool" and pool.n_replicas == 7
    assert pool.iterations == pytest.approx(lammps.iterations, abs=2)
    assert pool.barrier == pytest.approx(lammps.barrier, abs=1e-6)
    np.testing.assert_allclose(pool.profile, lammps.profile, atol=1e-5)


@pytest.mark.parametrize(
    ("field", "value"),
    [("spring", math.nan), ("spring", math.inf), ("timestep", math.nan), ("ftol", math.nan),
     ("etol", -1.0)],
)  # fmt: skip
def test_neb_config_refuses_non_finite_settings(field, value):
    """``spring: .nan`` in a --config file used to pass (NaN compares false with everything)."""
    with pytest.raises(VmebError, match=rf"^{field} = {value}: {field} must be finite and >"):
        NEBConfig(**{field: value})
