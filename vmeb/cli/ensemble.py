"""Deep ensembles: train K independently seeded models, predict with uncertainty, calibrate.

  vmeb ensemble train DATASET... --members K -o DIR [training flags of vmeb train]
  vmeb ensemble predict DIR STRUCTURE -o OUTPUT [--sites I,J,... | --sites-file FILE]
  vmeb ensemble calibrate DIR DATASET -o OUTPUT
  vmeb ensemble assemble CHECKPOINT CHECKPOINT... -o DIR

train: member k is ``vmeb train`` with seed + k (optionally on a bootstrap resample of its
training hops) in DIR/member_XX; DIR/ensemble.json is written last. --resume keeps finished
members. predict: the spectrum directory of ``vmeb predict`` (hops.csv, spectrum.csv/json,
histograms.csv, spectrum.png) where hops.csv has barrier = ensemble mean, barrier_std = spread
over members, angle_std = spread over inference rotations and total_std (eV), and spectrum.csv
the mean spreads per species. calibrate: predictions.csv, calibration.json (fractions of |error|
within 1 and 2 sigma, Spearman correlation of |error| and sigma, sigma scale) and
calibration.png. assemble: an ensemble of checkpoints trained apart (e.g. an NN and a type-map
CNN), usable wherever a model is. Outputs of predict and calibrate appear complete or not at all;
predict and calibrate refuse a single-model checkpoint (use vmeb predict or vmeb evaluate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands ``train``, ``predict`` and ``calibrate`` of ``vmeb ensemble``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="train K independently seeded members")
    common.add_training_arguments(train)
    train.add_argument(
        "--members", type=common.int_at_least(2), default=5, help="ensemble size K (>= 2)"
    )
    train.add_argument(
        "--bootstrap", action="store_true", help="resample each member's training hops"
    )
    predict = sub.add_parser("predict", help="barriers with uncertainty of a structure")
    predict.add_argument(
        "ensemble", type=Path, help="ensemble directory or shipped model (vmeb models)"
    )
    predict.add_argument("structure", type=common.existing_file, help="perfect BCC structure")
    common.add_output(predict)
    common.add_sites(predict, legacy_spaces=True)
    predict.add_argument("--format", default=None, help="structure file format")
    common.add_species(predict, legacy_spaces=True)
    calibrate = sub.add_parser("calibrate", help="calibration report on a dataset")
    calibrate.add_argument(
        "ensemble", type=Path, help="ensemble directory or shipped model (vmeb models)"
    )
    calibrate.add_argument("dataset", type=common.existing_dir, help="dataset with true barriers")
    common.add_output(calibrate)
    calibrate.add_argument(
        "--sigma",
        choices=("total", "epistemic"),
        default="total",
        help="sigma to calibrate: ensemble and angle spread together, or the ensemble alone",
    )
    for action in (predict, calibrate):
        common.add_model_work(action)
    assemble = sub.add_parser("assemble", help="one ensemble of checkpoints trained apart")
    assemble.add_argument(
        "checkpoints", nargs="+", type=common.existing_file, help="member checkpoints"
    )
    common.add_output(assemble)


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb ensemble ACTION``."""
    actions = {"train": _train, "predict": _predict, "calibrate": _calibrate}
    return (actions | {"assemble": _assemble})[args.action](args)


def _assemble(args: argparse.Namespace) -> int:
    from vmeb.learn.ensembles import assemble_ensemble

    root = assemble_ensemble(args.output, args.checkpoints)  # a bad file: one line naming it
    print(f"{len(args.checkpoints)} members -> {root}", flush=True)
    return 0


