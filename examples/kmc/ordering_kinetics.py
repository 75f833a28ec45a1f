"""Vacancy-mediated ordering of equiatomic TaNbMo by KMC against the swap-MC equilibrium.

A random 2,000-atom TaNbMo sample (10 x 10 x 10 cells, the built-in EAM's relaxed lattice
constant) is annealed at T in two ways:

1. KMC: walkers (independent copies, each with V vacancies) jump with the shipped
   ``tanbmo-eam`` model's barriers, which depend on the actual neighbourhood; the Warren-Cowley
   parameters of shells 1-2 are recorded against KMC time (`vmeb.spectra.ordering`);
2. `vmeb order`'s hybrid MC/MD (`vmeb.csro.montecarlo.hybrid_mcmd`, the paper's method) at the
   same T with the same EAM: its order after the run is the equilibrium reference (mean of the
   last records).

Writes OUTPUT/ordering.csv (KMC), OUTPUT/mcmd_trajectory.csv, OUTPUT/ordering.json (both, and
the KMC time to reach half and 90 % of the MC order) and OUTPUT/ordering.png.

    python examples/kmc/ordering_kinetics.py -o runs/kmc/ordering_800 --temperature 800
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vmeb.csro.montecarlo import HybridMCMDConfig, hybrid_mcmd
from vmeb.lammps.lattice import lattice_constant
from vmeb.learn.field import snap_lattice
from vmeb.learn.predictors import load_model
from vmeb.plots.figures import ordering_plot
from vmeb.spectra.ordering import OrderRecorder, ordering_table
from vmeb.spectra.walkers import WalkerConfig, WindowModelBarriers, run_walkers, save_state
from vmeb.structure.build import build_random_alloy

COMPOSITION = {"Ta": 1 / 3, "Nb": 1 / 3, "Mo": 1 / 3}


def _pair_column(table: pd.DataFrame, shell: int, a: str, b: str) -> str | None:
    for x, y in ((a, b), (b, a)):
        name = f"alpha_{shell}_{x}-{y}"
        if name in table.columns:
            return name
    return None


def _reference(mc: pd.DataFrame, kmc: pd.DataFrame, last: int) -> dict[str, float]:
    """KMC column -> the mean of the MC run's last ``last`` records of the same pair."""
    out = {}
    for column in kmc.columns:
        if not column.startswith("alpha_") or column.endswith("_error"):
            continue
        _, shell, pair = column.split("_", 2)
        a, b = pair.split("-")
        mc_column = _pair_column(mc, int(shell), a, b)
        if mc_column is not None:
            out[column] = float(mc[mc_column].iloc[-last:].mean())
    return out


def _time_to(kmc: pd.DataFrame, column: str, target: float, fraction: float) -> float | None:
    """First KMC time at which ``column`` reaches ``fraction`` of ``target`` (None: never)."""
    start = kmc[column].iloc[0]
    goal = start + fraction * (target - start)
    reached = (kmc[column] - goal) * np.sign(target - start) >= 0
    return float(kmc["time"][reached].iloc[0]) if reached.any() else None


def _figure(kmc: pd.DataFrame, reference: dict, temperature: float, output: Path) -> None:
    figure = ordering_plot(
        kmc, list(reference), reference,
        title=f"TaNbMo, {temperature:g} K: KMC (tanbmo-eam), dashed: hybrid MC/MD (EAM)",
    )  # fmt: skip
    figure.savefig(output / "ordering.png", dpi=150)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--temperature", type=float, default=800.0)
    parser.add_argument("--cells", type=int, default=10)
    parser.add_argument("--walkers", type=int, default=8)
    parser.add_argument("--vacancies", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100_000, help="jumps per walker")
    parser.add_argument("--every", type=int, default=2_000)
    parser.add_argument("--mc-steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--plot-only", action="store_true", help="redraw OUTPUT's figure")
    args = parser.parse_args()
    if args.plot_only:
        record = json.loads((args.output / "ordering.json").read_text())
        _figure(pd.read_csv(args.output / "ordering.csv"), record["mcmd"]["equilibrium_last5"],
                args.temperature, args.output)  # fmt: skip
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    args.output.mkdir(parents=True, exist_ok=True)
    a = lattice_constant("default", COMPOSITION)
    atoms = build_random_alloy("TaNbMo", cells=args.cells, a=a, seed=args.seed)
    trained = load_model("tanbmo-eam")
    species = list(trained.species)
    fit = snap_lattice(atoms)

    recorder = OrderRecorder(fit, species, shells=2)
    config = WalkerConfig(args.temperature, args.steps, args.walkers, vacancies=args.vacancies)
    start = time.perf_counter()
    source = WindowModelBarriers(trained, fit)
    rng = np.random.default_rng(args.seed)
    state, summary = run_walkers(atoms, species, source, config, rng, fit=fit, observe=recorder,
                                 every=args.every, progress=True)  # fmt: skip
    save_state(state, rng, args.output / "state.npz")  # `vmeb kmc --resume` continues it
    kmc_seconds = time.perf_counter() - start
    kmc = ordering_table(recorder)
    kmc.to_csv(args.output / "ordering.csv", index=False)

    start = time.perf_counter()
    mc_config = HybridMCMDConfig(steps=args.mc_steps, temperature=args.temperature,
                                 record_interval=1000)  # fmt: skip
    mc = hybrid_mcmd(atoms, "default", mc_config, seed=args.seed).trajectory
    mc_seconds = time.perf_counter() - start
    mc.to_csv(args.output / "mcmd_trajectory.csv", index=False)

    reference = _reference(mc, kmc, last=5)
    times = {
        column: {f: _time_to(kmc, column, target, f) for f in (0.5, 0.9)}
        for column, target in reference.items()
        if abs(target) > 0.05
    }
    record = {
        "sample": f"TaNbMo equiatomic, {len(atoms)} atoms, a = {a:.5f} A, seed {args.seed}",
        "temperature_K": args.temperature,
        "kmc": {"model": "tanbmo-eam", "walkers": args.walkers, "vacancies": args.vacancies,
                "steps_per_walker": args.steps, "seconds": kmc_seconds,
                "steps_per_second": summary["steps_per_second"],
                "cache_hit_rate": source.hit_rate,
                "final": {c: float(kmc[c].iloc[-1]) for c in reference},
                "final_error": {c: float(kmc[f"{c}_error"].iloc[-1]) for c in reference},
                "time_s": float(kmc["time"].iloc[-1])},
        "mcmd": {"potential": "default (built-in Ta-Nb-Mo EAM)", "steps": args.mc_steps,
                 "seconds": mc_seconds, "equilibrium_last5": reference},
        "kmc_time_to_fraction_of_mc_order_s": times,
    }  # fmt: skip
    (args.output / "ordering.json").write_text(json.dumps(record, indent=1))
    _figure(kmc, reference, args.temperature, args.output)
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
