"""``"nn"``: the paper's NN baseline, a small MLP on one-hot site descriptors
(`vmeb.learn.models.SiteMLP`; trained with point-group permutations of the sites, predictions
average the six images)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.learn.kinds.sites import SiteKind
from vmeb.learn.models import SiteMLP

if TYPE_CHECKING:
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.models import ModelConfig


class SiteNNKind(SiteKind):
    """The NN kind (module docstring)."""

    permutes_sites = True

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """`SiteMLP` of ``config.hidden`` on S * C inputs."""
        return SiteMLP(input_size * n_species, hidden=config.hidden)
