"""The whole-lattice network: BCC convolutions on the two simple-cubic sublattices, a hop head.

A BCC lattice is a grid of conventional cubic cells with two sites per cell: the *corner* at
doubled coordinate ``2c`` and the *body* centre at ``2c + (1, 1, 1)`` (`vmeb.learn.lattice`).
Tensors here hold per-site values as ``[B, 2 * K, n0, n1, n2]``: channels ``0..K-1`` the corner
of each cell, ``K..2K-1`` its body site; spatial axes follow the doubled coordinate axes.

`BCCConv` is one convolution of the lattice that treats every site alike: a site's output sees
the same-sublattice sites of the 27 cells around it (the site itself, 2nd, 3rd and 5th neighbours:
``{-2, 0, 2}^3`` doubled offsets) with one weight set and its 8 first neighbours on the other
sublattice with another, shared by corner and body sites. It runs as one ``Conv3d`` over the cell
grid whose kernel is assembled from the two weight sets, so it is exactly equivariant under every
lattice translation (corner <-> body included). ``depth`` such layers see a cube of
``+- depth`` lattice constants around a site (3 layers: every site within 7.6 Å of a vacancy).

`LatticeFieldNet` applies them either to one hop's window (valid convolutions; training and the
per-hop path) or to a whole periodic sample (circular padding; `vmeb.learn.field`), and reads a
hop's barrier from the features of its vacancy site and its moving atom with a dense head. In
both cases the hop is in the canonical frame: moving atom at doubled offset (1, 1, 1) from the
vacancy, which is a corner site.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vmeb.errors import VmebError
from vmeb.learn.lattice_models import dense_head


class BCCConv(nn.Module):
    """One lattice convolution: [B, 2 Fi, n0, n1, n2] -> [B, 2 Fo, n0 - 2p, ...] (module doc).

    Args:
        fi: Input features per site.
        fo: Output features per site.
    """

    def __init__(self, fi: int, fo: int):
        super().__init__()
        self.fi, self.fo = fi, fo
        self.same = nn.Parameter(torch.empty(fo, fi, 3, 3, 3))
        self.cross = nn.Parameter(torch.empty(fo, fi, 2, 2, 2))
        self.bias = nn.Parameter(torch.zeros(fo))
        fan_in = fi * (27 + 8)
        bound = (6.0 / fan_in) ** 0.5  # He-uniform over the 35 offsets a site sees
        nn.init.uniform_(self.same, -bound, bound)
        nn.init.uniform_(self.cross, -bound, bound)

    def kernel(self) -> torch.Tensor:
        """The assembled [2 Fo, 2 Fi, 3, 3, 3] cell-grid kernel (cross-correlation, offset
        ``k - 1`` cells): corner <- body body sits at cells ``{-1, 0}`` (first neighbours at
        doubled offsets ``2 o + 1``), body <- corner at cells ``{0, 1}`` (``2 o - 1``)."""
        corner_from_body = F.pad(self.cross, (0, 1, 0, 1, 0, 1))
        body_from_corner = F.pad(self.cross, (1, 0, 1, 0, 1, 0))
        top = torch.cat([self.same, corner_from_body], dim=1)
        bottom = torch.cat([body_from_corner, self.same], dim=1)
        return torch.cat([top, bottom], dim=0)

    def forward(self, x: torch.Tensor, circular: tuple[bool, bool, bool] = (False,) * 3):
        """Convolve; each axis either valid (shrinks by one cell per side) or circular.

        Args:
            x: [B, 2 Fi, n0, n1, n2].
            circular: Per spatial axis: wrap periodically (the sample's cell) instead of valid.
        """
        pad: list[int] = []
        for wrap in reversed(circular):  # F.pad lists the last axis first
            pad += [1, 1] if wrap else [0, 0]
        if any(circular):
            x = F.pad(x, pad, mode="circular")
        bias = self.bias.repeat(2)
        return F.conv3d(x, self.kernel().to(x.dtype), bias.to(x.dtype))


class LatticeFieldNet(nn.Module):
    """Lattice convolutions and a hop head: windows [B, 2 C, w, w, w] -> raw barriers [B].

    Args:
        n_species: C.
        depth: Lattice convolutions L (receptive cube +- L lattice constants).
        filters: f; the layers have f, 2f, ..., 2f features per site.
        hidden: Widths of the dense head on the 2 x 2f features of the vacancy and moving sites.
        dropout: Dropout probability in the head.
    """

    def __init__(
        self,
        n_species: int,
        depth: int = 3,
        filters: int = 16,
        hidden: tuple[int, ...] = (64,),
        dropout: float = 0.0,
    ):
        super().__init__()
        if depth < 1:
            raise VmebError(f"lattice network depth {depth}: needs at least one convolution")
        self.n_species, self.depth = n_species, depth
        widths = [filters] + [2 * filters] * (depth - 1)
        self.convs = nn.ModuleList()
        channels = n_species
        for width in widths:
            self.convs.append(BCCConv(channels, width))
            channels = width
        self.features = channels
        self.head = dense_head(2 * channels, hidden, dropout)

    @property
    def window_half(self) -> int:
        """Half width (cells) of the window a hop needs: ``depth``."""
        return self.depth

    def site_features(
        self, x: torch.Tensor, circular: tuple[bool, bool, bool] = (False,) * 3
    ) -> torch.Tensor:
        """Per-site features [B, 2 Fd, ...] of one-hot sites [B, 2 C, ...] (module doc)."""
        for conv in self.convs:
            x = torch.relu(conv(x, circular))
        return x

    def hop_head(self, vacancy: torch.Tensor, moving: torch.Tensor) -> torch.Tensor:
        """Raw barriers [...] of the features [..., Fd] of vacancy and moving sites."""
        return self.head(torch.cat([vacancy, moving], dim=-1)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw barriers [B] of hop windows [B, 2 C, 2L+1, 2L+1, 2L+1] (vacancy: the corner of
        the centre cell; moving atom: its body site)."""
        size = 2 * self.depth + 1
        if x.shape[-3:] != (size,) * 3:
            raise VmebError(f"hop windows must be {size}^3 cells, got {tuple(x.shape[-3:])}")
        feats = self.site_features(x).flatten(1)  # [B, 2 Fd] (one cell left)
        return self.hop_head(feats[:, : self.features], feats[:, self.features :])
