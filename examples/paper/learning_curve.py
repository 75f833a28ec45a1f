"""Learning curves of active and random selection (docs/learning_curve.md).

A `vmeb campaign` in pool mode labels sites round by round with a cheap selection ensemble (the
site MLP). ``retrain`` trains one recipe (e.g. the shipped type-map CNN) on the hops labelled
through each round of such a campaign and tests it on the 9 unseen grid compositions, so active
and random selection are compared with the model that ships. ``report`` collects campaigns and
retrains into one table (mean and spread over seeds) and one figure::

    python examples/paper/learning_curve.py retrain --campaign runs/lc/active-0 \
        --recipe configs/tanbmo_cnn.yaml --test-dataset DATA/tanbmo-eam-250 \
        --test-index DATA/samples/index.csv -o runs/lc/cnn-active-0
    python examples/paper/learning_curve.py report --campaigns runs/lc/active-* \
        runs/lc/random-* --retrains runs/lc/cnn-* -o runs/lc/report

``retrain`` is resumable (a finished round is read back). ``report`` writes ``curves.csv``
(one row per campaign, model and round), ``summary.csv`` (mean and seed std per mode, model
and round) and ``learning_curve.png``, and prints the summary as a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vmeb.active.curve import CURVE_FILE
from vmeb.data.dataset import BarrierDataset, open_dataset
from vmeb.files import atomic_write_text, save_figure
from vmeb.learn.hops import load_hops
from vmeb.learn.settings import resolve_train_config
from vmeb.study.grid import grid_split, markdown_table, run_recipe

RESULT_FILE = "retrain.csv"


def labelled_through(campaign: Path, dataset: BarrierDataset, r: int) -> BarrierDataset:
    """The campaign's labelled hops of the sites selected in rounds 0..r."""
    parts = [pd.read_csv(campaign / "rounds" / f"round_{k:02d}" / "selected.csv")
             for k in range(r + 1)]  # fmt: skip
    sites = pd.concat(parts)[["sample_id", "vacancy_index"]].astype({"sample_id": str})
    hops = dataset.hops.astype({"sample_id": str}).merge(sites, on=["sample_id", "vacancy_index"])
    return dataset.subset(hops)


def _rounds(campaign: Path) -> list[int]:
    curve = pd.read_csv(campaign / CURVE_FILE)
    return [int(r) for r in curve["round"]]


def retrain(args: argparse.Namespace) -> int:
    """Train the recipe on each round's labelled hops; write ``retrain.csv``."""
    torch.set_num_threads(args.threads)
    campaign, out = args.campaign, args.output
    saved = json.loads((campaign / "summary.json").read_text())["last"]
    labelled = open_dataset(campaign / "dataset")
    test_all = open_dataset(args.test_dataset)
    groups = tuple(args.test_groups or grid_split(test_all, args.index).test_groups)
    grouped = test_all.with_groups(test_all.hops)
    test = test_all.subset(test_all.hops[grouped["group"].isin(groups).to_numpy()])
    rounds = args.rounds or _rounds(campaign)
    config = resolve_train_config({"seed": args.seed}, args.recipe)
    config = dataclasses.replace(config, test_groups=groups, val_groups=())
    rows = []
    for r in rounds:
        train = labelled_through(campaign, labelled, r)
        datasets = [train, test]
        start = time.perf_counter()
        data = load_hops(datasets, config.r_c, progress=False, reverse=config.reverse)
        prep = time.perf_counter() - start
        record = run_recipe(datasets, data, config, out / f"round_{r:02d}")
        pred = np.load(out / f"round_{r:02d}" / "pred.npz")
        errors = np.abs(pred["pred"] - data.barriers[pred["index"]])  # forward hops only
        per_group = pd.Series(errors).groupby(data.groups[pred["index"]]).mean()
        neb_hops = int(np.sum(~np.isin(data.groups, groups) & data.forward))
        rows.append({
            "campaign": str(campaign), "mode": saved["mode"], "seed": saved["seed"],
            "model": args.name, "round": r, "hops": neb_hops,
            "test_mae": float(errors.mean()), "test_mae_comp_mean": float(per_group.mean()),
            "test_mae_worst": float(per_group.max()),
            "train_cpu_seconds": (record["wall_s"] + prep) * args.threads,
        })  # fmt: skip
        logging.info("round %d: %d hops, test MAE %.4f eV", r, rows[-1]["hops"],
                     rows[-1]["test_mae"])  # fmt: skip
        atomic_write_text(out / RESULT_FILE, pd.DataFrame(rows).to_csv(index=False))
    return 0


