"""Train the shipped pretrained model on all shared DFT folders and write its model card.

The recipe is the cross-validation winner of ``benchmarks/dft_cv.py``
(``configs/dft_<model>.yaml``, or ``a+b`` for the average of several recipes). This script trains
each recipe once on all 22 folders of the First-principle-NNK DFT data (no composition held out;
50 random hops of every composition as validation for the schedule and early stopping) and writes
``vmeb/pretrained/<name>/`` (``model.pt``, or for ``a+b`` an ensemble folder ``ensemble/`` of the
members, `vmeb.learn.ensembles.assemble_ensemble`; ``card.json``, ``card.md``) with the
cross-validated MAE per composition read from the study's per-fold predictions (for ``a+b`` the
mean of the recipes' predictions, as ``dft_cv.py --ensemble a+b``).

Usage (CPU, one torch thread)::

    python benchmarks/dft_ship.py --model nn+latcnn_linear --cv runs/dft_cv --seeds 0 1 2 \\
        --out runs/dft_ship --name nbmotawv-dft
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import yaml

from vmeb.data.dataset import open_dataset
from vmeb.data.importers import import_fpnnk
from vmeb.learn.checkpoints import AUX_OFFSETS_FILE
from vmeb.learn.crossval import composition_scores, summarise_seeds
from vmeb.learn.ensembles import assemble_ensemble
from vmeb.learn.hops import load_hops
from vmeb.learn.predictors import load_model
from vmeb.learn.pretrained import composition_range_text, write_pretrained
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.testing import FPNNK_DIR

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FPNNK = FPNNK_DIR  # $VMEB_SHARED/datasets/fpnnk-dft, default beside the checkout
CITATION = (
    "J. Xing, T. J. Rupert, X. Pan, P. Cao, Neural network kinetics for exploring diffusion "
    "multiplicity and chemical ordering in compositionally complex materials, Nat. Commun. 15, "
    "3879 (2024); DFT data: GitHub UCICaoLab/First-principle-NNK, DFT_training_data/, commit "
    "0390a8f8484bbee1a6bf8caa592897a53e45f2b8"
)
#: Citation of the auxiliary SNAP barriers' potential (`benchmarks/snap_corners.sh`).
SNAP_CITATION = (
    "X.-G. Li, C. Chen, H. Zheng, Y. Zuo, S. P. Ong, Complex strengthening mechanisms in the "
    "NbMoTaW multi-principal element alloy, npj Comput. Mater. 6, 70 (2020) (SNAP potential of "
    "the auxiliary barriers)"
)


def _cv_predictions(cv_dir: Path, model: str, seed: int, n: int) -> np.ndarray:
    """[H] CV predictions of one recipe (``a+b``: their mean); NaN where a fold is missing."""
    parts = []
    for part in model.split("+"):
        pred = np.full(n, np.nan)
        for path in (cv_dir / "runs" / part / f"seed{seed}").glob("fold*/pred.npz"):
            with np.load(path) as saved:
                pred[saved["index"]] = saved["pred"]
        parts.append(pred)
    return np.mean(parts, axis=0)


def _cv_summary(cv_dir: Path, model: str, seeds: list[int], data) -> dict:
    """Cross-validated scores of the model from the study's per-fold predictions."""
    per_seed = {}
    for seed in seeds:
        pred = _cv_predictions(cv_dir, model, seed, len(data.barriers))
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


def _selection(cv: dict) -> str:
    """The card's paragraph on how the recipe was chosen (``--selection``), or nothing."""
    return f"\n\n{cv['selection']}" if cv.get("selection") else ""


