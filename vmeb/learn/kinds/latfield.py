"""``"latfield"``: the whole-lattice network (`vmeb.learn.field_model.LatticeFieldNet` in a
`vmeb.learn.models.LatticeModel`).

A hop is the species on a cube of lattice sites around its vacancy in the canonical frame
(`vmeb.learn.field.hop_windows`, attached to the environments as ``window``); the window's half
width is the network's ``depth`` in cells. Training draws one of the six axis permutations (the
hop's point group) per hop and a random species for the vacancy site itself (the barrier does not
depend on the atom that was removed, and the whole-lattice pass cannot remove it); predictions
average the six permutations. On a whole on-lattice sample every barrier comes from 48 lattice
passes (`vmeb.learn.field.field_site_barriers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vmeb.errors import VmebError
from vmeb.learn.batches import ModelInputs
from vmeb.learn.field import (
    AXIS_PERMUTATIONS,
    onehot_windows,
    permute_windows,
    window_centre,
    window_size,
)
from vmeb.learn.field_model import LatticeFieldNet
from vmeb.learn.kinds.base import ModelKind
from vmeb.learn.models import LatticeModel

if TYPE_CHECKING:
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.environment import LocalEnvironments
    from vmeb.learn.models import ModelConfig
    from vmeb.learn.settings import TrainConfig


class LatticeFieldKind(ModelKind):
    """The lattice-field kind (module docstring)."""

    uses_template = False
    autocast = True
    whole_lattice = True

    def window_half(self, config: TrainConfig) -> int:
        """The window half width in cells: the network's depth."""
        return int(config.depth)

    def input_size(self, config: TrainConfig, template: SiteTemplate | None) -> int:
        """W, sites per window."""
        return window_size(self.window_half(config))

    def default_batch_size(self, config: ModelConfig) -> int:
        """64 hops per mini-batch."""
        return 64

    def image_count(self, config: TrainConfig, template: SiteTemplate | None) -> int:
        """The six axis permutations."""
        return len(AXIS_PERMUTATIONS)

    def inference_count(self, inputs: ModelInputs, config: TrainConfig) -> int:
        """The six axis permutations."""
        return len(AXIS_PERMUTATIONS)

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """`LatticeFieldNet` of ``depth`` lattice convolutions, ``filters``, ``hidden``."""
        if features is not None:
            raise VmebError("the lattice-field kind takes one-hot species, not element features")
        net = LatticeFieldNet(n_species, config.depth, config.filters, config.hidden,
                              config.dropout)  # fmt: skip
        if window_size(net.window_half) != input_size:
            raise VmebError(f"window of {input_size} sites for a depth-{config.depth} network")
        return LatticeModel(net)

    def prepare_inputs(
        self,
        env: LocalEnvironments,
        config: TrainConfig,
        n_species: int,
        template: SiteTemplate | None,
    ) -> ModelInputs:
        """The hops' windows ([H, W] int8)."""
        half = self.window_half(config)
        if env.window is None or env.window.shape[1] != window_size(half):
            raise VmebError(
                f"the lattice-field kind needs each hop's lattice window of half width {half} "
                "cells (load the hops with window=depth)"
            )
        return ModelInputs(kind=self.name, windows=torch.as_tensor(env.window))

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
        """One-hot windows; in training each under a random axis permutation, its vacancy site
        holding a random species."""
        half = self.window_half(config)
        windows = inputs.windows[index]
        if generator is None:
            return onehot_windows(windows, n_species, half).to(device)
        windows = windows.clone()
        centre = window_centre(half)
        windows[:, centre] = torch.randint(
            0, n_species, (len(index),), generator=generator, dtype=windows.dtype
        )
        x = onehot_windows(windows, n_species, half)
        ops = torch.randint(0, len(AXIS_PERMUTATIONS), (len(index),), generator=generator)
        out = torch.empty_like(x)
        for op, perm in enumerate(AXIS_PERMUTATIONS):
            rows = torch.nonzero(ops == op).flatten()
            if len(rows):
                out[rows] = permute_windows(x[rows], perm)
        return out.to(device)

    def inference_inputs(
        self,
        inputs: ModelInputs,
        index: torch.Tensor,
        n_species: int,
        config: TrainConfig,
        device: torch.device | str,
    ) -> list[torch.Tensor]:
        """The six axis permutations of the hops' one-hot windows."""
        x = onehot_windows(inputs.windows[index], n_species, self.window_half(config))
        return [permute_windows(x, perm).contiguous().to(device) for perm in AXIS_PERMUTATIONS]

    def lattice_encoder(self, geometry: Any, config: TrainConfig, template: Any) -> Any:
        """Not used: this kind predicts on-lattice samples by whole-lattice passes."""
        raise VmebError("the lattice-field kind predicts whole samples (vmeb.learn.field)")

    def lattice_inputs(self, *args: Any, **kwargs: Any) -> Iterable[torch.Tensor]:
        """Not used (see `lattice_encoder`)."""
        raise VmebError("the lattice-field kind predicts whole samples (vmeb.learn.field)")