def _train(args: argparse.Namespace) -> int:
    import yaml

    from vmeb.data.dataset import open_dataset
    from vmeb.errors import file_error
    from vmeb.learn.ensembles import ENSEMBLE_FILE, check_ensemble_resume, train_ensemble
    from vmeb.learn.settings import resolve_train_config

    config = resolve_train_config(vars(args), args.config)
    out = args.output
    if not args.resume and out.exists() and any(out.iterdir()):
        raise file_error(out, "is not empty (use --resume or another --output)")
    if args.resume and (out / ENSEMBLE_FILE).is_file():
        raise file_error(out / ENSEMBLE_FILE, "the ensemble is already complete")
    if args.resume:  # a refused resume (another --kind ...) writes nothing, config.yaml included
        check_ensemble_resume(out, config, args.members, bootstrap=args.bootstrap)
    datasets = [open_dataset(path) for path in args.datasets]
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    def show(member: int, entry: dict) -> None:
        print(json.dumps({"member": member, **entry}), flush=True)

    result = train_ensemble(
        datasets,
        config,
        out,
        args.members,
        bootstrap=args.bootstrap,
        resume=args.resume,
        progress=not args.no_progress and sys.stderr.isatty(),
        on_epoch=show,
    )
    summary = {"ensemble": str(out), "members": len(result.model_paths), "val_mae": result.val_mae}
    if any(result.test):
        summary["test_mae"] = [t.get("mae") for t in result.test]
    print(json.dumps(summary), flush=True)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from vmeb.errors import SiteIndexError, VmebError, file_error
    from vmeb.learn.ensembles import require_ensemble
    from vmeb.learn.predictors import load_predictor
    from vmeb.spectra.output import write_spectrum
    from vmeb.spectra.predict import predict_barriers_with_uncertainty
    from vmeb.structure.io import read_structure

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    loaded = load_predictor(args.ensemble, device=args.device, precision=args.precision)
    ensemble = require_ensemble(loaded, args.ensemble, "use vmeb predict for its spectrum")
    atoms = read_structure(args.structure, args.format, args.species)
    sites = common.sites_argument(args)
    try:
        table = predict_barriers_with_uncertainty(
            ensemble,
            atoms,
            sites,
            batch_size=args.batch_size,
            device=args.device,
            progress=not args.no_progress,
        )
    except SiteIndexError as exc:
        raise file_error(args.sites_file or args.structure, str(exc)) from None
    except VmebError as exc:
        raise file_error(args.structure, str(exc)) from None
    meta = {
        "ensemble": str(args.ensemble),
        "members": len(ensemble.members),
        "structure": str(args.structure),
    }
    written = write_spectrum(
        args.output, table, atoms, ensemble.species, meta=meta, title=args.structure.name
    )
    overall = written.statistics.iloc[-1]
    sys.stdout.write(
        f"{len(table)} barriers: mean {overall['mean']:.4f} eV, mean ensemble σ "
        f"{overall['barrier_std_mean']:.4f} eV, mean angle σ {overall['angle_std_mean']:.4f} eV "
        f"-> {args.output}\n"
    )
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    import numpy as np

    from vmeb.data.dataset import open_dataset
    from vmeb.errors import file_error
    from vmeb.files import save_figure, staged_output, write_json
    from vmeb.learn.ensembles import (
        calibration_figure,
        calibration_report,
        predict_dataset,
        require_ensemble,
    )
    from vmeb.learn.predictors import load_predictor
    from vmeb.species import SpeciesTable

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    loaded = load_predictor(args.ensemble, device=args.device, precision=args.precision)
    ensemble = require_ensemble(loaded, args.ensemble, "use vmeb evaluate for its errors")
    dataset = open_dataset(args.dataset)
    unknown = SpeciesTable.of(ensemble.species).unknown(dataset.species)
    if unknown:
        raise file_error(args.dataset, f"has element(s) {unknown} unknown to the ensemble")
    table = predict_dataset(
        ensemble,
        dataset,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
    )
    column = "total_std" if args.sigma == "total" else "barrier_std"
    sigma = np.maximum(table[column].to_numpy(float), 1e-12)
    report = calibration_report(table["barrier"], table["predicted"], sigma)
    per_group = {
        str(group): calibration_report(
            part["barrier"], part["predicted"], np.maximum(part[column].to_numpy(float), 1e-12)
        ).to_dict()
        for group, part in table.groupby("group")
        if len(part) >= 2
    }
    with staged_output(args.output) as staging:
        table.to_csv(staging / "predictions.csv", index=False)
        payload = {
            "ensemble": str(args.ensemble),
            "dataset": str(args.dataset),
            "sigma": column,
            **report.to_dict(),
            "groups": per_group,
        }
        write_json(staging / "calibration.json", payload)
        figure = calibration_figure(
            table["barrier"], table["predicted"], sigma, title=f"{args.dataset.name}: {column}"
        )
        save_figure(figure, staging / "calibration.png")
    sys.stdout.write(
        f"{report.n} hops: MAE {report.mae:.4f} eV, within 1σ {100 * report.within_1sigma:.1f}% "
        f"(68.3%), within 2σ {100 * report.within_2sigma:.1f}% (95.4%), Spearman "
        f"{report.spearman:.3f}, σ scale {report.sigma_scale:.2f} -> {args.output}\n"
    )
    return 0
