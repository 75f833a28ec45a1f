"""Hops of barrier datasets ready for learning: environments, barriers, groups and splits.

`load_hops` computes every valid hop's environment once per sample (one ghost cover each),
optionally with each hop's reverse (the same NEB's barrier back from the final state);
`split_hops` makes the train / validation / test index sets of a `TrainConfig`: reverse hops
only ever train, and only beside their own forward hop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vmeb.data.dataset import BarrierDataset
from vmeb.errors import VmebError
from vmeb.learn.environment import (
    LocalEnvironments,
    concatenate_environments,
    hop_environments,
    reverse_hop_environments,
)
from vmeb.species import SpeciesTable
from vmeb.structure.neighbours import ghosted_cell

if TYPE_CHECKING:
    from vmeb.learn.settings import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class HopData:
    """Hops of one or more datasets, ready for training.

    Attributes:
        environments: H hop environments (species in ``species`` order).
        barriers: [H] barriers (eV).
        groups: [H] group label (composition) of each hop.
        species: Channel order.
        reverse_of: [H] for a reverse hop the index of its forward hop (-2 when that hop is
            not in this data), -1 for a forward hop; None: every hop is a forward hop.
    """

    environments: LocalEnvironments
    barriers: np.ndarray
    groups: np.ndarray
    species: tuple[str, ...]
    reverse_of: np.ndarray | None = None

    @property
    def forward(self) -> np.ndarray:
        """[H] bool: the hops as computed by the NEB (not the reverse of one)."""
        if self.reverse_of is None:
            return np.ones(len(self.barriers), dtype=bool)
        return self.reverse_of == -1

    def take(self, index: np.ndarray) -> HopData:
        """The hops ``index`` (a [K] index array), reverse links renumbered (-2 where the
        forward hop is left out)."""
        index = np.asarray(index, dtype=np.int64)
        reverse_of = None
        if self.reverse_of is not None:
            position = np.full(len(self.barriers), -2, dtype=np.int64)
            position[index] = np.arange(len(index))
            old = self.reverse_of[index]
            reverse_of = np.where(old >= 0, position[np.maximum(old, 0)], old)
        return HopData(self.environments.take(index), self.barriers[index], self.groups[index],
                       self.species, reverse_of)  # fmt: skip


#: Group-label prefix of auxiliary hops (another fidelity, `vmeb.learn.auxiliary`): training
#: hops only, never validation.
AUX_PREFIX = "aux:"


def merged_species(datasets: Sequence[BarrierDataset]) -> tuple[str, ...]:
    """Species order over several datasets: the first dataset's order, new ones appended
    (`SpeciesTable.union`)."""
    return SpeciesTable.union(d.species_table for d in datasets).symbols


def load_hops(
    datasets: Sequence[BarrierDataset],
    r_c: float,
    species: Sequence[str] | None = None,
    *,
    progress: bool = False,
    reverse: bool = False,
    window: int = 0,
) -> HopData:
    """Valid hops of datasets with their environments (computed once per sample).

    Args:
        datasets: Opened datasets.
        r_c: Environment radius (Å).
        species: Channel order (default `merged_species`).
        progress: Show a tqdm bar over the samples of each dataset.
        reverse: Also the reverse of every valid hop with a finite positive
            ``reverse_barrier`` (`reverse_hop_environments`), after all forward hops.
        window: Also each hop's lattice window of this half width in cells
            (`vmeb.learn.field.structure_windows`, the lattice-field kind); 0: none.

    Returns:
        The hops of all datasets, in dataset then table order (then the reverse hops, in the
        order of their forward hops; ``reverse_of`` links them).
    """
    species = tuple(species or merged_species(datasets))
    envs, barriers, groups = [], [], []
    back_envs, back_barriers, back_groups, back_of = [], [], [], []
    count = 0
    for dataset in datasets:
        desc = f"environments {dataset.root.name}"
        for _, atoms, rows in dataset.iter_samples(progress=progress, desc=desc):
            ghosts = ghosted_cell(atoms, r_c)
            vacancy, moving = rows["vacancy_index"], rows["moving_index"]
            env = hop_environments(atoms, vacancy, moving, species, r_c, ghosts)
            envs.append(_with_window(env, atoms, species, vacancy, moving, window, False))
            barriers.append(rows["barrier"].to_numpy(dtype=np.float64))
            groups.append(rows["group"].to_numpy(dtype=str))
            if reverse:
                back = rows["reverse_barrier"].to_numpy(dtype=np.float64)
                ok = np.isfinite(back) & (back > 0)
                env = reverse_hop_environments(atoms, vacancy[ok], moving[ok], species, r_c, ghosts)
                back_envs.append(
                    _with_window(env, atoms, species, vacancy[ok], moving[ok], window, True)
                )
                back_barriers.append(back[ok])
                back_groups.append(groups[-1][ok])
                back_of.append(count + np.nonzero(ok)[0])
            count += len(rows)
    if not envs:
        raise VmebError(
            f"no valid hops in {[str(d.root) for d in datasets]} (status ok, barrier > 0)"
        )
    reverse_of = None
    if reverse:
        reverse_of = np.concatenate([np.full(count, -1), *back_of]).astype(np.int64)
        logger.info("%d forward and %d reverse hops", count, len(reverse_of) - count)
    return HopData(
        environments=concatenate_environments(envs + back_envs),
        barriers=np.concatenate(barriers + back_barriers),
        groups=np.concatenate(groups + back_groups),
        species=species,
        reverse_of=reverse_of,
    )


def _with_window(env, atoms, species, vacancy, moving, window: int, reverse: bool):
    """``env`` with its hops' lattice windows attached (``window`` > 0), else as it is."""
    if window <= 0:
        return env
    from vmeb.learn.field import structure_windows

    windows = structure_windows(atoms, species, vacancy, moving, window, reverse)
    return dataclasses.replace(env, window=windows)


