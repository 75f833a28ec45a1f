"""Kinetic Monte Carlo throughput: batched vacancy walkers with a lattice-window model.

Builds an equiatomic TaNbMo random sample (default 20 cells: 16,000 atoms, the EAM lattice
constant) and runs `vmeb.spectra.walkers.run_walkers` with the model (default the shipped
``tanbmo-eam``) for each walker count, printing walker jumps per wall second, the cache hit rate
and the correlation factors::

    python benchmarks/bench_kmc.py [--model tanbmo-eam] [--cells 20] [--walkers 64 256]
        [--vacancies 1 8] [--steps 100] [--temperature 1500] [--threads 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from vmeb.learn.lattice import fit_bcc_lattice
from vmeb.learn.predictors import load_model
from vmeb.spectra.walkers import WalkerConfig, WindowModelBarriers, run_walkers
from vmeb.structure.build import build_random_alloy

#: Lattice constant (Å) of equiatomic TaNbMo with the built-in EAM.
A_TANBMO = 3.242744740098233


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tanbmo-eam")
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--walkers", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--steps", type=int, default=100, help="jumps per walker")
    parser.add_argument("--temperature", type=float, default=1500.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vacancies", type=int, nargs="+", default=[1], help="per walker")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    trained = load_model(args.model)
    atoms = build_random_alloy("TaNbMo", args.cells, A_TANBMO, seed=1)
    fit = fit_bcc_lattice(atoms)
    print(f"{len(atoms):,} atoms, {args.temperature} K, model {args.model}, "
          f"{args.threads} thread(s)")  # fmt: skip
    print("| walkers | vacancies each | jumps | steps/s | cache hit rate | f (Ta / Nb / Mo) |")
    print("|---|---|---|---|---|---|")
    for vacancies in args.vacancies:
        for walkers in args.walkers:
            source = WindowModelBarriers(trained, fit)
            config = WalkerConfig(args.temperature, args.steps, walkers, vacancies=vacancies)
            rng = np.random.default_rng(args.seed)
            _, summary = run_walkers(atoms, trained.species, source, config, rng, fit=fit)
            f = " / ".join(f"{summary['correlation_factor'][s]:.3f}" for s in trained.species)
            print(f"| {walkers} | {vacancies} | {walkers * args.steps:,} | "
                  f"{summary['steps_per_second']:,.0f} | {source.hit_rate:.2f} | {f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
