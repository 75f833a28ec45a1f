"""Held-out corners re-levelled by element descriptors of the composition (DFT study; analysis).

The cross-validated error of the 80 % compositions is mostly one offset of all their barriers
(docs/results_dft.md). This script asks whether a low-dimensional description of the
composition places that level better than the trained model does. For every finished run of a
model (``benchmarks/dft_cv.py``: ``OUT/runs/<model>/seed<s>/fold<k>/pred.npz``) and every
held-out composition lying more than ``--threshold`` (atomic fraction) outside the fold's
training ranges, the predictions of each moving species are shifted so that their mean equals
a least-squares fit, over the fold's *training* compositions, of that species' mean DFT barrier
against descriptors of the composition:

- ``vec_period``: 1, valence electron count (group number, averaged), period (averaged);
- ``vec_period_size``: the above and the size mismatch delta = sqrt(sum_i x_i (1 - a_i/a)^2)
  of the pure elements' BCC lattice constants a_i (ASE reference states), a = sum_i x_i a_i;
- ``vec2_period``: 1, VEC, VEC^2, period;
- ``fractions``: the atomic fractions (a linear model of the composition).

The hop-to-hop part stays the model's. Compositions inside the training ranges keep the
model's predictions. Scores as in ``dft_cv.py`` (`composition_scores`, `summarise_seeds`).
The descriptor sets were chosen after the corner errors were known, so read the table as a
diagnosis of the corners, not as a model selection.

Usage (after the CV runs; reads only)::

    python benchmarks/dft_corner_levels.py --cv runs/dft_cv --models latcnn_linear_long nn
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from ase.data import atomic_numbers, reference_states
from dft_domain import group_fractions, outside_distance

from vmeb.data.dataset import open_dataset
from vmeb.learn.crossval import composition_scores, summarise_seeds

#: (first atomic number, period, group of the first element) of the d-block rows.
D_ROWS = ((21, 4, 3), (39, 5, 3), (72, 6, 4))  # Hf is group 4 (after the lanthanides)


def element_descriptors(symbol: str) -> tuple[float, float, float]:
    """Group number (VEC), period and BCC lattice constant (Å) of a d-block element.

    The period is counted from the 3d row (V: 3) so that V, Nb, Ta are 3, 4, 5.
    """
    z = atomic_numbers[symbol]
    row = next((r for r in reversed(D_ROWS) if z >= r[0]), None)
    state = reference_states[z] or {}
    if row is None or z - row[0] + row[2] > 12 or state.get("symmetry") != "bcc":
        raise SystemExit(f"{symbol}: element descriptors only for BCC d-block metals")
    return float(z - row[0] + row[2]), float(row[1] - 1), float(state["a"])


def descriptor_sets(species: list[str]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Named maps from atomic fractions [S] to descriptor vectors (with a constant term)."""
    table = np.array([element_descriptors(s) for s in species])  # [S, 3]
    vec_of, period_of, a_of = table.T

    def parts(x: np.ndarray) -> tuple[float, float, float]:
        vec, period, a = x @ vec_of, x @ period_of, x @ a_of
        return vec, period, float(np.sqrt(x @ (1 - a_of / a) ** 2))

    def vec_period(x):
        vec, period, _ = parts(x)
        return np.array([1.0, vec, period])

    def vec_period_size(x):
        vec, period, delta = parts(x)
        return np.array([1.0, vec, period, delta])

    def vec2_period(x):
        vec, period, _ = parts(x)
        return np.array([1.0, vec, vec**2, period])

    return {
        "vec_period": vec_period,
        "vec_period_size": vec_period_size,
        "vec2_period": vec2_period,
        "fractions": lambda x: np.asarray(x, dtype=float),
    }


