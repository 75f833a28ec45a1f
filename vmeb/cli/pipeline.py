"""Run the whole pipeline (the README's main job) on the built-in default or a config file.

Stages: build Ta-Nb-Mo samples, NEB barrier campaigns with the built-in EAM, train the compact
CNN (one composition held out), evaluate it on the held-out composition, predict the barrier
spectrum of a 2,000-atom equiatomic sample. Outputs under OUT: summary.json, figures/ (parity,
distributions, spectrum per moving species), and one folder per stage. Running the same command
again resumes: finished stages are skipped.

Examples:
    vmeb run -o vmeb_out
    vmeb run -o quick_out --quick
    vmeb run -o my_run --config my_pipeline.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb run`` arguments."""
    parser.add_argument(
        "-o", "--out", type=Path, default=Path("vmeb_out"), help="output directory (vmeb_out)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML/JSON file of vmeb.pipeline settings"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes for a smoke test (about a minute)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the pipeline and print its summary table."""
    from vmeb.pipeline import load_config, run_pipeline, summary_table  # noqa: PLC0415

    config = load_config(args.config, quick=args.quick)
    summary = run_pipeline(args.out, config, progress=not args.no_progress)
    print(summary_table(summary))
    print(f"summary: {args.out / 'summary.json'}; figures: {args.out / 'figures'}")
    return 0
