"""Train a barrier model (CNN on SDMs, NN or LR on one-hot sites) on barrier datasets.

Writes OUT/model.pt (best validation model), OUT/checkpoint.pt (last epoch, for --resume),
OUT/metrics.jsonl (one JSON line per epoch, also printed to stdout), OUT/summary.json and
OUT/config.yaml. Settings come from --config FILE (YAML whose keys equal the flags, with '_' or
'-') and flags; a flag given on the command line wins over the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from vmeb.errors import VmebError, file_error

#: Flags that are lists of strings.
_LIST_KEYS = ("hidden", "val_groups", "test_groups")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional_float(text: str) -> float | None:
    return None if text.strip().lower() in ("none", "auto", "") else float(text)


def _optional_int(text: str) -> int | None:
    return None if text.strip().lower() in ("none", "auto", "") else int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb train`` flags (one per `TrainConfig` field)."""
    parser.add_argument("datasets", nargs="+", metavar="DATASET", help="barrier dataset dirs")
    parser.add_argument("--out", "-o", required=True, help="output directory")
    parser.add_argument("--config", help="YAML file whose keys equal these flags")
    parser.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add = parser.add_argument_group("training configuration (defaults in vmeb.learn.training)")
    sup = argparse.SUPPRESS
    add.add_argument("--kind", choices=("cnn", "nn", "lr"), default=sup, help="model kind")
    add.add_argument("--depth", type=int, default=sup, help="CNN n: 4n conv layers (1..4)")
    add.add_argument("--filters", type=int, default=sup, help="CNN filters per layer (60)")
    add.add_argument("--hidden", type=int, nargs="+", default=sup, help="NN hidden widths")
    add.add_argument("--r-c", type=float, default=sup, help="environment radius (Å, 7.6)")
    add.add_argument("--l-c", type=float, default=sup, help="SDM half edge (Å, 8.0)")
    add.add_argument("--delta", type=float, default=sup, help="SDM voxel/Gaussian width (Å)")
    add.add_argument(
        "--template-cutoff",
        type=_optional_float,
        default=sup,
        help="one-hot template radius in lattice constants (auto: r_c / median a)",
    )
    add.add_argument(
        "--augment",
        choices=("random", "lattice", "none"),
        default=sup,
        help="rotation augmentation about the hop axis",
    )
    add.add_argument("--mirror", type=_bool, default=sup, help="mirror augmentation (true)")
    add.add_argument("--epochs", type=int, default=sup, help="maximum epochs")
    add.add_argument(
        "--batch-size", type=_optional_int, default=sup, help="mini-batch (paper size by depth)"
    )
    add.add_argument("--lr", type=float, default=sup, help="initial learning rate (1e-3)")
    add.add_argument("--lr-patience", type=int, default=sup, help="plateau epochs before lr cut")
    add.add_argument("--min-lr", type=float, default=sup, help="smallest learning rate")
    add.add_argument("--patience", type=int, default=sup, help="early-stopping patience")
    add.add_argument("--val-per-group", type=int, default=sup, help="random val hops per group")
    add.add_argument("--val-groups", nargs="+", default=sup, help="groups used for validation")
    add.add_argument("--test-groups", nargs="+", default=sup, help="groups held out as test")
    add.add_argument("--ridge", type=float, default=sup, help="L2 penalty of the LR fit")
    add.add_argument("--seed", type=int, default=sup, help="random seed")
    add.add_argument("--device", default=sup, help="torch device (cpu, cuda)")


def _read_config_file(path: str) -> dict[str, Any]:
    from vmeb.config import read_config

    return read_config(path, "training config")


def resolve_config(args: argparse.Namespace):
    """The `TrainConfig` of parsed arguments: defaults < config file < command-line flags."""
    from vmeb.config import check_keys
    from vmeb.learn.training import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values: dict[str, Any] = {}
    if args.config:
        values = _read_config_file(args.config)
        check_keys(values, known, args.config, "training config")
    values.update({k: v for k, v in vars(args).items() if k in known})
    for key in _LIST_KEYS:
        if key in values and isinstance(values[key], str | int):
            values[key] = [values[key]]
    try:
        return TrainConfig.from_dict(values)
    except TypeError as exc:
        raise VmebError(f"{args.config or 'command line'}: bad training config ({exc})") from exc


def run(args: argparse.Namespace) -> int:
    """Train and print one JSON line per epoch, then the summary line."""
    import torch
    import yaml

    from vmeb.data.dataset import open_dataset
    from vmeb.files import atomic_write_text
    from vmeb.learn.training import STATE_FILE, train_model

    config = resolve_config(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.resume and not (out / STATE_FILE).is_file():
        raise file_error(out / STATE_FILE, "nothing to resume (no checkpoint)")
    if not args.resume and (out / STATE_FILE).exists():
        raise file_error(out, "already holds a training run (use --resume or another --out)")
    datasets = [open_dataset(path) for path in args.datasets]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))

    def show(entry: dict) -> None:
        print(json.dumps(entry), flush=True)

    result = train_model(
        datasets,
        config,
        out,
        resume=args.resume,
        on_epoch=show,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
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
