"""``"cnn"``: the paper's 3D CNN on spatial density maps (`vmeb.learn.models.BarrierCNN`).

Inputs: the hop environment (positions and species) is kept as is, turned into the
lattice-aligned frame when ``augment="lattice"``, and made into SDMs
(`vmeb.learn.sdm.encode_sdm`) per batch: in training rotated about the hop axis by a random angle
(uniform for ``augment="random"``, a multiple of 120 degrees for ``"lattice"``, none for
``"none"``) and mirrored z -> -z with probability 1/2 when ``mirror``; in prediction under each
inference operation (`operations`). On the lattice fast path the maps are sums of per-site
template maps (`vmeb.learn.lattice.map_encoder`). The checkpoint stores no site template: the
grid follows from the SDM settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.learn.batches import ModelInputs
from vmeb.learn.descriptors import SiteTemplate, align_to_lattice
from vmeb.learn.kinds.base import ModelKind
from vmeb.learn.lattice import HopGeometry, MapEncoder, map_encoder
from vmeb.learn.models import PAPER_BATCH_SIZES, BarrierCNN
from vmeb.learn.sdm import INFERENCE_ANGLES, encode_sdm, random_angles

if TYPE_CHECKING:
    from vmeb.learn.environment import LocalEnvironments
    from vmeb.learn.models import ModelConfig
    from vmeb.learn.settings import TrainConfig


class SDMConvKind(ModelKind):
    """The SDM CNN kind (module docstring)."""

    uses_template = False
    autocast = True

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """`BarrierCNN` of ``config.depth`` and ``config.filters`` on G = ``input_size``."""
        return BarrierCNN(n_species, input_size, depth=config.depth, filters=config.filters)

    def default_batch_size(self, config: ModelConfig) -> int:
        """The paper's size for the depth (160/100/80/60 for 4/8/12/16 convs)."""
        return PAPER_BATCH_SIZES[config.n_conv]

    def input_size(self, config: TrainConfig, template: SiteTemplate | None) -> int:
        """The SDM grid size G."""
        return config.sdm_config().grid_size

    def operations(self, config: TrainConfig) -> list[tuple[float, bool]]:
        """The rotations about the hop axis (`vmeb.learn.sdm.INFERENCE_ANGLES` for
        ``augment="random"``, 0/120/240 degrees for ``"lattice"``, none for ``"none"``), each
        also mirrored z -> -z when ``config.mirror`` and augmenting; mirrored ones last."""
        if config.augment == "random":
            angles = list(INFERENCE_ANGLES)
        elif config.augment == "lattice":
            angles = [2 * math.pi * k / 3 for k in range(3)]
        else:
            angles = [0.0]
        mirrors = (False, True) if config.mirror and config.augment != "none" else (False,)
        return [(a, m) for m in mirrors for a in angles]

    def prepare_inputs(
        self,
        env: LocalEnvironments,
        config: TrainConfig,
        n_species: int,
        template: SiteTemplate | None,
    ) -> ModelInputs:
        """Positions [H, M, 3] (lattice-aligned for ``augment="lattice"``) and species [H, M]."""
        positions = env.positions
        if config.augment == "lattice":
            positions = align_to_lattice(positions, env.species)
        return ModelInputs(
            kind=self.name,
            positions=torch.as_tensor(np.ascontiguousarray(positions), dtype=torch.float32),
            species=torch.as_tensor(env.species, dtype=torch.long),
        )

    def batch(
        self,
        inputs: ModelInputs,
        index: torch.Tensor,
        n_species: int,
        config: TrainConfig,
        generator: torch.Generator | None,
        operation: tuple[float, bool] = (0.0, False),
        device: torch.device | str = "cpu",
    ) -> torch.Tensor:
        """[B, C, G, G, G] float32 maps (layout ``[b, channel, z, y, x]``) on ``device``."""
        positions = inputs.positions[index].to(device)
        species = inputs.species[index].to(device)
        count = len(index)
        if generator is None:
            angles = torch.full((count,), operation[0], dtype=torch.float32)
            flip = torch.full((count,), operation[1], dtype=torch.bool)
        else:
            angles, flip = self._random_operations(count, config, generator)
        sdm = encode_sdm(positions, species, n_species, config.sdm_config(), angles.to(device))
        flip = flip.to(device)
        if bool(flip.any()):
            sdm[flip] = torch.flip(sdm[flip], dims=[2])  # layout [b, c, z, y, x]: z -> -z
        return sdm

    @staticmethod
    def _random_operations(
        count: int, config: TrainConfig, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B] angles (rad) and [B] mirror flags of a training batch."""
        if config.augment == "random":
            angles = random_angles(count, generator)
        elif config.augment == "lattice":
            turns = torch.randint(0, 3, (count,), generator=generator)
            angles = turns.to(torch.float32) * (2 * math.pi / 3)
        else:
            angles = torch.zeros(count)
        flip = torch.rand(count, generator=generator) < 0.5
        if not config.mirror or config.augment == "none":
            flip = torch.zeros(count, dtype=torch.bool)
        return angles, flip

    def lattice_encoder(
        self, geometry: HopGeometry, config: TrainConfig, template: SiteTemplate | None
    ) -> MapEncoder:
        """Per-site template maps of every direction and inference operation."""
        align = config.augment == "lattice"
        return map_encoder(geometry, config.sdm_config(), self.operations(config), align)

    def lattice_inputs(
        self,
        encoder: MapEncoder,
        occupancy: np.ndarray,
        direction: np.ndarray,
        n_species: int,
        config: TrainConfig,
        device: torch.device | str,
    ) -> Iterable[torch.Tensor]:
        """The maps of the hops under each operation, made one operation at a time."""
        occ = torch.as_tensor(occupancy.astype(np.int64))
        dirs = torch.as_tensor(direction)
        return (
            encoder.maps(occ, dirs, o, n_species).to(device) for o in range(encoder.n_operations)
        )
