"""An NEB campaign on a SLURM (or PBS) cluster with dask-jobqueue.

Run this script on a login node (or in a small long-walltime job): it starts a Dask scheduler
here, submits worker jobs to the batch system, and runs the campaign. Every finished vacancy site
is appended to the dataset at once, so if the script, a worker job or the whole allocation dies,
running the script again resumes where it stopped. See docs/campaigns.md.

    pip install dask-jobqueue
    python examples/campaign_slurm.py samples/*.extxyz -o data/tanbmo --jobs 8

Core packing: one Dask worker thread runs one site task at a time, and the task's LAMMPS NEB uses
``RANKS`` MPI ranks (one per replica). A job therefore books ``THREADS * RANKS`` cores
(``job_cpu`` on SLURM, ``ncpus`` in the PBS resource spec) and starts one worker process with
``THREADS`` threads.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from vmeb.lammps.potentials import load_potential
from vmeb.neb.campaign import run_neb_campaign
from vmeb.neb.site import NEBConfig
from vmeb.structure.io import read_structure

#: Concurrent site tasks per worker job (Dask threads).
THREADS = 4
#: MPI ranks per NEB: one per replica with the LAMMPS engine.
RANKS = NEBConfig().n_replicas


def make_cluster(kind: str, jobs: int, walltime: str):
    """Start a dask-jobqueue cluster of ``jobs`` batch jobs, each ``THREADS * RANKS`` cores."""
    cores = THREADS * RANKS
    if kind == "slurm":
        from dask_jobqueue import SLURMCluster

        cluster = SLURMCluster(
            cores=THREADS,  # Dask threads = site tasks running at once in one job
            processes=1,  # one worker process per job
            job_cpu=cores,  # cores booked: THREADS tasks x RANKS MPI ranks
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
            cores=THREADS,
            processes=1,
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
    cluster = make_cluster(args.cluster, args.jobs, args.walltime)
    try:
        # The same as: vmeb neb SAMPLES -o OUT [--random-sites N] --scheduler <address> --retries 1
        report = run_neb_campaign(
            samples,
            args.out,
            load_potential(args.potential),
            NEBConfig(),
            sites=args.sites,
            scheduler=cluster.scheduler_address,
            retries=1,
        )
    finally:
        cluster.close()
    logging.getLogger(__name__).info("campaign finished: %s", report.to_json())


if __name__ == "__main__":
    main()
