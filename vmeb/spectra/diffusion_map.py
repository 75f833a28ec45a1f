"""Tracer diffusivities across composition space: KMC walkers at every composition of a map.

For each composition of a simplex grid or line scan (`vmeb.spectra.maps.map_compositions`) a
random BCC sample is built as `vmeb map` builds it (`vmeb.spectra.maps.MapConfig`: size, lattice
constant by Vegard's law or relaxation, seed), and batched walkers
(`vmeb.spectra.walkers.run_walkers`) jump with a lattice-window model's barriers. One row per
composition: the tracer diffusivity and correlation factor of every species with their standard
errors over walkers, the vacancy diffusivity, the composition-weighted mean tracer diffusivity
``D*_mean = sum_s c_s D*_s`` (how sluggish the alloy is), and the mean barrier of the jumps made.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.learn.field import snap_lattice
from vmeb.spectra.maps import MapConfig, build_map_sample, composition_rng, lattice_constants
from vmeb.spectra.walkers import WalkerConfig, WindowModelBarriers, run_walkers
from vmeb.structure.build import composition_label

logger = logging.getLogger(__name__)


def diffusion_row(
    trained: Any,
    fractions: Mapping[str, float],
    a: float,
    map_config: MapConfig,
    walker_config: WalkerConfig,
) -> dict[str, Any]:
    """The walkers' observables at one composition (a row of `diffusion_map`)."""
    atoms, _ = build_map_sample(fractions, a, map_config)
    fit = snap_lattice(atoms)
    source = WindowModelBarriers(trained, fit, map_config.batch_size, map_config.device)
    rng = composition_rng(fractions, map_config.seed, 2)
    _, summary = run_walkers(atoms, trained.species, source, walker_config, rng, fit=fit)
    row: dict[str, Any] = {"composition": composition_label(fractions), "atoms": len(atoms),
                           "lattice_constant": a}  # fmt: skip
    row.update({f"x_{e}": float(x) for e, x in fractions.items()})
    mean = 0.0
    for symbol in trained.species:
        d = summary["tracer_diffusivity"].get(symbol, np.nan)
        row[f"D_{symbol}"] = d
        row[f"D_{symbol}_error"] = summary["tracer_diffusivity_error"].get(symbol, np.nan)
        row[f"f_{symbol}"] = summary["correlation_factor"].get(symbol, np.nan)
        row[f"f_{symbol}_error"] = summary["correlation_factor_error"].get(symbol, np.nan)
        row[f"mean_barrier_{symbol}"] = summary["mean_barrier"].get(symbol, np.nan)
        if fractions.get(symbol, 0.0) > 0:
            mean += fractions[symbol] * d
    row["D_mean"] = mean
    row["D_vacancy"] = summary["vacancy_diffusivity"]
    row["D_vacancy_error"] = summary["vacancy_diffusivity_error"]
    row["steps_per_second"] = summary["steps_per_second"]
    row["cache_hit_rate"] = source.hit_rate
    return row


def diffusion_map(
    trained: Any,
    compositions: Sequence[Mapping[str, float]],
    map_config: MapConfig,
    walker_config: WalkerConfig,
    progress: bool = False,
) -> pd.DataFrame:
    """Walkers at every composition: one `diffusion_row` each.

    Args:
        trained: A lattice-window model (kind latfield).
        compositions: Element -> fraction, elements among the model's species.
        map_config: Sample size, lattice constants, seed, batch size, device.
        walker_config: Temperature, steps per walker, walkers, vacancies.
        progress: tqdm bar over compositions.

    Returns:
        The table (diffusivities in Å^2/s at vacancy site fraction V / N).
    """
    for fractions in compositions:
        unknown = sorted(set(e for e, x in fractions.items() if x > 0) - set(trained.species))
        if unknown:
            raise VmebError(f"elements {unknown} are not species of the model {trained.species}")
    constants = lattice_constants(compositions, map_config)
    rows = []
    for fractions, a in tqdm(list(zip(compositions, constants, strict=True)), desc="kmc map",
                             disable=not progress):  # fmt: skip
        rows.append(diffusion_row(trained, fractions, a, map_config, walker_config))
        logger.info("%s: D*_mean %.3e", rows[-1]["composition"], rows[-1]["D_mean"])
    return pd.DataFrame(rows)


def diffusion_arrays(table: pd.DataFrame, elements: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-species [N, 3] arrays for `vmeb.plots.maps.ternary_figure`: ``log10_D`` and ``f``."""
    return {
        "log10_D": np.log10(
            table[[f"D_{e}" for e in elements]].to_numpy(dtype=float).clip(min=1e-300)
        ),
        "f": table[[f"f_{e}" for e in elements]].to_numpy(dtype=float),
    }
