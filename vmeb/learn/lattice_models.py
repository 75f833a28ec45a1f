"""On-lattice barrier models: wide site MLP and type-map 3D CNN on one-hot site occupancies.

Both take the one-hot site descriptors of `vmeb.learn.descriptors` ([B, S * C]: S template sites
of the lattice-aligned hop frame, C species), so they train and predict through the same
descriptor path as the paper's NN (point-group permutations of the sites as augmentation,
the six images averaged at prediction):

- ``"mlp"`` `SiteNet`: hidden ReLU layers with dropout (e.g. 256-128).
- ``"latcnn"`` `TypeMapCNN`: the sites put on a cubic grid in lattice coordinates (doubled,
  so every BCC site is a grid point; vacancy at the centre, the moving atom at (1, 1, 1)), one
  channel per species, then Conv3d layers (the second and fourth with stride 2), a dense head.

With ``context`` both append the hop environment's composition (species fractions over the
occupied template sites, [B, C]) to the features entering the dense layers: a global descriptor
for transfer across compositions that is invariant under the hop's point group.

With ``features`` (a fixed [C, F] table of element properties, `vmeb.species.element_features`)
both describe each site by the properties of its element instead of its one-hot column: the
input [B, S * C] is projected to [B, S * F] (`ElementProjection`) before the network and the
linear skip, so that elements alike in those properties share what the model learns.

`occupancy_onehot` turns site occupancies ([H, S] species index per template site, -1 empty)
into the descriptors; `predict_occupancy_barriers` predicts barriers of occupancies with the
six-image averaging, for fast on-lattice paths that never build environments.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vmeb.errors import VmebError
from vmeb.learn.descriptors import HOP_FRAME, SiteTemplate, symmetry_images

#: Smallest half width of the type-map grid in doubled lattice coordinates: 9^3 points,
#: |x| <= 2 a (every site within 7.6 Å); a template reaching further widens the grid.
GRID_HALF = 4


def grid_half(template: SiteTemplate) -> int:
    """Half width of the type-map grid that holds every template site (at least `GRID_HALF`)."""
    cubic = template.sites @ HOP_FRAME
    reach = int(np.ceil(np.abs(2.0 * cubic).max() - 1e-6)) if len(cubic) else 0
    return max(GRID_HALF, reach)


class _Context(nn.Module):
    """Maps one-hot descriptors [B, S * C] to the composition of the occupied sites [B, C]."""

    def __init__(self, n_species: int):
        super().__init__()
        self.n_species = n_species

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = x.reshape(len(x), -1, self.n_species).sum(1)
        return counts / counts.sum(1, keepdim=True).clamp_min(1.0)


class ElementProjection(nn.Module):
    """Maps one-hot site descriptors [B, S * C] to element features of the sites [B, S * F].

    Args:
        features: [C, F] element properties of the species (a fixed buffer, saved with the
            model so that a checkpoint keeps the table it was trained with).
    """

    def __init__(self, features: np.ndarray):
        super().__init__()
        table = torch.as_tensor(np.asarray(features, dtype=np.float32))
        if table.ndim != 2:
            raise VmebError(
                f"element features must be [species, features], not {tuple(table.shape)}"
            )
        self.register_buffer("table", table)

    def sites(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S * C] -> [B, S, F]."""
        return x.reshape(len(x), -1, self.table.shape[0]) @ self.table.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S * C] -> [B, S * F]."""
        return self.sites(x).flatten(1)


def _site_width(n_species: int, features: np.ndarray | None) -> int:
    """Input width per site: C one-hot columns or F element features."""
    return n_species if features is None else int(np.asarray(features).shape[1])


def dense_head(width: int, hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    """Dense layers ``hidden`` (ReLU, dropout after each) and one linear output: [B, width] ->
    [B, 1]."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class LinearSkip(nn.Module):
    """A linear model of the one-hot site descriptors, added to a network's output.

    "Wide and deep": the linear term carries the first-order effect of each site's species (the
    paper's LR, which alone reaches a few 10 meV on EAM Ta-Nb-Mo), the network learns the
    non-linear rest. Zero-initialised, so an untrained model starts from the network alone.

    Args:
        n_features: S * C.
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.linear = nn.Linear(n_features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S * C] -> [B, 1]."""
        return self.linear(x)


