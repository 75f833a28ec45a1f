"""Ship the Fig. 3 CNN as the built-in model ``tanbmo-eam`` (vmeb/pretrained/tanbmo-eam/).

Takes one finished run of ``examples/paper/fig3_compositions.py`` (its checkpoint was trained on
the 46 training compositions only) and that study's errors on the 9 unseen compositions, and
writes ``model.pt``, ``card.json`` and ``card.md``::

    python examples/paper/ship_tanbmo.py --study paper/fig3 --model cnn --seed 0 \
        --dataset DATA/tanbmo-eam-250 --index DATA/samples/index.csv
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from vmeb.data.dataset import open_dataset
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.pretrained import composition_range_text, write_pretrained
from vmeb.structure.lattice import bcc_lattice_constant_from_volume
from vmeb.study.grid import grid_split

ROOT = Path(__file__).resolve().parents[2]
CITATION = (
    "Z. Fan, B. Xing, P. Cao, Convolutional neural networks enable high-fidelity prediction of "
    "path-dependent diffusion barrier spectra in multi-principal element alloys (the paper this "
    "project implements; its Ta-Nb-Mo composition grid and protocol); barriers: vmeb NEB "
    "campaign with the built-in Ta-Nb-Mo EAM: X. W. Zhou, R. A. Johnson, H. N. G. Wadley, Phys. "
    "Rev. B 69, 144113 (2004) (Ta, Mo); D.-Y. Lin, S. S. Wang, D. L. Peng, M. Li, X. D. Hui, J. "
    "Phys.: Condens. Matter 25, 105404 (2013) (Nb)"
)


def _lattice_range(dataset, sample_ids) -> list[float]:
    """Smallest and largest cubic lattice constant (Å) of the training samples."""
    values = []
    for sample_id in sample_ids:
        atoms = dataset.structure(sample_id)
        values.append(bcc_lattice_constant_from_volume(atoms.get_volume(), len(atoms)))
    return [round(min(values), 4), round(max(values), 4)]


def _extra_text(extra: list[pd.DataFrame], grid_groups: set[str]) -> str:
    """The card's words for the --extra-train datasets: more grid draws, then CSRO snapshots."""
    draws = [h for h in extra if set(h["group"]) <= grid_groups]
    others = [h for h in extra if not set(h["group"]) <= grid_groups]
    text = ""
    if draws:
        cells = sum(h["sample_id"].nunique() for h in draws)
        text += (f"; plus {sum(len(h) for h in draws)} hops of {len(draws)} more random-site "
                 f"campaigns over the training compositions ({cells} more random 250-atom "
                 "cells)")  # fmt: skip
    if others:
        labels = ", ".join(sorted({g for h in others for g in h["group"]}))
        text += (f"; plus {sum(len(h) for h in others)} hops of hybrid MC/MD (CSRO) snapshots "
                 f"of training compositions ({labels})")  # fmt: skip
    return text


def _reverse_text(config: dict) -> str:
    if not config.get("reverse"):
        return ""
    return (" Each training NEB also gives its reverse hop (the barrier back from the final "
            "state): the model trains on two barriers per NEB.")  # fmt: skip


def _csro_md(card: dict) -> str:
    csro = card.get("csro_states")
    if not csro:
        return ""
    rows = "\n".join(f"| {r['group']} | {r['md_step']} | {r['hops']} | {r['mae']:.4f} | "
                     f"{r['ratio']:.2f} |" for r in csro["rows"])  # fmt: skip
    return f"""
## CSRO states (paper Fig. 4)

{csro["protocol"]}

| state | MC/MD step | hops | MAE (eV) | ratio to random |
|---|---|---|---|---|
{rows}
"""


def _curve_md(card: dict) -> str:
    curve = card.get("learning_curve")
    if not curve:
        return ""
    rows = "\n".join(f"| {r['mode']} | {r['hops']:,.0f} | {r['test_mae']:.4f} | {r['worst']:.4f} |"
                     for r in curve["rows"])  # fmt: skip
    return f"""
## Learning curve

{curve["protocol"]}

| selection | training hops (NEB) | test MAE (eV) | worst composition (eV) |
|---|---|---|---|
{rows}
"""


