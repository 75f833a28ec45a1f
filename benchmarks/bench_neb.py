"""NEB throughput: barriers per core-hour for vacancy sites of equiatomic TaNbMo.

One site = the vacancy relaxation (box to zero pressure) shared by its 8 hops, then 8
climbing-image NEBs (`vmeb.neb.site.compute_site_barriers`) on ``--cores`` cores, one NEB at a time
or ``--concurrent-hops`` at once (the LAMMPS engine runs one MPI rank per replica). Prints, per
potential and cell size: wall seconds per hop (site wall time / 8, relaxation included),
core-seconds per barrier, barriers per core-hour, mean
iterations per hop, replicas used, and the fraction of hops that failed their path check.
Core-seconds are wall time x ``--cores``; ``cpu-s/barrier`` is the CPU time the NEB processes
actually used (less sensitive to other load on a shared machine).

    python benchmarks/bench_neb.py                       # 250-, 686-, 2000-atom cells, EAM+SNAP
    python benchmarks/bench_neb.py --cells 4 --sites 2 --potentials eam     # quick look

Anchors (LAMMPS on 2 cores, one 7-replica NEB at a time): 128-atom cells ~0.4 s per EAM hop and
~6 s per SNAP hop; 2,000-atom cells ~4 s per EAM hop and 90-150 s per SNAP hop; the paper ~540
core-seconds per SNAP barrier on 2,000 atoms (600 core-hours per 4,000 barriers).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

PAPER_CORE_S_PER_BARRIER = 600 * 3600 / 4000
SHARED = Path(os.environ.get("VMEB_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SNAP_FILES = (
    SHARED / "potentials" / "NbMoTaW_SNAP_Li2020" / "Ta-W-Nb-Mo.snapcoeff",
    SHARED / "potentials" / "NbMoTaW_SNAP_Li2020" / "Ta-W-Nb-Mo.newlammps.snapparam",
)


def _potential(name: str, snap: str | None):
    from vmeb.lammps.potentials import load_potential, snap_potential

    if name == "eam":
        return load_potential("default")
    coeff, param = snap.split(",") if snap else SNAP_FILES
    return snap_potential(coeff, param)


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (the MPI ranks)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_site_batch(
    potential, cells: int, sites: int, config, seed: int, composition: str = "TaNbMo"
) -> dict:
    """Run ``sites`` vacancy sites of one random sample; return the figures."""
    from vmeb.lammps.lattice import lattice_constant
    from vmeb.neb.site import compute_site_barriers
    from vmeb.structure.build import bcc_supercell, composition_counts, parse_composition

    fractions = parse_composition(composition)
    a = lattice_constant(potential, fractions, cells=5)
    counts = composition_counts(fractions, 2 * cells**3)
    rng = np.random.default_rng(seed)
    atoms = bcc_supercell(counts, cells, a, rng=rng)
    species = [e for e in potential.elements if e in fractions]
    chosen = rng.choice(len(atoms), size=sites, replace=False)
    hops = []
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="bench-neb-") as tmp:
        for site in chosen:
            hops += compute_site_barriers(atoms, int(site), potential, config, species, tmp)
    wall = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_start
    n_hops = len(hops)
    return {
        "atoms": len(atoms),
        "sites": sites,
        "hops": n_hops,
        "wall_s": wall,
        "s_per_barrier": wall / n_hops,
        "cpu_s_per_barrier": cpu / n_hops,
        "iterations": float(np.mean([h.iterations for h in hops])),
        "replicas": float(np.mean([h.n_replicas for h in hops])),
        "failed": sum(h.status != "ok" for h in hops) / n_hops,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cells", default="5,7,10", help="cells per edge (5: 250, 7: 686, 10: 2000)"
    )
    parser.add_argument("--potentials", default="eam,snap", help="eam and/or snap")
    parser.add_argument("--snap", help="COEFF,PARAM files of the SNAP (default: shared reference)")
    parser.add_argument("--sites", type=int, default=1, help="vacancy sites per cell size")
    parser.add_argument("--cores", type=int, default=2, help="cores the NEBs run on (core-hours)")
    parser.add_argument(
        "--engine", default="lammps", choices=("lammps", "inproc", "auto", "pool", "ase")
    )
    parser.add_argument("--replicas", type=int, default=7)
    parser.add_argument("--max-steps", type=int, default=None, help="plain-NEB step limit (N1)")
    parser.add_argument("--min-style", default=None, choices=("quickmin", "fire"))
    parser.add_argument("--timestep", type=float, default=None)
    parser.add_argument(
        "--concurrent-hops", type=int, default=1, help="hops of a site run at once (LAMMPS)"
    )
    parser.add_argument("--composition", default="TaNbMo", help="e.g. TaNbMo or Ta1Nb1Mo8")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from vmeb.neb.site import NEBConfig

    config = NEBConfig(
        n_replicas=args.replicas, engine=args.engine, concurrent_hops=args.concurrent_hops
    )
    overrides = {
        "max_steps": args.max_steps,
        "min_style": args.min_style,
        "timestep": args.timestep,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    print(
        f"{args.composition}, engine {config.engine}, {config.n_replicas} replicas, "
        f"{config.min_style} "
        f"dt={config.timestep} N1={config.max_steps} N2={config.climb_steps}, "
        f"{config.concurrent_hops} hop(s) at once, {args.cores} cores"
    )
    header = (
        f"{'potential':<9}{'atoms':>6}{'hops':>5}{'s/hop':>8}{'core-s/barrier':>16}"
        f"{'barriers/core-h':>17}{'cpu-s/barrier':>15}{'iter':>7}{'repl':>6}{'failed':>8}"
    )
    print(header)
    for name in args.potentials.split(","):
        potential = _potential(name.strip(), args.snap)
        for cells in (int(c) for c in args.cells.split(",")):
            r = bench_site_batch(potential, cells, args.sites, config, args.seed, args.composition)
            core_s = r["s_per_barrier"] * args.cores
            print(
                f"{name:<9}{r['atoms']:>6}{r['hops']:>5}"
                f"{r['s_per_barrier']:>8.2f}{core_s:>16.1f}{3600 / core_s:>17.0f}"
                f"{r['cpu_s_per_barrier']:>15.1f}"
                f"{r['iterations']:>7.0f}{r['replicas']:>6.1f}{r['failed']:>8.3f}",
                flush=True,
            )
    print(f"paper: {PAPER_CORE_S_PER_BARRIER:.0f} core-s per SNAP barrier on 2,000 atoms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
