"""Hops on the whole lattice: per-hop windows and one network pass per symmetry operation.

The ``"latfield"`` kind (`vmeb.learn.field_model.LatticeFieldNet`) reads a hop from the species
on a cube of lattice sites around its vacancy, in the *canonical frame*: the cubic lattice
operation that takes the hop direction ``d`` (doubled offset, entries +-1) to (1, 1, 1). The six
permutations of the axes keep (1, 1, 1): they are the hop's point group (C3v), the augmentation
in training and the images that predictions average.

Two ways to the same numbers:

* per hop (training, small or off-lattice samples): `hop_windows` gathers each hop's window,
  [H, W] int8 species indices (W = 2 (2L + 1)^3 sites: corners then bodies of the cells
  ``[-L, L]^3``, sites at ``2 c`` and ``2 c + 1`` doubled), and the network convolves it;
* whole lattice (`field_site_barriers`): the sample's one-hot sites as a cell grid, transformed by
  each of the 48 operations (flips that take a direction to (1, 1, 1), then an axis
  permutation), convolved once with periodic wrap, every site's hop read from its features and
  those of its neighbour at (1, 1, 1). Every site's neighbourhood is convolved once per
  operation instead of once per hop and image: 8 x 6 passes give all 8 N barriers.

The vacancy site's own species is in the window (a whole-lattice pass cannot remove it for every
site at once); training draws it at random (`LatticeFieldKind`), so the network learns to ignore
it, as the physics does. Periodic images of the vacancy inside a window (cells shorter than the
window) are empty sites, as in the NEB; the whole-lattice path needs every axis at least
``2 L + 1`` cells long and leaves smaller samples to the per-hop path.
"""

from __future__ import annotations

import logging
from itertools import permutations
from typing import Any

import numpy as np
import torch
from ase import Atoms
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.learn.lattice import DIRECTIONS, LatticeFit, NotOnLattice, fit_bcc_lattice
from vmeb.species import SpeciesTable

logger = logging.getLogger(__name__)

#: Largest distance (Å) of an atom from its ideal site when a structure is snapped onto the
#: lattice for the windows (thermal or CSRO relaxation displacements; vacancies never).
SNAP_TOLERANCE = 0.5
#: Largest relative deviation of a snapped cell's metric from a cubic supercell's (relaxed DFT
#: cells are sheared by a few 0.1 %).
SNAP_CELL_TOLERANCE = 0.02
#: The six axis permutations that keep (1, 1, 1): the hop's point group in the canonical frame.
AXIS_PERMUTATIONS: tuple[tuple[int, int, int], ...] = tuple(permutations(range(3)))
#: Window batches of `window_barriers` are padded to multiples of this many hops (a kinetic
#: Monte Carlo step sends a few dozen new windows: 58 of them took 159 ms padded to 128 and 47 ms
#: padded to 64, one thread).
_BATCH_QUANTUM = 32
#: Hops whose windows are gathered at once.
_WINDOW_CHUNK = 4096


def window_size(half: int) -> int:
    """W, sites of a window of ``[-half, half]^3`` cells."""
    return 2 * (2 * half + 1) ** 3


def window_centre(half: int) -> int:
    """Window index of the vacancy site: the corner of the centre cell."""
    size = 2 * half + 1
    return (half * size + half) * size + half


def window_offsets(half: int) -> np.ndarray:
    """[W, 3] int64 doubled offsets of the window sites in the canonical frame (corners of the
    cells in C order, then the body sites)."""
    r = np.arange(-half, half + 1)
    cells = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    return np.concatenate([2 * cells, 2 * cells + 1])


def snap_lattice(atoms: Atoms) -> LatticeFit:
    """The BCC lattice of a structure, atoms snapped to their nearest ideal site.

    Raises:
        VmebError: if the structure is not a complete BCC supercell within `SNAP_TOLERANCE`.
    """
    try:
        return fit_bcc_lattice(atoms, SNAP_TOLERANCE, SNAP_CELL_TOLERANCE)
    except NotOnLattice as exc:
        raise VmebError(
            f"a lattice-field model needs a complete BCC supercell (atoms within "
            f"{SNAP_TOLERANCE} Å of their sites): {exc}"
        ) from exc


