"""NEB campaigns: site choice, resume after SIGKILL, failed tasks, Dask against local runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vmeb.data.dataset import append_hops, open_dataset, read_hops
from vmeb.errors import VmebError
from vmeb.lammps.potentials import Potential, default_potential
from vmeb.neb.campaign import (
    SiteTask,
    choose_sites,
    default_workers,
    plan_tasks,
    prepare_dataset,
    ranks_per_task,
    run_neb_campaign,
)
from vmeb.neb.site import NEBConfig
from vmeb.structure.build import build_random_alloy
from vmeb.structure.io import write_structure_file

#: Quick but real NEB settings for campaign mechanics (the physics is tested in test_neb).
FAST_NEB = NEBConfig(
    n_replicas=5, ftol=0.01, max_steps=200, climb_steps=400, retry_replicas=(), relax_ftol=1e-3
)
SITES = 1
SEED = 3
#: Barriers of the same hop from two runs of the same inputs (eV).
SAME_BARRIER = 1e-6


def _samples() -> dict[str, object]:
    """Two 54-atom random Ta-Nb-Mo cells (lattice constant given: no lattice relaxation)."""
    return {
        "equi": build_random_alloy("Ta:1,Nb:1,Mo:1", 3, a=3.24, seed=1),
        "tarich": build_random_alloy("Ta:2,Nb:1,Mo:1", 3, a=3.26, seed=2),
    }


def _hop_table(root: Path) -> pd.DataFrame:
    hops = read_hops(root)
    return hops.sort_values(["sample_id", "vacancy_index", "moving_index"]).reset_index(drop=True)


def _assert_same_hops(a: pd.DataFrame, b: pd.DataFrame) -> None:
    keys = ["sample_id", "vacancy_index", "moving_index"]
    assert not a.duplicated(keys).any() and not b.duplicated(keys).any()
    assert a[keys].equals(b[keys])
    assert (a["status"] == b["status"]).all()
    for column in ("barrier", "reverse_barrier", "energy_change"):
        x, y = a[column].to_numpy(), b[column].to_numpy()
        assert np.array_equal(np.isnan(x), np.isnan(y))
        finite = ~np.isnan(x)
        np.testing.assert_allclose(x[finite], y[finite], atol=SAME_BARRIER, rtol=0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted local campaign in a 2-process pool: 2 samples x 1 site x 8 hops.

    The SIGKILL test runs the CLI serially and the Dask test on a cluster: the three execution
    paths are compared with each other through this run.
    """
    root = tmp_path_factory.mktemp("reference") / "dataset"
    report = run_neb_campaign(
        _samples(),
        root,
        default_potential(),
        FAST_NEB,
        sites=SITES,
        seed=SEED,
        workers=2,
        progress=False,
    )
    assert report.n_sites == report.n_sites_run == 2 * SITES
    assert report.n_hops_ok + report.n_hops_failed == 8 * 2 * SITES
    return root


def test_choose_sites_is_reproducible_and_per_sample():
    a = choose_sites(128, "s1", 10, seed=4)
    assert a == choose_sites(128, "s1", 10, seed=4)
    assert len(set(a)) == 10 and all(0 <= i < 128 for i in a)
    assert a != choose_sites(128, "s2", 10, seed=4)
    assert choose_sites(5, "s1", None, 0) == [0, 1, 2, 3, 4]
    assert choose_sites(5, "s1", 99, 0) == [0, 1, 2, 3, 4]
    assert choose_sites(5, "s1", [4, 1, 1], 0) == [1, 4]
    with pytest.raises(VmebError, match="site index 5 out of range 0..4"):
        choose_sites(5, "s1", [5], 0)


def test_bad_sites_fail_before_the_dataset_is_created(tmp_path):
    """A site index beyond a sample used to leave an empty dataset (header, structures) behind,
    whose settings then bound the next run."""
    root = tmp_path / "ds"
    with pytest.raises(VmebError, match="sample equi: site index 999 out of range 0..53"):
        run_neb_campaign(_samples(), root, default_potential(), FAST_NEB, sites=[1, 999])
    assert not root.exists()


def test_packing_follows_mpi_ranks():
    assert ranks_per_task(NEBConfig()) == 7
    assert ranks_per_task(NEBConfig(n_procs=14)) == 14
    assert ranks_per_task(NEBConfig(n_replicas=5, concurrent_hops=2)) == 10
    assert ranks_per_task(NEBConfig(engine="ase")) == 1
    assert default_workers(7, cores=32) == 4
    assert default_workers(7, cores=2) == 1
    assert default_workers(1, cores=2) == 2