def relevel(
    pred: np.ndarray,
    true: np.ndarray,
    groups: np.ndarray,
    moving: np.ndarray,
    held: list[str],
    fractions: dict[str, np.ndarray],
    describe: Callable[[np.ndarray], np.ndarray],
    distance: Callable[[np.ndarray, list[np.ndarray]], float],
    threshold: float,
) -> np.ndarray:
    """Predictions [H] with the level of every far-out held-out (composition, species) refitted.

    The level of moving species s in held-out composition c becomes phi(x_c) . w_s, w_s the
    least-squares fit of the mean barrier of s over the training compositions (those not in
    ``held``) that have hops of s.
    """
    out = pred.copy()
    training = [g for g in fractions if g not in held]
    for group in held:
        if distance(fractions[group], [fractions[g] for g in training]) <= threshold:
            continue
        for s in np.unique(moving[groups == group]):
            mask = (groups == group) & (moving == s)
            fit_on = [g for g in training if ((groups == g) & (moving == s)).any()]
            design = np.array([describe(fractions[g]) for g in fit_on])
            level = np.array([true[(groups == g) & (moving == s)].mean() for g in fit_on])
            weights, *_ = np.linalg.lstsq(design, level, rcond=None)
            out[mask] = pred[mask] - pred[mask].mean() + describe(fractions[group]) @ weights
    return out


def seed_predictions(run_root: Path, n: int) -> dict[int, tuple[np.ndarray, list[list[str]]]]:
    """{seed: (CV predictions [H], held-out compositions of each fold)} of complete seeds."""
    seeds = {}
    for seed_dir in sorted(run_root.glob("seed*")):
        pred, held = np.full(n, np.nan), []
        for fold in sorted(seed_dir.glob("fold*")):
            if not (fold / "pred.npz").is_file():
                continue
            with np.load(fold / "pred.npz") as saved:
                pred[saved["index"]] = saved["pred"]
            held.append(json.loads((fold / "result.json").read_text())["test_groups"])
        if not np.isnan(pred).any():
            seeds[int(seed_dir.name.removeprefix("seed"))] = (pred, held)
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", default="runs/dft_cv", help="output directory of dft_cv.py")
    parser.add_argument("--models", nargs="+", default=["latcnn_linear_long", "nn"])
    parser.add_argument("--threshold", type=float, default=0.10, help="atomic fraction")
    args = parser.parse_args(argv)
    cv = Path(args.cv)
    if not (cv / "dataset").is_dir():
        raise SystemExit(f"{cv}: no dataset folder; run benchmarks/dft_cv.py --out {cv} first")
    species, fractions = group_fractions(cv / "dataset")
    # the hops in the order of dft_cv.py's HopData (`load_hops`: sample by sample)
    hops = pd.concat([rows for _, _, rows in open_dataset(cv / "dataset").iter_samples()])
    groups = hops["group"].to_numpy(str)
    true = hops["barrier"].to_numpy(float)
    moving = hops["moving_species"].to_numpy(str)
    sets = descriptor_sets(species)

    def distance(x, training):
        return outside_distance(x, training, species)

    corners = sorted(g for g in fractions if g.count("80"))
    print(f"re-levelled: held-out compositions > {args.threshold:g} outside the training ranges")
    print("| model | levels | seeds | CV mean (eV) | worst (eV) | " + " | ".join(corners) + " |")
    print("|---" * (5 + len(corners)) + "|")
    for model in args.models:
        seeds = seed_predictions(cv / "runs" / model, len(true))
        if not seeds:
            raise SystemExit(f"{cv / 'runs' / model}: no complete seed")
        for name, describe in {"model": None, **sets}.items():
            scores = {}
            for seed, (pred, folds) in seeds.items():
                new = pred
                for held in folds if describe else []:
                    new = relevel(
                        new, true, groups, moving, held, fractions, describe, distance,
                        args.threshold,
                    )  # fmt: skip
                scores[seed] = composition_scores(new, true, groups)
            s = summarise_seeds(scores)
            cells = " | ".join(f"{s['groups'][g]:.3f}" for g in corners)
            print(
                f"| {model} | {name} | {len(scores)} | {s['mean']:.4f} | "
                f"{s['worst']:.3f} ({s['worst_group']}) | {cells} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
