"""KMC with model barriers against KMC with NEB barriers computed on the fly (docs/kmc.md).

Walkers on a 250-atom equiatomic TaNbMo sample (5 x 5 x 5 cells, the built-in EAM's relaxed
lattice constant) jump with barriers from climbing-image NEB of every configuration they visit
(`vmeb.spectra.kmc_neb.NEBBarriers`, cached: a back-jump finds its site computed), then the same
walkers (same seed: same starting vacancies and random numbers) jump with the shipped
``tanbmo-eam`` model's barriers, and a larger model run gives tight error bars. Every NEB-computed
site is also predicted by the model: the model's error on the configurations KMC actually
visits, plain and weighted by the hops' rates.

The NEB run checkpoints every ``--chunk`` steps into OUTPUT (state and computed sites) and
resumes from there.

    python examples/kmc/neb_validation.py -o runs/kmc/neb_validation \
        --temperature 1500 --walkers 6 --steps 500 --workers 2
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import time
from pathlib import Path

import numpy as np

from vmeb.lammps.lattice import lattice_constant
from vmeb.learn.field import snap_lattice
from vmeb.learn.predictors import load_model
from vmeb.spectra.kmc import BOLTZMANN_EV_K
from vmeb.spectra.kmc_neb import FAILED_BARRIER, NEBBarriers
from vmeb.spectra.walkers import (
    WalkerConfig,
    WindowModelBarriers,
    lattice_tables,
    load_state,
    run_walkers,
    save_state,
)
from vmeb.structure.build import build_random_alloy

COMPOSITION = {"Ta": 1 / 3, "Nb": 1 / 3, "Mo": 1 / 3}


def _neb_run(args, atoms, species, fit, out: Path):
    """The NEB walkers, in chunks with checkpoints; returns (summary, sites, seconds)."""
    source = NEBBarriers(atoms, species, "default", workers=args.workers)
    state_file, sites_file = out / "neb_state.npz", out / "neb_sites.pkl"
    state, rng, seconds, summary = None, np.random.default_rng(args.seed), 0.0, None
    if state_file.exists():
        state, rng = load_state(state_file)
        with open(sites_file, "rb") as handle:
            source.cache, source.records, seconds = pickle.load(handle)
    try:
        while state is None or state.step < args.steps:
            done = 0 if state is None else state.step
            config = WalkerConfig(args.temperature, min(done + args.chunk, args.steps),
                                  args.walkers)  # fmt: skip
            start = time.perf_counter()
            state, summary = run_walkers(atoms, species, source, config, rng, state=state, fit=fit)
            seconds += time.perf_counter() - start
            save_state(state, rng, state_file)
            with open(sites_file, "wb") as handle:
                pickle.dump((source.cache, source.records, seconds), handle)
            print(f"NEB walkers: step {state.step}/{args.steps}, {len(source.cache)} sites, "
                  f"{seconds:.0f} s", flush=True)  # fmt: skip
        if summary is None:  # resumed at the end: the observables of the saved walkers
            config = WalkerConfig(args.temperature, state.step, args.walkers)
            _, summary = run_walkers(atoms, species, source, config, rng, state=state, fit=fit)
    finally:
        source.close()
    return summary, source.records, seconds


def _model_errors(trained, fit, records, beta: float) -> dict:
    """The model against NEB on every NEB-computed site: MAE, rate-weighted MAE, bias."""
    neighbours, _ = lattice_tables(fit)
    model = WindowModelBarriers(trained, fit)
    species = np.stack([r[0] for r in records])
    vacancy = np.array([r[1] for r in records])
    neb = np.stack([r[2] for r in records])
    rows = np.arange(len(records))
    pred = model(species, vacancy[:, None], rows, vacancy, neighbours[vacancy])
    good = neb < FAILED_BARRIER
    err = (pred - neb)[good]
    rates = np.exp(-beta * neb)
    weights = (rates / rates.sum(axis=1, keepdims=True))[good]
    return {
        "sites": len(records),
        "hops": int(good.sum()),
        "failed_hops": int((~good).sum()),
        "mae_eV": float(np.abs(err).mean()),
        "rate_weighted_mae_eV": float((weights * np.abs(err)).sum() / weights.sum()),
        "mean_error_eV": float(err.mean()),
        "lowest_barrier_mae_eV": float(
            np.abs(pred.min(axis=1) - np.where(good, neb, np.inf).min(axis=1)).mean()
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--temperature", type=float, default=1500.0)
    parser.add_argument("--walkers", type=int, default=6)
    parser.add_argument("--steps", type=int, default=500, help="jumps per walker")
    parser.add_argument("--model-walkers", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.output.mkdir(parents=True, exist_ok=True)
    a = lattice_constant("default", COMPOSITION)
    atoms = build_random_alloy("TaNbMo", cells=5, a=a, seed=args.seed)
    trained = load_model("tanbmo-eam")
    species = list(trained.species)
    fit = snap_lattice(atoms)
    neb, records, seconds = _neb_run(args, atoms, species, fit, args.output)
    model_source = WindowModelBarriers(trained, fit)
    same = WalkerConfig(args.temperature, args.steps, args.walkers)
    _, paired = run_walkers(atoms, species, model_source, same, np.random.default_rng(args.seed),
                            fit=fit)  # fmt: skip
    many = WalkerConfig(args.temperature, args.steps, args.model_walkers)
    _, large = run_walkers(atoms, species, model_source, many,
                           np.random.default_rng([args.seed, 1]), fit=fit)  # fmt: skip
    beta = 1.0 / (BOLTZMANN_EV_K * args.temperature)
    result = {
        "sample": f"TaNbMo equiatomic, 250 atoms, a = {a:.4f} A, seed {args.seed}",
        "potential": "default (built-in Ta-Nb-Mo EAM)",
        "model": "tanbmo-eam",
        "temperature_K": args.temperature,
        "walkers": args.walkers,
        "steps_per_walker": args.steps,
        "neb_seconds": seconds,
        "neb_sites": len(records),
        "neb": neb,
        "model_same_walkers": paired,
        "model_many_walkers": large,
        "model_on_visited_sites": _model_errors(trained, fit, records, beta),
    }
    (args.output / "validation.json").write_text(json.dumps(result, indent=1))
    for key in ("tracer_diffusivity", "correlation_factor"):
        for sp in species:
            print(key, sp, *(f"{r[key][sp]:.4g}+-{r[key + '_error'][sp]:.2g}"
                             for r in (neb, paired, large)))  # fmt: skip
    print(json.dumps(result["model_on_visited_sites"]))


if __name__ == "__main__":
    main()