def _reach(card: dict) -> str:
    """What the model sees of a hop: its lattice window or its environment radius."""
    depth = card["recipe"].get("depth", 0)
    if card["kind"] == "latfield":
        return f"the sites of the cells within +-{depth} lattice constants of the vacancy"
    return f"environments within {card['r_c']} Å"


def _card_md(card: dict) -> str:
    cv = card["cv"]
    rows = "\n".join(
        f"| {label} | {mae:.4f} |" for label, mae in sorted(cv["per_composition_mae"].items())
    )
    low, high = card["lattice_constant_range"]
    return f"""# {card["name"]}: vacancy-migration barriers of BCC Ta-Nb-Mo (EAM)

Model: `{card["kind"]}` ({card["description"]}), checkpoint `{card["checkpoint"]}`.
Species (channel order): {", ".join(card["species"])}. Trained on cubic lattice constants
{low:.3f}-{high:.3f} Å (ideal BCC lattice sites; {_reach(card)}).
{composition_range_text(card["composition_range"])}
Training data: {card["training_data"]["description"]}.{_reverse_text(card["recipe"])}

Cite: {card["citation"]}

Recipe (`{card["recipe_file"]}`): {json.dumps(card["recipe"])}

Trained by: `{card["command"]}`

## Accuracy on unseen compositions

{cv["protocol"]}; seeds {cv["seeds"]}.

- mean over the 9 compositions: **{cv["mean_mae"]:.4f} eV**
  (seed std {cv["mean_mae_seed_std"]:.4f} eV);
- over all {cv["test_hops"]} test hops: {cv["all_mae"]:.4f} eV;
- worst composition: {cv["worst_composition"]}, {cv["worst_mae"]:.4f} eV;
- the shipped checkpoint (seed {card["seed"]}): {cv["shipped_all_mae"]:.4f} eV over all test hops.

| composition (at.%) | test MAE (eV), mean over seeds |
|---|---|
{rows}
{_csro_md(card)}{_curve_md(card)}
Limits: barriers of the built-in Ta-Nb-Mo EAM (not DFT), climbing-image NEB in 250-atom cells on
ideal lattice sites; species other than Ta, Nb, Mo are refused; relaxed or thermally displaced
structures take the exact (slower) path and are extrapolation; other potentials are not modelled.
{card.get("note", "")}
"""


