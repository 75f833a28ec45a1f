"""Barrier models: the paper's 3D CNN on SDMs, the one-hot site baselines (NN, LR), and more.

All models map one input per hop to one barrier in eV. The target normalisation (mean and
standard deviation of the training barriers, eV) lives in buffers inside each model, so a
state_dict alone reproduces predictions in eV and checkpoints stay uniform across kinds. Which
kind builds which network is the kind's business (`vmeb.learn.kinds`, `build_model` asks it):

- ``"cnn"`` `BarrierCNN`: input SDMs [B, C, G, G, G] (C species channels, G voxels per edge).
- ``"nn"`` `SiteMLP`: input one-hot site descriptors [B, S * C] (S template sites).
- ``"lr"`` `SiteLinear`: same input, one linear layer fitted in closed form (`fit_linear`).
- ``"mlp"`` and ``"latcnn"``: the on-lattice models of `vmeb.learn.lattice_models` (wide MLP with
  dropout, type-map 3D CNN) on the same input, wrapped in `LatticeModel`.

Reference: Fig. 1e and Methods of the paper (4n conv layers of 60 3x3x3 filters, batch norm then
ReLU after each, three 2x2x2 stride-2 max-pools inserted after conv n, 2n and 3n, one linear
output neuron; mini-batches of 160/100/80/60 for 4/8/12/16 convs; NN with two hidden layers of
10 ReLU neurons).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vmeb.config import config_from_mapping
from vmeb.errors import VmebError
from vmeb.learn.descriptors import SiteTemplate
from vmeb.learn.kinds import check_kind, get_kind, kind_names
from vmeb.species import check_element_feature_names, element_features

#: The paper's mini-batch size by number of conv layers (Methods).
PAPER_BATCH_SIZES = {4: 160, 8: 100, 12: 80, 16: 60}


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a barrier model.

    Attributes:
        kind: A registered model kind (`vmeb.learn.kinds.KINDS`).
        depth: n of the CNN: 4n conv layers (n = 1..4).
        filters: Filters per conv layer (paper: 60); f of the type-map CNN.
        hidden: Hidden layer widths of the NN and MLP (paper NN: (10, 10)); the dense head of
            the type-map CNN.
        dropout: Dropout probability after hidden layers (MLP, type-map CNN).
        context: Append the environment's composition to the dense input (MLP, type-map CNN).
        linear: Add a linear term of the site descriptors to the output (MLP, type-map CNN).
        element_features: Describe each site's species by these element properties
            (`vmeb.species.ELEMENT_FEATURES`, e.g. ``("occupied", "vec", "period", "radius")``)
            instead of a one-hot column (MLP, type-map CNN); empty: one-hot.
    """

    kind: str = "cnn"
    depth: int = 3
    filters: int = 60
    hidden: tuple[int, ...] = (10, 10)
    dropout: float = 0.0
    context: bool = False
    linear: bool = False
    element_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "element_features", tuple(self.element_features))
        check_kind(self.kind)
        if not 1 <= self.depth <= 4:
            raise VmebError(f"model depth {self.depth}: n must be 1..4 (4n conv layers)")
        if self.filters < 1 or any(h < 1 for h in self.hidden):
            raise VmebError(
                f"model filters ({self.filters}) and hidden widths ({list(self.hidden)}) must be "
                "positive"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise VmebError(f"dropout {self.dropout}: must be in [0, 1)")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.element_features:
            if not get_kind(self.kind).element_features:
                takers = " and ".join(repr(k) for k in kind_names() if get_kind(k).element_features)
                raise VmebError(
                    f"element_features: only the {takers} kinds take them, not {self.kind!r}"
                )
            check_element_feature_names(self.element_features)

    @property
    def n_conv(self) -> int:
        """Number of conv layers of the CNN (4n)."""
        return 4 * self.depth

    @property
    def paper_batch_size(self) -> int:
        """The kind's default mini-batch size: the paper's for this depth (CNN), 160 for the
        baselines (`vmeb.learn.kinds.base.ModelKind.default_batch_size`)."""
        return get_kind(self.kind).default_batch_size(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for checkpoints (lists, no tuples)."""
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        out["element_features"] = list(self.element_features)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`; unknown keys are an error."""
        return config_from_mapping(cls, data, what="model config")  # lists become tuples


class _Normalised(nn.Module):
    """Base class: holds the target mean and std (eV) and maps raw outputs to eV."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def set_target_normalisation(self, mean: float, std: float) -> None:
        """Set the barrier mean and standard deviation (eV) of the training targets."""
        if not np.isfinite(mean) or not np.isfinite(std) or std <= 0:
            raise VmebError(f"bad target normalisation mean={mean} std={std}")
        self.target_mean.fill_(float(mean))
        self.target_std.fill_(float(std))

    def _to_ev(self, raw: torch.Tensor) -> torch.Tensor:
        # fp32 even under bf16 autocast: bf16 would round a ~1 eV barrier to ~4 meV
        return raw.squeeze(-1).float() * self.target_std + self.target_mean


class BarrierCNN(_Normalised):
    """The paper's 3D CNN: SDM [B, C, G, G, G] -> barrier [B] (eV).

    4n Conv3d(3x3x3, 'same') layers, each followed by BatchNorm3d and ReLU; MaxPool3d(2, 2)
    after conv n, 2n and 3n; flatten; one linear neuron without activation.

    Args:
        n_species: Input channels C.
        grid_size: Voxels per edge G (divisible by 8).
        depth: n (1..4).
        filters: Filters per conv layer.
    """

    def __init__(self, n_species: int, grid_size: int, depth: int = 3, filters: int = 60):
        super().__init__()
        if grid_size % 8:
            raise VmebError(f"SDM grid size {grid_size} must be divisible by 8 (three 2x pools)")
        layers: list[nn.Module] = []
        channels = n_species
        for layer in range(1, 4 * depth + 1):
            layers += [
                nn.Conv3d(channels, filters, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm3d(filters),
                nn.ReLU(inplace=True),
            ]
            if layer in (depth, 2 * depth, 3 * depth):
                layers.append(nn.MaxPool3d(kernel_size=2, stride=2))
            channels = filters
        self.features = nn.Sequential(*layers)
        self.output = nn.Linear(filters * (grid_size // 8) ** 3, 1)
        self.grid_size = grid_size

    def forward(self, sdm: torch.Tensor) -> torch.Tensor:
        """Barriers [B] (eV) of SDMs [B, C, G, G, G]."""
        return self._to_ev(self.output(self.features(sdm).flatten(1)))


class SiteMLP(_Normalised):
    """Fully connected NN on one-hot site descriptors: [B, F] -> [B] (eV), ReLU hidden layers."""

    def __init__(self, n_features: int, hidden: tuple[int, ...] = (10, 10)):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Barriers [B] (eV) of descriptors [B, F]."""
        return self._to_ev(self.net(x))


class LatticeModel(_Normalised):
    """An on-lattice network (`vmeb.learn.lattice_models.SiteNet`, `TypeMapCNN`) with target
    normalisation: [B] eV."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Barriers [B] (eV) of descriptors [B, S * C]."""
        return self._to_ev(self.body(x))


class SiteLinear(_Normalised):
    """Linear regression on one-hot site descriptors: [B, F] -> [B] (eV)."""

    def __init__(self, n_features: int):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Barriers [B] (eV) of descriptors [B, F]."""
        return self._to_ev(self.linear(x))


def build_model(
    config: ModelConfig,
    n_species: int,
    input_size: int,
    template: SiteTemplate | None = None,
    species: Sequence[str] | None = None,
) -> nn.Module:
    """Build an untrained model: the element features, then the kind's network
    (`vmeb.learn.kinds.base.ModelKind.build`).

    Args:
        config: Architecture.
        n_species: Number of species (SDM channels / one-hot width).
        input_size: SDM grid size G for ``"cnn"``; number of template sites S for the site
            kinds (their input has S * n_species features); the kind's
            `vmeb.learn.kinds.base.ModelKind.input_size`.
        template: The site template; required for ``"latcnn"`` (its sites fill the grid).
        species: The species in table order; required with ``config.element_features``.

    Returns:
        The model (train mode), with identity target normalisation.
    """
    features = None
    if config.element_features:
        if species is None or len(species) != n_species:
            raise VmebError("a model with element features needs its species table")
        features = element_features(species, config.element_features)
    return get_kind(config.kind).build(config, n_species, input_size, template, features)


def fit_linear(
    model: SiteLinear, features: np.ndarray, targets: np.ndarray, ridge: float = 0.0
) -> None:
    """Fit a `SiteLinear` in closed form (least squares with intercept) and store it in place.

    Solves min ||X w + b - y||^2 + ridge ||w||^2 on centred data; with ``ridge = 0`` the minimum-
    norm solution (one-hot features are collinear: each site's columns sum to one; singular values
    below 1e-7 of the largest are treated as zero). Computed in
    float64; the stored layer predicts ``(x w + b - mean) / std`` so that `SiteLinear.forward`
    returns eV with the model's target normalisation.

    Args:
        model: The model to fill (its target normalisation must already be set).
        features: [N, F] descriptors.
        targets: [N] barriers (eV).
        ridge: L2 penalty on the weights (eV^-2 units of the features; 0 = ordinary LS).
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc, yc = x - x_mean, y - y_mean
    if ridge > 0:
        gram = xc.T @ xc + ridge * np.eye(x.shape[1])
        weights = np.linalg.solve(gram, xc.T @ yc)
    else:
        # singular values below 1e-7 of the largest are collinearity of the one-hot columns
        # (exact or float32-rounded); keeping them gives huge cancelling weights
        weights = np.linalg.lstsq(xc, yc, rcond=1e-7)[0]
    bias = y_mean - x_mean @ weights
    mean = float(model.target_mean)
    std = float(model.target_std)
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(weights / std)[None, :])
        model.linear.bias.fill_((bias - mean) / std)


def count_layers(model: nn.Module) -> dict[str, int]:
    """Numbers of Conv3d, BatchNorm3d, MaxPool3d and Linear layers of a model (for checks)."""
    kinds = {"conv": nn.Conv3d, "batchnorm": nn.BatchNorm3d, "pool": nn.MaxPool3d}
    counts = {name: sum(isinstance(m, cls) for m in model.modules()) for name, cls in kinds.items()}
    counts["linear"] = sum(isinstance(m, nn.Linear) for m in model.modules())
    return counts
