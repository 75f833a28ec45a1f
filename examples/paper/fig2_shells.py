"""Paper Fig. 2: validation MAE against the number of neighbour shells (a) and g(r) (b).

Data (paper: equiatomic TaNbMo, a random and a CSRO sample, 4:1 random split): one or more
``vmeb neb`` datasets of a single composition, e.g. the CSRO-state dataset of
``examples/paper/fig4_csro.py``. For n = 1..8 g(r) peaks (`vmeb.study.shells.peak_shells`: six
peaks = 112 sites within 7.6 Å) every recipe ``configs/tanbmo_<name>.yaml`` is trained with the
environment and site template cut after peak n. Writes OUT/shells.csv, OUT/fig2a_shells.png and,
with --structure, OUT/fig2b_gr.png::

    python examples/paper/fig2_shells.py --dataset DATA/csro_neb \
        --structure DATA/csro/order/snapshots/TaNbMo_md0.extxyz -o paper/fig2
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from vmeb.data.dataset import open_dataset
from vmeb.files import save_figure
from vmeb.structure.io import read_structure
from vmeb.structure.lattice import bcc_lattice_constant_from_volume
from vmeb.study.grid import load_recipes, markdown_table
from vmeb.study.shells import radial_figure, shells_figure, shells_study

ROOT = Path(__file__).resolve().parents[2]
PAPER_CNN = 0.0137  # paper Fig. 2a / Supp. Fig. 2: 12-layer CNN, six shells, 12,800 hops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, nargs="+", required=True)
    parser.add_argument("--structure", type=Path, help="a sample for g(r) (Fig. 2b)")
    parser.add_argument("--models", nargs="+", default=["lr", "nn", "cnn"])
    parser.add_argument("--shells", nargs="+", type=int, default=list(range(1, 9)))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    datasets = [open_dataset(p) for p in args.dataset]
    sample = datasets[0].structure(datasets[0].sample_ids()[0])
    a = bcc_lattice_constant_from_volume(sample.get_volume(), len(sample))
    recipes = load_recipes({m: ROOT / "configs" / f"tanbmo_{m}.yaml" for m in args.models})
    table = shells_study(datasets, recipes, a, args.shells, args.seeds, args.output / "runs")
    args.output.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output / "shells.csv", index=False, float_format="%.6f")
    save_figure(shells_figure(table, PAPER_CNN), args.output / "fig2a_shells.png")
    if args.structure:
        atoms = read_structure(args.structure)
        save_figure(radial_figure(atoms, 8, title=args.structure.stem),
                    args.output / "fig2b_gr.png")  # fmt: skip
    wide = table.pivot_table(index=["shells", "r_c", "sites"], columns="model", values="val_mae",
                             aggfunc=np.mean).reset_index()  # fmt: skip
    print(markdown_table(wide))
    print(f"a = {a:.4f} Å, hops {sum(len(d.valid_hops()) for d in datasets)}, "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
