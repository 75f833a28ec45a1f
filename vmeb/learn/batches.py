"""Model inputs of hops: prepared once per run, batched with augmentation or a fixed operation.

The three model kinds see a hop differently:

- CNN: the hop environment (positions and species, `vmeb.learn.environment.LocalEnvironments`) is
  kept
  as is (turned into the lattice-aligned frame when ``augment="lattice"``) and turned into
  spatial density maps (`vmeb.learn.sdm.encode_sdm`) per batch, rotated about the hop axis and
  optionally mirrored z -> -z.
- NN: one-hot site descriptors (`vmeb.learn.descriptors.onehot_descriptors`); training batches
  apply a
  random element of the hop's point group as a permutation of the template sites.
- LR: one-hot descriptors, averaged over the point group unless ``augment="none"``.

`prepare_inputs` does the per-run part, `batch` makes one batch either with random augmentation
(training) or with one fixed inference operation from `operations` (deterministic prediction).
Training (`vmeb.learn.training`) and the ensemble's per-operation predictions
(`vmeb.learn.ensembles`) use
these same functions, so the inference operations cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.learn.descriptors import (
    SiteTemplate,
    align_to_lattice,
    onehot_descriptors,
    symmetry_images,
    template_symmetries,
)
from vmeb.learn.environment import LocalEnvironments
from vmeb.learn.models import PERMUTED_KINDS
from vmeb.learn.sdm import INFERENCE_ANGLES, encode_sdm, random_angles

if TYPE_CHECKING:  # vmeb.learn.training imports this module; only the annotation is needed here
    from vmeb.learn.training import TrainConfig


@dataclass
class ModelInputs:
    """Model inputs of H hops: environments (CNN) or one-hot descriptors (NN, LR).

    Attributes:
        kind: ``"cnn"``, ``"nn"`` or ``"lr"``.
        positions: CNN only: [H, M, 3] float32 hop-frame positions (Å), lattice-aligned when
            ``augment="lattice"``; padding rows are 0.
        species: CNN only: [H, M] int64 channel indices, -1 for padding.
        descriptors: NN and LR only: [H, S * C] float32 one-hot site descriptors (S template
            sites, C species); for an LR with augmentation, averaged over the point group.
        perms: NN and LR only: [G, S] int64 site permutations of the hop's point group
            (`vmeb.learn.descriptors.template_symmetries`, G = 6).
    """

    kind: str
    positions: torch.Tensor | None = None
    species: torch.Tensor | None = None
    descriptors: torch.Tensor | None = None
    perms: torch.Tensor | None = None


def operations(config: TrainConfig, kind: str) -> list[tuple[float, bool]]:
    """The inference operations that deterministic predictions average over.

    For a CNN: the rotations about the hop axis (`vmeb.learn.sdm.INFERENCE_ANGLES` for
    ``augment="random"``, 0/120/240 degrees for ``"lattice"``, none for ``"none"``), each also
    mirrored z -> -z when ``config.mirror`` and augmenting. NN and LR inputs have the single
    identity operation here (the NN's point-group images are taken on its descriptors instead).

    Args:
        config: The training config (``augment`` and ``mirror`` are read).
        kind: Model kind, ``"cnn"``, ``"nn"`` or ``"lr"``.

    Returns:
        O pairs ``(angle, mirrored)``: rotation about x in radians, and whether z -> -z follows;
        mirrored operations come after all unmirrored ones.
    """
    if kind != "cnn":
        return [(0.0, False)]
    if config.augment == "random":
        angles = list(INFERENCE_ANGLES)
    elif config.augment == "lattice":
        angles = [2 * math.pi * k / 3 for k in range(3)]
    else:
        angles = [0.0]
    mirrors = (False, True) if config.mirror and config.augment != "none" else (False,)
    return [(a, m) for m in mirrors for a in angles]


def prepare_inputs(
    env: LocalEnvironments,
    config: TrainConfig,
    n_species: int,
    template: SiteTemplate | None,
) -> ModelInputs:
    """The per-run part of the model inputs of hop environments (kept on the CPU).

    Args:
        env: H hop environments (positions in Å, species indices in the model's order).
        config: The training config (``kind`` and ``augment`` are read).
        n_species: C, number of species channels.
        template: The one-hot site template (S sites); required for NN and LR, ignored for CNN.

    Returns:
        The inputs of all H hops: positions and species for a CNN, descriptors and point-group
        permutations for an NN or LR.
    """
    if config.kind == "cnn":
        positions = env.positions
        if config.augment == "lattice":
            positions = align_to_lattice(positions, env.species)
        return ModelInputs(
            kind="cnn",
            positions=torch.as_tensor(np.ascontiguousarray(positions), dtype=torch.float32),
            species=torch.as_tensor(env.species, dtype=torch.long),
        )
    assert template is not None
    x = onehot_descriptors(env.positions, env.species, n_species, template)
    perms = template_symmetries(template)
    if config.kind == "lr" and config.augment != "none":
        x = symmetry_images(x, perms, n_species).mean(axis=0)
    return ModelInputs(
        kind=config.kind,
        descriptors=torch.as_tensor(x),
        perms=torch.as_tensor(perms, dtype=torch.long),
    )


def batch(
    inputs: ModelInputs,
    index: torch.Tensor,
    n_species: int,
    config: TrainConfig,
    generator: torch.Generator | None,
    operation: tuple[float, bool] = (0.0, False),
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The model input of some hops, randomly augmented or under one fixed operation.

    With a ``generator`` (training): a CNN map is rotated by a random angle (uniform for
    ``augment="random"``, a random multiple of 120 degrees for ``"lattice"``, none for
    ``"none"``) and mirrored z -> -z with probability 1/2 when ``config.mirror``; NN
    descriptors get a random point-group permutation of their sites; LR descriptors are
    unchanged. Without one (inference): a CNN map gets ``operation``; descriptors are unchanged.

    Args:
        inputs: Prepared inputs of all hops (`prepare_inputs`).
        index: [B] int64 indices of the hops in ``inputs``.
        n_species: C, number of species channels.
        config: The training config (``augment``, ``mirror`` and the SDM geometry are read).
        generator: CPU random generator for augmentation; None for a deterministic batch.
        operation: ``(angle, mirrored)`` applied when ``generator`` is None: rotation about x
            in radians, then z -> -z if mirrored (one of `operations`).
        device: Torch device of the result.

    Returns:
        [B, C, G, G, G] float32 maps (layout ``[b, channel, z, y, x]``) for a CNN, else
        [B, S * C] float32 descriptors; on ``device``.
    """
    if inputs.kind == "cnn":
        positions = inputs.positions[index].to(device)
        species = inputs.species[index].to(device)
        count = len(index)
        if generator is None:
            angles = torch.full((count,), operation[0], dtype=torch.float32)
            flip = torch.full((count,), operation[1], dtype=torch.bool)
        else:
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
        sdm = encode_sdm(positions, species, n_species, config.sdm_config(), angles.to(device))
        flip = flip.to(device)
        if bool(flip.any()):
            sdm[flip] = torch.flip(sdm[flip], dims=[2])  # layout [b, c, z, y, x]: z -> -z
        return sdm
    x = inputs.descriptors[index]
    if generator is not None and inputs.kind in PERMUTED_KINDS and config.augment != "none":
        ops = torch.randint(0, len(inputs.perms), (len(index),), generator=generator)
        sites = x.reshape(len(index), -1, n_species)
        out = torch.empty_like(sites)
        rows = torch.arange(len(index))[:, None]
        out[rows, inputs.perms[ops]] = sites
        x = out.reshape(len(index), -1)
    return x.to(device)