def hop_directions(fit: LatticeFit, vacancy: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """[H, 3] doubled offsets (+-1 each) vacancy -> moving atom (minimum image).

    Raises:
        VmebError: if a moving atom is not a first neighbour of its vacancy site.
    """
    delta = fit.coords[moving] - fit.coords[vacancy]
    half = fit.dims // 2
    delta = (delta + half) % fit.dims - half
    if len(delta) and np.any(np.abs(delta) != 1):
        raise VmebError("a moving atom is not a first neighbour of its vacancy site")
    return delta


def hop_windows(
    fit: LatticeFit,
    channel: np.ndarray,
    vacancy: np.ndarray,
    moving: np.ndarray,
    half: int,
    reverse: bool = False,
) -> np.ndarray:
    """Species on each hop's window in its canonical frame (module docstring).

    Args:
        fit: The sample's lattice (`snap_lattice`).
        channel: [N] species index of every atom (the model's order).
        vacancy: [H] atom removed to make each vacancy.
        moving: [H] first neighbour that jumps into it.
        half: L, the window's half width in cells.
        reverse: The reverse hops instead: the moving species on the vacancy site, the vacancy
            on the moving atom's site, the direction turned round.

    Returns:
        [H, W] int8 species index per window site; -1 on periodic images of the hop's vacancy.
    """
    vacancy = np.asarray(vacancy, dtype=np.int64).reshape(-1)
    moving = np.asarray(moving, dtype=np.int64).reshape(-1)
    offsets = window_offsets(half)
    origin = np.zeros(len(offsets), dtype=bool)
    origin[window_centre(half)] = True
    out = np.empty((len(vacancy), len(offsets)), dtype=np.int8)
    for start in range(0, len(vacancy), _WINDOW_CHUNK):
        vac, mov = vacancy[start : start + _WINDOW_CHUNK], moving[start : start + _WINDOW_CHUNK]
        signs = hop_directions(fit, vac, mov)
        centre = vac
        if reverse:
            centre, signs = mov, -signs
        sites = fit.coords[centre][:, None, :] + signs[:, None, :] * offsets[None]
        atom = fit.lookup(sites)  # [h, W]
        species = channel[atom].astype(np.int8)
        if reverse:  # the moving species on the vacancy site, the vacancy's on the other
            on_vac, on_mov = atom == vac[:, None], atom == mov[:, None]
            species = np.where(on_vac, channel[mov][:, None], species)
            species = np.where(on_mov, channel[vac][:, None], species).astype(np.int8)
        species[(atom == centre[:, None]) & ~origin[None]] = -1
        out[start : start + len(vac)] = species
    return out


def structure_windows(
    atoms: Atoms,
    species: tuple[str, ...] | list[str],
    vacancy: np.ndarray,
    moving: np.ndarray,
    half: int,
    reverse: bool = False,
) -> np.ndarray:
    """`hop_windows` of a structure (snapped onto its lattice; species in ``species`` order)."""
    channel = SpeciesTable(species).indices(atoms.get_chemical_symbols())
    return hop_windows(snap_lattice(atoms), channel, vacancy, moving, half, reverse)


def window_barriers(
    trained: Any, windows: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """[H] barriers (eV) of hop windows [H, W] (`hop_windows`), averaged over the six images.

    The per-hop path without environments: kinetic Monte Carlo on a fixed lattice gathers the
    windows of its 8 hops from the species array each step.
    """
    from vmeb.learn.batches import ModelInputs
    from vmeb.learn.forward import predict_inputs

    count = len(windows)
    if count == 0:
        return np.zeros(0)
    # padded to a multiple of the batch quantum: oneDNN builds its convolution kernels per input
    # shape, which costs more than the convolution of a few hundred windows
    padded = -(-count // _BATCH_QUANTUM) * _BATCH_QUANTUM
    windows = np.concatenate([windows, np.repeat(windows[:1], padded - count, axis=0)])
    inputs = ModelInputs(kind=trained.kind, windows=torch.as_tensor(windows))
    config = trained.train_config
    return predict_inputs(
        trained.model, inputs, np.arange(padded), len(trained.species), config,
        max(batch_size, _BATCH_QUANTUM) // _BATCH_QUANTUM * _BATCH_QUANTUM, device,
    )[:count]  # fmt: skip


def onehot_windows(windows: torch.Tensor, n_species: int, half: int) -> torch.Tensor:
    """[B, W] int species (-1 empty) -> [B, 2 C, w, w, w] float32 one-hot (corners, bodies)."""
    size = 2 * half + 1
    batch = len(windows)
    index = windows.long().view(batch, 2, size**3)
    out = torch.zeros(batch, 2, n_species + 1, size**3)
    out.scatter_(2, torch.where(index < 0, n_species, index)[:, :, None, :], 1.0)
    return out[:, :, :n_species].reshape(batch, 2 * n_species, size, size, size)


def permute_windows(x: torch.Tensor, perm: tuple[int, int, int]) -> torch.Tensor:
    """Windows [B, K, w, w, w] under an axis permutation (new axis i = old axis ``perm[i]``)."""
    return x.permute(0, 1, 2 + perm[0], 2 + perm[1], 2 + perm[2])


# ----------------------------------------------------------------------------- whole lattice


def _flip(grid: torch.Tensor, axis: int, half_channels: int) -> torch.Tensor:
    """u -> -u along ``axis`` of a sublattice grid [B, 2K, n0, n1, n2]: a body site at cell c
    goes to -c - 1 (a plain flip), a corner to -c (flip, then one cell on)."""
    dim = 2 + axis
    flipped = torch.flip(grid, dims=(dim,))
    corner = torch.roll(flipped[:, :half_channels], shifts=1, dims=dim)
    return torch.cat([corner, flipped[:, half_channels:]], dim=1)


def transform_grid(
    grid: torch.Tensor, signs: np.ndarray, perm: tuple[int, int, int], inverse: bool = False
) -> torch.Tensor:
    """Apply the lattice operation ``u -> P (s * u)`` (or its inverse) to a sublattice grid.

    Args:
        grid: [B, 2K, n0, n1, n2] per-site values (corner channels, then body).
        signs: [3] +-1 per axis (the direction taken to (1, 1, 1)).
        perm: Axis permutation P (new axis i = old axis ``perm[i]``).
        inverse: Undo the operation.
    """
    half = grid.shape[1] // 2
    if not inverse:
        for axis in range(3):
            if signs[axis] < 0:
                grid = _flip(grid, axis, half)
        return grid.permute(0, 1, 2 + perm[0], 2 + perm[1], 2 + perm[2])
    back = np.argsort(perm)
    grid = grid.permute(0, 1, 2 + int(back[0]), 2 + int(back[1]), 2 + int(back[2]))
    for axis in range(3):
        if signs[axis] < 0:
            grid = _flip(grid, axis, half)
    return grid


def site_cells(fit: LatticeFit) -> tuple[np.ndarray, np.ndarray]:
    """([N] sublattice of every atom's site, 0 corner / 1 body; [N, 3] its cell index)."""
    wrapped = np.mod(fit.coords, fit.dims)
    return wrapped[:, 0] % 2, wrapped // 2


def lattice_grid(fit: LatticeFit) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Atom index on every site of the cell grid.

    Returns:
        ``(index, cells)``: [2, n0, n1, n2] int64 atom on each corner / body site; the cell
        counts.
    """
    cells = tuple(int(n) for n in fit.dims // 2)
    body, cell = site_cells(fit)
    index = np.full((2, *cells), -1, dtype=np.int64)
    index[body, cell[:, 0], cell[:, 1], cell[:, 2]] = np.arange(len(body))
    if np.any(index < 0):
        raise VmebError("the lattice has an empty site")
    return index, cells  # type: ignore[return-value]


def field_site_barriers(
    trained: Any,
    fit: LatticeFit,
    channel: np.ndarray,
    *,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Barriers of all 8 hops from every site of a perfect sample, by whole-lattice passes.

    Args:
        trained: A `vmeb.learn.checkpoints.TrainedModel` of kind ``"latfield"``.
        fit: The sample's lattice; every axis at least ``2 L + 1`` cells.
        channel: [N] species index of every atom (the model's order).
        device: Torch device.
        progress: A tqdm bar over the passes.

    Returns:
        [N, 8] float64 barriers (eV): atom i's site as the vacancy, the moving atom at
        ``DIRECTIONS[k]``; each the mean over the hop's six point-group images (one pass each).
    """
    from vmeb.learn.precision import autocast

    model = trained.model.to(device).eval()
    net = model.body
    n_species = len(trained.species)
    index, cells = lattice_grid(fit)
    if min(cells) < 2 * net.depth + 1:
        raise VmebError(
            f"whole-lattice path needs at least {2 * net.depth + 1} cells per axis, got {cells}"
        )
    onehot = torch.zeros(1, 2, n_species, *cells)
    body, c0, c1, c2 = np.nonzero(index >= 0)
    onehot[0, body, channel[index[body, c0, c1, c2]], c0, c1, c2] = 1.0
    onehot = onehot.reshape(1, 2 * n_species, *cells).to(device)
    out = np.zeros((len(channel), len(DIRECTIONS)), dtype=np.float64)
    precision = trained.train_config.precision
    passes = [(k, perm) for k in range(len(DIRECTIONS)) for perm in AXIS_PERMUTATIONS]
    with torch.no_grad():
        for k, perm in tqdm(passes, desc="lattice passes", disable=not progress, leave=False):
            signs = DIRECTIONS[k]
            x = transform_grid(onehot, signs, perm).contiguous()
            with autocast(trained.kind, precision, device, inference=True):
                feats = net.site_features(x, circular=(True, True, True))
                half = net.features
                corner, bodies = feats[:, :half], feats[:, half:]
                ahead = torch.roll(corner, shifts=(-1, -1, -1), dims=(2, 3, 4))
                pair_c = torch.cat([corner, bodies], 1)
                pair_b = torch.cat([bodies, ahead], 1)
                raw = torch.stack(
                    [_head_grid(net, pair_c), _head_grid(net, pair_b)], dim=1
                )  # [1, 2, m0, m1, m2]
            ev = raw.float() * model.target_std + model.target_mean
            back = transform_grid(ev, signs, perm, inverse=True)[0].double().cpu().numpy()
            out[index.reshape(-1), k] += back.reshape(-1)
    return out / len(AXIS_PERMUTATIONS)


def _head_grid(net: Any, pairs: torch.Tensor) -> torch.Tensor:
    """The hop head on every cell: [1, 2 Fd, m0, m1, m2] -> [1, m0, m1, m2] raw barriers."""
    flat = pairs[0].flatten(1).transpose(0, 1)  # [cells, 2 Fd]
    half = net.features
    raw = net.hop_head(flat[:, :half], flat[:, half:])
    return raw.reshape(1, *pairs.shape[2:])
