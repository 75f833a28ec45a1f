"""Paper Fig. 4: a model trained on random solid solutions, tested on CSRO states.

Data: the NEB dataset of hybrid MC/MD snapshots (groups ``<label>_md<step>``, step 0 = random):

    vmeb build --composition TaNbMo --cells 5 --seed 200 -o TaNbMo250.extxyz
    vmeb order TaNbMo250.extxyz --steps 20000 --snapshots 0,2000,5000,20000 \
        --record-every 1000 --seed 3 -o order
    vmeb neb order/snapshots/TaNbMo_md{0,2000,20000}.extxyz --random-sites 50 --seed 5 -o csro_neb

Writes OUT/csro_states.csv (MAE per state and its ratio to the random state's),
OUT/evaluation_hops.csv and OUT/fig4_csro.png::

    python examples/paper/fig4_csro.py --model tanbmo-eam --dataset csro_neb -o paper/fig4

Supp. Figs. 4-6 (energy and order parameters along MC/MD, predicted spectra against ordering):
``vmeb analyse order/snapshots/*.extxyz --model tanbmo-eam -o paper/supp4-6``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from vmeb.data.dataset import open_dataset
from vmeb.files import save_figure
from vmeb.learn.evaluate import evaluate_model
from vmeb.learn.predictors import load_model
from vmeb.study.csro_states import state_errors, state_errors_figure
from vmeb.study.grid import markdown_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tanbmo-eam", help="checkpoint or built-in model")
    parser.add_argument("--dataset", type=Path, required=True, help="CSRO-state NEB dataset")
    parser.add_argument("--random-state", help="group of the random state (default: MD step 0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    report = evaluate_model(load_model(args.model), open_dataset(args.dataset), progress=False)
    table = state_errors(report, args.random_state)
    args.output.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output / "csro_states.csv", index=False, float_format="%.6f")
    report.hops.to_csv(args.output / "evaluation_hops.csv", index=False, float_format="%.6f")
    save_figure(state_errors_figure(report, table), args.output / "fig4_csro.png")
    print(markdown_table(table))
    print(f"overall MAE {report.overall['mae']:.4f} eV, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