def test_reference_campaign_rows(reference):
    data = open_dataset(reference)
    hops = data.hops
    assert data.species == ("Ta", "Nb", "Mo")
    assert data.header.method["neb"]["n_replicas"] == FAST_NEB.n_replicas
    # the default engine (auto) ran the in-process engine on these 53-atom vacancy cells, in
    # 2 pool workers: the SIGKILL (serial CLI) and Dask tests compare their rows with these
    assert (hops["engine"] == "inproc").all()
    assert data.header.method["potential"]["name"] == default_potential().name
    assert sorted(data.sample_ids()) == ["equi", "tarich"]
    # each site has its 8 distinct first neighbours, the moving species as stored
    for (sid, vac), group in hops.groupby(["sample_id", "vacancy_index"]):
        assert len(group) == 8 and group["moving_index"].nunique() == 8
        atoms = data.structure(sid)
        distances = atoms.get_distances(vac, group["moving_index"].to_numpy(), mic=True)
        np.testing.assert_allclose(distances, np.sqrt(3) / 2 * atoms.cell[0, 0] / 3, atol=1e-6)
        symbols = np.array(atoms.get_chemical_symbols())[group["moving_index"].to_numpy()]
        assert list(symbols) == list(group["moving_species"])
    ok = hops[hops["status"] == "ok"]
    assert len(ok) >= 8  # most hops of random Ta-Nb-Mo cells converge with a clean path
    # barrier = top replica - initial; reverse - forward = -(energy change)
    np.testing.assert_allclose(
        ok["reverse_barrier"] - ok["barrier"], -ok["energy_change"], atol=1e-9
    )
    assert ok["barrier"].between(0.1, 4.0).all()
    assert (hops.loc[hops["status"] == "failed", "reason"].str.len() > 0).all()
    assert (hops.loc[hops["status"] == "failed", "barrier"].isna()).all()


def test_resume_skips_finished_sites_without_recomputing(reference, tmp_path):
    root = tmp_path / "copy"
    prepare_dataset(root, _samples(), default_potential(), FAST_NEB)
    done = read_hops(reference)  # file order: one task's 8 rows after another's
    append_hops(root, done.iloc[0:8].to_dict("records"))
    stored = {sid: open_dataset(root).structure(sid) for sid in ("equi", "tarich")}
    tasks, complete = plan_tasks(root, stored, SITES, SEED)
    assert complete == 1 and len(tasks) == 2 * SITES - 1
    assert all(len(t.moving_indices) == 8 for t in tasks)
    # a site with some of its rows (added by hand) is rerun for the missing hops only
    append_hops(root, done.iloc[8:11].to_dict("records"))
    tasks, complete = plan_tasks(root, stored, SITES, SEED)
    partial = [t for t in tasks if len(t.moving_indices) < 8]
    assert len(partial) == 1 and len(partial[0].moving_indices) == 5
    assert isinstance(partial[0], SiteTask)


def test_resume_refuses_other_settings(tmp_path):
    root = tmp_path / "ds"
    prepare_dataset(root, _samples(), default_potential(), FAST_NEB)
    with pytest.raises(VmebError, match="other NEB settings"):
        prepare_dataset(root, _samples(), default_potential(), NEBConfig())
    other = _samples()
    other["equi"] = build_random_alloy("Ta:1,Nb:1,Mo:1", 3, a=3.24, seed=99)
    with pytest.raises(VmebError, match="different structure"):
        prepare_dataset(root, other, default_potential(), FAST_NEB)


def test_resume_takes_samples_with_a_subset_of_the_species(tmp_path):
    root = tmp_path / "ds"
    prepare_dataset(root, _samples(), default_potential(), FAST_NEB)
    binary = {"tamo": build_random_alloy("Ta:1,Mo:1", 3, a=3.22, seed=3)}
    stored = prepare_dataset(root, binary, default_potential(), FAST_NEB)
    assert open_dataset(root).species == ("Ta", "Nb", "Mo")  # the ternary order is kept
    assert stored["tamo"].get_chemical_symbols() == binary["tamo"].get_chemical_symbols()
    fresh = tmp_path / "binary"  # a new dataset takes the species present
    prepare_dataset(fresh, binary, default_potential(), FAST_NEB)
    assert open_dataset(fresh).species == ("Ta", "Mo")


