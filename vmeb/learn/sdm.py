"""Spatial density maps (paper Eq. 1), vectorised in PyTorch and generated per batch.

For a hop environment with positions ``r_j`` in the hop frame (`vmeb.learn.environment`) the SDM is

    Xi(z, y, x, beta) = sum_{j: species(j) = beta, |r_j| < r_c}
                        exp(-((r_jx - x)^2 + (r_jy - y)^2 + (r_jz - z)^2) / (2 Delta^2))

on voxel centres ``-l_c + Delta/2, ..., l_c - Delta/2`` (step Delta) in each of x, y, z, with one
channel per species in the dataset's species order. The tensor layout is ``[B, C, z, y, x]``.

How it is computed: the Gaussian factorises into 1D factors ``g_z[j, z] g_y[j, y] g_x[j, x]``;
atoms are grouped by species (channel) and padded to the largest group of a chunk, so each
channel is one batched matrix product ``Xi[c] = G_z[c]^T (G_y[c] (x) G_x[c])`` over only its own
atoms. The products run over chunks of the batch sized to stay in cache on CPU (about 1 MB of
intermediates per thread) and large on GPU, writing straight into the output. 1D factors below
`FACTOR_FLOOR` (1e-12) are set to 0, which changes a voxel by less than M * 1e-12 (one atom's
peak is 1) and keeps the products clear of slow subnormal floats (docs/sdm.md).

Inference is made deterministic by averaging predictions over the fixed rotations
`INFERENCE_ANGLES` about the hop axis; training uses `random_angles` (uniform in [0, 2 pi)).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vmeb.errors import VmebError
from vmeb.learn.environment import rotation_about_x

#: Rotations about the hop axis (radians) whose predictions are averaged at inference: 8 equally
#: spaced angles k * pi / 4. The training distribution is uniform over [0, 2 pi); averaging over
#: a fixed, evenly spaced set makes a prediction deterministic and removes most of its residual
#: dependence on the (physically irrelevant) angle. See docs/sdm.md.
INFERENCE_ANGLES: tuple[float, ...] = tuple(k * math.pi / 4 for k in range(8))

#: 1D Gaussian factors below this are set to 0 (a 1D distance beyond 7.43 Delta): keeps every
#: product a normal float; the absolute change of a voxel is below M * 1e-12.
FACTOR_FLOOR = 1e-12
_LOG_FLOOR = math.log(FACTOR_FLOOR)

#: Bytes of chunk intermediates per batched product: ~1 MB per CPU thread (cache), large on GPU.
_CPU_CHUNK_BYTES = 1 << 20
_GPU_CHUNK_BYTES = 512 << 20
#: The fewest float32 maps [G, G, G] a batch holds at once (`check_sdm_memory`).
MIN_BATCH_MAPS = 64


@dataclass(frozen=True)
class SDMConfig:
    """Geometry of the spatial density maps.

    Attributes:
        r_c: Environment radius (Å): atoms with ``|r| < r_c`` contribute.
        l_c: Half edge of the cubic map (Å); should be equal to or slightly larger than ``r_c``.
        delta: Gaussian width and voxel size Delta (Å).
    """

    r_c: float = 7.6
    l_c: float = 8.0
    delta: float = 0.5

    def __post_init__(self) -> None:
        if not (self.r_c > 0 and self.l_c > 0 and self.delta > 0):
            raise VmebError(
                f"SDM sizes must be positive (r_c={self.r_c}, l_c={self.l_c}, delta={self.delta})"
            )
        ratio = 2 * self.l_c / self.delta
        if abs(ratio - round(ratio)) > 1e-6:
            raise VmebError(
                f"SDM edge 2*l_c={2 * self.l_c} Å is not a whole number of voxels of {self.delta} Å"
            )
        check_sdm_memory(self)

    @property
    def grid_size(self) -> int:
        """G, voxels per edge: ``round(2 l_c / delta)`` (32 for the defaults)."""
        return int(round(2 * self.l_c / self.delta))

    def centres(self) -> np.ndarray:
        """[G] voxel centre coordinates (Å), ``-l_c + delta/2`` to ``l_c - delta/2``."""
        return -self.l_c + self.delta / 2 + self.delta * np.arange(self.grid_size)

    def to_dict(self) -> dict[str, float]:
        """The configuration as plain floats (for checkpoints and headers)."""
        return {"r_c": float(self.r_c), "l_c": float(self.l_c), "delta": float(self.delta)}


def available_memory() -> int:
    """Bytes of memory this process can still use: the kernel's ``MemAvailable``, lowered to
    the room left under a cgroup (container) limit; physical memory where neither is known."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit.isdigit() and used.isdigit():
            found.append(max(int(limit) - int(used), 0))
    except OSError:
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            return 1 << 62  # unknown: nothing refused
    return min(found)


