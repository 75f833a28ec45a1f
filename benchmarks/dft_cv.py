"""Model selection by leave-compositions-out cross-validation on the shared DFT barriers.

Data: the First-principle-NNK DFT NEB barriers (Xing, Rupert, Pan, Cao, Nat. Commun. 15, 3879
(2024)), 22 folders = 19 compositions of 128-atom Nb-Mo-Ta-W-V cells. For every seed the
compositions are split into K folds (`vmeb.learn.crossval.composition_folds`: replicas together,
an element-rich composition in every fold), identical for every model; each model is trained K
times through `vmeb.learn.training.train_model` (config ``configs/dft_<model>.yaml``; validation =
50 random hops of every training composition, for the schedule and early stopping) and predicts
the held-out compositions with `TrainedModel.predict_environments`. Every composition is thus
predicted by a model that never saw it, once per seed.
Predictions are made in fp32 on every machine (training follows the config's ``precision``), so
the study's numbers do not depend on the CPU's bf16 units.

Usage (CPU, one torch thread; resumable: finished runs are skipped)::

    python benchmarks/dft_cv.py --out runs/dft_cv --models lr nn mlp --seeds 0 1 2
    python benchmarks/dft_cv.py --out runs/dft_cv --models latcnn --seeds 0
    python benchmarks/dft_cv.py --out runs/dft_cv --models latcnn_linear_snap --only-folds 0 1 2
    python benchmarks/dft_cv.py --out runs/dft_cv --table --ensemble mlp+latcnn

Results: ``OUT/runs/<model>/seed<s>/fold<k>/`` (train_model outputs, ``pred.npz`` with the test
hops' indices and predictions, ``result.json``), ``OUT/folds.json`` and ``OUT/results.md`` (CV
table: mean over compositions of the per-composition MAE, the worst composition, the mean
|bias| of a composition and the MAE left once it is removed (`composition_scores`), seconds per
epoch; per-composition table of every model; per seed, the CV mean and the mean signed
error of the element-rich corners). ``--ensemble a+b`` averages the per-hop predictions
of finished models on the same seed and fold. Models whose config names ``auxiliary`` data
(e.g. ``latcnn_linear_snap``: SNAP barriers, ``bash benchmarks/snap_corners.sh``) train on them
too but are scored on the DFT hops only; run them in a call of their own. ``--only-folds``
splits one seed's folds between processes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml

from vmeb.data.dataset import atomic_write_text, open_dataset
from vmeb.data.importers import import_fpnnk
from vmeb.learn import training
from vmeb.learn.auxiliary import is_auxiliary, load_with_auxiliary
from vmeb.learn.batches import prepare_inputs
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.crossval import composition_folds, composition_scores, summarise_seeds
from vmeb.learn.descriptors import assign_sites, template_symmetries
from vmeb.learn.hops import HopData
from vmeb.learn.kinds import get_kind
from vmeb.learn.lattice_models import predict_occupancy_barriers
from vmeb.learn.predictors import set_precision
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.testing import FPNNK_DIR

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FPNNK = FPNNK_DIR  # $VMEB_SHARED/datasets/fpnnk-dft, default beside the checkout
R_C = 7.6


class _OnceInputs:
    """`prepare_inputs` computed once per (input kind, template) for all hops of the study.

    The one-hot site descriptors of every hop depend only on the site template (and the LR's
    point-group averaging), not on the fold, so `train_model` gets them from this cache; the
    environments are the same object for every run.
    """

    def __init__(self) -> None:
        self.cache: dict = {}
        self.env = None

    def __call__(self, env, config, n_species, template):
        if env is not self.env:  # not the study's hops (e.g. predict_environments): no cache
            return prepare_inputs(env, config, n_species, template)
        site_kind = "lr" if config.kind == "lr" else "site"
        key = (
            "cnn" if config.kind == "cnn" else site_kind,
            config.augment,
            None if template is None else template.sites.tobytes(),
        )
        if key not in self.cache:
            self.cache[key] = prepare_inputs(env, config, n_species, template)
        inputs = self.cache[key]
        if inputs.kind != config.kind and config.kind != "cnn":
            inputs = type(inputs)(
                kind=config.kind, descriptors=inputs.descriptors, perms=inputs.perms
            )
        return inputs


_ONCE = _OnceInputs()
training.prepare_inputs = _ONCE
_OCCUPANCY: dict = {}


def _occupancies(data: HopData, template) -> np.ndarray:
    """[H, S] species of every template site of every hop (-1 empty), once per template."""
    key = template.sites.tobytes()
    if key not in _OCCUPANCY:
        env = data.environments
        site = assign_sites(env.positions, env.species, template)
        occ = np.full((len(site), template.n_sites), -1, dtype=np.int64)
        hop, atom = np.nonzero(site >= 0)
        occ[hop, site[hop, atom]] = env.species[hop, atom]
        _OCCUPANCY[key] = occ
    return _OCCUPANCY[key]


def _config(name: str, seed: int, test_groups: tuple[str, ...], epochs: int | None) -> TrainConfig:
    values = yaml.safe_load((ROOT / "configs" / f"dft_{name}.yaml").read_text())
    values.update(seed=seed, test_groups=list(test_groups))
    if epochs is not None and values.get("kind") != "lr":
        values["epochs"] = epochs
    return TrainConfig.from_dict(values)


def _auxiliary(names: list[str]) -> tuple[str, ...]:
    """The auxiliary datasets of the models' configs (one set for all models of a call)."""
    sets = {
        tuple(yaml.safe_load((ROOT / "configs" / f"dft_{n}.yaml").read_text()).get("auxiliary", []))
        for n in names
        if (ROOT / "configs" / f"dft_{n}.yaml").is_file()
    }
    if len(sets) > 1:
        raise SystemExit(f"models {names} use different auxiliary data: run them in separate calls")
    return next(iter(sets), ())


