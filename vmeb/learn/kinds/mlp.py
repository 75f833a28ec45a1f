"""``"mlp"``: the wide on-lattice site MLP (`vmeb.learn.lattice_models.SiteNet` in a
`vmeb.learn.models.LatticeModel`): dropout, optional composition context, linear skip term and
element features; trained and predicted like the NN."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.learn.kinds.sites import SiteKind
from vmeb.learn.lattice_models import SiteNet
from vmeb.learn.models import LatticeModel

if TYPE_CHECKING:
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.models import ModelConfig


class SiteMLPKind(SiteKind):
    """The on-lattice MLP kind (module docstring)."""

    permutes_sites = True
    element_features = True

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """`SiteNet` of ``config.hidden``, ``dropout``, ``context``, ``linear``."""
        net = SiteNet(
            input_size, n_species, config.hidden, config.dropout, config.context, config.linear,
            features,
        )  # fmt: skip
        return LatticeModel(net)
