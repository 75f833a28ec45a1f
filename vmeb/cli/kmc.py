"""Kinetic Monte Carlo of one vacancy with barriers predicted by a trained model.

Residence-time (BKL) algorithm on the lattice of a perfect BCC structure; the 8 barriers of the
vacancy site are predicted for the current environment at every step. Writes into OUTPUT
(created; it must not exist): summary.json (time, vacancy and per-species tracer diffusivities),
jumps.csv (one row per jump), trajectory.csv (time and unwrapped vacancy displacement per step),
final.extxyz (the sample after the run, vacancy site marked in its info) and msd.png. The
directory appears complete or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb kmc``."""
    from vmeb.spectra.kmc import DEFAULT_ATTEMPT_FREQUENCY
    from vmeb.structure.io import FORMATS

    parser.add_argument("model", type=Path, help="trained model checkpoint (vmeb train)")
    parser.add_argument("structure", type=common.existing_file, help="perfect BCC structure file")
    common.add_output(parser)
    parser.add_argument(
        "--temperatures",
        "--temperature",
        dest="temperature",
        type=common.positive_float,
        nargs="+",
        required=True,
        help="temperature (K); several (lattice-window models): a sweep with Arrhenius fits of "
        "the tracer diffusivities (summary.json, arrhenius.csv, arrhenius.png)",
    )
    parser.add_argument(
        "--steps", type=common.positive_int, required=True, help="number of vacancy jumps"
    )
    parser.add_argument(
        "--seed", type=common.nonnegative_int, default=0, help="random seed (vacancy and jumps)"
    )
    parser.add_argument(
        "--vacancy",
        type=common.nonnegative_int,
        default=None,
        help="atom removed to make the vacancy (default: random)",
    )
    parser.add_argument(
        "--attempt-frequency",
        type=common.positive_float,
        default=DEFAULT_ATTEMPT_FREQUENCY,
        help="attempt frequency nu (1/s)",
    )
    parser.add_argument(
        "--walkers",
        type=common.positive_int,
        default=None,
        help="independent vacancy walkers run as one batch (default 16 for a lattice-window "
        "model, kind latfield; only such models); --steps is then the jumps of all walkers",
    )
    parser.add_argument(
        "--vacancies",
        type=common.positive_int,
        default=1,
        help="vacancies in each walker's sample (lattice-window models; default 1): the "
        "vacancy site fraction is vacancies / atoms",
    )
    parser.add_argument(
        "--order-every",
        type=common.positive_int,
        default=None,
        help="record the Warren-Cowley parameters of shells 1-2 every this many steps per "
        "walker (ordering.csv, ordering.png; one temperature)",
    )
    parser.add_argument(
        "--resume",
        type=common.existing_file,
        default=None,
        help="state.npz of an earlier walker run of the same model and structure: go on "
        "from it to --steps",
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="structure file format")
    common.add_species(parser, legacy_spaces=True)
    common.add_model_work(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb kmc``."""
    import ase.io
    import numpy as np
    import pandas as pd

    from vmeb.errors import VmebError, file_error
    from vmeb.files import save_figure, staged_output, write_json
    from vmeb.learn.predictors import load_model
    from vmeb.plots.figures import kmc_plot
    from vmeb.spectra.kmc import KMCConfig, ModelBarrierProvider, run_kmc
    from vmeb.structure.io import read_structure

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    trained = load_model(args.model, args.device, args.precision)
    atoms = read_structure(args.structure, args.format, args.species)
    from vmeb.learn.inference import model_window

    if model_window(trained) > 0:
        return _run_walkers(args, trained, atoms)
    walker_only = (args.walkers, args.resume, args.order_every)
    if any(x is not None for x in walker_only) or args.vacancies > 1 or len(args.temperature) > 1:
        raise VmebError(
            f"--walkers, --vacancies, --order-every, --resume and several temperatures need a "
            f"lattice-window model (kind latfield), not "
            f"{getattr(trained, 'kind', type(trained).__name__)!r}"
        )
    config = KMCConfig(args.temperature[0], args.steps, args.attempt_frequency)
    rng = np.random.default_rng(args.seed)
    vacancy = int(rng.integers(len(atoms))) if args.vacancy is None else args.vacancy
    try:
        if not 0 <= vacancy < len(atoms):
            raise VmebError(f"vacancy index {vacancy} out of range 0..{len(atoms) - 1}")
        provider = ModelBarrierProvider(
            trained, atoms, batch_size=args.batch_size, device=args.device
        )
        result = run_kmc(atoms, vacancy, provider, config, rng, progress=not args.no_progress)
    except VmebError as exc:
        raise file_error(args.structure, str(exc)) from None
    with staged_output(args.output) as staging:
        summary = {
            "model": str(args.model),
            "structure": str(args.structure),
            "temperature_K": config.temperature,
            "attempt_frequency_per_s": config.attempt_frequency,
            "seed": args.seed,
            **result.summary(),
        }
        write_json(staging / "summary.json", summary)
        result.jumps.to_csv(staging / "jumps.csv", index=False)
        trajectory = pd.DataFrame(result.vacancy_displacement, columns=["dx", "dy", "dz"])
        trajectory.insert(0, "time", result.times)
        trajectory.to_csv(staging / "trajectory.csv", index=False)
        final = result.final_atoms.copy()
        final.info["vacancy_index"] = result.final_vacancy
        ase.io.write(staging / "final.extxyz", final, format="extxyz")
        figure = kmc_plot(result.times, result.vacancy_squared_displacement, args.structure.name)
        save_figure(figure, staging / "msd.png")
    sys.stdout.write(
        f"{config.steps} jumps in {result.total_time:.4e} s at {config.temperature} K "
        f"-> {args.output}\n"
    )
    return 0


def _run_walkers(args: argparse.Namespace, trained, atoms) -> int:
    """``vmeb kmc`` with batched walkers (`vmeb.spectra.walkers`): summary.json, state.npz."""
    import numpy as np

    from vmeb.errors import VmebError, file_error
    from vmeb.files import staged_output, write_json
    from vmeb.learn.field import snap_lattice
    from vmeb.spectra.ordering import OrderRecorder
    from vmeb.spectra.walkers import (
        WalkerConfig,
        WindowModelBarriers,
        load_state,
        run_walkers,
        save_state,
    )

    walkers = args.walkers or 16
    temperatures = list(args.temperature)
    if (args.resume is not None or args.order_every) and len(temperatures) > 1:
        raise VmebError("--resume and --order-every take one --temperature")
    state, rng = None, np.random.default_rng(args.seed)
    if args.resume is not None:
        state, rng = load_state(args.resume)
        if state.species.shape[1] != len(atoms):
            raise file_error(args.resume, f"holds {state.species.shape[1]} sites, not {len(atoms)}")
        walkers = len(state.vacancy)
        if state.vacancy.shape[1] != args.vacancies:
            raise file_error(args.resume, f"holds {state.vacancy.shape[1]} vacancies per walker, "
                             f"not --vacancies {args.vacancies}")  # fmt: skip
    steps = -(-args.steps // walkers)  # per walker
    runs = []
    try:
        fit = snap_lattice(atoms)
        source = WindowModelBarriers(trained, fit, batch_size=args.batch_size or 1024,
                                     device=args.device)  # fmt: skip
        recorder = None
        if args.order_every:
            recorder = OrderRecorder(fit, list(trained.species))
        for i, temperature in enumerate(temperatures):
            config = WalkerConfig(temperature, steps, walkers, args.attempt_frequency,
                                  args.vacancies)  # fmt: skip
            run_rng = rng if len(temperatures) == 1 else np.random.default_rng([args.seed, i])
            state_t, summary = run_walkers(atoms, trained.species, source, config, run_rng,
                                           state=state, progress=not args.no_progress, fit=fit,
                                           observe=recorder,
                                           every=args.order_every or 1)  # fmt: skip
            summary = {"temperature_K": temperature, **summary}
            runs.append((state_t, run_rng, summary))
    except VmebError as exc:
        raise file_error(args.structure, str(exc)) from None
    common_record = {
        "model": str(args.model),
        "structure": str(args.structure),
        "attempt_frequency_per_s": args.attempt_frequency,
        "seed": args.seed,
        "walkers": walkers,
        "cache_hit_rate": source.hit_rate,
    }
    with staged_output(args.output) as staging:
        if len(runs) == 1:
            state, rng, summary = runs[0]
            record = {**common_record, "total_steps": int(state.step * walkers), **summary}
            save_state(state, rng, staging / "state.npz")
            if recorder is not None:
                _write_ordering(recorder, staging, args.structure.name, summary["temperature_K"])
        else:
            record = {**common_record, **_sweep(runs, staging, args.structure.name)}
        write_json(staging / "summary.json", record)
    for state, _, summary in runs:
        f = ", ".join(f"{k} {v:.3f}" for k, v in summary["correlation_factor"].items())
        sys.stdout.write(
            f"{summary['temperature_K']} K: {state.step * walkers} jumps of {walkers} walkers "
            f"({summary['steps_per_second']:.0f} steps/s); correlation factors {f}\n"
        )
    sys.stdout.write(f"-> {args.output}\n")
    return 0


def _write_ordering(recorder, staging, name: str, temperature: float) -> None:
    """ordering.csv and ordering.png of an ordering run."""
    from vmeb.files import save_figure
    from vmeb.plots.figures import ordering_plot
    from vmeb.spectra.ordering import ordering_table

    table = ordering_table(recorder)
    table.to_csv(staging / "ordering.csv", index=False)
    columns = [c for c in table.columns if c.startswith("alpha_") and not c.endswith("_error")]
    figure = ordering_plot(table, columns, title=f"{name}, {temperature:g} K")
    save_figure(figure, staging / "ordering.png")


def _sweep(runs, staging, name: str) -> dict:
    """Arrhenius fits of a temperature sweep: arrhenius.csv, arrhenius.png, the record."""
    import pandas as pd

    from vmeb.files import save_figure
    from vmeb.plots.figures import arrhenius_plot
    from vmeb.spectra.walkers import arrhenius_fit

    summaries = [summary for _, _, summary in runs]
    temperatures = [s["temperature_K"] for s in summaries]
    species = list(summaries[0]["tracer_diffusivity"])
    values = {sp: [s["tracer_diffusivity"][sp] for s in summaries] for sp in species}
    errors = {sp: [s["tracer_diffusivity_error"][sp] for s in summaries] for sp in species}
    fits = {sp: arrhenius_fit(temperatures, values[sp], errors[sp]) for sp in species}
    rows = [
        {"temperature_K": t, "species": sp, "tracer_diffusivity": values[sp][i],
         "tracer_diffusivity_error": errors[sp][i],
         "correlation_factor": summaries[i]["correlation_factor"][sp]}
        for i, t in enumerate(temperatures) for sp in species
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(staging / "arrhenius.csv", index=False)
    save_figure(arrhenius_plot(temperatures, values, errors, fits, name), staging / "arrhenius.png")
    return {"temperatures_K": temperatures, "arrhenius": fits, "runs": summaries}
