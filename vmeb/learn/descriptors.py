"""One-hot site descriptors of hop environments for the LR and NN baselines of the paper.

The paper rotates each local configuration to the hop frame (Fig. 1c), describes every lattice
site by a one-hot species vector and stacks the vectors in a fixed site sequence. Here that
sequence is the *site template*: the ideal BCC sites within a reduced cutoff (units of the lattice
constant a) around the vacancy, in a lattice-aligned hop frame, ordered deterministically.

Lattice-aligned hop frame (reduced units, vacancy at the origin, excluded from the template)::

    x = [111] / sqrt(3)          the hop: the moving atom sits at a/2 [111]
    y = [1 1 -2] / sqrt(6)       the first neighbour a/2 [1 1 -1] (cos 1/3 to the hop) has z = 0
    z = x cross y

The hop frame of `vmeb.learn.environment` fixes x (vacancy -> moving atom) but its roll about x is a
convention of that module; `lattice_roll` measures the roll of a given environment from the three
first neighbours of the vacancy at cos(theta) = +1/3 to the hop (they sit 120 degrees apart), so
that `align_to_lattice` can rotate any environment into the template frame. The six operations of
the hop's point group (rotations by 0, 120, 240 degrees about x and the mirrors through planes
containing x) map the template onto itself; `template_symmetries` gives them as permutations of
the site sequence, used for symmetry averaging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from vmeb.errors import VmebError
from vmeb.learn.environment import rotation_about_x

logger = logging.getLogger(__name__)

#: Rows are the x, y, z axes of the lattice-aligned hop frame in cubic lattice coordinates.
HOP_FRAME = np.array(
    [
        np.array([1.0, 1.0, 1.0]) / np.sqrt(3.0),
        np.array([1.0, 1.0, -2.0]) / np.sqrt(6.0),
        np.array([-1.0, 1.0, 0.0]) / np.sqrt(2.0),
    ]
)
#: First-neighbour distance of BCC in units of a.
FIRST_SHELL = np.sqrt(3.0) / 2.0
#: Largest distance (units of a) between an atom and the template site it is assigned to.
SITE_TOLERANCE = 0.3


@dataclass(frozen=True)
class SiteTemplate:
    """Ideal BCC sites around a vacancy in the lattice-aligned hop frame.

    Attributes:
        sites: [S, 3] site positions in units of the lattice constant, vacancy at the origin
            (not included); ordered by distance, then x, y, z (rounded to 1e-6).
        cutoff: Reduced cutoff (units of a) the sites lie within (strictly).
    """

    sites: np.ndarray
    cutoff: float

    @property
    def n_sites(self) -> int:
        """Number of sites S."""
        return len(self.sites)


def site_template(cutoff: float) -> SiteTemplate:
    """The ideal BCC sites within ``cutoff`` lattice constants of a vacancy, in the hop frame.

    Args:
        cutoff: Reduced cutoff r_c / a (e.g. 7.6 Å / 3.2 Å = 2.375).

    Returns:
        The template; the moving atom's site (FIRST_SHELL, 0, 0) is among the sites.
    """
    if cutoff <= FIRST_SHELL:
        raise VmebError(
            f"template cutoff {cutoff} a is inside the first shell ({FIRST_SHELL:.3f} a)"
        )
    m = int(np.ceil(cutoff)) + 1
    grid = np.arange(-m, m + 1, dtype=float)
    corners = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), axis=-1).reshape(-1, 3)
    lattice = np.concatenate([corners, corners + 0.5])
    dist = np.linalg.norm(lattice, axis=1)
    keep = (dist > 1e-9) & (dist < cutoff - 1e-9)
    sites = lattice[keep] @ HOP_FRAME.T
    sites[np.abs(sites) < 1e-12] = 0.0
    key = np.round(np.column_stack([np.linalg.norm(sites, axis=1), sites]), 6)
    order = np.lexsort(key.T[::-1])
    return SiteTemplate(sites=sites[order], cutoff=float(cutoff))


def rotate_about_x(points: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate each hop's points about x (convention of `vmeb.learn.environment.rotation_about_x`).

    Args:
        points: [H, M, 3] positions.
        angles: [H] angles (radians).

    Returns:
        [H, M, 3] float64 rotated positions, ``P @ Q(angle).T`` per hop.
    """
    rotation = rotation_about_x(np.asarray(angles, dtype=np.float64))
    return np.einsum("hmj,hij->hmi", np.asarray(points, dtype=np.float64), rotation)


