"""Predicted barriers versus CSRO state (paper Supp. Figs. 5-6): ``vmeb analyse --model``.

`write_barrier_report` predicts the barriers of the vacancy sites of every structure with a
trained model and writes ``barriers.csv`` (one row per hop, with the structure and its CSRO
state), ``barrier_statistics.csv`` (mean, standard deviation and count per structure, state and
moving species; eV) and ``figures/barrier_statistics.png`` and
``figures/barrier_distributions.png``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ase import Atoms


def structure_sites(
    n_atoms: int, sites: int | Sequence[int] | None, rng: np.random.Generator
) -> list[int] | None:
    """The vacancy sites of one structure: None (every atom), the given indices, or N drawn
    at random from ``rng`` (every atom when N >= ``n_atoms``)."""
    if sites is None:
        return None
    if isinstance(sites, int | np.integer):
        if sites >= n_atoms:
            return None
        return sorted(rng.choice(n_atoms, size=int(sites), replace=False).tolist())
    return [int(i) for i in sites]


def write_barrier_report(
    structures: Mapping[str, Atoms],
    trained: Any,
    state: str,
    out: str | Path,
    sites: int | Sequence[int] | None = None,
    rng: np.random.Generator | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """Predict and tabulate the barriers of every structure into the directory ``out``.

    Args:
        structures: Structures by name.
        trained: A `vmeb.learn.checkpoints.TrainedModel`.
        state: The ``atoms.info`` key of the CSRO state (`vmeb.csro.report.state_column`).
        out: Existing directory to write into.
        sites: Per structure: None (every site), explicit indices, or N random sites.
        rng: Generator of the random site draws (default: seed 0).
        batch_size: Hops per model batch.
        device: Torch device.
        progress: Show progress bars.

    Returns:
        The barriers.csv table.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from vmeb.plots.csro import (  # noqa: PLC0415
        plot_barrier_distributions,
        plot_barrier_statistics,
    )
    from vmeb.spectra.predict import predict_barriers  # noqa: PLC0415

    out = Path(out)
    rng = rng if rng is not None else np.random.default_rng(0)
    frames = []
    for name, atoms in structures.items():
        chosen = structure_sites(len(atoms), sites, rng)
        hops = predict_barriers(
            trained, atoms, chosen, batch_size=batch_size, device=device, progress=progress
        )
        if state != "structure":  # structures not from `vmeb order`: the name is the state
            hops.insert(0, state, atoms.info.get(state, name))
        hops.insert(0, "structure", name)
        frames.append(hops)
    barriers = pd.concat(frames, ignore_index=True)
    barriers.to_csv(out / "barriers.csv", index=False)
    stats = (
        barriers.groupby(list(dict.fromkeys(["structure", state, "moving_species"])), sort=False)[
            "barrier"
        ]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    stats.to_csv(out / "barrier_statistics.csv", index=False)
    species = [s for s in trained.species if s in set(barriers["moving_species"])]
    figures = out / "figures"
    plt.close(plot_barrier_statistics(barriers, state, species, figures / "barrier_statistics.png"))
    plt.close(
        plot_barrier_distributions(
            barriers, state, species, path=figures / "barrier_distributions.png"
        )
    )
    return barriers
