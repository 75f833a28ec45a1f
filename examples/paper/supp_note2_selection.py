"""Paper Supp. Note 2: k-means against random choice of training hops (learning curves).

From the hops of the training compositions, train sets of each ``--sizes`` are chosen at random
or as the hops nearest the centroids of a k-means partition of their point-group averaged one-hot
site descriptors (`vmeb.study.selection`); one recipe (``configs/tanbmo_<model>.yaml``) is trained
on each and tested on the 9 unseen compositions. Writes OUT/selection.csv and
OUT/supp_note2_selection.png::

    python examples/paper/supp_note2_selection.py --dataset DATA/tanbmo-eam-250 \
        --index DATA/samples/index.csv --model nn --sizes 250 500 1000 2000 -o paper/selection
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
from vmeb.study.grid import grid_split, load_recipes, markdown_table
from vmeb.study.selection import selection_figure, selection_study

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--model", default="nn", help="recipe configs/tanbmo_<model>.yaml")
    parser.add_argument("--sizes", nargs="+", type=int, default=[250, 500, 1000, 2000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    dataset = open_dataset(args.dataset)
    split = grid_split(dataset, args.index)
    recipe = load_recipes({args.model: ROOT / "configs" / f"tanbmo_{args.model}.yaml"})
    recipe = recipe[args.model]
    data = load_hops([dataset], recipe.r_c)
    a = 3.2428  # Å, equiatomic TaNbMo: the template radius r_c / a of the descriptors
    table = selection_study([dataset], data, split, recipe, a, args.sizes, args.seeds,
                            args.output / "runs")  # fmt: skip
    args.output.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output / "selection.csv", index=False, float_format="%.6f")
    save_figure(selection_figure(table, args.model), args.output / "supp_note2_selection.png")
    summary = table.groupby(["size", "strategy"])["test_mae"].agg(["mean", "std"]).reset_index()
    print(markdown_table(summary))
    print(f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
