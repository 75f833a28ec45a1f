"""Cross-validated error against distance outside the training compositions (DFT study).

For every finished run of ``benchmarks/dft_cv.py`` (``OUT/runs/<model>/seed<s>/fold<k>/``,
its ``result.json``) and every held-out composition of it, the distance outside the fold's
training compositions is the largest amount (atomic fraction) by which one element lies below
the smallest or above the largest fraction of that element in the fold's training compositions:
the quantity `vmeb.learn.inference.check_composition` warns on (beyond `COMPOSITION_WARN`, 10
at.%). The script prints, per model, the held-out (composition, seed) pairs binned by that
distance: their count, compositions, mean and largest MAE and mean |bias| (eV). It is the
evidence behind the warning threshold (docs/results_dft.md, "Error and distance from the
training compositions").
Only the DFT compositions count as training compositions (auxiliary data of a model are ignored).

Usage (after the CV runs; reads only)::

    python benchmarks/dft_domain.py --cv runs/dft_cv --models lr nn latcnn_linear_long
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from vmeb.data.dataset import open_dataset
from vmeb.learn import crossval
from vmeb.learn.inference import COMPOSITION_WARN, composition_outside

#: Distance bins (atomic fraction): (label, low, high], the first holds exactly 0.
BINS = (
    ("inside", -1.0, 1e-9),
    (f"0-{100 * COMPOSITION_WARN:g} at.%", 1e-9, COMPOSITION_WARN),
    (f"{100 * COMPOSITION_WARN:g}-30 at.%", COMPOSITION_WARN, 0.30),
    ("30-45 at.%", 0.30, 0.45),
    (">45 at.%", 0.45, 1.0),
)


def group_fractions(dataset_dir: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Species and the atomic fractions [S] of every composition group of a dataset."""
    species, fractions = crossval.group_fractions(open_dataset(dataset_dir))
    return species, {g: np.array([x[s] for s in species]) for g, x in fractions.items()}


def outside_distance(x: np.ndarray, training: list[np.ndarray], species: list[str]) -> float:
    """Largest excursion (atomic fraction) of ``x`` [S] outside the per-element training range."""
    table = np.asarray(training)
    span = dict(zip(species, zip(table.min(axis=0), table.max(axis=0), strict=True), strict=True))
    return composition_outside(
        dict(zip(species, x, strict=True)), SimpleNamespace(composition_range=span)
    )


def model_rows(
    run_root: Path, species: list[str], fractions: dict[str, np.ndarray]
) -> list[tuple[str, float, float, float]]:
    """(composition, distance, MAE, |bias|) of every held-out composition of every finished run."""
    rows = []
    for path in sorted(run_root.glob("seed*/fold*/result.json")):
        result = json.loads(path.read_text())
        held = set(result["test_groups"])
        training = [x for g, x in fractions.items() if g not in held]
        for group, score in result["scores"]["groups"].items():
            distance = outside_distance(fractions[group], training, species)
            rows.append((group, distance, float(score["mae"]), abs(float(score["bias"]))))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", default="runs/dft_cv", help="output directory of dft_cv.py")
    parser.add_argument("--models", nargs="+", default=["lr", "nn", "latcnn_linear_long"])
    args = parser.parse_args(argv)
    cv = Path(args.cv)
    if not (cv / "dataset").is_dir():
        raise SystemExit(f"{cv}: no dataset folder; run benchmarks/dft_cv.py --out {cv} first")
    species, fractions = group_fractions(cv / "dataset")
    print(
        f"species {species}; distance = largest excursion outside the training range of an element"
    )
    print(
        "| model | distance | pairs | compositions | mean MAE (eV) | max MAE (eV) "
        "| mean abs bias (eV) |"
    )
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        rows = model_rows(cv / "runs" / model, species, fractions)
        if not rows:
            raise SystemExit(f"{cv / 'runs' / model}: no finished runs")
        for label, low, high in BINS:
            chosen = [r for r in rows if low < r[1] <= high]
            if not chosen:
                continue
            names = ", ".join(sorted({r[0] for r in chosen}))
            mae = [r[2] for r in chosen]
            print(
                f"| {model} | {label} | {len(chosen)} | {names} | {np.mean(mae):.4f} | "
                f"{np.max(mae):.4f} | {np.mean([r[3] for r in chosen]):.4f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
