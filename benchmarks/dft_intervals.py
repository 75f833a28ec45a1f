"""Calibrated intervals of a DFT model, from its leave-compositions-out cross-validation.

Reads the finished runs of ``benchmarks/dft_cv.py`` for one model (``OUT/runs/<model>/seed<s>/
fold<k>/``: ``pred.npz`` and ``result.json``) and fits `vmeb.learn.intervals.CompositionIntervals`
to the held-out errors: sigma(d)^2 = hop^2 + (slope d)^2, with d the total-variation distance
of the held-out composition from the nearest of the fold's training compositions (the DFT
compositions only). ``hop`` is the error at a training composition: the runs' validation MAE
(50 hops of every training composition, never trained on) times sqrt(pi/2); ``slope`` is fitted
by maximum likelihood, each (composition, seed) pair weighing the same.

The check is itself held out: for every composition, the intervals are refitted without any of its
hops (all seeds) and its coverage (fraction of hops with |error| <= sigma and <= 2 sigma; normal
errors: 68.3 % and 95.4 %) is measured on it. A constant sigma (the same fit with the slope held at
0, i.e. the validation error alone) is checked the same way, to show what the distance term
does. ``--ship NAME`` writes the
intervals fitted on all pairs, with the training compositions of the shipped model (all DFT
compositions), into the shipped model's checkpoint and card (`vmeb.learn.pretrained`).

Usage (reads the CV runs; seconds)::

    python benchmarks/dft_intervals.py --cv runs/dft_cv --model latcnn_linear_f16 --seeds 0 1 2 \
        --out runs/intervals [--ship nbmotawv-dft]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from vmeb.data.dataset import open_dataset
from vmeb.files import atomic_write_text
from vmeb.learn.checkpoints import read_checkpoint, save_checkpoint
from vmeb.learn.crossval import group_fractions
from vmeb.learn.intervals import (
    NOMINAL,
    CompositionIntervals,
    composition_distance,
    fit_intervals,
    interval_coverage,
    sigma_from_mae,
)
from vmeb.learn.pretrained import CARD_JSON, CARD_MD, PRETRAINED_ROOT


def held_out_errors(
    cv: Path, model: str, seeds: list[int], dataset, fractions: dict[str, dict[str, float]]
) -> dict[str, np.ndarray]:
    """Errors, groups, pair labels and distances of every held-out hop of every seed.

    Args:
        cv, model, seeds: The CV output folder, model name and seeds of the runs.
        dataset: The CV's imported DFT dataset (``cv/dataset``).
        fractions: Its `group_fractions`.

    Returns:
        ``{"error", "group", "pair", "distance", "seed"}`` arrays [H * seeds] and ``val_mae``,
        the mean validation MAE of the runs (eV).
    """
    samples = [rows for _, _, rows in dataset.iter_samples()]  # the order of load_hops
    groups = np.concatenate([rows["group"].to_numpy(dtype=str) for rows in samples])
    true = np.concatenate([rows["barrier"].to_numpy(dtype=np.float64) for rows in samples])
    parts: dict[str, list] = {k: [] for k in ("error", "group", "pair", "distance", "seed")}
    val_mae = []
    for seed in seeds:
        runs = sorted((cv / "runs" / model / f"seed{seed}").glob("fold*/result.json"))
        if not runs:
            raise SystemExit(f"{cv / 'runs' / model / f'seed{seed}'}: no finished folds")
        for path in runs:
            result = json.loads(path.read_text())
            held = set(result["test_groups"])
            val_mae.append(float(result["val_mae"]))
            training = [x for g, x in fractions.items() if g not in held]
            with np.load(path.parent / "pred.npz") as saved:
                index, pred = saved["index"], saved["pred"]
            if set(groups[index]) != held:
                raise SystemExit(f"{path.parent}: predictions do not match the dataset's hops")
            distance = {g: composition_distance(fractions[g], training) for g in held}
            parts["error"].append(pred - true[index])
            parts["group"].append(groups[index])
            parts["pair"].append(np.array([f"{g}|{seed}" for g in groups[index]]))
            parts["distance"].append(np.array([distance[g] for g in groups[index]]))
            parts["seed"].append(np.full(len(index), seed))
    return {**{k: np.concatenate(v) for k, v in parts.items()}, "val_mae": np.mean(val_mae)}


def _fit(data: dict[str, np.ndarray], mask: np.ndarray, compositions, constant: bool):
    hop = sigma_from_mae(data["val_mae"])
    if constant:
        return CompositionIntervals(hop, 0.0, tuple(compositions))
    args = (data["error"][mask], data["distance"][mask], data["pair"][mask], hop, compositions)
    return fit_intervals(*args)


def held_out_coverage(data: dict[str, np.ndarray], compositions) -> list[dict]:
    """Per composition: refit without it, then its MAE, distance, sigma and coverage."""
    rows = []
    for group in sorted(set(data["group"])):
        inside = data["group"] == group
        fits = {
            "distance": _fit(data, ~inside, compositions, constant=False),
            "constant": _fit(data, ~inside, compositions, constant=True),
        }
        error, distance = data["error"][inside], data["distance"][inside]
        row = {
            "composition": group,
            "hops_x_seeds": int(inside.sum()),
            "distance": float(distance.mean()),
            "mae": float(np.abs(error).mean()),
            "bias": float(error.mean()),
        }
        for name, fit in fits.items():
            sigma = fit.sigma(distance)
            row[f"{name}_sigma"] = float(np.mean(sigma))
            cover = interval_coverage(error, sigma)
            row.update({f"{name}_{k}": v for k, v in cover.items()})
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The per-composition coverage table (markdown)."""
    lines = [
        "| composition | d | MAE (eV) | bias (eV) | sigma (eV) | within 1 sigma | "
        "within 2 sigma | constant sigma (eV) | within 1 | within 2 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["distance"]):
        lines.append(
            f"| {r['composition']} | {r['distance']:.2f} | {r['mae']:.3f} | {r['bias']:+.3f} | "
            f"{r['distance_sigma']:.3f} | {r['distance_within_1sigma']:.0%} | "
            f"{r['distance_within_2sigma']:.0%} | {r['constant_sigma']:.3f} | "
            f"{r['constant_within_1sigma']:.0%} | {r['constant_within_2sigma']:.0%} |"
        )
    for name in ("distance", "constant"):
        one = np.mean([r[f"{name}_within_1sigma"] for r in rows])
        two = np.mean([r[f"{name}_within_2sigma"] for r in rows])
        worst = min(rows, key=lambda r: r[f"{name}_within_2sigma"])
        lines.append(
            f"\n{name} sigma, mean over compositions: {one:.1%} within 1 sigma (normal "
            f"{NOMINAL[1.0]:.1%}), {two:.1%} within 2 sigma ({NOMINAL[2.0]:.1%}); lowest 2-sigma "
            f"coverage {worst[f'{name}_within_2sigma']:.0%} ({worst['composition']})"
        )
    return "\n".join(lines)


def ship(name: str, intervals: CompositionIntervals, report: str) -> Path:
    """Write ``intervals`` into the shipped model ``name``'s checkpoint and cards."""
    folder = PRETRAINED_ROOT / name
    card = json.loads((folder / CARD_JSON).read_text())
    path = folder / card["checkpoint"]
    record = read_checkpoint(path)
    record["intervals"] = intervals.to_record()
    save_checkpoint(record, path)
    path.chmod(0o644)
    card["intervals"] = intervals.to_record()
    atomic_write_text(folder / CARD_JSON, json.dumps(card, indent=2) + "\n")
    text = (folder / CARD_MD).read_text().split("\n## Calibrated intervals")[0].rstrip()
    command = (
        "python benchmarks/dft_cv.py --out runs/dft_cv --models latcnn_linear_f16 --seeds 0 1 2; "
        f"python benchmarks/dft_intervals.py --cv runs/dft_cv --model latcnn_linear_f16 "
        f"--seeds 0 1 2 --ship {name}"
    )
    section = f"## Calibrated intervals\n\nCommand: `{command}`\n\n{report}\n"
    atomic_write_text(folder / CARD_MD, f"{text}\n\n{section}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", type=Path, default=Path("runs/dft_cv"))
    parser.add_argument("--model", default="latcnn_linear_f16")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/intervals"))
    parser.add_argument("--ship", help="shipped model to write the intervals into")
    args = parser.parse_args(argv)
    dataset = open_dataset(args.cv / "dataset")
    _, fractions = group_fractions(dataset)
    data = held_out_errors(args.cv, args.model, args.seeds, dataset, fractions)
    compositions = list(fractions.values())
    rows = held_out_coverage(data, compositions)
    every = np.ones(len(data["error"]), dtype=bool)
    source = f"leave-compositions-out CV of {args.model}, seeds {args.seeds} ({args.cv})"
    final = _fit(data, every, compositions, constant=False)
    final = replace(final, source=source)
    report = (
        f"sigma(d)^2 = {final.hop_sigma:.4f}^2 + ({final.level_slope:.4f} d)^2 eV, d = "
        "total-variation distance from the nearest training composition; the first term from the "
        f"validation MAE {data['val_mae']:.4f} eV, the slope fitted on {source}.\n\n"
        "Coverage on compositions left out of the slope's fit (d: mean over seeds; constant: "
        "the first term alone):\n\n" + table(rows)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        args.out / "coverage.json",
        json.dumps({"intervals": final.to_record(), "compositions": rows}, indent=1) + "\n",
    )
    atomic_write_text(args.out / "report.md", report + "\n")
    print(report)
    if args.ship:
        print(f"intervals written into {ship(args.ship, final, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
