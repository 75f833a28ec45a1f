"""An NEB campaign on a SLURM (or PBS) cluster with dask-jobqueue.

Run this script on a login node (or in a small long-walltime job): it starts a Dask scheduler
here, submits worker jobs to the batch system, and runs the campaign. Every finished vacancy site
is appended to the dataset at once, so if the script, a worker job or the whole allocation dies,
running the script again resumes where it stopped. See docs/campaigns.md.

    pip install dask-jobqueue
    python examples/campaign_slurm.py samples/*.extxyz -o data/tanbmo --jobs 8

Core packing: a job runs ``TASKS`` site tasks at a time, and each task keeps ``ranks`` cores busy
(`vmeb.neb.campaign.ranks_per_task` for the samples' size and the potential: 1 for the in-process
engine that ``engine="auto"`` picks for cheap EAM cells, one MPI rank per replica for the LAMMPS
engine). A job therefore books ``TASKS * ranks`` cores (``job_cpu`` on SLURM, ``ncpus`` in the
PBS resource spec). With one core per task it starts ``TASKS`` single-threaded worker processes
(in-process NEBs in one process would take turns on LAMMPS); with MPI tasks one worker process
with ``TASKS`` threads, each thread's task starting its own ``mpiexec``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vmeb.lammps.potentials import load_potential
from vmeb.neb.campaign import ranks_per_task, run_neb_campaign
from vmeb.neb.site import NEBConfig
from vmeb.structure.io import read_structure

#: Concurrent site tasks per worker job.
TASKS = 4


def make_cluster(kind: str, jobs: int, walltime: str, ranks: int):
    """Start a dask-jobqueue cluster of ``jobs`` batch jobs, each ``TASKS * ranks`` cores."""
    cores = TASKS * ranks
    processes = TASKS if ranks == 1 else 1  # single-threaded workers for in-process NEBs
    if kind == "slurm":
        from dask_jobqueue import SLURMCluster

        cluster = SLURMCluster(
            cores=TASKS,  # Dask threads in all = site tasks running at once in one job
            processes=processes,
            job_cpu=cores,  # cores booked: TASKS tasks x ranks cores each
            memory=f"{2 * cores}GB",
            walltime=walltime,
            queue="compute",
            account="my-project",
            job_extra_directives=["--exclusive", "--hint=nomultithread"],
            job_script_prologue=["source ~/venvs/vmeb/bin/activate"],
        )
    elif kind == "pbs":
        from dask_jobqueue import PBSCluster

        cluster = PBSCluster(
            cores=TASKS,
            processes=processes,
            memory=f"{2 * cores}GB",
            walltime=walltime,
            queue="workq",
            account="my-project",
            resource_spec=f"select=1:ncpus={cores}:mem={2 * cores}GB",
            job_extra_directives=["-j oe"],
            job_script_prologue=["source ~/venvs/vmeb/bin/activate"],
        )
    else:
        raise SystemExit(f"unknown cluster kind {kind!r}: slurm or pbs")
    logging.getLogger(__name__).info("worker job script:\n%s", cluster.job_script())
    cluster.scale(jobs=jobs)
    return cluster


def main() -> None:
    """Parse arguments, start the cluster, run (or resume) the campaign."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", nargs="+", type=Path)
    parser.add_argument("-o", "--out", required=True, type=Path)
    parser.add_argument("--cluster", choices=("slurm", "pbs"), default="slurm")
    parser.add_argument("--jobs", type=int, default=4, help="worker jobs to submit")
    parser.add_argument("--walltime", default="04:00:00")
    parser.add_argument("--sites", type=int, default=None, help="random sites per sample")
    parser.add_argument("--potential", default="default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    samples = {path.name.split(".")[0]: read_structure(path) for path in args.samples}
    potential, config = load_potential(args.potential), NEBConfig()
    ranks = ranks_per_task(config, potential, max(len(atoms) for atoms in samples.values()))
    cluster = make_cluster(args.cluster, args.jobs, args.walltime, ranks)
    try:
        # The same as: vmeb neb SAMPLES -o OUT [--random-sites N] --scheduler <address> --retries 1
        report = run_neb_campaign(
            samples,
            args.out,
            potential,
            config,
            sites=args.sites,
            scheduler=cluster.scheduler_address,
            retries=1,
        )
    finally:
        cluster.close()
    logging.getLogger(__name__).info("campaign finished: %s", report.to_json())


if __name__ == "__main__":
    main()
