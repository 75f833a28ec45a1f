"""Kinds on one-hot site descriptors: everything but the network, shared by the site models.

A site kind sees a hop as the species on each site of a site template
(`vmeb.learn.descriptors.onehot_descriptors`, [H, S * C]); its point group acts as permutations
of the sites (`vmeb.learn.descriptors.template_symmetries`). With `permutes_sites` training
batches get a random permutation per hop and predictions average the six images; a kind that
`averages_inputs` (the LR) is given the image-averaged descriptors instead. On the lattice fast
path the descriptors are a fixed scatter of the occupancies (`vmeb.learn.lattice.descriptors`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vmeb.learn.batches import ModelInputs
from vmeb.learn.descriptors import (
    SiteTemplate,
    onehot_descriptors,
    symmetry_images,
    template_symmetries,
)
from vmeb.learn.kinds.base import ModelKind
from vmeb.learn.lattice import HopGeometry, descriptor_sites, descriptors

if TYPE_CHECKING:
    from vmeb.learn.environment import LocalEnvironments
    from vmeb.learn.settings import TrainConfig


@dataclass(frozen=True)
class SiteEncoder:
    """The lattice fast path of a site kind on one geometry.

    Attributes:
        sites: [8, S] template site of each offset per direction (-1 off the template).
        template: The site template (S_t sites).
        perms: [6, S_t] point-group permutations of the template sites.
    """

    sites: np.ndarray
    template: SiteTemplate
    perms: np.ndarray


class SiteKind(ModelKind):
    """A model on one-hot site descriptors; subclasses define `build` (and the flags)."""

    uses_template = True

    def averages_inputs(self, config: TrainConfig) -> bool:
        """Whether the inputs are the point-group average of the descriptors (the LR)."""
        return False

    def _images(self, config: TrainConfig) -> bool:
        return self.permutes_sites and config.augment != "none"

    def image_count(self, config: TrainConfig, template: SiteTemplate | None) -> int:
        """The six point-group images with `permutes_sites` and augmentation, else one."""
        return len(template_symmetries(template)) if self._images(config) else 1

    def prepare_inputs(
        self,
        env: LocalEnvironments,
        config: TrainConfig,
        n_species: int,
        template: SiteTemplate | None,
    ) -> ModelInputs:
        """Descriptors [H, S * C] and the [6, S] point-group permutations of the template."""
        assert template is not None
        x = onehot_descriptors(env.positions, env.species, n_species, template)
        perms = template_symmetries(template)
        if self.averages_inputs(config):
            x = symmetry_images(x, perms, n_species).mean(axis=0)
        return ModelInputs(
            kind=self.name,
            descriptors=torch.as_tensor(x),
            perms=torch.as_tensor(perms, dtype=torch.long),
        )

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
        """Descriptors of the hops, each under a random point-group permutation in training
        with `permutes_sites` (``operation`` is the identity for a site kind)."""
        x = inputs.descriptors[index]
        if generator is not None and self._images(config):
            ops = torch.randint(0, len(inputs.perms), (len(index),), generator=generator)
            sites = x.reshape(len(index), -1, n_species)
            out = torch.empty_like(sites)
            rows = torch.arange(len(index))[:, None]
            out[rows, inputs.perms[ops]] = sites
            x = out.reshape(len(index), -1)
        return x.to(device)

    def inference_count(self, inputs: ModelInputs, config: TrainConfig) -> int:
        """The images of `inference_inputs`: six with permutations, else one."""
        return len(inputs.perms) if self._images(config) else 1

    def inference_inputs(
        self,
        inputs: ModelInputs,
        index: torch.Tensor,
        n_species: int,
        config: TrainConfig,
        device: torch.device | str,
    ) -> list[torch.Tensor]:
        """The point-group images of the hops' descriptors (or the descriptors alone)."""
        if not self._images(config):
            return [inputs.descriptors[index].to(device)]
        x = inputs.descriptors[index]
        images = symmetry_images(x.numpy(), inputs.perms.numpy(), n_species)
        return [torch.as_tensor(img).to(device) for img in images]

    def lattice_encoder(
        self, geometry: HopGeometry, config: TrainConfig, template: SiteTemplate | None
    ) -> SiteEncoder:
        """The template site of every offset of the geometry, and the template's symmetries."""
        sites = descriptor_sites(geometry, template)
        return SiteEncoder(sites=sites, template=template, perms=template_symmetries(template))

    def lattice_inputs(
        self,
        encoder: SiteEncoder,
        occupancy: np.ndarray,
        direction: np.ndarray,
        n_species: int,
        config: TrainConfig,
        device: torch.device | str,
    ) -> Iterable[torch.Tensor]:
        """The images of the hops' descriptors, as `inference_inputs` gives them."""
        x = descriptors(occupancy, direction, encoder.sites, encoder.template.n_sites, n_species)
        if self.averages_inputs(config):
            stack = symmetry_images(x, encoder.perms, n_species).mean(axis=0, keepdims=True)
        elif self._images(config):
            stack = symmetry_images(x, encoder.perms, n_species)
        else:
            stack = x[None]
        return [torch.as_tensor(img).to(device) for img in stack]
