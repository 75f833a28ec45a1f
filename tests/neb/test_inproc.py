"""The in-process NEB engine (`inproc`) against the LAMMPS `neb` command; engine defaults."""

from __future__ import annotations

import numpy as np
import pytest

from vmeb.data.dataset import open_dataset, read_hops
from vmeb.lammps.potentials import Potential, default_potential
from vmeb.lammps.session import forces, potential_energy
from vmeb.neb.campaign import default_workers, ranks_per_task, run_neb_campaign
from vmeb.neb.engines.inproc import ReplicaSessions
from vmeb.neb.site import NEBConfig, compute_site_barriers, resolve_engine
from vmeb.structure.build import build_random_alloy
from vmeb.testing import equiatomic_alloy

SPECIES = ["Ta", "Nb", "Mo"]
#: Barriers of the same hop by `inproc` and `lammps` (eV): the same algorithm on the same
#: forces; measured to 1e-7 eV on 54- to 250-atom hops (float summation order differs).
SAME_SADDLE = 1e-5
#: Non-climbing replicas of two converged bands (ftol 1e-3 eV/Å) may sit this far apart (eV;
#: measured up to 7e-5 eV where the step counts differ by one).
SAME_PROFILE = 1e-3
#: Minimiser steps may differ where a rounding difference flips a quickmin velocity reset.
SAME_STEPS = 3
#: Energies (eV) and forces (eV/Å) of a reused instance against a fresh LAMMPS evaluation.
SAME_FORCES = 1e-9
#: Quick but real NEB settings for campaign mechanics.
FAST_NEB = NEBConfig(
    n_replicas=5, ftol=0.01, max_steps=200, climb_steps=400, retry_replicas=(), relax_ftol=1e-3
)


def test_inproc_engine_takes_the_lammps_engine_steps_to_the_same_saddle(eam, tmp_path):
    atoms = equiatomic_alloy(3, 3.2428, seed=2)
    by = {
        engine: compute_site_barriers(
            atoms, 0, eam, NEBConfig(engine=engine), SPECIES, tmp_path / engine
        )
        for engine in ("lammps", "inproc")
    }
    n_ok = 0
    for lammps, inproc in zip(by["lammps"], by["inproc"], strict=True):
        assert inproc.engine == "inproc" and lammps.engine == "lammps"
        assert inproc.moving_index == lammps.moving_index
        assert inproc.status == lammps.status, (lammps.reason, inproc.reason)
        assert inproc.n_replicas == lammps.n_replicas
        assert inproc.iterations == pytest.approx(lammps.iterations, abs=SAME_STEPS)
        if lammps.status == "ok":
            n_ok += 1
            assert abs(inproc.barrier - lammps.barrier) < SAME_SADDLE
            assert abs(inproc.energy_change - lammps.energy_change) < 1e-6
            np.testing.assert_allclose(inproc.profile, lammps.profile, atol=SAME_PROFILE)
    assert n_ok >= 6


def test_reused_instances_give_fresh_lammps_energies_and_forces(eam):
    """Positions written into a live instance (atoms moved across the boundary, then far away,
    then back: neighbour lists kept, rebuilt, rewrapped) give what a new LAMMPS run gives."""
    atoms = equiatomic_alloy(3, 3.2428, seed=4)
    rng = np.random.default_rng(0)
    sessions = ReplicaSessions(atoms, eam, SPECIES)
    try:
        base = atoms.positions.copy()
        moves = [
            rng.normal(0.0, 0.02, base.shape),  # small: the neighbour list is kept
            rng.normal(0.0, 0.3, base.shape),  # large: rebuilt
            np.zeros_like(base),
        ]
        moves[1][0] = -atoms.positions[0] - 0.4  # atom 0 leaves the cell: wrapped by LAMMPS
        for move in moves:
            positions = (base + move)[None]
            energy, force = sessions.evaluate([0], positions)
            probe = atoms.copy()
            probe.positions = positions[0]
            fresh = potential_energy(probe, eam, SPECIES)
            assert energy[0] == pytest.approx(fresh, abs=SAME_FORCES)
            np.testing.assert_allclose(force[0], forces(probe, eam, SPECIES), atol=SAME_FORCES)
    finally:
        sessions.close()


