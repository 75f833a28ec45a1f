"""Train a barrier model (--kind: the CNN on SDMs or a model on one-hot sites) on datasets.

Writes OUTPUT/model.pt (best validation model), OUTPUT/checkpoint.pt (last epoch, for
--resume), OUTPUT/metrics.jsonl (one JSON line per epoch, also printed to stdout),
OUTPUT/summary.json and OUTPUT/config.yaml. Settings come from --config FILE (YAML whose keys
equal the flags, with '_' or '-') and flags; a flag given on the command line wins over the
file. An existing OUTPUT is used only with --resume or when it holds no training run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from vmeb.cli import common
from vmeb.errors import VmebError, file_error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb train`` flags (one per `TrainConfig` field)."""
    common.add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Train and print one JSON line per epoch, then the summary line."""
    import yaml

    from vmeb.data.dataset import open_dataset
    from vmeb.files import atomic_write_text
    from vmeb.learn.checkpoints import STATE_FILE
    from vmeb.learn.settings import resolve_train_config
    from vmeb.learn.training import check_resume, train_model

    config = resolve_train_config(vars(args), args.config)
    out = args.output
    if args.resume and not (out / STATE_FILE).is_file():
        raise file_error(out / STATE_FILE, "nothing to resume (no checkpoint)")
    if not args.resume and (out / STATE_FILE).exists():
        raise file_error(out, "already holds a training run (use --resume or another --output)")
    if args.resume:  # a refused resume (another --kind ...) writes nothing, config.yaml included
        check_resume(out / STATE_FILE, config)
    datasets = [open_dataset(path) for path in args.datasets]
    for path in config.auxiliary:  # a bad auxiliary dataset fails before OUTPUT is made
        open_dataset(path)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))

    def show(entry: dict) -> None:
        print(json.dumps(entry), flush=True)

    try:
        result = train_model(
            datasets,
            config,
            out,
            resume=args.resume,
            on_epoch=show,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    except VmebError:  # refused before the first epoch (a group not in the data): leave no run
        if not (out / STATE_FILE).exists():
            if created:
                shutil.rmtree(out, ignore_errors=True)
            else:
                (out / "config.yaml").unlink(missing_ok=True)
        raise
    summary = {
        "model": str(result.model_path),
        "best_epoch": result.best_epoch,
        "val_mae": result.val_mae,
    }
    if result.test:
        summary["test_mae"] = result.test["mae"]
        summary["test_groups"] = {g: v["mae"] for g, v in result.test["groups"].items()}
    print(json.dumps(summary), flush=True)
    return 0
