"""On-lattice encoding of hops: occupancies of fixed lattice offsets instead of atom positions.

On an ideal BCC sample every hop environment (`vmeb.learn.environment.hop_environments`) holds
atoms on the same lattice offsets around the vacancy; only the species on them differ. So a hop
is fully given by an *occupancy*: the species index on each of S fixed offsets (the vacancy
removed), plus which of the 8 first-neighbour directions the hop takes. Model inputs follow from
occupancies by precomputed tables instead of per-hop geometry:

* CNN: an SDM (paper Eq. 1) is a sum of one Gaussian blob per atom, so for every inference
  operation (rotation about the hop axis, then the mirror z -> -z) the map of a hop is
  ``onehot(occupancy) @ templates`` with one [G^3] template per site: a matrix product equal to
  `vmeb.learn.sdm.encode_sdm` on the same environment to float rounding.
* site kinds (NN, LR, MLP, type-map CNN): the one-hot site descriptor is a fixed scatter of the
  occupancy into the site template of `vmeb.learn.descriptors`.

Pieces: `fit_bcc_lattice` decides whether a structure is on-lattice (every atom within a
tolerance of the ideal site of the lattice fitted to its cell) and gives each atom integer
coordinates and a periodic index table; `hop_geometry` gives the offset table and the hop-frame
positions of the offsets for each direction (the same frame convention as the exact path);
`site_occupancy` gathers the occupancies of vacancy sites; `lattice_operation_predictions` runs a
trained model on occupancies (``TrainedModel.predict_occupancies``) through its kind
(`vmeb.learn.kinds.base.ModelKind.lattice_encoder`, `lattice_inputs`).

Integer coordinates are *doubled* cubic coordinates: ``u = 2 (r - origin) A^-1`` with the rows of
A the conventional cube vectors (length a); BCC sites have all-even or all-odd u, the 8 first
neighbours are the offsets (+-1, +-1, +-1).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from ase import Atoms
from torch import nn

from vmeb.errors import VmebError
from vmeb.learn.descriptors import (
    SiteTemplate,
    align_to_lattice,
    assign_sites,
    rotate_about_x,
)
from vmeb.learn.environment import hop_frames
from vmeb.learn.kinds import get_kind
from vmeb.learn.lattice_models import TypeMapCNN
from vmeb.learn.models import BarrierCNN, LatticeModel
from vmeb.learn.precision import inference_forward, prepare_model
from vmeb.learn.sdm import SDMConfig, encode_sdm

logger = logging.getLogger(__name__)

#: Largest distance (Å) of an atom from its ideal lattice site for the on-lattice path.
DEFAULT_LATTICE_TOLERANCE = 0.01
#: Relative tolerance on the cell being an orthogonal supercell of a cubic cell.
_CELL_TOLERANCE = 1e-3
#: Positions (Å) closer than this are the same template site when deduplicating directions.
_SAME_SITE = 1e-5
#: The 8 first-neighbour offsets in doubled coordinates, in a fixed order.
DIRECTIONS = np.array(
    [[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.int64
)


class NotOnLattice(VmebError):
    """The structure is not an ideal, complete BCC supercell (the exact path is used)."""


@dataclass(frozen=True)
class LatticeFit:
    """A perfect BCC supercell mapped to integer lattice coordinates.

    Attributes:
        axes: [3, 3] conventional cube vectors (rows, Å, length a each) along the cell vectors.
        origin: [3] Cartesian position (Å) of doubled coordinate (0, 0, 0).
        coords: [N, 3] int64 doubled coordinates of every atom.
        dims: [3] periodic lengths in doubled coordinates (2 x cells along each cell vector).
        table: [prod(dims)] int64 atom index on each (wrapped) doubled coordinate, -1 where no
            site; use `lookup`.
        max_deviation: Largest distance (Å) of an atom from its ideal site.
    """

    axes: np.ndarray
    origin: np.ndarray
    coords: np.ndarray
    dims: np.ndarray
    table: np.ndarray
    max_deviation: float

    @property
    def lattice_constant(self) -> float:
        """Mean cube edge a (Å)."""
        return float(np.linalg.norm(self.axes, axis=1).mean())

    def lookup(self, coords: np.ndarray) -> np.ndarray:
        """Atom indices on doubled coordinates [..., 3] (wrapped periodically); -1 off-site."""
        wrapped = np.mod(coords, self.dims)
        flat = (wrapped[..., 0] * self.dims[1] + wrapped[..., 1]) * self.dims[2] + wrapped[..., 2]
        return self.table[flat]


def fit_bcc_lattice(
    atoms: Atoms,
    tolerance: float = DEFAULT_LATTICE_TOLERANCE,
    cell_tolerance: float = _CELL_TOLERANCE,
) -> LatticeFit:
    """Map a structure onto an ideal BCC supercell, or raise `NotOnLattice` saying why.

    The cell must be an orthogonal supercell of the cubic cell (cell vector i = n_i a e_i, any
    orientation), every atom within ``tolerance`` of an ideal site, every site occupied once.

    Args:
        atoms: The perfect periodic sample.
        tolerance: Largest allowed distance (Å) of an atom from its ideal site.
        cell_tolerance: Largest relative deviation of the cell's metric from a cubic
            supercell's (a slightly sheared relaxed cell passes a looser value).

    Returns:
        The fit.

    Raises:
        NotOnLattice: naming the first failed condition.
    """
    n_atoms = len(atoms)
    if n_atoms < 2 or not np.all(atoms.pbc):
        raise NotOnLattice("not a periodic structure of at least 2 atoms")
    cell = np.asarray(atoms.cell.array, dtype=float)
    positions = np.asarray(atoms.positions, dtype=float)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise NotOnLattice("cell of zero volume")
    delta = positions - positions[0]
    frac = delta @ np.linalg.inv(cell)
    nearest = np.linalg.norm((frac - np.round(frac)) @ cell, axis=1)[1:].min()
    a_est = 2.0 * nearest / np.sqrt(3.0)
    lengths = np.linalg.norm(cell, axis=1)
    cells = np.round(lengths / a_est).astype(np.int64)
    if np.any(cells < 1):
        raise NotOnLattice("cell shorter than one cubic cell")
    axes = cell / cells[:, None]
    gram = axes @ axes.T
    a2 = np.mean(np.diag(gram))
    if np.max(np.abs(gram - a2 * np.eye(3))) > cell_tolerance * a2:
        raise NotOnLattice("cell is not an orthogonal supercell of a cubic cell")
    doubled = 2.0 * delta @ np.linalg.inv(axes)
    coords = np.round(doubled).astype(np.int64)
    residual = (doubled - coords) @ axes / 2.0
    shift = residual.mean(axis=0)
    deviation = float(np.linalg.norm(residual - shift, axis=1).max())
    if deviation > tolerance:
        raise NotOnLattice(
            f"an atom lies {deviation:.3g} Å from its ideal BCC site (tolerance {tolerance} Å)"
        )
    parity = coords % 2
    if np.any(parity != parity[:, :1]):
        raise NotOnLattice("atoms off the BCC sites (mixed parity of lattice coordinates)")
    dims = 2 * cells
    if n_atoms != int(np.prod(cells)) * 2:
        raise NotOnLattice(f"{n_atoms} atoms for {2 * int(np.prod(cells))} BCC sites")
    wrapped = np.mod(coords, dims)
    flat = (wrapped[:, 0] * dims[1] + wrapped[:, 1]) * dims[2] + wrapped[:, 2]
    table = np.full(int(np.prod(dims)), -1, dtype=np.int64)
    table[flat] = np.arange(n_atoms)
    if np.count_nonzero(table >= 0) != n_atoms:
        raise NotOnLattice("two atoms on one lattice site")
    return LatticeFit(
        axes=axes,
        origin=positions[0] + shift,
        coords=coords,
        dims=dims,
        table=table,
        max_deviation=deviation,
    )


@dataclass(frozen=True)
class HopGeometry:
    """The fixed lattice offsets of hop environments of one sample, in each hop direction's frame.

    Attributes:
        offsets: [S, 3] int64 doubled coordinates of the environment sites relative to the
            vacancy (vacancy excluded, ``|r| < r_c``), ordered by distance then coordinates.
        directions: [8, 3] int64 doubled offsets of the moving atom (`DIRECTIONS`).
        positions: [8, S, 3] float64 ideal positions (Å) of the offsets in the hop frame of
            `vmeb.learn.environment` (vacancy at the origin, moving atom on +x) of each direction.
        r_c: Environment radius (Å).
        cache: Per-model encoders built from this geometry (filled by
            `lattice_operation_predictions`).
    """

    offsets: np.ndarray
    directions: np.ndarray
    positions: np.ndarray
    r_c: float
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_sites(self) -> int:
        """S, offsets per hop."""
        return len(self.offsets)


def hop_geometry(
    fit: LatticeFit,
    cell: np.ndarray,
    r_c: float,
    tolerance: float = DEFAULT_LATTICE_TOLERANCE,
) -> HopGeometry:
    """Offset table and per-direction hop-frame positions of a fitted lattice.

    Args:
        fit: The lattice (`fit_bcc_lattice`).
        cell: [3, 3] cell of the sample (its first vectors fix the hop frame's roll).
        r_c: Environment radius (Å).
        tolerance: A shell closer than this to r_c makes the site set ambiguous.

    Returns:
        The geometry.

    Raises:
        NotOnLattice: if a shell of sites lies within ``tolerance`` of ``r_c``.
    """
    m = int(np.ceil(2.0 * r_c / (fit.lattice_constant * 0.99))) + 1
    grid = np.arange(-m, m + 1)
    cube = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    cube = cube[np.all(cube % 2 == cube[:, :1] % 2, axis=1)]
    cartesian = cube @ fit.axes / 2.0
    dist = np.linalg.norm(cartesian, axis=1)
    if np.any(np.abs(dist - r_c) < tolerance):
        raise NotOnLattice(f"a shell of sites lies within {tolerance} Å of r_c = {r_c} Å")
    keep = (dist > 1e-9) & (dist < r_c)
    offsets, cartesian, dist = cube[keep], cartesian[keep], dist[keep]
    order = np.lexsort((offsets[:, 2], offsets[:, 1], offsets[:, 0], np.round(dist, 6)))
    offsets, cartesian = offsets[order], cartesian[order]
    hop_vectors = DIRECTIONS @ fit.axes / 2.0
    frames = hop_frames(hop_vectors, cell)
    positions = np.einsum("dij,sj->dsi", frames, cartesian)
    return HopGeometry(offsets=offsets, directions=DIRECTIONS.copy(), positions=positions, r_c=r_c)


def site_occupancy(
    fit: LatticeFit, channel: np.ndarray, sites: np.ndarray, geometry: HopGeometry
) -> tuple[np.ndarray, np.ndarray]:
    """Occupancies and moving atoms of vacancy sites from the lattice index table.

    Args:
        fit: The lattice.
        channel: [N] model species index of every atom.
        sites: [K] vacancy atom indices.
        geometry: The offsets.

    Returns:
        ``(occupancy, moving)``: [K, S] int8 species index on each offset, -1 where the offset is
        the vacancy itself (a periodic image in a small cell); [K, 8] int64 atom on each of the
        8 `DIRECTIONS`.
    """
    base = fit.coords[sites]  # [K, 3]
    atom = fit.lookup(base[:, None, :] + geometry.offsets[None, :, :])  # [K, S]
    occupancy = channel[atom].astype(np.int8)
    occupancy[atom == sites[:, None]] = -1
    moving = fit.lookup(base[:, None, :] + geometry.directions[None, :, :])
    return occupancy, moving


# ----------------------------------------------------------------------------- model inputs


def _match_directions(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group directions with the same set of frame positions.

    Args:
        positions: [D, S, 3] positions of the offsets for each direction.

    Returns:
        ``(references, group, perm)``: [R, S, 3] distinct position sets; [D] group of each
        direction; [D, S] offset of direction d on reference site t (``positions[d, perm[d, t]]
        == references[group[d], t]``).
    """
    from scipy.spatial import cKDTree

    references: list[np.ndarray] = []
    group = np.zeros(len(positions), dtype=np.int64)
    perm = np.zeros(positions.shape[:2], dtype=np.int64)
    for d, pos in enumerate(positions):
        tree = cKDTree(pos)
        for g, ref in enumerate(references):
            dist, idx = tree.query(ref)
            if dist.max() < _SAME_SITE and len(np.unique(idx)) == len(idx):
                group[d], perm[d] = g, idx
                break
        else:
            group[d], perm[d] = len(references), np.arange(len(pos))
            references.append(pos)
    return np.stack(references), group, perm


@dataclass(frozen=True)
class MapEncoder:
    """SDMs of occupancies from one [G^3] template map per site.

    Every (direction, operation) pair is a *frame*: the offsets' hop-frame positions of the
    direction, rotated about x by the operation's angle and mirrored z -> -z if it says so.
    Frames with the same set of positions share one reference template set (on a BCC lattice
    with lattice-aligned frames all 48 do); a frame's permutation says which offset sits on
    which reference site.

    Attributes:
        templates: [R, S, G^3] float32: map of one atom on each reference site.
        reference: [8, O] reference set of each direction and operation.
        perm: [8, O, S] offset of direction d on reference site t under operation o.
        grid: G.
    """

    templates: torch.Tensor
    reference: torch.Tensor
    perm: torch.Tensor
    grid: int

    @property
    def n_operations(self) -> int:
        """O, the inference operations."""
        return int(self.reference.shape[1])

    def maps(
        self, occupancy: torch.Tensor, direction: torch.Tensor, op: int, n_species: int
    ) -> torch.Tensor:
        """Maps of B hops under operation ``op``.

        Args:
            occupancy: [B, S] int64 species index on each offset, -1 for empty.
            direction: [B] int64 direction index.
            op: Operation index.
            n_species: C.

        Returns:
            [B, C, G, G, G] float32 maps, layout ``[b, c, z, y, x]``.
        """
        ref = torch.gather(occupancy, 1, self.perm[direction, op])  # species on reference sites
        batch, n_sites = ref.shape
        onehot = torch.zeros(batch, n_species + 1, n_sites, dtype=self.templates.dtype)
        onehot.scatter_(1, torch.where(ref < 0, n_species, ref)[:, None, :], 1.0)
        onehot = onehot[:, :n_species]  # [B, C, S]
        group = self.reference[direction, op]
        first = int(group[0]) if batch else 0
        if bool((group == first).all()):  # one GEMM [B*C, S] x [S, G^3]
            out = torch.matmul(onehot.reshape(-1, n_sites), self.templates[first])
        else:
            out = torch.empty(batch, n_species, self.grid**3, dtype=self.templates.dtype)
            for g in torch.unique(group).tolist():
                rows = group == g
                out[rows] = torch.matmul(onehot[rows], self.templates[g])
        return out.view(batch, n_species, self.grid, self.grid, self.grid)


def frame_positions(
    geometry: HopGeometry, operations: list[tuple[float, bool]], align: bool
) -> np.ndarray:
    """Positions of the offsets in every (direction, operation) frame.

    Args:
        geometry: Offsets and their hop-frame positions.
        operations: ``(angle, mirrored)`` inference operations (`vmeb.learn.batches.operations`).
        align: Turn each direction's positions into the lattice-aligned frame first (models
            trained with ``augment="lattice"``), as `vmeb.learn.batches.prepare_inputs` does.

    Returns:
        [8, O, S, 3] float64 positions (Å).
    """
    positions = geometry.positions
    if align:
        zeros = np.zeros(positions.shape[:2], dtype=np.int64)
        positions = align_to_lattice(positions.astype(np.float32), zeros).astype(np.float64)
    frames = []
    for angle, mirrored in operations:
        turned = rotate_about_x(positions, np.full(len(positions), angle))
        if mirrored:
            turned[..., 2] *= -1.0
        frames.append(turned)
    return np.stack(frames, axis=1)


def map_encoder(
    geometry: HopGeometry, sdm: SDMConfig, operations: list[tuple[float, bool]], align: bool
) -> MapEncoder:
    """Precompute the per-site SDM templates of a geometry (arguments of `frame_positions`).

    Returns:
        The encoder; its maps equal `vmeb.learn.sdm.encode_sdm` of the ideal environments under
        each operation (the mirror as the flip z -> -z of `vmeb.learn.batches.batch`).
    """
    frames = frame_positions(geometry, operations, align)
    n_dir, n_ops, n_sites = frames.shape[:3]
    references, group, perm = _match_directions(frames.reshape(n_dir * n_ops, n_sites, 3))
    per_site = torch.as_tensor(references.reshape(-1, 1, 3), dtype=torch.float32)
    species = torch.zeros(len(per_site), 1, dtype=torch.long)
    maps = encode_sdm(per_site, species, 1, sdm).reshape(len(references), n_sites, -1)
    logger.info(
        "SDM templates: %d reference frame(s) for %d directions x %d operations, %d sites, %.1f MB",
        len(references),
        n_dir,
        n_ops,
        n_sites,
        maps.numel() * 4 / 1e6,
    )
    return MapEncoder(
        templates=maps.contiguous(),
        reference=torch.as_tensor(group.reshape(n_dir, n_ops)),
        perm=torch.as_tensor(perm.reshape(n_dir, n_ops, n_sites)),
        grid=sdm.grid_size,
    )


def descriptor_sites(geometry: HopGeometry, template: SiteTemplate) -> np.ndarray:
    """Template site of every offset in every direction.

    Args:
        geometry: Offsets and their hop-frame positions.
        template: The one-hot site template of a site model (NN, LR, MLP, type-map CNN).

    Returns:
        [8, S] int64 template site index, -1 for offsets outside the template.
    """
    positions = geometry.positions.astype(np.float32)
    zeros = np.zeros(positions.shape[:2], dtype=np.int64)
    return assign_sites(positions, zeros, template)


def descriptors(
    occupancy: np.ndarray, direction: np.ndarray, sites: np.ndarray, n_sites: int, n_species: int
) -> np.ndarray:
    """One-hot site descriptors of occupancies (`vmeb.learn.descriptors.onehot_descriptors`).

    Args:
        occupancy: [H, S] species index on each offset, -1 for empty.
        direction: [H] direction index of each hop.
        sites: [8, S] template site of each offset (`descriptor_sites`).
        n_sites: Template sites S_t.
        n_species: C.

    Returns:
        [H, S_t * C] float32.
    """
    column = sites[direction]  # [H, S]
    hop, slot = np.nonzero((occupancy >= 0) & (column >= 0))
    out = np.zeros((len(occupancy), n_sites * n_species), dtype=np.float32)
    out[hop, column[hop, slot] * n_species + occupancy[hop, slot]] = 1.0
    return out


# ----------------------------------------------------------------------------- prediction


def _fold(conv: nn.Conv3d, norm: nn.BatchNorm3d) -> nn.Conv3d:
    """One biased Conv3d equal to ``norm(conv(x))`` with ``norm`` in eval mode."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    folded = nn.Conv3d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
    ).to(conv.weight.device)
    shift = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        shift = shift + conv.bias * scale
    folded.weight.data = (conv.weight * scale[:, None, None, None, None]).detach()
    folded.bias.data = shift.detach()
    return folded


class _FoldedCNN(nn.Module):
    """A `vmeb.learn.models.BarrierCNN` for inference: batch norms folded into the convolutions,
    each max-pool moved before its ReLU (they commute), channels-last activations."""

    def __init__(self, model: BarrierCNN):
        super().__init__()
        layers: list[nn.Module] = []
        modules = list(model.features)
        for i, conv in enumerate(modules):
            if not isinstance(conv, nn.Conv3d):
                continue
            norm = modules[i + 1]
            assert isinstance(norm, nn.BatchNorm3d)
            layers.append(_fold(conv, norm))
            if i + 3 < len(modules) and isinstance(modules[i + 3], nn.MaxPool3d):
                layers.append(copy.deepcopy(modules[i + 3]))
            layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers).to(memory_format=torch.channels_last_3d)
        self.output = copy.deepcopy(model.output)
        self.scale = float(model.target_std)
        self.shift = float(model.target_mean)

    def forward(self, sdm: torch.Tensor) -> torch.Tensor:
        """Barriers [B] (eV) of SDMs [B, C, G, G, G]."""
        sdm = sdm.contiguous(memory_format=torch.channels_last_3d)
        raw = self.output(self.features(sdm).flatten(1))
        # fp32 even under bf16 autocast, as in the model (`BarrierCNN._to_ev`)
        return raw.squeeze(-1).float() * self.scale + self.shift


def _folded_type_map(model: LatticeModel) -> LatticeModel:
    """A copy of an eval-mode `LatticeModel` of a `TypeMapCNN` whose Conv3d + BatchNorm3d pairs
    are single biased convolutions (about 1.3x faster on CPUs; same forward, same outputs within
    float rounding)."""
    folded = copy.deepcopy(model)
    modules = list(model.body.features)
    layers: list[nn.Module] = []
    for i, conv in enumerate(modules):
        if isinstance(conv, nn.Conv3d):
            layers += [_fold(conv, modules[i + 1]), nn.ReLU(inplace=True)]
    folded.body.features = nn.Sequential(*layers)
    return folded.eval()


def inference_network(model: nn.Module) -> nn.Module:
    """A faster eval-only equivalent of a model (same outputs within float rounding).

    A `BarrierCNN` in eval mode becomes `_FoldedCNN` (about 3x faster on CPUs for compact
    models: the batch norm, ReLU and pool passes over full-size activations were most of the
    time); a type-map CNN (`LatticeModel` of a `TypeMapCNN`) in eval mode gets its batch norms
    folded into its convolutions (about 1.3x for 16 filters, `benchmarks/bench_spectrum.py`);
    other models are returned as they are.
    """
    if model.training:
        return model
    if isinstance(model, BarrierCNN):
        device = next(model.parameters()).device
        return _FoldedCNN(model).to(device).eval()
    if isinstance(model, LatticeModel) and isinstance(model.body, TypeMapCNN):
        return _folded_type_map(model)
    return model


def _check_occupancy(occupancy: np.ndarray, direction: np.ndarray, geometry, n_species: int):
    occupancy = np.asarray(occupancy)
    direction = np.asarray(direction, dtype=np.int64).reshape(-1)
    if occupancy.ndim != 2 or occupancy.shape != (len(direction), geometry.n_sites):
        raise VmebError(
            f"occupancy must be [H, {geometry.n_sites}] with H = {len(direction)} directions, "
            f"got {occupancy.shape}"
        )
    if occupancy.size and (occupancy.max() >= n_species or occupancy.min() < -1):
        raise VmebError(f"occupancy species index outside -1..{n_species - 1}")
    if direction.size and (direction.min() < 0 or direction.max() >= len(geometry.directions)):
        raise VmebError("direction index outside 0..7")
    return occupancy, direction


def inference_image_count(trained: Any) -> int:
    """Forward passes per barrier of a trained model (its predictions average them).

    The SDM CNN: one per inference operation (`vmeb.learn.batches.operations`); the site kinds
    that permute sites, trained with augmentation: the hop's six point-group images; LR and
    unaugmented site models: one (LR averages the images' descriptors before its one pass).
    The kind says (`vmeb.learn.kinds.base.ModelKind.image_count`).
    """
    return get_kind(trained.kind).image_count(trained.train_config, trained.template())


@torch.no_grad()
def lattice_operation_predictions(
    trained: Any,
    occupancy: np.ndarray,
    direction: np.ndarray,
    geometry: HopGeometry,
    batch_size: int = 1024,
    device: str = "cpu",
) -> np.ndarray:
    """A `vmeb.learn.checkpoints.TrainedModel` on on-lattice hops, per inference operation.

    The model's kind encodes the occupancies (`vmeb.learn.kinds.base.ModelKind.lattice_encoder`
    once per model and geometry, then `lattice_inputs` per batch).

    Args:
        trained: The model.
        occupancy: [H, S] integer species index (the model's ``species`` order) on each offset
            of ``geometry.offsets``, -1 for empty.
        direction: [H] index into ``geometry.directions`` of the moving atom.
        geometry: The sample's offsets and frames.
        batch_size: Hops per forward pass.
        device: Torch device.

    Returns:
        [O, H] float64 barriers (eV) for each inference operation; their mean equals
        ``trained.predict_environments`` of the same hops within float rounding.
    """
    n_species = len(trained.species)
    occupancy, direction = _check_occupancy(occupancy, direction, geometry, n_species)
    config, kind, template = trained.train_config, get_kind(trained.kind), trained.template()
    model = trained.model.to(device).eval()
    key = (id(trained.model), trained.kind)
    mode = (trained.kind, config.precision, device)
    # The prepared network depends on the precision and device (bf16 folding, channels-last),
    # which a caller may change between calls on the same geometry; the encoders do not.
    network_key = ("network", key, *mode)
    if network_key not in geometry.cache:
        geometry.cache[network_key] = prepare_model(inference_network(model), *mode, True)
    network = geometry.cache[network_key]
    if key not in geometry.cache:
        geometry.cache[key] = kind.lattice_encoder(geometry, config, template)
    encoder = geometry.cache[key]
    out = np.empty((kind.image_count(config, template), len(direction)), dtype=np.float64)
    for start in range(0, len(direction), batch_size):
        stop = min(start + batch_size, len(direction))
        xs = kind.lattice_inputs(
            encoder, occupancy[start:stop], direction[start:stop], n_species, config, device
        )
        preds = [inference_forward(network, x, *mode) for x in xs]
        out[:, start:stop] = torch.stack(preds).double().cpu().numpy()
    return out
