"""Evaluate a trained model on a barrier dataset.

Writes into OUTPUT (-o; default evaluation-<dataset name>; created, it must not exist):
report.json (MAE, RMSE, R^2 overall, per group and per moving species), metrics_per_group.csv,
metrics_per_species.csv, predictions.csv, parity.png and distributions.png (true vs predicted
distributions per group, paper Fig. 3).
The directory appears complete or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb evaluate``."""
    parser.add_argument("model", type=Path, help="trained model checkpoint (vmeb train)")
    parser.add_argument("dataset", type=common.existing_dir, help="vmeb barrier dataset dir")
    common.add_output(parser, required=False)
    common.add_model_work(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb evaluate``."""
    from vmeb.data.dataset import open_dataset
    from vmeb.errors import file_error
    from vmeb.files import staged_output
    from vmeb.learn.evaluate import evaluate_model, write_report
    from vmeb.learn.predictors import load_model

    output = args.output or Path(f"evaluation-{args.dataset.resolve().name}")
    if output.exists():
        raise file_error(output, "already exists (choose another output or remove it)")
    trained = load_model(args.model, args.device, args.precision)
    dataset = open_dataset(args.dataset)
    report = evaluate_model(
        trained,
        dataset,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
    )
    with staged_output(output) as staging:
        meta = {"model": str(args.model), "dataset": str(args.dataset)}
        write_report(report, staging, meta=meta)
    overall = report.overall
    sys.stdout.write(
        f"{overall['count']} hops: MAE {overall['mae']:.4f} eV, RMSE {overall['rmse']:.4f} eV, "
        f"R2 {overall['r2']:.3f} -> {output}\n"
    )
    return 0
