"""Figures: one function per figure, each returning a matplotlib `Figure`.

Functions never show figures; `vmeb.files.save_figure` writes one atomically and closes it. The
Agg backend is selected on import so figures render without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

#: Colours of the moving species, cycled in species order.
SPECIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _bins(values: Sequence[np.ndarray], count: int = 40) -> np.ndarray:
    """Common histogram bin edges (eV) spanning all non-empty arrays in ``values``."""
    joined = np.concatenate([np.asarray(v, float) for v in values if len(v)] or [np.zeros(1)])
    lo, hi = float(joined.min()), float(joined.max())
    if hi - lo < 1e-6:
        lo, hi = lo - 0.05, hi + 0.05
    pad = 0.02 * (hi - lo)
    return np.linspace(lo - pad, hi + pad, count + 1)


def _kde_curve(values: np.ndarray, grid: np.ndarray) -> np.ndarray | None:
    """Gaussian KDE density of ``values`` on ``grid`` (1/eV), or None when it is undefined."""
    values = np.asarray(values, float)
    if len(values) < 3 or np.ptp(values) < 1e-9:
        return None
    return gaussian_kde(values)(grid)


def parity_plot(true: np.ndarray, predicted: np.ndarray, title: str = "") -> Figure:
    """Predicted against true barriers with the y = x line and the overall MAE.

    Args:
        true: [H] reference barriers (eV).
        predicted: [H] predicted barriers (eV).
        title: Optional axes title.

    Returns:
        The figure.
    """
    true = np.asarray(true, float)
    predicted = np.asarray(predicted, float)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, predicted, s=4, alpha=0.4, linewidths=0)
    both = np.concatenate([true, predicted]) if len(true) else np.array([0.0, 1.0])
    lo, hi = float(both.min()), float(both.max())
    pad = 0.05 * max(hi - lo, 0.1)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("true barrier (eV)")
    ax.set_ylabel("predicted barrier (eV)")
    if len(true):
        mae = float(np.mean(np.abs(predicted - true)))
        ax.text(
            0.04, 0.95, f"MAE = {mae:.4f} eV\nN = {len(true)}", transform=ax.transAxes, va="top"
        )
    if title:
        ax.set_title(title)
    return fig


def distribution_panels(
    hops: pd.DataFrame,
    group_column: str = "group",
    true_column: str = "barrier",
    predicted_column: str = "predicted",
    max_columns: int = 3,
) -> Figure:
    """True against predicted barrier distributions, one panel per group (paper Fig. 3 style).

    Each panel shows the histogram of true barriers as bars, the predicted distribution as a
    line, and the group's MAE.

    Args:
        hops: Table with the group, true and predicted columns (barriers in eV).
        group_column: Column naming the panel of each row.
        true_column: Column of reference barriers.
        predicted_column: Column of predicted barriers.
        max_columns: Panels per row.

    Returns:
        The figure.
    """
    groups = sorted(hops[group_column].astype(str).unique())
    n = max(len(groups), 1)
    ncols = min(n, max_columns)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False)
    for ax, group in zip(axes.flat, groups, strict=False):
        rows = hops[hops[group_column].astype(str) == group]
        true = rows[true_column].to_numpy(float)
        pred = rows[predicted_column].to_numpy(float)
        edges = _bins([true, pred])
        ax.hist(true, bins=edges, density=True, color="0.7", label="true")
        hist, _ = np.histogram(pred, bins=edges, density=True)
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.plot(centres, hist, color="C3", lw=1.5, label="predicted")
        mae = float(np.mean(np.abs(pred - true))) if len(true) else float("nan")
        ax.text(0.97, 0.95, f"MAE = {mae:.4f} eV", transform=ax.transAxes, ha="right", va="top")
        ax.set_title(f"{group} (N = {len(true)})", fontsize=9)
        ax.set_xlabel("barrier (eV)")
        ax.set_ylabel("density (1/eV)")
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    if groups:
        axes.flat[0].legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def spectrum_plot(
    predicted: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray] | None = None,
    title: str = "",
) -> Figure:
    """Barrier spectra per moving species (paper Supp. Fig. 3 style).

    One panel per species: predicted barriers as a histogram with a KDE curve; where reference
    (true) barriers are given, they are drawn as grey bars under the predicted curve.

    Args:
        predicted: Species symbol -> [H_s] predicted barriers (eV).
        reference: Species symbol -> [R_s] reference barriers (eV), optional.
        title: Optional figure title.

    Returns:
        The figure.
    """
    species = list(predicted)
    n = max(len(species), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0), squeeze=False)
    for k, (ax, symbol) in enumerate(zip(axes.flat, species, strict=False)):
        colour = SPECIES_COLOURS[k % len(SPECIES_COLOURS)]
        values = np.asarray(predicted[symbol], float)
        ref = None if reference is None else np.asarray(reference.get(symbol, []), float)
        edges = _bins([values] + ([ref] if ref is not None else []))
        grid = np.linspace(edges[0], edges[-1], 300)
        if ref is not None and len(ref):
            ax.hist(ref, bins=edges, density=True, color="0.75", label=f"true (N = {len(ref)})")
            density = _kde_curve(values, grid)
            if density is not None:
                ax.plot(grid, density, color=colour, lw=1.8, label=f"predicted (N = {len(values)})")
        else:
            ax.hist(values, bins=edges, density=True, color=colour, alpha=0.45)
            density = _kde_curve(values, grid)
            if density is not None:
                ax.plot(grid, density, color=colour, lw=1.8)
        if len(values):
            ax.text(
                0.97,
                0.95,
                f"{symbol}\nmean {values.mean():.3f} eV\nstd {values.std():.3f} eV",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
            )
        ax.set_xlabel(f"barrier of moving {symbol} (eV)")
        ax.set_ylabel("density (1/eV)")
        if ref is not None and len(ref):
            ax.legend(loc="upper left", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def kmc_plot(times: np.ndarray, vacancy_msd: np.ndarray, title: str = "") -> Figure:
    """Vacancy squared displacement against simulated time of a kinetic Monte Carlo run.

    Args:
        times: [S+1] simulated times (s).
        vacancy_msd: [S+1] squared displacement of the vacancy from its start (Å^2).
        title: Optional axes title.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.plot(np.asarray(times, float), np.asarray(vacancy_msd, float), lw=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("vacancy squared displacement (Å$^2$)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def arrhenius_plot(
    temperatures: Sequence[float],
    diffusivity: Mapping[str, Sequence[float]],
    errors: Mapping[str, Sequence[float]],
    fits: Mapping[str, Mapping[str, float]],
    title: str = "",
) -> Figure:
    """Tracer diffusivities per species against 1000 / T, with their Arrhenius fits.

    Args:
        temperatures: [K] temperatures (K).
        diffusivity: Species -> [K] diffusivities (Å^2/s).
        errors: Species -> [K] standard errors.
        fits: Species -> ``{"Q_eV", "Q_error_eV", "D0"}`` (`vmeb.spectra.walkers.arrhenius_fit`).
        title: Optional axes title.
    """
    from ase.units import kB

    t = np.asarray(temperatures, dtype=float)
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    grid = np.linspace(t.min(), t.max(), 50)
    for symbol, values in diffusivity.items():
        line = ax.errorbar(1000.0 / t, values, yerr=errors[symbol], fmt="o", ms=4, capsize=2)
        fit = fits[symbol]
        label = f"{symbol}: Q = {fit['Q_eV']:.3f} ± {fit['Q_error_eV']:.3f} eV"
        ax.plot(1000.0 / grid, fit["D0"] * np.exp(-fit["Q_eV"] / (kB * grid)),
                color=line[0].get_color(), lw=1, label=label)  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("tracer diffusivity (Å$^2$/s)")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def ordering_plot(
    table: pd.DataFrame,
    columns: Sequence[str],
    reference: Mapping[str, float] | None = None,
    title: str = "",
) -> Figure:
    """Warren-Cowley parameters against KMC time (vacancy-mediated ordering), a panel per shell.

    Args:
        table: Records with ``time`` (s) and, per column, its value and ``<column>_error``
            (`vmeb.spectra.ordering.ordering_table`).
        columns: The ``alpha_<k>_<A>-<B>`` columns to draw.
        reference: Column -> an equilibrium value (e.g. swap Monte Carlo at the same
            temperature), drawn as a dashed line in the column's colour.
        title: Optional figure title.
    """
    shells = sorted({int(c.split("_")[1]) for c in columns})
    fig, axes = plt.subplots(1, len(shells), figsize=(4.2 * len(shells), 3.6), squeeze=False)
    time_us = table["time"].to_numpy(dtype=float) * 1e6
    for ax, shell in zip(axes[0], shells, strict=True):
        for column in (c for c in columns if int(c.split("_")[1]) == shell):
            line = ax.errorbar(time_us, table[column], yerr=table[f"{column}_error"], fmt="-o",
                               ms=2.5, lw=1, capsize=2,
                               label=column.split("_", 2)[2])  # fmt: skip
            if reference is not None and column in reference:
                ax.axhline(reference[column], color=line[0].get_color(), ls="--", lw=1)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_xlabel("KMC time (µs)")
        ax.set_ylabel(f"Warren-Cowley α, shell {shell}")
        ax.legend(fontsize=7, ncol=2)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def diffusion_line_plot(
    table: pd.DataFrame, species: Sequence[str], element: str, temperature: float
) -> Figure:
    """Tracer diffusivities per species along a line scan of ``element``'s fraction.

    Args:
        table: `vmeb.spectra.diffusion_map.diffusion_map` rows (``x_<element>``, ``D_<X>`` and
            ``D_<X>_error``, ``D_mean``).
        species: Species drawn.
        element: The scanned element.
        temperature: T (K), for the title.
    """
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    x = 100.0 * table[f"x_{element}"].to_numpy(dtype=float)
    for symbol in species:
        ax.errorbar(x, table[f"D_{symbol}"], yerr=table[f"D_{symbol}_error"], fmt="-o", ms=3,
                    lw=1, capsize=2, label=f"D*({symbol})")  # fmt: skip
    ax.plot(x, table["D_mean"], "k--", lw=1, label="Σ c D*")
    ax.set_yscale("log")
    ax.set_xlabel(f"{element} (at.%)")
    ax.set_ylabel("tracer diffusivity (Å$^2$/s)")
    ax.set_title(f"{temperature:g} K", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
