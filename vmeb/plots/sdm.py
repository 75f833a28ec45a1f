"""Picture of one hop's spatial density map (paper Fig. 1d): one 3D panel per channel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from vmeb.files import save_figure

#: Colour of each channel, cycled in species order.
CHANNEL_COLOURS = ("tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:olive")


def sdm_figure(
    sdm: np.ndarray,
    species: Sequence[str],
    centres: np.ndarray,
    threshold: float = 0.2,
    title: str = "",
) -> Figure:
    """One 3D panel per channel with the voxels above ``threshold``.

    Args:
        sdm: [C, G, G, G] map, layout [channel, z, y, x].
        species: C element symbols.
        centres: [G] voxel centre coordinates (Å).
        threshold: Smallest intensity drawn.
        title: Figure title.

    Returns:
        The figure (voxel opacity grows with intensity; the vacancy is the red dot at 0).
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415

    channels = len(species)
    fig = plt.figure(figsize=(4.2 * channels, 4.4))
    peak = max(float(sdm.max()), threshold)
    limit = float(centres[-1]) + 0.5 * float(centres[1] - centres[0])
    for c, symbol in enumerate(species):
        ax = fig.add_subplot(1, channels, c + 1, projection="3d")
        iz, iy, ix = np.nonzero(sdm[c] > threshold)
        values = sdm[c][iz, iy, ix]
        rgba = np.zeros((len(values), 4))
        rgba[:, :3] = matplotlib.colors.to_rgb(CHANNEL_COLOURS[c % len(CHANNEL_COLOURS)])
        rgba[:, 3] = np.clip(0.35 + 0.65 * (values - threshold) / (peak - threshold + 1e-12), 0, 1)
        ax.scatter(centres[ix], centres[iy], centres[iz], c=rgba, marker="s", s=14, linewidths=0)
        ax.scatter([0], [0], [0], color="red", s=30, label="vacancy")
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-limit, limit)
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        ax.set_zlabel("z (Å)")
        ax.set_title(f"{symbol}: {len(values)} voxels > {threshold:g}")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def render_sdm(
    sdm: np.ndarray,
    species: Sequence[str],
    centres: np.ndarray,
    path: str | os.PathLike,
    threshold: float = 0.2,
    title: str = "",
) -> Path:
    """Write `sdm_figure` to the PNG ``path`` atomically; returns the path."""
    return save_figure(sdm_figure(sdm, species, centres, threshold, title), path, dpi=110)
