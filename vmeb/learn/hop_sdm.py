"""The spatial density map of one hop, as written by ``vmeb sdm`` (paper Fig. 1d)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from vmeb.learn.sdm import SDMConfig


def hop_sdm(
    atoms: Atoms,
    vacancy: int,
    moving: int,
    species: Sequence[str],
    config: SDMConfig = SDMConfig(),  # noqa: B008 - frozen, immutable default
    angle: float = 0.0,
) -> tuple[np.ndarray, dict[str, int]]:
    """The SDM of the hop ``moving -> vacancy`` of a perfect structure.

    Args:
        atoms: Perfect (vacancy-free) periodic structure.
        vacancy: Index of the atom removed to make the vacancy.
        moving: Index of the first neighbour that jumps into it.
        species: Channel order.
        config: SDM geometry (r_c, l_c, delta in Å).
        angle: Rotation about the hop axis x, in degrees.

    Returns:
        (float32 array [C, G, G, G] in layout [channel, z, y, x], atoms per channel in the
        environment).

    Raises:
        VmebError: for bad indices or elements outside ``species``.
    """
    import torch  # noqa: PLC0415

    from vmeb.learn.environment import hop_environments  # noqa: PLC0415
    from vmeb.learn.sdm import encode_sdm  # noqa: PLC0415

    env = hop_environments(atoms, [vacancy], [moving], list(species), r_c=config.r_c)
    rotation = torch.tensor([math.radians(angle)], dtype=torch.float64)
    sdm = encode_sdm(
        torch.from_numpy(env.positions.astype(np.float64)),
        torch.from_numpy(env.species),
        len(species),
        config,
        rotation,
    )[0]
    counts = {s: int((env.species[0] == k).sum()) for k, s in enumerate(species)}
    return sdm.to(torch.float32).numpy(), counts


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as a .npy file atomically (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.save(handle, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