def _primary(data: HopData) -> HopData:
    """The primary (DFT) hops; auxiliary hops come after them (`load_with_auxiliary`)."""
    n = int((~is_auxiliary(data.groups)).sum())
    return replace(data, barriers=data.barriers[:n], groups=data.groups[:n])


def _run(name, seed, fold, data: HopData, dataset, out: Path, epochs) -> dict:
    run_dir = out / "runs" / name / f"seed{seed}" / f"fold{fold.index}"
    result_path = run_dir / "result.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    config = _config(name, seed, fold.test_groups, epochs)
    start = time.perf_counter()
    result = train_model([dataset], config, run_dir, data=data, progress=False)
    test = np.nonzero(np.isin(data.groups, fold.test_groups))[0]
    trained = set_precision(load_checkpoint(result.model_path), "fp32")  # same on every CPU
    template = trained.template()
    if template is None:  # SDM CNN: from the environments
        pred = trained.predict_environments(data.environments.take(test), batch_size=1024)
    else:  # site models: from the site occupancies (same numbers, no descriptors per run)
        perms = template_symmetries(template) if trained.train_config.augment != "none" else None
        occ = _occupancies(data, template)[test]
        pred = predict_occupancy_barriers(trained.model, occ, len(trained.species), perms, 2048)
        check = trained.predict_environments(data.environments.take(test[:64]), batch_size=64)
        if not np.allclose(check, pred[:64], atol=1e-4):  # the fast path must equal the model
            raise RuntimeError(f"occupancy path differs from predict_environments in {run_dir}")
    np.savez_compressed(run_dir / "pred.npz", index=test, pred=pred)
    record = {
        "model": name,
        "seed": seed,
        "fold": fold.index,
        "test_groups": list(fold.test_groups),
        "scores": composition_scores(pred, data.barriers[test], data.groups[test]),
        "val_mae": result.val_mae,
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "seconds_per_epoch": result.seconds_per_epoch,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    atomic_write_text(result_path, json.dumps(record, indent=2) + "\n")
    return record


def _predictions(out: Path, name: str, seed: int, n: int) -> np.ndarray | None:
    """Per-hop CV predictions [H] of one model and seed (NaN where a fold is missing)."""
    pred = np.full(n, np.nan)
    paths = sorted((out / "runs" / name / f"seed{seed}").glob("fold*/pred.npz"))
    if not paths:
        return None
    for path in paths:
        with np.load(path) as saved:
            pred[saved["index"]] = saved["pred"]
    return pred


def _scores(out, names, seeds, data, n_folds):
    """{model: {"seeds": {seed: scores}, "cost": s/epoch}} for complete (all folds) seeds."""
    table = {}
    for name in names:
        parts = name.split("+")
        per_seed, costs = {}, []
        for seed in seeds:
            preds = [_predictions(out, p, seed, len(data.barriers)) for p in parts]
            if any(p is None or np.isnan(p).any() for p in preds):
                continue
            mean = np.mean(preds, axis=0)
            per_seed[seed] = composition_scores(mean, data.barriers, data.groups)
            for p in parts:
                for path in (out / "runs" / p / f"seed{seed}").glob("fold*/result.json"):
                    cost = json.loads(path.read_text())["seconds_per_epoch"]
                    costs.append(cost if cost is not None else np.nan)
        if per_seed:
            table[name] = {"seeds": per_seed, "cost": float(np.nanmean(costs)) if costs else None}
    return table


def _fold_table(out: Path, names: list[str], seed: int, n_folds: int) -> list[str]:
    """Per-fold composition-mean MAE of every single model on one seed (finished folds only)."""
    lines = [
        "",
        f"Per fold, seed {seed} (mean over the fold's compositions, eV; - = not run):",
        "",
        "| model | " + " | ".join(f"fold {k}" for k in range(n_folds)) + " |",
        "|---" * (n_folds + 1) + "|",
    ]
    for name in (n for n in names if "+" not in n):
        cells = []
        for k in range(n_folds):
            path = out / "runs" / name / f"seed{seed}" / f"fold{k}" / "result.json"
            cells.append(
                f"{json.loads(path.read_text())['scores']['mean']:.4f}" if path.is_file() else "-"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _table(out: Path, names: list[str], seeds: list[int], data: HopData, n_folds: int) -> str:
    table = _scores(out, names, seeds, data, n_folds)
    if not table:
        return "no complete cross-validation yet"
    lines = [
        "| model | seeds | CV mean MAE (eV) | seed std | worst composition (eV) | "
        "mean abs bias (eV) | MAE bias removed (eV) | s/epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summaries = {name: summarise_seeds(entry["seeds"]) for name, entry in table.items()}
    for name, s in summaries.items():
        cost = table[name]["cost"]
        cost_text = "-" if cost is None or not np.isfinite(cost) else f"{cost:.1f}"
        lines.append(
            f"| {name} | {len(s['seeds'])} | **{s['mean']:.4f}** | {s['mean_std']:.4f} | "
            f"{s['worst']:.4f} ({s['worst_group']}) | {s['mean_abs_bias']:.4f} | "
            f"{s['mean_centred']:.4f} | {cost_text} |"
        )
    groups = sorted(next(iter(summaries.values()))["groups"])
    counts = {g: int((data.groups == g).sum()) for g in groups}
    lines += ["", "Per composition (MAE in eV, mean over seeds):", ""]
    lines.append("| composition | hops | " + " | ".join(summaries) + " |")
    lines.append("|---" * (len(summaries) + 2) + "|")
    for g in groups:
        cells = [f"{s['groups'][g]:.4f}" for s in summaries.values()]
        lines.append(f"| {g} | {counts[g]} | " + " | ".join(cells) + " |")
    lines += _seed_tables(table, groups)
    lines += _fold_table(out, names, seeds[0], n_folds)
    return "\n".join(lines)


#: Element-rich compositions whose mean signed error per seed is tabulated (their level is what
#: the models miss, docs/results_dft.md).
CORNERS = ("Nb80MoTaWV", "NbMo80TaWV", "NbMoTa80WV", "NbMoTaWV80")


def _seed_tables(table: dict, groups: list[str]) -> list[str]:
    """Per seed (each its own fold partition): the CV mean of every model and the mean signed
    error of the element-rich corners, "a/b/c" over the seeds."""
    corners = [g for g in CORNERS if g in groups]
    lines = [
        "",
        "Per seed (CV mean MAE; mean signed error of the corners, seeds in order, eV):",
        "",
        "| model | seeds | CV mean per seed | " + " | ".join(corners) + " |",
        "|---" * (len(corners) + 3) + "|",
    ]
    for name, entry in table.items():
        per_seed = entry["seeds"]
        order = sorted(per_seed)
        means = " / ".join(f"{per_seed[s]['mean']:.4f}" for s in order)
        biases = [
            "/".join(f"{per_seed[s]['groups'][g]['bias']:+.2f}" for s in order) for g in corners
        ]
        seeds = " ".join(str(s) for s in order)
        lines.append(f"| {name} | {seeds} | {means} | " + " | ".join(biases) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/dft_cv", help="output directory")
    parser.add_argument("--fpnnk", default=str(DEFAULT_FPNNK), help="DFT folders' parent")
    parser.add_argument("--dataset", help="an imported dataset (default OUT/dataset)")
    parser.add_argument("--models", nargs="+", default=["lr", "nn", "mlp", "latcnn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--only-folds", nargs="+", type=int, help="run only these folds (to split the work)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="override the configs' maximum epochs")
    parser.add_argument("--ensemble", nargs="*", default=[], help="e.g. mlp+latcnn")
    parser.add_argument("--table", action="store_true", help="only write the results table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    dataset_dir = Path(args.dataset) if args.dataset else out / "dataset"
    if not dataset_dir.exists():
        print(import_fpnnk([args.fpnnk], dataset_dir).table())
    dataset = open_dataset(dataset_dir)
    auxiliary = () if args.table else _auxiliary(args.models)  # the table scores DFT hops only
    window = max(
        [get_kind(_config(m, 0, (), None).kind).window_half(_config(m, 0, (), None))
         for m in args.models if (ROOT / "configs" / f"dft_{m}.yaml").is_file()] + [0]
    )  # fmt: skip
    data = load_with_auxiliary([dataset], [open_dataset(p) for p in auxiliary], R_C, window=window)
    _ONCE.env = data.environments
    primary = _primary(data)
    folds = {s: composition_folds(primary.groups, args.folds, s) for s in args.seeds}
    record = {s: [list(f.test_groups) for f in fs] for s, fs in folds.items()}
    if not args.table:
        atomic_write_text(
            out / f"folds_seeds{'_'.join(map(str, args.seeds))}.json",
            json.dumps(record, indent=2) + "\n",
        )
        for seed in args.seeds:
            for name in args.models:
                for fold in folds[seed]:
                    if args.only_folds is not None and fold.index not in args.only_folds:
                        continue
                    r = _run(name, seed, fold, data, dataset, out, args.epochs)
                    print(
                        f"{name} seed {seed} fold {fold.index}: mean {r['scores']['mean']:.4f} "
                        f"worst {r['scores']['worst']:.4f} ({r['scores']['worst_group']}), "
                        f"{r['epochs']} epochs, {r['seconds_per_epoch'] or 0:.1f} s/epoch, "
                        f"{r['wall_s']:.0f} s",
                        flush=True,
                    )
    table = _table(out, args.models + args.ensemble, args.seeds, primary, args.folds)
    atomic_write_text(out / "results.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
