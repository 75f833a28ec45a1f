"""The protocol of a model kind: what training, checkpoints and prediction ask of a kind.

A kind is a small stateless object (one instance per registered name, `vmeb.learn.kinds`) whose
class says:

- what it is: `uses_template` (its input is the one-hot site descriptors of a site template
  whose cutoff the checkpoint stores; else SDMs whose grid follows from the SDM settings),
  `permutes_sites` (training draws a point-group permutation of the sites, predictions average
  the six images), `autocast` (bf16 autocast may apply, `vmeb.learn.precision`),
  `element_features` (takes ``element_features``), `iterative` (trained by epochs; else fitted
  in closed form by `fit`);
- how to build its network (`build`, input size `input_size`, default mini-batch
  `default_batch_size`);
- how to encode hops: `prepare_inputs` once per run, `batch` per mini-batch (random
  augmentation) or per inference operation (`operations`);
- how to predict: `inference_inputs` gives one input per inference image of a chunk of hops
  (the exact path, `vmeb.learn.forward`), `lattice_encoder` and `lattice_inputs` the same from
  on-lattice occupancies (the fast path, `vmeb.learn.lattice`); `image_count` says how many
  images the predictions average.

`vmeb.learn.kinds.sites.SiteKind` implements all of it for models on one-hot site descriptors, so
a new site model only defines `build`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from vmeb.errors import VmebError

if TYPE_CHECKING:
    import torch

    from vmeb.learn.batches import ModelInputs
    from vmeb.learn.descriptors import SiteTemplate
    from vmeb.learn.environment import LocalEnvironments
    from vmeb.learn.lattice import HopGeometry
    from vmeb.learn.models import ModelConfig
    from vmeb.learn.settings import TrainConfig


class ModelKind:
    """Base of the model kinds (the methods without a default raise NotImplementedError).

    Attributes:
        name: The registered name (set by `vmeb.learn.kinds.get_kind`).
        uses_template: Input on a one-hot site template (its cutoff is saved in checkpoints);
            False: SDMs on the grid of the SDM settings.
        permutes_sites: Training permutes template sites by the hop's point group and
            predictions average the six images.
        autocast: The forward pass may run under bf16 autocast (convolutional kinds).
        element_features: The kind takes ``element_features``.
        iterative: Trained by epochs; False: fitted in closed form by `fit`.
        whole_lattice: Predicts a whole on-lattice sample by lattice passes
            (`vmeb.learn.field.field_site_barriers`) instead of per-hop occupancies.
    """

    name: str = ""
    uses_template: bool = True
    permutes_sites: bool = False
    autocast: bool = False
    element_features: bool = False
    iterative: bool = True
    whole_lattice: bool = False

    def build(
        self,
        config: ModelConfig,
        n_species: int,
        input_size: int,
        template: SiteTemplate | None,
        features: np.ndarray | None,
    ) -> torch.nn.Module:
        """The untrained network (a `vmeb.learn.models` module with target normalisation).

        Args:
            config: Architecture.
            n_species: C, species channels.
            input_size: `input_size` of the run (SDM grid G, or template sites S).
            template: The site template (None for a kind without one).
            features: [C, F] element properties (``config.element_features``), or None.
        """
        raise NotImplementedError

    def window_half(self, config: TrainConfig) -> int:
        """Half width (cells) of the lattice window each hop needs (`vmeb.learn.field`);
        0: the kind reads hop environments only."""
        return 0

    def default_batch_size(self, config: ModelConfig) -> int:
        """Mini-batch size when ``batch_size`` is not given."""
        return 160

    def input_size(self, config: TrainConfig, template: SiteTemplate | None) -> int:
        """The ``input_size`` of `build`: template sites S (a grid kind: its grid G)."""
        return template.n_sites

    def operations(self, config: TrainConfig) -> list[tuple[float, bool]]:
        """Inference operations ``(angle, mirrored)`` applied to the hop geometry before encoding
        (a site kind: the identity; its images are permutations, `inference_inputs`)."""
        return [(0.0, False)]

    def image_count(self, config: TrainConfig, template: SiteTemplate | None) -> int:
        """Forward passes per barrier: the inference images its predictions average."""
        return len(self.operations(config))

    def prepare_inputs(
        self,
        env: LocalEnvironments,
        config: TrainConfig,
        n_species: int,
        template: SiteTemplate | None,
    ) -> ModelInputs:
        """The per-run inputs of H hop environments (kept on the CPU)."""
        raise NotImplementedError

    def batch(
        self,
        inputs: ModelInputs,
        index: torch.Tensor,
        n_species: int,
        config: TrainConfig,
        generator: torch.Generator | None,
        operation: tuple[float, bool],
        device: torch.device | str,
    ) -> torch.Tensor:
        """The network input of the hops ``index``: randomly augmented with a ``generator``
        (training), else under the fixed ``operation`` (`vmeb.learn.batches.batch`)."""
        raise NotImplementedError

    def inference_count(self, inputs: ModelInputs, config: TrainConfig) -> int:
        """The number O of inputs `inference_inputs` gives per chunk."""
        return len(self.operations(config))

    def inference_inputs(
        self,
        inputs: ModelInputs,
        index: torch.Tensor,
        n_species: int,
        config: TrainConfig,
        device: torch.device | str,
    ) -> list[torch.Tensor]:
        """The O deterministic network inputs of the hops ``index``, one per inference image."""
        return [
            self.batch(inputs, index, n_species, config, None, op, device)
            for op in self.operations(config)
        ]

    def lattice_encoder(
        self, geometry: HopGeometry, config: TrainConfig, template: SiteTemplate | None
    ) -> Any:
        """What `lattice_inputs` needs of a sample's geometry (cached per model and geometry)."""
        raise NotImplementedError

    def lattice_inputs(
        self,
        encoder: Any,
        occupancy: np.ndarray,
        direction: np.ndarray,
        n_species: int,
        config: TrainConfig,
        device: torch.device | str,
    ) -> Iterable[torch.Tensor]:
        """The `image_count` network inputs of on-lattice hops.

        Args:
            encoder: `lattice_encoder` of the hops' geometry.
            occupancy: [B, S] int species index on each offset, -1 for empty.
            direction: [B] int64 direction index of each hop.
            n_species: C.
            config: The model's training config.
            device: Torch device of the inputs.
        """
        raise NotImplementedError

    def fit(
        self, model: torch.nn.Module, inputs: ModelInputs, index: np.ndarray, targets: np.ndarray,
        config: TrainConfig,
    ) -> None:  # fmt: skip
        """Fit a non-`iterative` kind in closed form on the hops ``index`` (targets in eV)."""
        raise VmebError(f"model kind {self.name!r} is trained by epochs, not fitted")