def _campaign_rows(folder: Path) -> pd.DataFrame:
    curve = pd.read_csv(folder / CURVE_FILE)
    curve["campaign"] = str(folder)
    curve["model"] = "selection ensemble"
    curve["test_mae_comp_mean"] = np.nan
    curve["train_cpu_seconds"] = np.nan
    return curve


def report(args: argparse.Namespace) -> int:
    """Collect campaigns and retrains: ``curves.csv``, ``summary.csv``, the figure."""
    tables = [_campaign_rows(c) for c in args.campaigns]
    tables += [pd.read_csv(r / RESULT_FILE) for r in args.retrains]
    curves = pd.concat(tables, ignore_index=True)
    neb = {str(c): pd.read_csv(c / CURVE_FILE).set_index("round")["cpu_seconds"]
           for c in args.campaigns}  # fmt: skip
    pairs = zip(curves["campaign"], curves["round"], strict=True)
    curves["neb_cpu_hours"] = [neb[c][r] / 3600 for c, r in pairs]
    keys = ["model", "mode", "round"]
    summary = curves.groupby(keys).agg(
        seeds=("seed", "nunique"), hops=("hops", "mean"), test_mae=("test_mae", "mean"),
        test_mae_std=("test_mae", "std"), comp_mean=("test_mae_comp_mean", "mean"),
        worst=("test_mae_worst", "mean"), neb_cpu_hours=("neb_cpu_hours", "mean"),
        train_cpu_hours=("train_cpu_seconds", lambda s: s.mean() / 3600),
    ).reset_index()  # fmt: skip
    args.output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output / "curves.csv", curves.to_csv(index=False))
    atomic_write_text(args.output / "summary.csv", summary.to_csv(index=False))
    save_figure(_figure(summary), args.output / "learning_curve.png")
    print(markdown_table(summary))
    return 0


def _figure(summary: pd.DataFrame):
    from matplotlib.figure import Figure  # noqa: PLC0415

    models = list(dict.fromkeys(summary["model"]))
    fig = Figure(figsize=(4.5 * len(models), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(models)))
    for ax, model in zip(axes, models, strict=True):
        for mode, style in (("random", "s--"), ("active", "o-")):
            part = summary[(summary["model"] == model) & (summary["mode"] == mode)]
            if part.empty:
                continue
            label = f"{mode} (mean of {part['seeds'].max()})"
            yerr = part["test_mae_std"].fillna(0)
            ax.errorbar(part["hops"], part["test_mae"], yerr=yerr, fmt=style, capsize=3,
                        label=label)  # fmt: skip
            ax.plot(part["hops"], part["worst"], style[0], alpha=0.35, label=f"{mode}: worst comp.")
        ax.set(xscale="log", yscale="log", xlabel="training hops",
               ylabel="test MAE, 9 unseen compositions (eV)", title=model)  # fmt: skip
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("retrain", help="train a recipe on each round's labelled hops")
    one.add_argument("--campaign", type=Path, required=True, help="a finished campaign folder")
    one.add_argument("--recipe", type=Path, required=True, help="training config (YAML)")
    one.add_argument("--name", default="type-map CNN", help="model name in the tables")
    one.add_argument("--test-dataset", type=Path, required=True, help="the grid's NEB dataset")
    which = one.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--test-index",
        dest="index",
        type=Path,
        help="the grid samples' index.csv (split == test: the test set)",
    )
    which.add_argument("--test-groups", nargs="+", help="the test set's groups (compositions)")
    one.add_argument("--rounds", type=int, nargs="*", default=None, help="default: every round")
    one.add_argument("--seed", type=int, default=0, help="training seed")
    one.add_argument("--threads", type=int, default=2, help="torch threads")
    one.add_argument("-o", "--output", type=Path, required=True)
    many = sub.add_parser("report", help="tables and figure of campaigns and retrains")
    many.add_argument("--campaigns", type=Path, nargs="+", required=True)
    many.add_argument("--retrains", type=Path, nargs="*", default=[])
    many.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return retrain(args) if args.command == "retrain" else report(args)


if __name__ == "__main__":
    raise SystemExit(main())
