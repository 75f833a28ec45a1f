"""``"latcnn"``: the type-map 3D CNN (`vmeb.learn.lattice_models.TypeMapCNN` in a
`vmeb.learn.models.LatticeModel`): the template sites on a cubic grid in lattice coordinates,
one channel per species; trained and predicted like the NN, under bf16 autocast where the
precision says so."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.errors import VmebError
from vmeb.learn.kinds.sites import SiteKind
from vmeb.learn.lattice_models import TypeMapCNN
from vmeb.learn.models import LatticeModel

if TYPE_CHECKING:
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.models import ModelConfig


class TypeMapKind(SiteKind):
    """The type-map CNN kind (module docstring)."""

    permutes_sites = True
    element_features = True
    autocast = True

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """`TypeMapCNN` of ``config.filters`` and ``config.hidden`` on the template's grid."""
        if template is None or template.n_sites != input_size:
            raise VmebError("a type-map CNN needs the site template of its input")
        net = TypeMapCNN(
            template, n_species, config.filters, config.hidden, config.dropout, config.context,
            config.linear, features,
        )  # fmt: skip
        return LatticeModel(net)