def test_auto_engine_is_inproc_for_cheap_cells_and_lammps_for_costly_ones(eam):
    snap = Potential(name="snap", pair_style="snap", files=("a", "b"), elements=tuple(SPECIES))
    auto = NEBConfig()
    assert auto.engine == "auto"
    assert resolve_engine(auto, eam, 249) == "inproc"
    assert resolve_engine(auto, eam, 1999) == "lammps"
    assert resolve_engine(auto, snap, 127) == "lammps"
    assert resolve_engine(NEBConfig(min_style="fire"), eam, 249) == "lammps"
    assert resolve_engine(NEBConfig(engine="pool"), eam, 249) == "pool"
    # one NEB per core for cheap cells; 7 ranks per NEB for costly ones
    assert ranks_per_task(auto, eam, 249) == 1
    assert ranks_per_task(NEBConfig(engine="inproc")) == 1
    assert ranks_per_task(auto, eam, 1999) == 7
    assert ranks_per_task(auto) == 7  # cell unknown: counted as the LAMMPS engine
    assert default_workers(ranks_per_task(auto, eam, 249), cores=2) == 2
    assert default_workers(ranks_per_task(auto, eam, 249), cores=64) == 64


def test_campaign_started_with_lammps_resumes_with_the_default_engine(tmp_path):
    """A dataset begun by the `lammps` engine continues with `auto` (same band), and the rows
    say which engine computed them; barriers of the two engines on the same sites agree."""
    samples = {"equi": build_random_alloy("Ta:1,Nb:1,Mo:1", 3, a=3.24, seed=1)}
    potential = default_potential()
    lammps = NEBConfig(**{**FAST_NEB.to_json(), "retry_replicas": (), "engine": "lammps"})
    root, reference = tmp_path / "mixed", tmp_path / "lammps"
    kwargs = {"sites": 2, "seed": 5, "progress": False, "workers": 1}
    first = run_neb_campaign(samples, root, potential, lammps, max_sites=1, **kwargs)
    second = run_neb_campaign(samples, root, potential, FAST_NEB, **kwargs)
    assert first.n_sites_run == 1 and second.n_sites_skipped == 1 and second.n_sites_run == 1
    run_neb_campaign(samples, reference, potential, lammps, **kwargs)
    mixed, pure = (
        read_hops(r).sort_values(["vacancy_index", "moving_index"]).reset_index(drop=True)
        for r in (root, reference)
    )
    assert sorted(mixed["engine"].unique()) == ["inproc", "lammps"]
    assert (mixed["source"] == f"neb-lammps:{potential.name}").all()
    assert (mixed["status"] == pure["status"]).all()
    ok = (mixed["status"] == "ok").to_numpy()
    np.testing.assert_allclose(
        mixed["barrier"].to_numpy()[ok], pure["barrier"].to_numpy()[ok], atol=SAME_SADDLE
    )
    assert open_dataset(root).header.method["neb"]["engine"] == "lammps"  # as first written


def test_a_lammps_error_inside_a_band_fails_that_attempt_only(eam, tmp_path, monkeypatch):
    """LAMMPS raising in a band ("Lost atoms" when a replica blows apart, seen in a KMC run)
    fails that attempt of that hop: it is retried with more replicas on fresh instances, and
    the site's other hops are computed as without the error."""
    import vmeb.neb.engines.inproc as inproc

    atoms = equiatomic_alloy(3, 3.2428, seed=2)
    config = NEBConfig(engine="inproc")
    clean = compute_site_barriers(atoms, 0, eam, config, SPECIES, tmp_path / "clean")
    real, calls = inproc.optimise_band, []

    def first_call_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise Exception("ERROR: Lost atoms: original 53 current 52")  # noqa: TRY002
        return real(*args, **kwargs)

    monkeypatch.setattr(inproc, "optimise_band", first_call_fails)
    hit = compute_site_barriers(atoms, 0, eam, config, SPECIES, tmp_path / "hit")
    first = hit[0]
    assert first.n_replicas == config.retry_replicas[0] and first.status == clean[0].status
    if first.status == "ok":
        assert abs(first.barrier - clean[0].barrier) < 2e-3  # 11 replicas find the same saddle
    else:
        assert "Lost atoms" in first.reason
    for a, b in zip(hit[1:], clean[1:], strict=True):
        assert a.status == b.status and a.n_replicas == b.n_replicas
        if a.status == "ok":
            assert abs(a.barrier - b.barrier) < SAME_SADDLE