#: Groups listed by name in the error about an unknown group; more are counted.
LISTED_GROUPS = 20


def _unknown_group(setting: str, name: str, present: set[str]) -> VmebError:
    """The error for a ``val_groups`` / ``test_groups`` entry that names no group of the data.

    Args:
        setting: ``val_groups`` or ``test_groups`` (the config key; the flag is its dashed form).
        name: The group asked for.
        present: The groups of the data.
    """
    shown = sorted(present)
    listed = ", ".join(shown[:LISTED_GROUPS])
    if len(shown) > LISTED_GROUPS:
        listed += f", ... ({len(shown)} groups in all)"
    flag = "--" + setting.replace("_", "-")
    return VmebError(
        f"{setting} ({flag}): group {name!r} not in the data; its groups are: {listed}"
    )


def dataset_groups(datasets: Sequence[BarrierDataset]) -> set[str]:
    """The groups of the datasets' valid hops, without computing any environment."""
    return {str(g) for d in datasets for g in d.with_groups()["group"].unique()}


def check_groups(present: set[str], config: TrainConfig) -> None:
    """Refuse a ``val_groups`` / ``test_groups`` entry that is not among ``present``.

    Raises:
        VmebError: naming the setting, its flag, the group and the groups that exist.
    """
    for setting in ("val_groups", "test_groups"):
        for name in getattr(config, setting):
            if name not in present:
                raise _unknown_group(setting, name, present)


def split_hops(
    groups: np.ndarray, config: TrainConfig, reverse_of: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Train / validation / test hop indices.

    Test: hops of ``config.test_groups``. Validation: hops of ``config.val_groups`` if given,
    else ``min(val_per_group, size // 5)`` random hops of every remaining group. Both are made
    of forward hops alone (the same draw as without reverse hops); a reverse hop
    (``reverse_of`` >= 0, see `HopData`) trains when ``config.reverse`` is set and its forward
    hop trains, and is left out otherwise.

    Returns:
        ``{"train": [N1], "val": [N2], "test": [N3]}`` sorted index arrays.

    Raises:
        VmebError: if a named group does not exist or a split is empty.
    """
    present = set(groups.tolist())
    check_groups(present, config)
    rng = np.random.default_rng(config.seed)
    forward = np.ones(len(groups), dtype=bool) if reverse_of is None else reverse_of == -1
    test = np.isin(groups, config.test_groups) & forward
    if config.val_groups:
        val = np.isin(groups, config.val_groups) & forward
    else:
        val = np.zeros(len(groups), dtype=bool)
        for name in sorted(present - set(config.test_groups)):
            if name.startswith(AUX_PREFIX):
                continue
            members = np.nonzero((groups == name) & forward)[0]
            count = min(config.val_per_group, len(members) // 5)
            val[rng.choice(members, size=count, replace=False)] = True
    train = forward & ~(test | val)
    if reverse_of is not None and config.reverse:
        back = np.nonzero(reverse_of >= 0)[0]
        train[back] = train[reverse_of[back]]
    if not train.any() or not val.any():
        raise VmebError("empty training or validation split: check val/test groups and sizes")
    return {k: np.nonzero(m)[0] for k, m in (("train", train), ("val", val), ("test", test))}