def _learning_curve(path: Path) -> dict:
    """The type-map CNN rows of a learning-curve summary (docs/learning_curve.md)."""
    summary = pd.read_csv(path)
    summary = summary[summary["model"] != "selection ensemble"]
    rows = summary[["mode", "round", "hops", "test_mae", "worst", "seeds"]].to_dict("records")
    return {
        "protocol": (
            "Test MAE on the 9 unseen grid compositions of the type-map CNN "
            "(configs/tanbmo_cnn.yaml, the architecture shipped before 2026-12-06, without "
            "reverse hops) trained on the hops "
            "that active (ensemble uncertainty with diversity) or random selection labelled, "
            "by budget (docs/learning_curve.md, examples/paper/learning_curve.py)"
        ),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="fig3_compositions.py output")
    parser.add_argument("--model", default="cnn", help="recipe name of the study")
    parser.add_argument("--seed", type=int, default=0, help="which run to ship")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--extra-train", type=Path, nargs="*", default=[],
                        help="the study's --extra-train datasets (named in the card)")  # fmt: skip
    parser.add_argument("--learning-curve", type=Path, default=None,
                        help="summary.csv of examples/paper/learning_curve.py report (the "
                        "shipped recipe's rows go into the card)")  # fmt: skip
    parser.add_argument("--csro", type=Path, default=None,
                        help="csro_states.csv of examples/paper/fig4_csro.py for the shipped "
                        "checkpoint (rows go into the card)")  # fmt: skip
    parser.add_argument("--note", default="", help="a sentence added to the card's limits")
    parser.add_argument("--name", default="tanbmo-eam")
    parser.add_argument("--description", default="")
    args = parser.parse_args(argv)
    run = args.study / "runs" / args.model / f"seed{args.seed}"
    trained = load_checkpoint(run / "model.pt")
    dataset = open_dataset(args.dataset)
    split = grid_split(dataset, args.index)
    hops = dataset.with_groups()
    train_hops = hops[hops["group"].isin(split.train_groups)]
    train_ids = sorted(set(train_hops["sample_id"]))
    extra = [open_dataset(p).with_groups() for p in args.extra_train]
    extra_hops = sum(len(h) for h in extra)
    extra_text = _extra_text(extra, set(split.train_groups))
    errors = pd.read_csv(args.study / "errors.csv")
    per = errors[errors["group"] != "all"]
    predictions = pd.read_csv(args.study / "predictions.csv")
    seeds = sorted(int(c.split("seed")[1]) for c in predictions if c.startswith(f"{args.model}/"))
    seed_means = [
        predictions.assign(e=(predictions[f"{args.model}/seed{s}"] - predictions["barrier"]).abs())
        .groupby("group")["e"].mean().mean()
        for s in seeds
    ]  # fmt: skip
    shipped = (predictions[f"{args.model}/seed{args.seed}"] - predictions["barrier"]).abs().mean()
    worst = per.loc[per[args.model].idxmax()]
    config = dict(trained.train_config.to_dict())
    cv = {
        "protocol": (
            f"trained on the {len(set(train_hops['group']))} training compositions of the "
            "9-division Ta-Nb-Mo grid, tested on the 9 unseen test compositions (paper Supp. "
            "Fig. 1; examples/paper/fig3_compositions.py)"
        ),
        "seeds": seeds,
        "mean_mae": float(per[args.model].mean()),
        "mean_mae_seed_std": float(np.std(seed_means)),
        "all_mae": float(errors.loc[errors["group"] == "all", args.model].iloc[0]),
        "shipped_all_mae": float(shipped),
        "test_hops": int(len(predictions)),
        "worst_composition": str(worst["label"]),
        "worst_mae": float(worst[args.model]),
        "per_composition_mae": {str(r["label"]): float(r[args.model]) for _, r in per.iterrows()},
    }
    card = {
        "name": args.name,
        "checkpoint": "model.pt",
        "kind": trained.kind,
        "description": args.description or trained.kind,
        "species": list(trained.species),
        "lattice_constant_range": _lattice_range(dataset, train_ids),
        "composition_range": trained.composition_range,
        "r_c": trained.r_c,
        "training_data": {
            "name": "vmeb Ta-Nb-Mo EAM grid",
            "description": (
                f"climbing-image NEB barriers (vmeb neb, built-in Ta-Nb-Mo EAM, 7 replicas) of "
                f"{len(train_hops)} hops in {len(train_ids)} random 250-atom BCC samples, one per "
                f"training composition of the paper's 9-division grid{extra_text}"
            ),
            "samples": train_ids,
            "hops": int(len(train_hops) + extra_hops),
        },
        "citation": CITATION,
        "recipe_file": f"configs/tanbmo_{args.model}.yaml",
        "recipe": config,
        "seed": args.seed,
        "cv": cv,
        "command": "python examples/paper/ship_tanbmo.py "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
    }
    if args.note:
        card["note"] = args.note
    if args.csro is not None:
        card["csro_states"] = {
            "protocol": (
                "The shipped checkpoint on NEB barriers of equiatomic TaNbMo (a test "
                "composition) in its random state and two hybrid MC/MD ordered states, none "
                "trained on (examples/paper/fig4_csro.py, docs/paper_reproduction.md)"
            ),
            "rows": pd.read_csv(args.csro).to_dict("records"),
        }
    if args.learning_curve is not None:
        card["learning_curve"] = _learning_curve(args.learning_curve)
    write_pretrained(args.name, run / "model.pt", card, _card_md(card))
    print(_card_md(card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
