"""Figures of barrier-spectrum maps over composition space (drawn for `vmeb.spectra.maps`).

`ternary_figure` (paper Fig. 5: mean and standard deviation per moving species on the composition
triangle, linearly interpolated between the grid points), `line_scan_figure` (Supp. Fig. 8: mean
and standard deviation against the scanned concentration) and `distributions_figure` (Supp.
Fig. 9: ridge plots of the distributions against the concentration). Each takes plain arrays
(N compositions, S moving species) and returns a matplotlib `Figure`. Compositions flagged in an
``outside`` mask (more than 10 at.% outside the model's training ranges) get a dark x on the
triangles or a grey band in the line scan, and a note under the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from vmeb.errors import VmebError

_SQRT3_2 = np.sqrt(3.0) / 2.0
#: Rows of the paper's Fig. 5: (stats column, colour-bar label).
FIG5_ROWS = (("mean", "mean barrier (eV)"), ("std", "std of barriers (eV)"))
_CMAPS = {"mean": "viridis", "std": "magma"}


def ternary_xy(fractions: np.ndarray) -> np.ndarray:
    """Project ternary fractions [N, 3] onto the plane: corners (0, 0), (1, 0), (1/2, √3/2).

    Element 0 is the bottom-left corner, element 1 bottom-right, element 2 the top.

    Returns:
        [N, 2] Cartesian points; the equiatomic centroid maps to (1/2, √3/6).
    """
    fractions = np.asarray(fractions, dtype=float)
    fractions = fractions / fractions.sum(axis=1, keepdims=True)
    x = fractions[:, 1] + 0.5 * fractions[:, 2]
    y = _SQRT3_2 * fractions[:, 2]
    return np.stack([x, y], axis=1)


def _draw_triangle(ax, elements: Sequence[str], ticks: int = 5) -> None:
    """Triangle frame, grid lines every 1/``ticks``, tick labels (at.%) and corner labels."""
    corners = ternary_xy(np.eye(3))
    ax.plot(*np.vstack([corners, corners[:1]]).T, color="k", lw=1.0, zorder=3)
    for k in range(1, ticks):
        t = k / ticks
        for axis in range(3):
            a, b = np.zeros(3), np.zeros(3)
            a[axis] = b[axis] = t
            a[(axis + 1) % 3], b[(axis + 2) % 3] = 1 - t, 1 - t
            line = ternary_xy(np.stack([a, b]))
            ax.plot(*line.T, color="w", lw=0.4, alpha=0.6, zorder=2)
        # tick labels of element 2 on the left edge, element 0 on the bottom, 1 on the right
        left = ternary_xy(np.array([[1 - t, 0, t]]))[0]
        ax.text(left[0] - 0.03, left[1], f"{100 * t:.0f}", ha="right", va="center", fontsize=6)
        bottom = ternary_xy(np.array([[t, 1 - t, 0]]))[0]
        ax.text(bottom[0], -0.035, f"{100 * t:.0f}", ha="center", va="top", fontsize=6)
        right = ternary_xy(np.array([[0, t, 1 - t]]))[0]
        ax.text(right[0] + 0.03, right[1], f"{100 * t:.0f}", ha="left", va="center", fontsize=6)
    offsets = ((-0.05, -0.06, "right"), (0.05, -0.06, "left"), (0.0, 0.04, "center"))
    for (x, y), (dx, dy, ha), element in zip(corners, offsets, elements, strict=True):
        ax.text(x + dx, y + dy, element, ha=ha, va="center", fontsize=10, fontweight="bold")
    edge_labels = (
        (0.5, -0.11, 0, f"{elements[0]} (at.%)"),
        (0.075, 0.535, 60, f"{elements[2]} (at.%)"),
        (0.925, 0.535, -60, f"{elements[1]} (at.%)"),
    )
    for x, y, angle, text in edge_labels:
        ax.text(x, y, text, rotation=angle, ha="center", va="center", fontsize=7, color="0.3")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.15, _SQRT3_2 + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")


def _ternary_panel(ax, fig, xy: np.ndarray, values: np.ndarray, cmap: str, label: str) -> None:
    """Linearly interpolated field over the Delaunay triangles of the grid points."""
    import matplotlib.tri as mtri  # noqa: PLC0415

    finite = np.isfinite(values)
    if finite.sum() < 3:
        ax.text(0.5, 0.35, "no data", ha="center", transform=ax.transData)
        return
    triangulation = mtri.Triangulation(xy[:, 0], xy[:, 1])
    triangulation.set_mask(~finite[triangulation.triangles].all(axis=1))
    filled = np.where(finite, values, np.nanmean(values))  # only under masked triangles
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if hi - lo < 1e-9:
        lo, hi = lo - 1e-3, hi + 1e-3
    levels = np.linspace(lo, hi, 21)
    contour = ax.tricontourf(triangulation, filled, levels=levels, cmap=cmap, zorder=1)
    ax.scatter(xy[finite, 0], xy[finite, 1], s=3, c="k", alpha=0.4, linewidths=0, zorder=4)
    bar = fig.colorbar(contour, ax=ax, shrink=0.7, pad=0.02, format="%.3f")
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _mask(outside: np.ndarray | None, n: int) -> np.ndarray:
    """[n] boolean mask of the marked compositions (none marked when ``outside`` is None)."""
    return np.zeros(n, dtype=bool) if outside is None else np.asarray(outside, dtype=bool)


def _outside_note(fig, mask: np.ndarray, symbol: str) -> None:
    """The legend line of the extrapolated compositions, when there are any."""
    if mask.any():
        fig.text(
            0.01, 0.005, f"{symbol}: composition more than 10 at.% outside the model's training "
            "compositions (extrapolated)", fontsize=7, color="0.35",
        )  # fmt: skip


def ternary_figure(
    elements: Sequence[str],
    fractions: np.ndarray,
    values: Mapping[str, np.ndarray],
    rows: Sequence[tuple[str, str]] = FIG5_ROWS,
    outside: np.ndarray | None = None,
) -> Figure:
    """Paper Fig. 5: ternary maps, one row per statistic, one column per moving species.

    Args:
        elements: The three elements: the corners (in `ternary_xy` order) and the moving
            species of the columns.
        fractions: [N, 3] fractions of the compositions, in ``elements`` order.
        values: Statistic -> [N, 3] values (eV) per composition and moving species (columns in
            ``elements`` order), for every statistic of ``rows``; NaN where there are none.
        rows: (statistic, colour-bar label) per row; default mean and standard deviation.
            The colour map follows the statistic (``mean``: viridis, ``std``: magma).
        outside: [N] True where a composition is marked with an x (extrapolated); default none.

    Returns:
        The figure; panels lettered a, b, c, ... row by row.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415

    if len(elements) != 3:
        raise VmebError(f"ternary maps need 3 elements, got {list(elements)}")
    xy = ternary_xy(fractions)
    outside = _mask(outside, len(xy))
    n_cols = len(elements)
    fig, axes = plt.subplots(
        len(rows), n_cols, figsize=(4.2 * n_cols, 3.7 * len(rows)), squeeze=False
    )
    for r, (column, label) in enumerate(rows):
        table = np.asarray(values[column], dtype=float)
        for c, species in enumerate(elements):
            ax = axes[r, c]
            _draw_triangle(ax, elements)
            _ternary_panel(ax, fig, xy, table[:, c], _CMAPS.get(column, "cividis"), label)
            if outside.any():
                ax.scatter(*xy[outside].T, marker="x", s=22, c="0.2", linewidths=1.0, zorder=5)
            ax.set_title(f"moving {species}", fontsize=10)
            letter = chr(ord("a") + r * n_cols + c)
            ax.text(-0.1, _SQRT3_2 + 0.05, letter, fontweight="bold", fontsize=12)
    fig.tight_layout()
    _outside_note(fig, outside, "x")
    return fig


