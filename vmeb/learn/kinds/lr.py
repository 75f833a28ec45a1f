"""``"lr"``: the paper's LR baseline, one linear layer on one-hot site descriptors fitted in
closed form (`vmeb.learn.models.fit_linear`, ridge ``config.ridge``), on the point-group average
of the descriptors unless ``augment="none"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.learn.kinds.sites import SiteKind
from vmeb.learn.models import SiteLinear, fit_linear

if TYPE_CHECKING:
    from vmeb.learn.batches import ModelInputs
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.models import ModelConfig
    from vmeb.learn.settings import TrainConfig


class SiteLinearKind(SiteKind):
    """The LR kind (module docstring)."""

    iterative = False

    def averages_inputs(self, config: TrainConfig) -> bool:
        """The descriptors are averaged over the point group unless ``augment="none"``."""
        return config.augment != "none"

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """`SiteLinear` on S * C inputs."""
        return SiteLinear(input_size * n_species)

    def fit(
        self, model: torch.nn.Module, inputs: ModelInputs, index: np.ndarray, targets: np.ndarray,
        config: TrainConfig,
    ) -> None:  # fmt: skip
        """Least squares (ridge ``config.ridge``) on the descriptors of the hops ``index``."""
        fit_linear(model, inputs.descriptors[index].numpy(), targets, ridge=config.ridge)
