"""Model inputs of hops: prepared once per run, batched with augmentation or a fixed operation.

Each model kind sees a hop its own way (`vmeb.learn.kinds`): the SDM CNN keeps the hop
environment's positions and species and makes spatial density maps per batch
(`vmeb.learn.kinds.cnn`), the site kinds use one-hot site descriptors whose point group acts as
permutations of the sites (`vmeb.learn.kinds.sites`). This module holds what they share: the
`ModelInputs` container and the three entry points, which hand over to the kind.

`prepare_inputs` does the per-run part, `batch` makes one batch either with random augmentation
(training) or with one fixed inference operation from `operations` (deterministic prediction).
Training (`vmeb.learn.training`) and the ensemble's per-operation predictions
(`vmeb.learn.ensembles`) use these same functions, so the inference operations cannot drift
apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vmeb.learn.environment import LocalEnvironments
from vmeb.learn.kinds import get_kind

if TYPE_CHECKING:
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.settings import TrainConfig


@dataclass
class ModelInputs:
    """Model inputs of H hops: environments (SDM CNN) or one-hot descriptors (site kinds).

    Attributes:
        kind: The model kind that prepared them (`vmeb.learn.kinds`).
        positions: CNN only: [H, M, 3] float32 hop-frame positions (Å), lattice-aligned when
            ``augment="lattice"``; padding rows are 0.
        species: CNN only: [H, M] int64 channel indices, -1 for padding.
        descriptors: Site kinds only: [H, S * C] float32 one-hot site descriptors (S template
            sites, C species); for an LR with augmentation, averaged over the point group.
        perms: Site kinds only: [G, S] int64 site permutations of the hop's point group
            (`vmeb.learn.descriptors.template_symmetries`, G = 6).
        windows: Lattice-field kind only: [H, W] int8 species on each hop's lattice window
            (`vmeb.learn.field.hop_windows`).
    """

    kind: str
    positions: torch.Tensor | None = None
    species: torch.Tensor | None = None
    descriptors: torch.Tensor | None = None
    perms: torch.Tensor | None = None
    windows: torch.Tensor | None = None


def operations(config: TrainConfig, kind: str) -> list[tuple[float, bool]]:
    """The inference operations that deterministic predictions average over.

    For the SDM CNN: the rotations about the hop axis (`vmeb.learn.sdm.INFERENCE_ANGLES` for
    ``augment="random"``, 0/120/240 degrees for ``"lattice"``, none for ``"none"``), each also
    mirrored z -> -z when ``config.mirror`` and augmenting. Site kinds have the single identity
    operation here (their point-group images are taken on the descriptors instead).

    Args:
        config: The training config (``augment`` and ``mirror`` are read).
        kind: Model kind (`vmeb.learn.kinds`).

    Returns:
        O pairs ``(angle, mirrored)``: rotation about x in radians, and whether z -> -z follows;
        mirrored operations come after all unmirrored ones.
    """
    return get_kind(kind).operations(config)


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
        template: The one-hot site template (S sites); required for the site kinds, ignored by
            the SDM CNN.

    Returns:
        The inputs of all H hops: positions and species for the SDM CNN, descriptors and
        point-group permutations for a site kind.
    """
    return get_kind(config.kind).prepare_inputs(env, config, n_species, template)


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
    ``"none"``) and mirrored z -> -z with probability 1/2 when ``config.mirror``; descriptors
    of a kind that permutes sites (NN, MLP, type-map CNN) get a random point-group permutation
    of their sites; LR descriptors are unchanged. Without one (inference): a CNN map gets
    ``operation``; descriptors are unchanged.

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
    kind = get_kind(inputs.kind)
    return kind.batch(inputs, index, n_species, config, generator, operation, device)