def test_task_that_raises_is_stored_as_failed_rows(tmp_path):
    good = default_potential()
    broken = Potential(
        name=good.name,
        pair_style=good.pair_style,
        files=(str(tmp_path / "missing.eam.alloy"),),
        elements=good.elements,
    )
    samples = {"equi": _samples()["equi"]}
    report = run_neb_campaign(
        samples,
        tmp_path / "ds",
        broken,
        FAST_NEB,
        sites=[5],
        workers=1,
        retries=1,
        progress=False,
    )
    assert report.n_task_errors == 1 and report.n_hops_failed == 8 and report.n_hops_ok == 0
    assert list(report.failure_reasons.values()) == [8] and report.barriers_per_hour == 0
    hops = read_hops(tmp_path / "ds")
    assert len(hops) == 8 and (hops["status"] == "failed").all()
    assert hops["reason"].str.startswith("task error:").all()
    assert hops["barrier"].isna().all()
    # the failed site counts as done: a rerun does not repeat it
    again = run_neb_campaign(
        samples, tmp_path / "ds", broken, FAST_NEB, sites=[5], workers=1, progress=False
    )
    assert again.n_sites_skipped == 1 and again.n_sites_run == 0
    assert len(read_hops(tmp_path / "ds")) == 8


def _cli(args: list[str], **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "vmeb.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # own process group: the kill reaches mpiexec and LAMMPS too
        **kwargs,
    )


def _data_lines(path: Path) -> int:
    return max(0, path.read_bytes().count(b"\n") - 1) if path.exists() else 0


def test_sigkill_mid_campaign_then_resume_gives_the_uninterrupted_hops(reference, tmp_path):
    files = []
    for sample_id, atoms in _samples().items():
        files.append(str(write_structure_file(tmp_path / f"{sample_id}.extxyz", atoms)))
    settings = tmp_path / "neb.yaml"
    settings.write_text(yaml.safe_dump(FAST_NEB.to_json()))
    out = tmp_path / "killed"
    args = [
        "neb",
        *files,
        "-o",
        str(out),
        "--random-sites",
        str(SITES),
        "--seed",
        str(SEED),
        "--config",
        str(settings),
        "--workers",
        "1",
        "--no-progress",
    ]
    proc = _cli(args)
    hops_file = out / "hops.csv"
    deadline = time.monotonic() + 600
    while _data_lines(hops_file) == 0:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    after_kill = _data_lines(hops_file)
    assert 0 < after_kill < 8 * 2 * SITES, "the kill must land mid-campaign"
    assert after_kill % 8 == 0  # a task's 8 rows go in one write

    resumed = _cli(args)
    stdout, stderr = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, stderr.decode()[-2000:]
    report = yaml.safe_load(stdout.decode().strip().splitlines()[-1])
    assert report["n_sites_skipped"] == after_kill // 8
    assert report["n_sites_run"] == 2 * SITES - after_kill // 8
    _assert_same_hops(_hop_table(out), _hop_table(reference))


def test_dask_local_cluster_matches_local_run(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    samples = {"equi": _samples()["equi"]}  # one sample keeps the test short
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        report = run_neb_campaign(
            samples,
            tmp_path / "dask",
            default_potential(),
            FAST_NEB,
            sites=SITES,
            seed=SEED,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert report.n_sites_run == SITES
    expected = _hop_table(reference)
    expected = expected[expected["sample_id"] == "equi"].reset_index(drop=True)
    _assert_same_hops(_hop_table(tmp_path / "dask"), expected)
    assert report.n_hops_ok == int((expected["status"] == "ok").sum())


@pytest.mark.slow
def test_repeated_kills_at_random_moments_lose_nothing(reference, tmp_path):
    """SIGKILL at random delays (also before any row, while samples are stored) until done."""
    files = [
        str(write_structure_file(tmp_path / f"{sid}.extxyz", atoms))
        for sid, atoms in _samples().items()
    ]
    settings = tmp_path / "neb.yaml"
    settings.write_text(yaml.safe_dump(FAST_NEB.to_json()))
    out = tmp_path / "ds"
    args = ["neb", *files, "-o", str(out), "--random-sites", str(SITES), "--seed", str(SEED)]
    args += ["--config", str(settings), "--workers", "1", "--no-progress"]
    rng = np.random.default_rng(11)
    kills = 0
    for _ in range(6):
        proc = _cli(args)
        try:
            proc.wait(timeout=float(rng.uniform(0.5, 8.0)))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.communicate()[1].decode()[-2000:]
        assert _data_lines(out / "hops.csv") % 8 == 0
    final = _cli(args)
    stdout, stderr = final.communicate(timeout=900)
    assert final.returncode == 0, stderr.decode()[-2000:]
    assert kills >= 1
    _assert_same_hops(_hop_table(out), _hop_table(reference))
