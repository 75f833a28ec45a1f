"""Paper Supp. Fig. 3: the predicted spectrum of a large equiatomic sample against NEB barriers.

Builds a random equiatomic BCC sample of ``2 cells^3`` atoms (80 cells: 1,024,000 atoms) at the
lattice constant relaxed with the built-in EAM, predicts its barriers with the model (on-lattice
fast path; every site, or ``--random-sites N``), and compares the per-species spectrum with the
NEB barriers of small random samples of the same composition (``--neb`` datasets, optionally
only ``--groups``). Writes OUT/spectrum_stats.csv and OUT/supp3_spectrum.png::

    python examples/paper/supp3_spectrum.py --model tanbmo-eam --cells 80 \
        --neb csro_neb --groups TaNbMo_md0 -o paper/supp3
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vmeb.data.dataset import open_dataset
from vmeb.files import save_figure
from vmeb.lammps.lattice import random_alloy_for_potential
from vmeb.learn.predictors import load_model
from vmeb.spectra.predict import predict_barriers
from vmeb.study.grid import markdown_table
from vmeb.study.spectrum import compare_spectra, spectra_figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tanbmo-eam", help="checkpoint or built-in model")
    parser.add_argument("--cells", type=int, default=80, help="conventional cells per edge")
    parser.add_argument("--neb", type=Path, nargs="+", required=True, help="NEB datasets")
    parser.add_argument("--groups", nargs="*", default=[], help="only these NEB groups")
    parser.add_argument("--random-sites", type=int, default=0,
                        help="predict only N random vacancy sites (0: every site)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    trained = load_model(args.model)
    species = tuple(trained.species)
    start = time.perf_counter()
    atoms = random_alloy_for_potential(
        dict.fromkeys(species, 1.0), args.cells, potential="default", seed=args.seed
    )
    built = time.perf_counter() - start
    sites = None
    if args.random_sites:
        rng = np.random.default_rng(args.seed + 1)
        sites = np.sort(
            rng.choice(len(atoms), size=min(args.random_sites, len(atoms)), replace=False)
        )
    predicted = predict_barriers(trained, atoms, sites, batch_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - start - built
    neb = pd.concat([open_dataset(p).with_groups() for p in args.neb], ignore_index=True)
    if args.groups:
        neb = neb[neb["group"].isin(args.groups)]
    stats = compare_spectra(predicted, neb, species)
    args.output.mkdir(parents=True, exist_ok=True)
    stats.to_csv(args.output / "spectrum_stats.csv", index=False, float_format="%.6f")
    fig = spectra_figure(predicted, neb, species, f"predicted, {len(atoms):,} atoms",
                         "NEB, small samples")  # fmt: skip
    save_figure(fig, args.output / "supp3_spectrum.png")
    print(markdown_table(stats))
    print(f"{len(atoms):,} atoms, {len(predicted):,} barriers in {seconds:.0f} s "
          f"({predicted.attrs.get('path')} path); sample built in {built:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