class SiteNet(nn.Module):
    """MLP on one-hot site descriptors: [B, S * C] -> [B] raw (normalised) barrier.

    Args:
        n_sites: S.
        n_species: C.
        hidden: Hidden widths (e.g. (256, 128)).
        dropout: Dropout probability after each hidden layer.
        context: Append the environment's composition [B, C] to the input.
        linear: Add a linear term of the descriptors to the output (`LinearSkip`).
        features: [C, F] element properties: the sites enter as [B, S * F] (`ElementProjection`)
            instead of one-hot, in the network and the linear term.
    """

    def __init__(
        self,
        n_sites: int,
        n_species: int,
        hidden: tuple[int, ...] = (256, 128),
        dropout: float = 0.0,
        context: bool = False,
        linear: bool = False,
        features: np.ndarray | None = None,
    ):
        super().__init__()
        self.project = ElementProjection(features) if features is not None else None
        width = n_sites * _site_width(n_species, features)
        self.context = _Context(n_species) if context else None
        self.net = dense_head(width + (n_species if context else 0), hidden, dropout)
        self.skip = LinearSkip(width) if linear else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sites = x if self.project is None else self.project(x)
        inputs = torch.cat([sites, self.context(x)], dim=1) if self.context is not None else sites
        out = self.net(inputs)
        return out if self.skip is None else out + self.skip(sites)


def grid_index(template: SiteTemplate, half: int = GRID_HALF) -> np.ndarray:
    """Flat index into a (2 half + 1)^3 grid of every template site, -1 outside the grid.

    The grid is in doubled cubic lattice coordinates (grid point = 2 x / a + half per axis,
    layout [z, y, x]), the vacancy at its centre.

    Args:
        template: The site template (hop-frame sites in units of a).
        half: Half width of the grid in doubled coordinates.

    Returns:
        [S] int64 flat indices.
    """
    cubic = template.sites @ HOP_FRAME  # rows of HOP_FRAME are the hop axes in cubic coords
    doubled = np.rint(2.0 * cubic).astype(np.int64)
    if np.abs(2.0 * cubic - doubled).max() > 1e-6:
        raise VmebError("site template is not on the BCC lattice (non-integer doubled coords)")
    inside = np.all(np.abs(doubled) <= half, axis=1)
    g = 2 * half + 1
    shifted = doubled + half
    flat = shifted[:, 2] * g * g + shifted[:, 1] * g + shifted[:, 0]
    return np.where(inside, flat, -1)


