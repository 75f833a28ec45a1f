"""Auxiliary barriers of another fidelity (multi-fidelity training).

A DFT dataset covers few compositions; barriers of an interatomic potential (SNAP, EAM) are
cheap anywhere, for example near the element-rich corners that DFT data lack, but they sit at a
different level: the SNAP of Li et al. (2020) puts an Nb hop about 0.65 eV above DFT, a W hop
within 0.05 eV. Used as they are they would teach the model the potential's levels.

What is shared across fidelities is the *shape* of the barrier's dependence on the environment,
so the auxiliary barriers are moved by one offset per moving species before training:

    E_aux(hop) - delta[s]      s = species of the moving atom

with ``delta`` fitted jointly with a linear model of the primary and auxiliary barriers (ridge
on the moving species x the point-group-orbit counts of every species, the paper's LR
descriptors, plus one indicator per auxiliary moving species), on the training hops only. The
shifted hops then train the model like any other, with two rules: they are never validation
hops (early stopping and the learning-rate schedule follow the primary data only), and they
never decide the site template.

Auxiliary hops are marked by the prefix ``aux:`` of their group label (`AUX_PREFIX`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from vmeb.data.dataset import BarrierDataset
from vmeb.errors import VmebError
from vmeb.learn.descriptors import FIRST_SHELL, SiteTemplate, assign_sites, template_symmetries
from vmeb.learn.environment import concatenate_environments
from vmeb.learn.hops import AUX_PREFIX, HopData, load_hops, merged_species

logger = logging.getLogger(__name__)

#: Ridge penalty of the offset fit (features are site counts, 0-8 per orbit and species).
OFFSET_RIDGE = 10.0


def is_auxiliary(groups: np.ndarray) -> np.ndarray:
    """[H] bool: which group labels mark auxiliary hops."""
    return np.char.startswith(np.asarray(groups, dtype=str), AUX_PREFIX)


def load_with_auxiliary(
    datasets: Sequence[BarrierDataset],
    auxiliary: Sequence[BarrierDataset],
    r_c: float,
    *,
    progress: bool = False,
    reverse: bool = False,
    window: int = 0,
) -> HopData:
    """Hops of the primary datasets, then those of the auxiliary ones (groups ``aux:<group>``).

    Args:
        datasets: Primary (target-fidelity) datasets.
        auxiliary: Datasets of another fidelity; their species must be among the primary ones.
        r_c: Environment radius (Å).
        progress: Show tqdm bars while the environments are computed.
        reverse: Also the primary hops' reverse hops (`vmeb.learn.hops.load_hops`).
        window: Lattice windows of this half width (`vmeb.learn.hops.load_hops`); 0: none.

    Returns:
        One `HopData` in the primary datasets' species order.

    Raises:
        VmebError: if an auxiliary dataset has a species the primary data lack (the model
            could never learn its level at the primary fidelity).
    """
    species = merged_species(datasets)
    for dataset in auxiliary:
        extra = sorted(set(dataset.species_table.symbols) - set(species))
        if extra:
            raise VmebError(
                f"auxiliary dataset {dataset.root}: species {extra} are not in the primary "
                f"data ({list(species)})"
            )
    primary = load_hops(datasets, r_c, species, progress=progress, reverse=reverse, window=window)
    if not auxiliary:
        return primary
    aux = load_hops(auxiliary, r_c, species, progress=progress, window=window)
    reverse_of = primary.reverse_of
    if reverse_of is not None:
        reverse_of = np.concatenate([reverse_of, np.full(len(aux.barriers), -1)])
    return HopData(
        environments=concatenate_environments([primary.environments, aux.environments]),
        barriers=np.concatenate([primary.barriers, aux.barriers]),
        groups=np.concatenate([primary.groups, np.char.add(AUX_PREFIX, aux.groups)]),
        species=species,
        reverse_of=reverse_of,
    )


def orbit_counts(data: HopData, template: SiteTemplate, index: np.ndarray) -> np.ndarray:
    """[N, O * C] count of each species on each point-group orbit of the template's sites.

    Args:
        data: The hops.
        template: Site template.
        index: [N] hops to describe.

    Returns:
        float64 counts, orbit-major; atoms off the template are not counted.
    """
    env = data.environments.take(index)
    site = assign_sites(env.positions, env.species, template)
    perms = template_symmetries(template)
    orbit = -np.ones(template.n_sites, dtype=np.int64)
    n_orbits = 0
    for s in range(template.n_sites):
        if orbit[s] < 0:
            orbit[perms[:, s]] = n_orbits
            n_orbits += 1
    n_species = len(data.species)
    hop, atom = np.nonzero(site >= 0)
    column = orbit[site[hop, atom]] * n_species + env.species[hop, atom]
    counts = np.zeros((len(index), n_orbits * n_species))
    np.add.at(counts, (hop, column), 1.0)
    return counts


def moving_species(data: HopData, template: SiteTemplate, index: np.ndarray) -> np.ndarray:
    """[N] species index of the moving atom (the template site at FIRST_SHELL a along x)."""
    target = np.array([FIRST_SHELL, 0.0, 0.0])
    moving_site = int(np.argmin(np.linalg.norm(template.sites - target, axis=1)))
    env = data.environments.take(index)
    site = assign_sites(env.positions, env.species, template)
    hit = site == moving_site
    if not hit.any(axis=1).all():
        raise VmebError("a hop has no atom on the moving site of the template")
    return env.species[np.arange(len(index)), hit.argmax(axis=1)]


def fidelity_offsets(
    data: HopData, template: SiteTemplate, train: np.ndarray, ridge: float = OFFSET_RIDGE
) -> np.ndarray:
    """Offset per moving species of the auxiliary barriers against the primary ones (eV).

    Args:
        data: Primary and auxiliary hops (`load_with_auxiliary`).
        template: Site template of the orbit counts.
        train: Hop indices to fit on (primary and auxiliary training hops).
        ridge: L2 penalty on the site-count weights (not on intercepts and offsets).

    Returns:
        [C] offset per species of the moving atom; 0 for species no auxiliary hop moves.
    """
    aux = is_auxiliary(data.groups[train])
    n_species = len(data.species)
    moving = moving_species(data, template, train)
    one_hot = np.eye(n_species)[moving]
    counts = orbit_counts(data, template, train)
    base = np.concatenate([np.ones((len(train), 1)), counts], axis=1)
    x = (one_hot[:, :, None] * base[:, None, :]).reshape(len(train), -1)
    x = np.concatenate([x, one_hot * aux[:, None]], axis=1)
    penalty = np.full(x.shape[1], ridge)
    penalty[:: base.shape[1]][:n_species] = 0.0  # the intercepts of each moving species
    penalty[-n_species:] = 0.0  # the offsets
    seen = np.zeros(n_species, dtype=bool)
    seen[np.unique(moving[aux])] = True
    keep = np.concatenate([np.ones(x.shape[1] - n_species, dtype=bool), seen])
    x = x[:, keep]
    gram = x.T @ x + np.diag(penalty[keep])
    weights = np.linalg.solve(gram, x.T @ data.barriers[train])
    offsets = np.zeros(n_species)
    offsets[seen] = weights[-int(seen.sum()) :]
    logger.info(
        "auxiliary offsets (eV): %s",
        {s: round(float(o), 4) for s, o in zip(data.species, offsets, strict=True) if o},
    )
    return offsets


def align_auxiliary(
    data: HopData, template: SiteTemplate, train: np.ndarray
) -> tuple[HopData, np.ndarray]:
    """Move the auxiliary barriers to the primary level (`fidelity_offsets` on ``train``).

    Returns:
        The hops with shifted auxiliary barriers, and the [C] offsets subtracted.
    """
    aux = np.nonzero(is_auxiliary(data.groups))[0]
    offsets = np.zeros(len(data.species))
    if len(aux) == 0:
        return data, offsets
    if not (~is_auxiliary(data.groups[train])).any():
        raise VmebError("auxiliary data need primary training hops to be aligned with")
    offsets = fidelity_offsets(data, template, train)
    barriers = data.barriers.copy()
    barriers[aux] -= offsets[moving_species(data, template, aux)]
    return replace(data, barriers=barriers), offsets
