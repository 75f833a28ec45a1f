"""Cell geometry shared by all stages: minimum images and the BCC lattice constant of a cell."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from vmeb.errors import VmebError


def minimum_image(vectors: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Shortest periodic images of displacement vectors.

    Args:
        vectors: [..., 3] displacements (Å).
        cell: [3, 3] cell rows (Å).

    Returns:
        [..., 3] the displacements shifted by lattice vectors to fractional coordinates in
        [-0.5, 0.5] (Å): the exact minimum image for orthogonal cells (vmeb's cubic
        supercells); close to it for slightly skewed ones.
    """
    vectors = np.asarray(vectors, dtype=float)
    cell = np.asarray(cell, dtype=float)
    frac = np.linalg.solve(cell.T, vectors.reshape(-1, 3).T).T
    frac -= np.round(frac)
    return (frac @ cell).reshape(vectors.shape)


def bcc_lattice_constant_from_volume(volume: float, n_atoms: int) -> float:
    """Lattice constant (Å) of a BCC cell of ``n_atoms`` sites in ``volume`` (Å^3).

    ``a = (2 V / N)^(1/3)``: a BCC cubic cell of edge a holds 2 sites.

    Raises:
        VmebError: for an empty cell or a non-positive volume.
    """
    if n_atoms <= 0:
        raise VmebError("empty structure: no lattice constant")
    if not volume > 0:
        raise VmebError(f"cell volume {volume} Å^3 is not positive: no lattice constant")
    return float((2.0 * volume / n_atoms) ** (1.0 / 3.0))


def volume_lattice_constant(atoms: Atoms) -> float:
    """Lattice constant (Å) of a BCC sample from its volume per atom, ``a = (2 V / N)^(1/3)``.

    Raises:
        VmebError: for an empty structure or a non-positive cell volume.
    """
    return bcc_lattice_constant_from_volume(float(atoms.get_volume()), len(atoms))


def sample_lattice_constant(atoms: Atoms) -> float:
    """Lattice constant (Å) of a BCC sample as recorded in ``info["a"]`` or
    ``info["lattice_constant"]``, else `volume_lattice_constant` of its cell.
    """
    for key in ("a", "lattice_constant"):
        if key in atoms.info:
            return float(atoms.info[key])
    return volume_lattice_constant(atoms)
