"""Run the whole pipeline (the README's main job) on the built-in default or a config file.

Stages: build Ta-Nb-Mo samples, NEB barrier campaigns with the built-in EAM, train the compact
CNN (one composition held out), evaluate it on the held-out composition, predict the barrier
spectrum of a 2,000-atom equiatomic sample. Outputs under OUTPUT (default vmeb_out):
summary.json, figures/ (parity, distributions, spectrum per moving species), and one folder per
stage. Running the same command
again resumes: finished stages are skipped.

Examples:
    vmeb run -o vmeb_out
    vmeb run -o quick_out --quick
    vmeb run -o my_run --config my_pipeline.yaml

--config FILE: YAML/JSON mapping of vmeb.pipeline.PipelineConfig fields. --threads sets the
torch threads of the whole run, --device the training device.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb run`` arguments."""
    common.add_output(parser, required=False, new=False, default=Path("vmeb_out"))
    common.add_config(parser)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes for a smoke test (about a minute)"
    )
    common.add_device(parser, default=None)
    common.add_threads(parser)
    common.add_no_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the pipeline and print its summary table."""
    from vmeb.lammps.loading import require_lammps  # noqa: PLC0415
    from vmeb.pipeline import load_config, run_pipeline, summary_table  # noqa: PLC0415

    require_lammps("vmeb run")
    config = load_config(args.config, quick=args.quick)
    if args.threads is not None:
        config = dataclasses.replace(config, threads=args.threads)
    if args.device is not None:
        config = dataclasses.replace(config, train={**config.train, "device": args.device})
    summary = run_pipeline(args.output, config, progress=not args.no_progress)
    print(summary_table(summary))
    print(f"summary: {args.output / 'summary.json'}; figures: {args.output / 'figures'}")
    return 0