def line_scan_figure(
    x: np.ndarray,
    xlabel: str,
    species: Sequence[str],
    mean: np.ndarray,
    std: np.ndarray,
    band: np.ndarray | None = None,
    outside: np.ndarray | None = None,
) -> Figure:
    """Supp. Fig. 8: (a) mean and (b) standard deviation per moving species against the
    scanned concentration (an ensemble's mean σ is drawn as a band on the means).

    Args:
        x: [N] scanned concentration of the compositions (at.%).
        xlabel: Its axis label, e.g. ``"Mo (at.%)"``.
        species: [S] curve labels: moving species in colour order; ``"all"`` is drawn black
            and dashed.
        mean: [N, S] mean barrier (eV) per composition and curve.
        std: [N, S] standard deviation of the barriers (eV).
        band: [N, S] half-width of a band on the means (an ensemble's mean σ, eV), or None.
        outside: [N] True where a composition is marked by a grey band; default none.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from vmeb.plots.figures import SPECIES_COLOURS  # noqa: PLC0415

    x = np.asarray(x, dtype=float)
    outside = _mask(outside, len(x))
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 4))
    step = float(np.min(np.diff(np.sort(x)))) if len(x) > 1 else 1.0
    for ax in (ax_a, ax_b):
        for centre in x[outside]:
            ax.axvspan(centre - step / 2, centre + step / 2, color="0.9", lw=0, zorder=0)
    for k, label in enumerate(species):
        colour = "k" if label == "all" else SPECIES_COLOURS[k % len(SPECIES_COLOURS)]
        style = dict(
            color=colour,
            ls="--" if label == "all" else "-",
            marker="o",
            ms=2.5,
            lw=1.2,
            label=label,
        )
        curve = np.asarray(mean, dtype=float)[:, k]
        ax_a.plot(x, curve, **style)
        if band is not None:
            half = np.asarray(band, dtype=float)[:, k]
            ax_a.fill_between(x, curve - half, curve + half, color=colour, alpha=0.2, lw=0)
        ax_b.plot(x, np.asarray(std, dtype=float)[:, k], **style)
    ax_a.set_ylabel("mean barrier (eV)")
    ax_b.set_ylabel("standard deviation of barriers (eV)")
    for ax, letter in ((ax_a, "a"), (ax_b, "b")):
        ax.set_xlabel(xlabel)
        ax.legend(title="moving", frameon=False, fontsize=8)
        ax.text(-0.12, 1.02, letter, transform=ax.transAxes, fontweight="bold", fontsize=12)
    fig.tight_layout()
    _outside_note(fig, outside, "grey band")
    return fig


def distributions_figure(
    x: np.ndarray,
    xlabel: str,
    species: Sequence[str],
    counts: np.ndarray,
    edges: np.ndarray,
    max_curves: int = 24,
) -> Figure:
    """Supp. Fig. 9: ridge plots of each moving species' barrier distribution against the
    scanned concentration (normalised densities, offset by concentration, coloured by it).

    Args:
        x: [N] scanned concentration of the compositions (at.%).
        xlabel: Its axis label, e.g. ``"Mo (at.%)"``.
        species: [S] moving species, one panel each (row ``s`` of ``counts``).
        counts: [N, S or more, B] barrier counts per composition and species on ``edges``
            (further rows, e.g. all species, only widen the common barrier range).
        edges: [B + 1] bin edges (eV), equally spaced.
        max_curves: Most compositions drawn per panel (evenly spaced, both ends kept).

    Returns:
        One panel per moving species.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib import cm, colors  # noqa: PLC0415

    x = np.asarray(x, dtype=float)
    n_comp = len(x)
    chosen = np.unique(np.round(np.linspace(0, n_comp - 1, min(max_curves, n_comp))).astype(int))
    counts = np.asarray(counts)
    used = np.nonzero(counts.sum(axis=(0, 1)))[0]
    edges_all = np.asarray(edges)
    lo, hi = (used.min(), used.max() + 1) if len(used) else (0, len(edges_all) - 1)
    factor = max(1, int(np.ceil((hi - lo) / 60)))  # about 60 bins across the data
    width = float(edges_all[1] - edges_all[0]) * factor
    norm = colors.Normalize(vmin=float(x.min()), vmax=float(x.max()) + 1e-9)
    cmap = plt.get_cmap("viridis")
    n_species = len(species)
    fig, axes = plt.subplots(
        1, n_species, figsize=(3.6 * n_species + 1.0, 5.5), squeeze=False, layout="constrained"
    )
    for s, symbol in enumerate(species):
        ax = axes[0, s]
        peak = 0.0
        curves = []
        for k in chosen:
            row = counts[k, s, lo:hi]
            pad = (-len(row)) % factor
            row = np.concatenate([row, np.zeros(pad, row.dtype)]).reshape(-1, factor).sum(1)
            edges = edges_all[lo] + np.arange(len(row) + 1) * width
            total = row.sum()
            density = row / (total * np.diff(edges)) if total else np.zeros(len(row))
            curves.append((k, 0.5 * (edges[:-1] + edges[1:]), density))
            peak = max(peak, float(density.max()))
        spacing = 1.0 / max(len(chosen) - 1, 1)
        for rank, (k, centres, density) in enumerate(curves):
            base = rank * spacing
            scaled = base + 2.5 * spacing * density / (peak or 1.0)
            colour = cmap(norm(x[k]))
            ax.fill_between(
                centres, base, scaled, color=colour, alpha=0.75, lw=0, zorder=len(curves) - rank
            )
            ax.plot(centres, scaled, color="k", lw=0.4, zorder=len(curves) - rank)
        ax.set_yticks([rank * spacing for rank in range(len(chosen))][:: max(1, len(chosen) // 8)])
        ax.set_yticklabels([f"{x[k]:.3g}" for k in chosen][:: max(1, len(chosen) // 8)])
        ax.set_ylim(-0.3 * spacing, (len(curves) - 1) * spacing + 2.7 * spacing)
        if s == 0:
            ax.set_ylabel(xlabel)
        ax.set_xlabel("barrier (eV)")
        ax.set_title(f"moving {symbol}", fontsize=10)
        ax.text(
            -0.16, 1.01, chr(ord("a") + s), transform=ax.transAxes, fontweight="bold", fontsize=12
        )
    fig.colorbar(
        cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes.ravel().tolist(), label=xlabel, shrink=0.8
    )
    return fig
