"""Paper Fig. 3 / Supp. Fig. 7: train LR, NN and CNN on the training compositions of the Ta-Nb-Mo
grid, test on each unseen composition.

Data: a ``vmeb neb`` dataset of the grid samples of ``vmeb build --grid Ta,Nb,Mo --divisions 9
--n-test 9`` (e.g. a copy of ``../shared/datasets/tanbmo-eam-250`` continued with ``vmeb neb``),
and the samples' ``index.csv`` (train/test split). Recipes: ``configs/tanbmo_{lr,nn,cnn}.yaml``.

Writes OUT/predictions.csv (every test hop, every run), OUT/errors.csv (MAE per composition and
model: mean over seeds and spread), OUT/fig3_errors.png, OUT/fig3_distributions_<model>.png, and
the runs under OUT/runs/ (resumable: finished runs are read back)::

    python examples/paper/fig3_compositions.py --dataset DATA/tanbmo-eam-250 \
        --index DATA/samples/index.csv --seeds 0 1 2 -o paper/fig3
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from vmeb.data.dataset import open_dataset
from vmeb.files import save_figure
from vmeb.learn.hops import load_hops
from vmeb.learn.kinds import get_kind
from vmeb.study.compositions import (
    composition_study,
    error_bars_figure,
    heldout_distributions_figure,
    write_study,
)
from vmeb.study.grid import GridSplit, grid_split, load_recipes, markdown_table

ROOT = Path(__file__).resolve().parents[2]
#: Paper: shallow CNN on ~10k hops (Supp. Note 2), validation MAE; deep CNN test MAE range.
PAPER = {"paper: 8-layer CNN, ~10k hops (0.0312)": 0.0312}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="grid NEB dataset")
    parser.add_argument("--index", type=Path, required=True, help="samples' index.csv")
    parser.add_argument("--extra-train", type=Path, nargs="*", default=[],
                        help="datasets used for training only (e.g. CSRO samples)")  # fmt: skip
    parser.add_argument("--models", nargs="+", default=["lr", "nn", "cnn"],
                        help="recipes configs/tanbmo_<name>.yaml")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    dataset = open_dataset(args.dataset)
    split = grid_split(dataset, args.index)
    extra = [open_dataset(p) for p in args.extra_train]
    extra_groups = {g for d in extra for g in d.with_groups()["group"]}
    overlap = extra_groups & set(split.test_groups)
    if overlap:
        parser.error(f"--extra-train holds test compositions {sorted(overlap)}")
    split = GridSplit(split.train_groups + tuple(sorted(extra_groups)), split.test_groups)
    recipes = load_recipes({m: ROOT / "configs" / f"tanbmo_{m}.yaml" for m in args.models})
    r_c = {config.r_c for config in recipes.values()}
    if len(r_c) != 1:
        parser.error(f"the recipes use different r_c {sorted(r_c)}")
    reverse = any(config.reverse for config in recipes.values())  # split_hops: per recipe
    window = max(get_kind(config.kind).window_half(config) for config in recipes.values())
    data = load_hops([dataset, *extra], r_c.pop(), reverse=reverse, window=window)
    study = composition_study(
        [dataset, *extra], data, split, recipes, args.seeds, args.output / "runs", progress=False
    )
    write_study(study, args.output)
    save_figure(error_bars_figure(study, PAPER), args.output / "fig3_errors.png")
    for name in study.recipes:
        save_figure(heldout_distributions_figure(study, name),
                    args.output / f"fig3_distributions_{name}.png")  # fmt: skip
    print(markdown_table(study.errors))
    trained_on = len(set(data.groups) & set(split.train_groups))
    only_extra = len(extra_groups - set(dataset.with_groups()["group"]))
    print(f"train groups with hops {trained_on} ({only_extra} only in --extra-train), "
          f"test {len(split.test_groups)}, "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
