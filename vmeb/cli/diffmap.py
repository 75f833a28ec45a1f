"""Tracer diffusivities across composition space: KMC walkers at every composition of a map.

For each composition (a simplex grid or a line scan, samples built as `vmeb map` builds them)
batched vacancy walkers jump with MODEL's barriers (a lattice-window model, kind latfield) at
--temperature. Writes into OUTPUT (created; it must not exist; it appears complete or not at
all): diffusion.csv (per composition: tracer diffusivity D_<X> and correlation factor f_<X> of
every species with standard errors over walkers, D_mean = sum_X c_X D_X, the vacancy
diffusivity and the mean jump barriers), summary.json, and ternary_diffusion.png (three elements
and --divisions: log10 D* and f per species) or line_diffusion.png (--line).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb diffusion-map``."""
    from vmeb.spectra.kmc import DEFAULT_ATTEMPT_FREQUENCY

    parser.add_argument("model", type=Path, help="lattice-window model (kind latfield) or name")
    common.add_sample_arguments(parser, cells=8)
    parser.add_argument("--temperature", type=common.positive_float, required=True, help="K")
    parser.add_argument(
        "--steps", type=common.positive_int, default=2000, help="jumps per walker (2000)"
    )
    parser.add_argument(
        "--walkers", type=common.positive_int, default=32, help="walkers per composition (32)"
    )
    parser.add_argument(
        "--vacancies", type=common.positive_int, default=1, help="vacancies per walker (1)"
    )
    parser.add_argument(
        "--attempt-frequency", type=common.positive_float, default=DEFAULT_ATTEMPT_FREQUENCY,
        help="attempt frequency nu (1/s)",
    )  # fmt: skip
    common.add_output(parser)
    common.add_model_work(parser, batch_size=1024)


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb diffusion-map``."""
    import numpy as np

    from vmeb.errors import VmebError, file_error
    from vmeb.files import save_figure, staged_output, write_json
    from vmeb.learn.inference import model_window
    from vmeb.learn.predictors import load_model
    from vmeb.spectra.diffusion_map import diffusion_arrays, diffusion_map
    from vmeb.spectra.walkers import WalkerConfig

    if args.output.exists():
        raise file_error(args.output, "already exists (choose another output or remove it)")
    elements, compositions, line_element = common.compositions_of(args)
    map_config = common.map_config_of(args)
    walker_config = WalkerConfig(args.temperature, args.steps, args.walkers,
                                 args.attempt_frequency, args.vacancies)  # fmt: skip
    trained = load_model(args.model, args.device, args.precision)
    if model_window(trained) <= 0:
        raise file_error(args.model, "is not a lattice-window model (kind latfield)")
    try:
        table = diffusion_map(trained, compositions, map_config, walker_config,
                              progress=not args.no_progress)  # fmt: skip
    except VmebError as exc:
        raise file_error(args.model, str(exc)) from None
    with staged_output(args.output) as staging:
        table.to_csv(staging / "diffusion.csv", index=False)
        write_json(staging / "summary.json", {
            "model": str(args.model), "elements": elements, "temperature_K": args.temperature,
            "steps_per_walker": args.steps, "walkers": args.walkers,
            "vacancies_per_walker": args.vacancies, "attempt_frequency_per_s":
            args.attempt_frequency, "compositions": len(table),
            "slowest": table.loc[table["D_mean"].idxmin(), "composition"],
            "fastest": table.loc[table["D_mean"].idxmax(), "composition"],
        })  # fmt: skip
        if line_element is not None:
            from vmeb.plots.figures import diffusion_line_plot

            figure = diffusion_line_plot(table, elements, line_element, args.temperature)
            save_figure(figure, staging / "line_diffusion.png")
        elif len(elements) == 3:
            from vmeb.plots.maps import ternary_figure

            fractions = table[[f"x_{e}" for e in elements]].to_numpy(dtype=float)
            rows = [("log10_D", "log10 D* (Å$^2$/s)"), ("f", "correlation factor f")]
            figure = ternary_figure(elements, fractions, diffusion_arrays(table, elements), rows)
            save_figure(figure, staging / "ternary_diffusion.png")
    low = table["D_mean"].to_numpy()
    sys.stdout.write(
        f"{len(table)} compositions at {args.temperature:g} K: D*_mean from {np.min(low):.3e} "
        f"to {np.max(low):.3e} A^2/s -> {args.output}\n"
    )
    return 0
