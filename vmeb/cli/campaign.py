"""Active-learning campaign: the model decides where the next NEB is worth computing.

A pool of candidate vacancy sites is drawn once (random BCC solid solutions over a composition
domain at the potential's lattice constants, optional CSRO structures, or, in pool mode, the
sites of labelled datasets). Then every round runs these stages, each marked done in
OUTPUT/rounds/round_XX/state.json:

  select    round 0: initial_sites random sites; round r >= 1: k = batch_sites x
            batch_growth^(r-1) sites (batch_growth 1: fixed batches, 2: the labelled set
            doubles, a log-spaced learning curve) among the top top_factor x k sites by
            score (max or mean ensemble spread of the site's 8 hops plus a
            composition-coverage bonus), clustered by k-means on the per-shell composition
            of their neighbourhoods, the best of each cluster, at most ceil(k / C) per
            composition (mode random: random sites, same budget)
  label     NEB of the batch (vmeb neb's campaign: local processes or --scheduler), or in
            pool mode the rows revealed from the pool datasets (cost hop_seconds per hop)
  train     a deep ensemble of `members` models of the recipe, seeded per round
  evaluate  test MAE (overall, worst composition) and spread on the fixed test set
  score     mean and spread of every unlabelled pool hop (the next round's scores)

and appends a row to OUTPUT/learning_curve.csv (round, hops, sites, cpu_seconds,
wall_seconds, test_mae, test_mae_worst, test_spread, pool_spread, mode, seed) and
learning_curve.png. It stops at max_rounds, hop_budget, time_budget (s), target_spread or
target_mae (eV), or when the pool is exhausted. Run the same command again to continue a
stopped or killed campaign (raise max_rounds or a budget to go further).

Outputs: OUTPUT/config.yaml, pool/, dataset/ (the labelled barrier dataset),
test_dataset/ (a random test set), rounds/round_XX/ (selected.csv, ensemble/,
test_predictions.csv, scores.csv, state.json), learning_curve.csv/.png, summary.json.

Example config (YAML; every key in docs/active_learning.md):

  elements: [Ta, Nb, Mo]
  grid_step: 0.25            # compositions on a 25 at.% grid
  cells: 3                   # 54-atom samples
  sites_per_sample: 16
  neb: {n_replicas: 5, ftol: 0.01}
  train: {kind: mlp, epochs: 10}
  members: 3
  initial_sites: 8
  batch_sites: 8
  test_sites: 8              # random test sites held out and labelled in round 0
  hop_budget: 400

Examples:
    vmeb campaign --config configs/active_tanbmo.yaml -o runs/active
    vmeb campaign --config configs/active_tanbmo.yaml -o runs/random --mode random
    vmeb campaign --config configs/active_pool_tanbmo.yaml -o runs/pool --seed 1
"""

from __future__ import annotations

import argparse

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb campaign`` arguments."""
    common.add_output(parser, new=False)
    common.add_config(parser)
    parser.add_argument(
        "--mode",
        choices=("active", "random"),
        default=None,
        help="selection: uncertainty with diversity, or random (baseline)",
    )
    parser.add_argument(
        "--seed",
        type=common.nonnegative_int,
        default=None,
        help="seed of every draw (overrides the config)",
    )
    parser.add_argument(
        "--pool",
        nargs="+",
        default=None,
        metavar="DATASET",
        help="pool mode: candidate sites from these labelled datasets",
    )
    parser.add_argument(
        "--max-rounds",
        type=common.positive_int,
        default=None,
        help="rounds at most, round 0 included",
    )
    parser.add_argument(
        "--hop-budget",
        type=common.positive_int,
        default=None,
        help="stop once this many hops are labelled",
    )
    parser.add_argument(
        "--time-budget",
        type=common.positive_float,
        default=None,
        help="stop once the campaign's wall time reaches this (s)",
    )
    parser.add_argument(
        "--workers",
        type=common.positive_int,
        default=None,
        help="local NEB worker processes (default: cores / ranks)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address for the NEB, e.g. tcp://host:8786 (refused unless it "
        "answers in 5 s)",
    )
    common.add_device(parser)
    common.add_threads(parser)
    common.add_no_progress(parser)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run or resume the campaign and print its learning curve and summary line."""
    import json  # noqa: PLC0415

    from vmeb.active.config import load_active_config  # noqa: PLC0415
    from vmeb.active.loop import run_active_campaign  # noqa: PLC0415

    overrides = {
        "mode": args.mode,
        "seed": args.seed,
        "pool_datasets": args.pool,
        "max_rounds": args.max_rounds,
        "hop_budget": args.hop_budget,
        "time_budget": args.time_budget,
        "workers": args.workers,
    }
    config = load_active_config(args.config, overrides)
    client = None
    if args.scheduler:
        from vmeb.neb.campaign import connect_scheduler  # noqa: PLC0415

        client = connect_scheduler(args.scheduler)  # before any output
    try:
        result = run_active_campaign(
            config, args.output, device=args.device, scheduler=client,
            progress=not args.no_progress,
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    print(result.curve.to_string(index=False))
    print(json.dumps({"output": str(result.output), "rounds": result.rounds,
                      "stop_reason": result.stop_reason}))  # fmt: skip
    return 0