def lattice_roll(positions: np.ndarray, species: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Roll angle about x of each hop environment relative to the lattice-aligned frame.

    Uses the three first neighbours of the vacancy at cos(theta) ~ +1/3 to the hop axis; their
    azimuths are 120 degrees apart on a lattice, so psi = arg(sum exp(3 i phi)) / 3 is their common
    azimuth modulo 120 degrees (a smooth average for distorted environments).

    Args:
        positions: [H, M, 3] positions (Å) in a hop frame: vacancy at the origin, hop along +x.
        species: [H, M] species indices, -1 for padding.

    Returns:
        ``(psi, a)``: [H] roll angles (rad) and [H] lattice constants (Å) estimated from the mean
        distance of the 8 nearest atoms to the vacancy.
    """
    dist = np.linalg.norm(positions, axis=-1)
    dist = np.where(species >= 0, dist, np.inf)
    if positions.shape[1] < 8:
        raise VmebError("hop environments hold fewer than 8 atoms: no first shell")
    nearest = np.argsort(dist, axis=1)[:, :8]
    near_pos = np.take_along_axis(positions, nearest[..., None], axis=1)
    near_dist = np.take_along_axis(dist, nearest, axis=1)
    if not np.all(np.isfinite(near_dist)):
        raise VmebError("hop environments hold fewer than 8 atoms: no first shell")
    lattice_constant = near_dist.mean(axis=1) / FIRST_SHELL
    cos = near_pos[..., 0] / near_dist
    mask = np.abs(cos - 1.0 / 3.0) < 0.2
    phi = np.arctan2(near_pos[..., 2], near_pos[..., 1])
    moment = np.where(mask, np.exp(3j * phi), 0.0).sum(axis=1)
    bad = mask.sum(axis=1) != 3
    if np.any(bad):
        logger.warning(
            "%d hop(s) without exactly three first neighbours at cos 1/3 to the hop; roll from "
            "the ones found",
            int(bad.sum()),
        )
    return np.angle(moment) / 3.0, lattice_constant


def align_to_lattice(positions: np.ndarray, species: np.ndarray) -> np.ndarray:
    """Rotate hop environments about x into the lattice-aligned frame of `site_template`.

    Args:
        positions: [H, M, 3] positions (Å), vacancy at the origin, hop along +x.
        species: [H, M] species indices, -1 for padding.

    Returns:
        [H, M, 3] positions (Å, same dtype) whose first neighbours at cos 1/3 lie at azimuths
        0, 120 and 240 degrees.
    """
    psi, _ = lattice_roll(positions, species)
    return rotate_about_x(positions.astype(np.float64), -psi).astype(positions.dtype)


def assign_sites(positions: np.ndarray, species: np.ndarray, template: SiteTemplate) -> np.ndarray:
    """Template site of every atom of every hop.

    Args:
        positions: [H, M, 3] positions (Å), vacancy at the origin, hop along +x (any roll).
        species: [H, M] species indices, -1 for padding.
        template: The site template.

    Returns:
        [H, M] template site index of each atom, -1 for padding and for atoms outside the
        template (beyond its cutoff or farther than `SITE_TOLERANCE` a from any site).
    """
    psi, lattice_constant = lattice_roll(positions, species)
    aligned = rotate_about_x(positions.astype(np.float64), -psi)
    reduced = aligned / lattice_constant[:, None, None]
    tree = cKDTree(template.sites)
    dist, site = tree.query(reduced.reshape(-1, 3))
    site = site.reshape(species.shape)
    ok = (species >= 0) & (dist.reshape(species.shape) < SITE_TOLERANCE)
    return np.where(ok, site, -1)


def onehot_descriptors(
    positions: np.ndarray, species: np.ndarray, n_species: int, template: SiteTemplate
) -> np.ndarray:
    """One-hot site descriptors: the species of each template site, stacked in template order.

    Args:
        positions: [H, M, 3] positions (Å), vacancy at the origin, hop along +x.
        species: [H, M] species indices (0..n_species-1), -1 for padding.
        n_species: Number of species C.
        template: The site template (S sites).

    Returns:
        [H, S * C] float32; row h, column s * C + c is 1 where site s holds species c. Empty
        sites (outside the sample) are all zero. Where two atoms claim one site (a strongly
        distorted environment) the last one wins and a warning is logged.
    """
    site = assign_sites(positions, species, template)
    out = np.zeros((len(site), template.n_sites, n_species), dtype=np.float32)
    hop, atom = np.nonzero(site >= 0)
    out[hop, site[hop, atom], species[hop, atom]] = 1.0
    claimed = np.bincount(
        hop * template.n_sites + site[hop, atom], minlength=out.shape[0] * template.n_sites
    )
    if np.any(claimed > 1):
        logger.warning("%d template site(s) claimed by two atoms", int((claimed > 1).sum()))
    return out.reshape(len(site), -1)


def template_symmetries(template: SiteTemplate) -> np.ndarray:
    """The six point-group operations of the hop as permutations of the template sites.

    Rotations by 0, 120 and 240 degrees about x, each with and without the mirror z -> -z.

    Returns:
        [6, S] int; ``perm[g, s]`` is the site that site s is mapped to by operation g.

    Raises:
        VmebError: if an operation does not map the template onto itself (a bug).
    """
    tree = cKDTree(template.sites)
    perms = []
    for mirror in (1.0, -1.0):
        for k in range(3):
            pts = template.sites * np.array([1.0, 1.0, mirror])
            pts = rotate_about_x(pts[None], np.array([2.0 * np.pi * k / 3.0]))[0]
            dist, idx = tree.query(pts)
            if dist.max() > 1e-6 or len(set(idx.tolist())) != template.n_sites:
                raise VmebError("site template is not symmetric under the hop's point group")
            perms.append(idx)
    return np.stack(perms)


def symmetry_images(descriptors: np.ndarray, perms: np.ndarray, n_species: int) -> np.ndarray:
    """Descriptors of the symmetry images of each hop.

    Args:
        descriptors: [H, S * C] one-hot descriptors.
        perms: [G, S] permutations from `template_symmetries`.
        n_species: C.

    Returns:
        [G, H, S * C]: image g has site ``perms[g, s]`` holding what site s held.
    """
    h = descriptors.shape[0]
    sites = descriptors.reshape(h, -1, n_species)
    images = np.empty((len(perms),) + sites.shape, dtype=descriptors.dtype)
    for g, perm in enumerate(perms):
        images[g][:, perm] = sites
    return images.reshape(len(perms), h, -1)