class TypeMapCNN(nn.Module):
    """3D CNN on the species type map of the lattice sites: [B, S * C] -> [B] raw barrier.

    Layers: Conv3d(C, f) - Conv3d(f, 2f, stride 2) - Conv3d(2f, 4f) - Conv3d(4f, 4f, stride 2),
    3x3x3 kernels with padding 1, each followed by BatchNorm3d and ReLU (9^3 -> 5^3 -> 3^3 for
    templates within 2 a; a wider template gets a wider grid, `grid_half`),
    then flatten (+ composition with ``context``) and the dense head ``hidden`` with dropout.

    Args:
        template: Site template whose sites fill the grid (sites outside it are dropped).
        n_species: C.
        filters: f.
        hidden: Dense head widths.
        dropout: Dropout probability in the head.
        context: Append the environment's composition to the flattened features.
        linear: Add a linear term of the descriptors to the output (`LinearSkip`).
        features: [C, F] element properties: the grid has one channel per element feature
            instead of one per species (`ElementProjection`); the linear term is over the sites'
            features too.
    """

    def __init__(
        self,
        template: SiteTemplate,
        n_species: int,
        filters: int = 16,
        hidden: tuple[int, ...] = (64,),
        dropout: float = 0.0,
        context: bool = False,
        linear: bool = False,
        features: np.ndarray | None = None,
    ):
        super().__init__()
        half = grid_half(template)
        index = grid_index(template, half)
        self.register_buffer("site_index", torch.as_tensor(index[index >= 0]), persistent=False)
        self.register_buffer(
            "site_keep", torch.as_tensor(np.nonzero(index >= 0)[0]), persistent=False
        )
        self.n_species = n_species
        self.project = ElementProjection(features) if features is not None else None
        self.n_channels = _site_width(n_species, features)
        self.size = 2 * half + 1
        widths = (filters, 2 * filters, 4 * filters, 4 * filters)
        layers: list[nn.Module] = []
        channels = self.n_channels
        for i, width in enumerate(widths):
            stride = 2 if i % 2 else 1
            layers += [
                nn.Conv3d(channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        out = self.size
        for _ in range(2):
            out = (out - 1) // 2 + 1
        self.context = _Context(n_species) if context else None
        width = channels * out**3 + (n_species if context else 0)
        self.head = dense_head(width, hidden, dropout)
        self.skip = LinearSkip(template.n_sites * self.n_channels) if linear else None

    def _sites(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S, K] per-site input: one-hot (K = C) or element features (K = F)."""
        if self.project is None:
            return x.reshape(len(x), -1, self.n_species)
        return self.project.sites(x)

    def type_map(self, x: torch.Tensor) -> torch.Tensor:
        """Grid [B, K, G, G, G] of descriptors [B, S * C] (layout [b, k, z, y, x]; K = C
        one-hot channels, or F element features)."""
        return self._grid(self._sites(x))

    def _grid(self, sites: torch.Tensor) -> torch.Tensor:
        k = sites.shape[2]
        grid = sites.new_zeros(len(sites), self.size**3, k)
        grid[:, self.site_index] = sites[:, self.site_keep]
        return grid.transpose(1, 2).reshape(len(sites), k, *(self.size,) * 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sites = self._sites(x)
        features = self.features(self._grid(sites)).flatten(1)
        if self.context is not None:
            features = torch.cat([features, self.context(x)], dim=1)
        out = self.head(features)
        return out if self.skip is None else out + self.skip(sites.flatten(1))


def occupancy_onehot(occ: np.ndarray, n_species: int) -> np.ndarray:
    """One-hot site descriptors [H, S * C] (float32) of site occupancies [H, S] (-1 = empty)."""
    occ = np.asarray(occ)
    if occ.ndim != 2:
        raise VmebError(f"site occupancies must be [hops, sites], got shape {occ.shape}")
    if occ.size and (occ.max() >= n_species or occ.min() < -1):
        raise VmebError(
            f"site occupancy values {int(occ.min())}..{int(occ.max())} outside -1..{n_species - 1}"
        )
    out = np.zeros(occ.shape + (n_species,), dtype=np.float32)
    hop, site = np.nonzero(occ >= 0)
    out[hop, site, occ[hop, site]] = 1.0
    return out.reshape(len(occ), -1)


@torch.no_grad()
def predict_occupancy_barriers(
    model: nn.Module,
    occ: np.ndarray,
    n_species: int,
    perms: np.ndarray | None,
    batch_size: int = 4096,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Barriers (eV) of hops given as site occupancies, averaged over the point-group images.

    Args:
        model: A site model (NN, LR, MLP, type-map CNN) with its target normalisation.
        occ: [H, S] species index of every template site in the model's template order.
        n_species: C.
        perms: [G, S] site permutations to average over (None: no averaging).
        batch_size: Hops per forward pass.
        device: Torch device.

    Returns:
        [H] float64 barriers (eV).
    """
    model.eval()
    model.to(device)
    out = np.empty(len(occ), dtype=np.float64)
    for start in range(0, len(occ), batch_size):
        x = occupancy_onehot(occ[start : start + batch_size], n_species)
        images = symmetry_images(x, perms, n_species) if perms is not None else x[None]
        preds = [model(torch.as_tensor(img).to(device)) for img in images]
        out[start : start + len(x)] = torch.stack(preds).mean(0).double().cpu().numpy()
    return out
