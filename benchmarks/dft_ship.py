"""Train the shipped pretrained model on all shared DFT folders and write its model card.

The recipe is the cross-validation winner of ``benchmarks/dft_cv.py``
(``configs/dft_<model>.yaml``). This script trains it once on all 22 folders of the
First-principle-NNK DFT data (no composition held out; 50 random hops of every composition as
validation for the schedule and early stopping) and writes ``vmeb/pretrained/<name>/``
(``model.pt``, ``card.json``, ``card.md``) with the cross-validated MAE per composition read from
the study's per-fold predictions.

Usage (CPU, one torch thread)::

    python benchmarks/dft_ship.py --model mlp --cv runs/dft_cv --seeds 0 1 2 \\
        --out runs/dft_ship --name nbmotawv-dft
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import yaml

from vmeb.data.dataset import open_dataset
from vmeb.data.importers import import_fpnnk
from vmeb.learn.crossval import composition_scores, summarise_seeds
from vmeb.learn.pretrained import write_pretrained
from vmeb.learn.training import TrainConfig, load_hops, train_model
from vmeb.testing import FPNNK_DIR

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FPNNK = FPNNK_DIR  # $VMEB_SHARED/datasets/fpnnk-dft, default beside the checkout
CITATION = (
    "J. Xing, T. J. Rupert, X. Pan, P. Cao, Neural network kinetics for exploring diffusion "
    "multiplicity and chemical ordering in compositionally complex materials, Nat. Commun. 15, "
    "3879 (2024); DFT data: GitHub UCICaoLab/First-principle-NNK, DFT_training_data/, commit "
    "0390a8f8484bbee1a6bf8caa592897a53e45f2b8"
)


def _cv_summary(cv_dir: Path, model: str, seeds: list[int], data) -> dict:
    """Cross-validated scores of the model from the study's per-fold predictions."""
    per_seed = {}
    for seed in seeds:
        pred = np.full(len(data.barriers), np.nan)
        for path in (cv_dir / "runs" / model / f"seed{seed}").glob("fold*/pred.npz"):
            with np.load(path) as saved:
                pred[saved["index"]] = saved["pred"]
        if not np.isnan(pred).any():
            per_seed[seed] = composition_scores(pred, data.barriers, data.groups)
    if not per_seed:
        raise SystemExit(f"no complete cross-validation of {model!r} in {cv_dir}")
    summary = summarise_seeds(per_seed)
    folds = {}
    for seed in summary["seeds"]:
        path = next(cv_dir.glob("folds_seeds*.json"))
        for candidate in sorted(cv_dir.glob("folds_seeds*.json")):
            if str(seed) in json.loads(candidate.read_text()):
                path = candidate
        folds[str(seed)] = json.loads(path.read_text())[str(seed)]
    return {
        "protocol": "leave-compositions-out, 5 folds (vmeb.learn.crossval.composition_folds), "
        "each seed its own fold partition; MAE per composition from the fold that held it out",
        "seeds": summary["seeds"],
        "folds": folds,
        "mean_mae": round(summary["mean"], 4),
        "mean_mae_seed_std": round(summary["mean_std"], 4),
        "worst_mae": round(summary["worst"], 4),
        "worst_composition": summary["worst_group"],
        "per_composition_mae": {g: round(v, 4) for g, v in summary["groups"].items()},
    }


def _reused(train_dir: Path) -> SimpleNamespace:
    """The finished training run of an earlier call (its summary and per-epoch metrics)."""
    summary = json.loads((train_dir / "summary.json").read_text())
    history = [json.loads(x) for x in (train_dir / "metrics.jsonl").read_text().splitlines()]
    return SimpleNamespace(
        model_path=train_dir / "model.pt",
        best_epoch=summary["best_epoch"],
        val_mae=summary["val_mae"],
        history=history,
    )


def _lattice_range(dataset) -> list[float]:
    """Smallest and largest cubic lattice constant (Å) of the 4x4x4 training cells."""
    values = []
    for sample_id in dataset.sample_ids():
        cell = dataset.structure(sample_id).cell.lengths()
        values.append(float(np.mean(cell)) / 4.0)
    return [round(min(values), 4), round(max(values), 4)]


