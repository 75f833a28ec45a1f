"""Campaign throughput: hops per second of a real NEB campaign, per engine and worker count.

Runs `vmeb.neb.campaign.run_neb_campaign` (what ``vmeb neb`` runs) over 250-atom random
Ta-Nb-Mo cells (``--cells 5``) with the built-in EAM, each configuration into a fresh dataset,
once alone and once beside one busy process (``python -c "while True: pass"``, started and
stopped here), and prints one table row per run: engine, workers, neighbour, hops, wall seconds
(set-up and worker start-up included), hops/s, CPU-seconds per hop (this process and its
children), ``others``: the cores other processes used during the run (all CPU time of the
machine from ``/proc/stat`` minus this process tree's, per wall second; the busy neighbour is
a child, so it is not counted), and the agreement of the barriers with the first ``lammps`` run
(largest |dE| over hops valid in both, hops whose status differs).

    python benchmarks/bench_campaign.py             # 3 compositions x 4 sites = 96 hops per run
    python benchmarks/bench_campaign.py --quick     # 1 composition x 2 sites = 16 hops per run
                                                    # (2 site tasks: worker start-up, ~1 s,
                                                    # hides the gain of a second worker)
    python benchmarks/bench_campaign.py --configs lammps:1,inproc:1,inproc:2 --no-busy

Configurations are ``ENGINE:WORKERS``; ``WORKERS`` ``0`` means the campaign's default
(`vmeb.neb.packing.default_workers`), and ``lammps:0`` is the campaign as it ran before the
``inproc`` engine (one 7-rank LAMMPS NEB at a time). Measurements are only meaningful on an
otherwise idle machine: check the ``others`` column (it should be below 0.1 core).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Compositions of the full run (the paper's equiatomic alloy and two corners of the grid).
COMPOSITIONS = ("Ta:1,Nb:1,Mo:1", "Ta:2,Nb:1,Mo:1", "Ta:1,Nb:1,Mo:2")
#: Lattice constant (Å) of the cells: the EAM's, near enough for every composition here (the
#: vacancy cell is relaxed to zero pressure anyway).
LATTICE_A = 3.24
DEFAULT_CONFIGS = "lammps:0,inproc:1,inproc:2,auto:0"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as handle:
        fields = [float(v) for v in handle.readline().split()[1:]]
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0.0)
    return busy / os.sysconf("SC_CLK_TCK")


def _samples(compositions, cells: int, seed: int) -> dict:
    from vmeb.structure.build import build_random_alloy

    return {
        f"c{k}": build_random_alloy(comp, cells, a=LATTICE_A, seed=seed + k)
        for k, comp in enumerate(compositions)
    }


def _busy_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run_one(samples, engine: str, workers: int, sites: int, seed: int, busy: bool, potential):
    """One campaign into a fresh dataset; its figures and hop rows."""
    from vmeb.data.dataset import read_hops
    from vmeb.neb.campaign import run_neb_campaign
    from vmeb.neb.site import NEBConfig

    machine_start, elapsed_start = _machine_cpu_seconds(), time.perf_counter()
    neighbour = _busy_process() if busy else None
    try:
        if neighbour is not None:
            time.sleep(1.0)  # let it take its core
        with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
            root = Path(tmp) / "dataset"
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            own_start = cpu_start
            report = run_neb_campaign(
                samples,
                root,
                potential,
                NEBConfig(engine=engine),
                sites=sites,
                seed=seed,
                workers=workers or None,
                progress=False,
            )
            wall = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu_start
            hops = read_hops(root)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    others = (_machine_cpu_seconds() - machine_start) - (_cpu_seconds() - own_start)
    elapsed = time.perf_counter() - elapsed_start
    n_hops = report.n_hops_ok + report.n_hops_failed
    return {
        "engine": engine,
        "workers": workers or "default",
        "neighbour": "busy" if busy else "alone",
        "hops": n_hops,
        "ok": report.n_hops_ok,
        "wall_s": wall,
        "hops_per_s": n_hops / wall,
        "cpu_s_per_hop": cpu / max(n_hops, 1),
        "others": max(0.0, others) / elapsed,
        "rows": hops,
        "engines_used": ",".join(sorted(hops["engine"].astype(str).unique())),
    }


def agreement(rows, reference) -> tuple[float, int]:
    """Largest |barrier difference| (eV) over hops valid in both, and status mismatches."""
    keys = ["sample_id", "vacancy_index", "moving_index"]
    merged = rows.merge(reference, on=keys, suffixes=("", "_ref"))
    both = (merged["status"] == "ok") & (merged["status_ref"] == "ok")
    diff = (merged.loc[both, "barrier"] - merged.loc[both, "barrier_ref"]).abs()
    mismatches = int((merged["status"] != merged["status_ref"]).sum())
    return (float(diff.max()) if len(diff) else float("nan")), mismatches


def _print_table(results) -> None:
    reference = next((r["rows"] for r in results if r["engine"] == "lammps"), None)
    header = (
        f"{'engine':>7} {'ran':>13} {'workers':>8} {'neighbour':>9} {'hops':>5} {'ok':>4} "
        f"{'wall s':>7} {'hops/s':>7} {'cpu-s/hop':>9} {'others':>6} {'max|dE| eV':>10} "
        f"{'status!=':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        de, mism = agreement(r["rows"], reference) if reference is not None else (np.nan, 0)
        print(
            f"{r['engine']:>7} {r['engines_used']:>13} {r['workers']!s:>8} {r['neighbour']:>9} "
            f"{r['hops']:>5} {r['ok']:>4} {r['wall_s']:>7.1f} {r['hops_per_s']:>7.2f} "
            f"{r['cpu_s_per_hop']:>9.3f} {r['others']:>6.2f} {de:>10.1e} {mism:>8}"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 composition x 2 sites")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="ENGINE:WORKERS,...")
    parser.add_argument("--sites", type=int, default=None, help="sites per sample (default 4)")
    parser.add_argument("--cells", type=int, default=5, help="cells per edge (5: 250 atoms)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-busy", action="store_true", help="skip the runs beside a busy one")
    parser.add_argument(
        "--potential", default="default", help="potential spec (default: the built-in EAM)"
    )
    args = parser.parse_args(argv)
    from vmeb.lammps.potentials import load_potential

    potential = load_potential(args.potential)
    compositions = COMPOSITIONS[:1] if args.quick else COMPOSITIONS
    sites = args.sites or (2 if args.quick else 4)
    samples = _samples(compositions, args.cells, args.seed)
    configs = []
    for item in args.configs.split(","):
        engine, _, workers = item.partition(":")
        configs.append((engine, int(workers or 0)))
    print(
        f"# {potential.name}: {len(samples)} x {2 * args.cells**3}-atom cells, {sites} sites each, "
        f"{os.cpu_count()} CPUs, load before start {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = []
    for busy in (False,) if args.no_busy else (False, True):
        for engine, workers in configs:
            result = run_one(samples, engine, workers, sites, args.seed, busy, potential)
            results.append(result)
            print(
                f"# {engine}:{workers} {result['neighbour']}: {result['hops_per_s']:.2f} hops/s",
                flush=True,
            )
    _print_table(results)


if __name__ == "__main__":
    main()
