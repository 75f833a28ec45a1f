"""Prediction precision: a checkpoint's barriers of a dataset in fp32 and in bf16 autocast.

Prints, per precision, the MAE against the dataset's barriers and the rate of
`TrainedModel.predict_environments`, then the largest and mean |bf16 - fp32| (eV). On a CPU
without bf16 units bf16 is emulated (slow, same numbers as on one that has them).

Usage::

    python benchmarks/bench_precision.py MODEL DATASET [--threads 2] [--batch-size 1024]

e.g. ``vmeb import fpnnk $VMEB_SHARED/datasets/fpnnk-dft -o dft`` then
``python benchmarks/bench_precision.py nbmotawv-dft dft``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vmeb.data.dataset import open_dataset
from vmeb.learn.hops import load_hops
from vmeb.learn.predictors import load_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="checkpoint or shipped model name")
    parser.add_argument("dataset", help="barrier dataset directory")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load_hops([open_dataset(args.dataset)], load_model(args.model).r_c)
    predictions = {}
    for precision in ("fp32", "bf16"):
        trained = load_model(args.model, precision=precision)
        if tuple(data.species) != tuple(trained.species):
            raise SystemExit(f"species {data.species} of the dataset differ from the model's")
        start = time.perf_counter()
        pred = trained.predict_environments(data.environments, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        mae = float(np.abs(pred - data.barriers).mean())
        print(f"{precision}: MAE {mae:.5f} eV, {len(pred) / seconds:,.0f} barriers/s")
        predictions[precision] = pred
    diff = np.abs(predictions["bf16"] - predictions["fp32"])
    print(f"{len(diff):,} hops: max |bf16 - fp32| {diff.max():.4f} eV, mean {diff.mean():.4f} eV")


if __name__ == "__main__":
    main()