def _card_md(card: dict) -> str:
    cv = card["cv"]
    rows = "\n".join(f"| {g} | {mae:.4f} |" for g, mae in sorted(cv["per_composition_mae"].items()))
    recipe = card["recipe"]
    return f"""# {card["name"]}: vacancy-migration barriers of BCC Nb-Mo-Ta-W-V alloys (DFT)

Model: `{card["kind"]}` ({card["description"]}), checkpoint `{card["checkpoint"]}`.
Species (channel order): {", ".join(card["species"])}. Trained on cubic lattice constants
{card["lattice_constant_range"][0]:.3f}-{card["lattice_constant_range"][1]:.3f} Å (ideal BCC
lattice sites, unrelaxed; environments within {recipe["r_c"]} Å).

Training data: {card["training_data"]["description"]}

Cite: {card["citation"]}

Recipe (`{card["recipe_file"]}`): {json.dumps(recipe)}

Trained by: `{card["command"]}` ({card["trained"]["epochs"]} epochs, best epoch
{card["trained"]["best_epoch"]}, validation MAE {card["trained"]["val_mae"]:.4f} eV on 50 random
hops of every composition).

## Cross-validated accuracy on unseen compositions

{cv["protocol"]}; seeds {cv["seeds"]}. Mean over compositions **{cv["mean_mae"]:.4f} eV**
(seed std {cv["mean_mae_seed_std"]:.4f}), worst composition {cv["worst_composition"]}
{cv["worst_mae"]:.4f} eV. These are the errors to expect on a Nb-Mo-Ta-W-V composition the model
has not seen; the shipped model itself was trained on all 19 compositions.

| composition | CV MAE (eV) |
|---|---|
{rows}

Limits: barriers of DFT (VASP PBE) climbing-image NEB on ideal, unrelaxed lattice sites of
128-atom cells; species outside {"-".join(card["species"])} are refused; lattice constants far
outside the training range, relaxed or disordered (non-lattice) structures, other temperatures'
thermal displacements and other potentials are extrapolation.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="config name: configs/dft_<model>.yaml")
    parser.add_argument("--cv", default="runs/dft_cv", help="the CV study's output directory")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="runs/dft_ship", help="training output directory")
    parser.add_argument("--name", default="nbmotawv-dft", help="shipped model name")
    parser.add_argument("--fpnnk", default=str(DEFAULT_FPNNK), help="DFT folders' parent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--description", default="", help="one-line model description")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse OUT/train (rewrite the card, e.g. more seeds)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    dataset_dir = out / "dataset"
    if not dataset_dir.exists():
        print(import_fpnnk([args.fpnnk], dataset_dir).table())
    dataset = open_dataset(dataset_dir)
    recipe_file = f"configs/dft_{args.model}.yaml"
    values = yaml.safe_load((ROOT / recipe_file).read_text())
    values.update(seed=args.seed, test_groups=[])
    config = TrainConfig.from_dict(values)
    data = load_hops([dataset], config.r_c)
    if args.reuse and (out / "train" / "summary.json").is_file():  # card only, same weights
        result = _reused(out / "train")
    else:
        result = train_model([dataset], config, out / "train", data=data, progress=False)
    cv = _cv_summary(Path(args.cv), args.model, args.seeds, data)  # exits if no complete CV
    words = [w for w in (argv if argv is not None else sys.argv[1:]) if w != "--reuse"]
    command = "python benchmarks/dft_ship.py " + shlex.join(words)
    card = {
        "name": args.name,
        "checkpoint": "model.pt",
        "kind": config.kind,
        "description": args.description or config.kind,
        "species": list(data.species),
        "lattice_constant_range": _lattice_range(dataset),
        "r_c": config.r_c,
        "training_data": {
            "name": "First-principle-NNK DFT",
            "description": (
                f"First-principle-NNK DFT climbing-image NEB barriers (VASP PBE), "
                f"{len(dataset.sample_ids())} folders = {len(set(data.groups))} compositions "
                f"of 128-atom Nb-Mo-Ta-W-V cells, {len(data.barriers)} barriers "
                "(entries <= 0 eV rejected)"
            ),
            "folders": sorted(dataset.sample_ids()),
            "hops": len(data.barriers),
        },
        "citation": CITATION,
        "recipe_file": recipe_file,
        "recipe": config.to_dict(),
        "cv": cv,
        "command": command,
        "trained": {
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "val_mae": round(result.val_mae, 4),
            "epoch_seconds": round(sum(h.get("seconds") or 0 for h in result.history), 1),
        },
    }
    target = write_pretrained(args.name, result.model_path, card, _card_md(card))
    print(f"{args.name}: {target} (CV mean {cv['mean_mae']:.4f} eV, val {result.val_mae:.4f} eV)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