def _bytes_text(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


def check_sdm_memory(config: SDMConfig, available: int | None = None) -> None:
    """Refuse a map geometry whose smallest batch cannot fit in memory, before any work.

    The estimate is `MIN_BATCH_MAPS` float32 maps of ``G^3`` voxels: a batch of a few hops with
    one map per species, or one hop's first-layer CNN feature maps, are at least that many. The
    paper's 32^3 (0.5 Å, 8 MB) and the 8^3 of ``configs/dft_cnn_compact.yaml`` pass everywhere;
    ``delta`` = 0.01 Å (1600^3 voxels, 16 GB a map) is refused on any machine.

    Args:
        config: The map geometry.
        available: Bytes available (default: `available_memory`).

    Raises:
        VmebError: naming ``delta``, the grid, the memory needed and the memory available.
    """
    grid = config.grid_size
    per_map = grid**3 * 4
    needed = MIN_BATCH_MAPS * per_map
    available = available_memory() if available is None else available
    if needed > available:
        raise VmebError(
            f"SDM grid spacing delta = {config.delta} Å gives {grid}^3 = {grid**3:,} voxels per "
            f"map ({_bytes_text(per_map)} per species channel); a batch needs at least "
            f"{MIN_BATCH_MAPS} maps, {_bytes_text(needed)}, and {_bytes_text(available)} of "
            f"memory is available: use a larger delta (the paper's 0.5 Å gives 32^3 voxels)"
        )


def random_angles(batch: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """Training augmentation angles, uniform in [0, 2 pi).

    Args:
        batch: B, number of angles.
        generator: The random generator (explicit; its device must match ``device``).
        device: Device of the result (default CPU).

    Returns:
        [B] float32 angles (radians).
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    draws = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
    return (2 * math.pi * draws).to(torch.float32)


def _group_by_species(
    species: torch.Tensor, valid: torch.Tensor, n_species: int
) -> tuple[torch.Tensor, int]:
    """Per-(sample, channel) atom lists, padded.

    Args:
        species: [B, M] channel indices.
        valid: [B, M] atoms that contribute.
        n_species: C.

    Returns:
        ``(index, width)``: [B, C, width] index of each atom in its sample (M = padding) and the
        padded group size.
    """
    batch, atoms = species.shape
    key = torch.where(valid, species, torch.full_like(species, n_species))
    sorted_key, order = torch.sort(key, dim=1, stable=True)
    counts = torch.zeros(batch, n_species + 1, dtype=torch.long, device=species.device)
    counts.scatter_add_(1, key, torch.ones_like(key))
    width = int(counts[:, :n_species].max()) if n_species else 0
    starts = torch.cumsum(counts, dim=1) - counts
    slot = torch.arange(atoms, device=species.device)[None, :] - torch.gather(starts, 1, sorted_key)
    index = torch.full(
        (batch, n_species + 1, atoms), atoms, dtype=torch.long, device=species.device
    )
    rows = torch.arange(batch, device=species.device)[:, None].expand(batch, atoms)
    index[rows, sorted_key, slot] = order
    return index[:, :n_species, :width], width


def _zeros(shape, device, dtype, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        return torch.zeros(shape, device=device, dtype=dtype)
    return out.zero_()


def _chunk_widths(present: torch.Tensor, step: int, device: torch.device) -> list[int]:
    """Largest group size in each chunk of ``step`` samples.

    Args:
        present: [B, C, W] True where a group slot holds an atom (slots fill from 0).
        step: Samples per chunk.
        device: Where the computation runs (one chunk on GPUs needs no per-chunk sizes).

    Returns:
        One width per chunk, at least 1.
    """
    sizes = present.sum(dim=2).amax(dim=1)  # [B] largest group of each sample
    if device.type != "cpu":
        return [max(1, int(sizes.max()))] * math.ceil(len(sizes) / step)
    sizes = sizes.tolist()
    return [max(1, max(sizes[i : i + step])) for i in range(0, len(sizes), step)]


def _chunk_size(device: torch.device, per_sample_bytes: int, batch: int, n_species: int) -> int:
    """Samples per batched product: intermediates of about `_CPU_CHUNK_BYTES` per CPU thread
    (so they stay in cache), a multiple of the thread count in matrices (balanced threads)."""
    if device.type != "cpu":
        return max(1, min(batch, _GPU_CHUNK_BYTES // max(per_sample_bytes, 1)))
    threads = max(1, torch.get_num_threads())
    step = max(1, _CPU_CHUNK_BYTES * threads // max(per_sample_bytes, 1))
    for candidate in range(step, step + threads):
        if (candidate * n_species) % threads == 0:
            step = candidate
            break
    return max(1, min(batch, step))


@torch.no_grad()
def encode_sdm(
    positions: torch.Tensor,
    species: torch.Tensor,
    n_species: int,
    config: SDMConfig,
    angles: torch.Tensor | None = None,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Spatial density maps of a batch of hop environments (paper Eq. 1).

    Runs on the device and in the floating dtype of ``positions``. Not differentiable with
    respect to the positions (maps are model inputs, not outputs).

    Args:
        positions: [B, M, 3] hop-frame positions (Å), e.g. `LocalEnvironments.positions`.
        species: [B, M] channel index of each atom, -1 for padding.
        n_species: C, number of channels.
        config: Map geometry.
        angles: [B] rotation about x (radians) applied before mapping; None = no rotation.
        out: Optional contiguous [B, C, G, G, G] tensor (same device and dtype) to write the maps
            into. Reusing one buffer across batches saves the page faults of a fresh large
            allocation (about a third of the CPU time at 32^3).

    Returns:
        [B, C, G, G, G] maps, layout ``[b, channel, z, y, x]`` (``out`` when given).

    Raises:
        VmebError: if shapes disagree or a species index is >= ``n_species``.
    """
    positions, species = _checked_inputs(positions, species, n_species, config, out)
    device, dtype = positions.device, positions.dtype
    batch, atoms, _ = positions.shape
    grid = config.grid_size
    shape = (batch, n_species, grid, grid, grid)
    if angles is not None:
        angles = torch.as_tensor(angles, device=device, dtype=dtype).reshape(-1)
        if angles.shape[0] != batch:
            raise VmebError(f"got {angles.shape[0]} angles for a batch of {batch}")
        positions = positions @ rotation_about_x(angles).transpose(1, 2)
    if batch == 0 or atoms == 0 or n_species == 0:
        return _zeros(shape, device, dtype, out)
    valid = (species >= 0) & (positions.square().sum(-1) < config.r_c**2)
    index, width = _group_by_species(species, valid, n_species)
    if width == 0:
        return _zeros(shape, device, dtype, out)
    g_x, g_y, g_zt = _axis_factors(positions, index, n_species, config)
    if out is None:
        out = torch.empty(shape, device=device, dtype=dtype)  # every voxel is written below
    _accumulate(out, g_x, g_y, g_zt, index < atoms)
    return out


def _checked_inputs(
    positions: torch.Tensor,
    species: torch.Tensor,
    n_species: int,
    config: SDMConfig,
    out: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Checks the shapes, species indices and ``out`` buffer of `encode_sdm`.

    Returns:
        Floating positions (default dtype if they were integers) and long species on their device.
    """
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise VmebError(f"SDM positions must be [B, M, 3], got {tuple(positions.shape)}")
    if species.shape != positions.shape[:2]:
        raise VmebError(
            f"SDM species {tuple(species.shape)} do not match positions {tuple(positions.shape)}"
        )
    if not positions.is_floating_point():
        positions = positions.to(torch.get_default_dtype())
    device, dtype = positions.device, positions.dtype
    species = species.to(device=device, dtype=torch.long)
    batch, atoms, _ = positions.shape
    grid = config.grid_size
    shape = (batch, n_species, grid, grid, grid)
    if out is not None and (
        tuple(out.shape) != shape
        or out.dtype != dtype
        or out.device != device
        or not out.is_contiguous()
    ):
        raise VmebError(
            f"SDM out buffer must be a contiguous {dtype} tensor of shape {shape} on {device}"
        )
    if batch and atoms and int(species.max()) >= n_species:
        raise VmebError(f"species index {int(species.max())} >= number of channels {n_species}")
    return positions, species


def _axis_factors(
    positions: torch.Tensor, index: torch.Tensor, n_species: int, config: SDMConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The 1D Gaussian factors of every grouped atom along x, y and z.

    Args:
        positions: [B, M, 3] rotated positions (Å).
        index: [B, C, W] atom index of each group slot, M for an empty slot (`_group_by_species`).
        n_species: C.
        config: Map geometry.

    Returns:
        g_x, g_y: [B*C, W, G]; g_zt: [B*C, G, W], z factors times the slot weight (0 if empty).
    """
    batch, atoms, _ = positions.shape
    width = index.shape[-1]
    dtype = positions.dtype
    padded = torch.cat([positions, positions.new_zeros(batch, 1, 3)], dim=1)
    grouped = torch.gather(
        padded, 1, index.reshape(batch, -1)[:, :, None].expand(-1, -1, 3)
    ).reshape(batch * n_species, width, 3)
    weight = (index < atoms).reshape(batch * n_species, width).to(dtype)
    centres = torch.as_tensor(config.centres(), device=positions.device, dtype=dtype)
    # 1D factors exp(-(r - c)^2 / (2 delta^2)). Exponents are clamped just below log(FACTOR_FLOOR)
    # (exp underflow is slow) and factors below FACTOR_FLOOR become exact zeros, so products of
    # three factors are never subnormal floats (~100x slower on CPUs). The change to any voxel
    # is below M * FACTOR_FLOOR while one atom's peak is 1 (docs/sdm.md).
    exponent = (grouped[..., None] - centres).square_().mul_(-0.5 / config.delta**2)
    factors = exponent.clamp_(min=_LOG_FLOOR - 1.0).exp_()
    factors = torch.nn.functional.threshold(factors, FACTOR_FLOOR, 0.0, inplace=True)
    g_x, g_y = factors[:, :, 0], factors[:, :, 1]  # [B*C, width, G]
    g_zt = (factors[:, :, 2] * weight[..., None]).transpose(1, 2).contiguous()  # [B*C, G, width]
    return g_x, g_y, g_zt


def _accumulate(
    out: torch.Tensor,
    g_x: torch.Tensor,
    g_y: torch.Tensor,
    g_zt: torch.Tensor,
    present: torch.Tensor,
) -> None:
    """Writes every voxel of ``out`` [B, C, G, G, G] as sum over slots of g_z g_y g_x.

    Chunks of samples keep the [chunk, W, G, G] intermediate near the CPU cache; ``present``
    [B, C, W] marks the filled group slots, so a chunk only needs its own largest group.
    """
    batch, n_species, grid = out.shape[0], out.shape[1], out.shape[2]
    width = g_x.shape[1]
    device, dtype = out.device, out.dtype
    flat = out.view(batch * n_species, grid, grid * grid)
    per_sample = n_species * width * grid * grid * out.element_size()
    step = _chunk_size(device, per_sample, batch, n_species)
    # groups are filled from slot 0, so a chunk only needs its own largest group
    chunk_width = _chunk_widths(present, step, device)
    buffer = torch.empty(step * n_species * width * grid * grid, device=device, dtype=dtype)
    for k, start in enumerate(range(0, batch * n_species, step * n_species)):
        stop = min(start + step * n_species, batch * n_species)
        w = chunk_width[k]
        plane = buffer[: (stop - start) * w * grid * grid].view(stop - start, w, grid, grid)
        torch.mul(g_y[start:stop, :w, :, None], g_x[start:stop, :w, None, :], out=plane)
        torch.bmm(
            g_zt[start:stop, :, :w], plane.view(stop - start, w, grid * grid), out=flat[start:stop]
        )


def encode_environments(
    environments,
    n_species: int,
    config: SDMConfig,
    angles: torch.Tensor | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """`encode_sdm` of a `vmeb.learn.environment.LocalEnvironments` (numpy) on a chosen device.

    Args:
        environments: H hop environments.
        n_species: C.
        config: Map geometry.
        angles: [H] rotations about x, or None.
        device: Target device (default CPU).
        dtype: Floating dtype of the maps.

    Returns:
        [H, C, G, G, G] maps.
    """
    positions = torch.as_tensor(environments.positions, device=device).to(dtype)
    species = torch.as_tensor(environments.species, device=device)
    return encode_sdm(positions, species, n_species, config, angles)