def _card_md(card: dict) -> str:
    cv = card["cv"]
    rows = "\n".join(f"| {g} | {mae:.4f} |" for g, mae in sorted(cv["per_composition_mae"].items()))
    recipes = "\n".join(
        f"- `{r['recipe_file']}`: {json.dumps(r['recipe'])}; {r['trained']['epochs']} epochs, best "
        f"epoch {r['trained']['best_epoch']}, validation MAE {r['trained']['val_mae']:.4f} eV"
        for r in card["members"]
    )
    return f"""# {card["name"]}: vacancy-migration barriers of BCC Nb-Mo-Ta-W-V alloys (DFT)

Model: `{card["kind"]}` ({card["description"]}), checkpoint `{card["checkpoint"]}`.
Species (channel order): {", ".join(card["species"])}. Trained on cubic lattice constants
{card["lattice_constant_range"][0]:.3f}-{card["lattice_constant_range"][1]:.3f} Å (ideal BCC
lattice sites, unrelaxed; environments within {card["r_c"]} Å).
{composition_range_text(card["composition_range"])}
Training data: {card["training_data"]["description"]}

Cite: {card["citation"]}

Recipe{"s (the barrier is their mean)" if len(card["members"]) > 1 else ""} (validation: 50
random hops of every composition, for the schedule and early stopping):

{recipes}

Trained by: `{card["command"]}`.

## Cross-validated accuracy on unseen compositions

{cv["protocol"]}; seeds {cv["seeds"]}. Mean over compositions **{cv["mean_mae"]:.4f} eV**
(seed std {cv["mean_mae_seed_std"]:.4f}), worst composition {cv["worst_composition"]}
{cv["worst_mae"]:.4f} eV. These are the errors to expect on a Nb-Mo-Ta-W-V composition the model
has not seen; the shipped model itself was trained on all 19 compositions.{_selection(cv)}

| composition | CV MAE (eV) |
|---|---|
{rows}

Limits: barriers of DFT (VASP PBE) climbing-image NEB on ideal, unrelaxed lattice sites of
128-atom cells; species outside {"-".join(card["species"])} are refused; lattice constants far
outside the training range, relaxed or disordered (non-lattice) structures, other temperatures'
thermal displacements and other potentials are extrapolation. Compositions richer in one element
than 40 % are the hardest (see the table: the 80 % compositions).
"""


def _recipe(part: str, seed: int) -> tuple[str, TrainConfig]:
    """``configs/dft_<part>.yaml`` and its config for training on every folder."""
    recipe_file = f"configs/dft_{part}.yaml"
    values = yaml.safe_load((ROOT / recipe_file).read_text())
    values.update(seed=seed, test_groups=[])
    return recipe_file, TrainConfig.from_dict(values)


def _train_part(part: str, recipe_file: str, config: TrainConfig, args, out: Path, dataset,
                data) -> dict:  # fmt: skip
    """Train (or reuse) one recipe on all folders; its checkpoint, config and training record."""
    train_dir = out / ("train" if "+" not in args.model else f"train_{part}")
    if args.reuse and (train_dir / "summary.json").is_file():  # card only, same weights
        result = _reused(train_dir)
    else:  # with auxiliary data train_model loads primary and auxiliary hops itself
        given = None if config.auxiliary else data
        result = train_model([dataset], config, train_dir, data=given, progress=False)
    offsets = train_dir / AUX_OFFSETS_FILE
    return {
        "recipe_file": recipe_file,
        "recipe": config.to_dict(),
        "model_path": result.model_path,
        "trained": {
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "val_mae": round(result.val_mae, 4),
            "epoch_seconds": round(sum(h.get("seconds") or 0 for h in result.history), 1),
        },
        **({"auxiliary_offsets": json.loads(offsets.read_text())} if offsets.is_file() else {}),
    }


def _auxiliary_data(recipes: dict) -> dict | None:
    """Card entry of the recipes' auxiliary datasets (None without any)."""
    paths = sorted({p for _, config in recipes.values() for p in config.auxiliary})
    if not paths:
        return None
    sets = [open_dataset(p) for p in paths]
    hops = sum(len(d.valid_hops()) for d in sets)
    return {
        "datasets": paths,
        "hops": hops,
        "description": (
            f"plus {hops} auxiliary barriers of the NbMoTaW SNAP (LAMMPS climbing-image NEB, "
            "128-atom cells from equimolar NbMoTaW to 81 % Nb and 81 % Mo; `bash "
            "benchmarks/snap_corners.sh`), training hops only, each moved to the DFT level by "
            "one offset per moving species fitted on the training hops (vmeb.learn.auxiliary)"
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="config name (configs/dft_<model>.yaml) or a+b"
    )
    parser.add_argument("--cv", default="runs/dft_cv", help="the CV study's output directory")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default="runs/dft_ship", help="training output directory")
    parser.add_argument("--name", default="nbmotawv-dft", help="shipped model name")
    parser.add_argument("--fpnnk", default=str(DEFAULT_FPNNK), help="DFT folders' parent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--description", default="", help="one-line model description")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse OUT/train* (rewrite the card, e.g. more seeds)"
    )
    parser.add_argument(
        "--selection",
        default="",
        help="how the recipe was chosen and what that choice, cross-validated, gives "
        "(benchmarks/dft_select.py); a paragraph of the card",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    dataset_dir = out / "dataset"
    if not dataset_dir.exists():
        print(import_fpnnk([args.fpnnk], dataset_dir).table())
    dataset = open_dataset(dataset_dir)
    parts = args.model.split("+")
    recipes = {part: _recipe(part, args.seed) for part in parts}
    r_c = {config.r_c for _, config in recipes.values()}
    if len(r_c) != 1:
        raise SystemExit(f"recipes {parts} differ in r_c {sorted(r_c)}; an ensemble shares one")
    data = load_hops([dataset], r_c.pop())
    cv = _cv_summary(Path(args.cv), args.model, args.seeds, data)  # exits if no complete CV
    if args.selection:
        cv["selection"] = args.selection
    members = [_train_part(part, *recipes[part], args, out, dataset, data) for part in parts]
    if len(parts) == 1:
        checkpoint, kind = members[0]["model_path"], members[0]["recipe"]["kind"]
    else:
        checkpoint, kind = out / "ensemble", "ensemble"
        if checkpoint.exists():
            shutil.rmtree(checkpoint)
        assemble_ensemble(checkpoint, [m["model_path"] for m in members])
    auxiliary = _auxiliary_data(recipes)
    words = [w for w in (argv if argv is not None else sys.argv[1:]) if w != "--reuse"]
    command = "python benchmarks/dft_ship.py " + shlex.join(words)
    card = {
        "name": args.name,
        "checkpoint": "model.pt" if len(parts) == 1 else "ensemble",
        "kind": kind,
        "description": args.description or args.model,
        "species": list(data.species),
        "lattice_constant_range": _lattice_range(dataset),
        "composition_range": load_model(checkpoint).composition_range,
        "r_c": members[0]["recipe"]["r_c"],
        "training_data": {
            "name": "First-principle-NNK DFT",
            "description": (
                f"First-principle-NNK DFT climbing-image NEB barriers (VASP PBE), "
                f"{len(dataset.sample_ids())} folders = {len(set(data.groups))} compositions "
                f"of 128-atom Nb-Mo-Ta-W-V cells, {len(data.barriers)} barriers "
                "(entries <= 0 eV rejected)"
                + (f"; {auxiliary['description']}" if auxiliary else "")
            ),
            "folders": sorted(dataset.sample_ids()),
            "hops": len(data.barriers),
            **({"auxiliary": auxiliary} if auxiliary else {}),
        },
        "citation": CITATION + (f"; {SNAP_CITATION}" if auxiliary else ""),
        "recipe": members[0]["recipe"] if len(parts) == 1 else args.model,
        "members": [{k: v for k, v in m.items() if k != "model_path"} for m in members],
        "cv": cv,
        "command": command,
    }
    target = write_pretrained(args.name, checkpoint, card, _card_md(card))
    vals = ", ".join(f"{m['trained']['val_mae']:.4f}" for m in members)
    print(f"{args.name}: {target} (CV mean {cv['mean_mae']:.4f} eV, val {vals} eV)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
