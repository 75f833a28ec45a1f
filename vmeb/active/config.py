"""Settings of an active-learning campaign: one frozen dataclass, checked before any output.

`ActiveConfig` holds everything that defines a campaign: the candidate pool (compositions,
cells, samples, CSRO states, or the sites of labelled pool datasets), the ensemble recipe, the
selection rule, the test set and when to stop. `load_active_config` reads a YAML/JSON file
(keys equal the field names; ``-`` or ``_``), applies overrides (the command-line flags) and
checks every value, so a bad campaign is refused in one line before its output exists.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmeb.config import check_bounds, config_from_mapping, read_config
from vmeb.errors import VmebError, file_error

#: Selection modes: ``active`` (uncertainty with diversity) and ``random`` (the baseline).
MODES = ("active", "random")
#: How a site's score is made of its 8 hops' ensemble spreads.
SITE_SCORES = ("max", "mean")
#: Fields that may change when a campaign is resumed (budgets and stopping rules).
RESUMABLE_CHANGES = ("max_rounds", "hop_budget", "time_budget", "target_spread", "target_mae")
#: The default recipe: a small on-lattice site MLP that trains in seconds on a CPU.
DEFAULT_TRAIN = {
    "kind": "mlp",
    "hidden": [64, 32],
    "r_c": 6.0,
    "augment": "lattice",
    "epochs": 15,
    "batch_size": 128,
    "lr": 0.002,
    "lr_patience": 3,
    "patience": 5,
    "val_per_group": 20,
}


@dataclass(frozen=True)
class ActiveConfig:
    """An active-learning campaign (`vmeb campaign`); paths are relative to the working folder.

    Attributes:
        mode: ``active`` (ensemble uncertainty with diversity) or ``random`` (same loop, random
            picks: the baseline).
        seed: Seed of every draw (samples, sites, test set, selection, members: seed + 1000 r).
        elements: Elements of the composition domain (NEB mode), e.g. ``[Ta, Nb, Mo]``.
        bounds: Element -> ``[min, max]`` atomic fraction (default ``[0, 1]`` each).
        compositions: Explicit compositions (``"Ta0.5Nb0.5"`` strings) instead of a domain.
        grid_step: Fraction step of a composition grid over the domain (within ``bounds``).
        composition_draws: Random compositions drawn in the domain (when no ``grid_step``).
        cells: Conventional BCC cells per edge of each sample (2 cells^3 atoms).
        samples_per_composition: Random samples (placements) per composition.
        sites_per_sample: Candidate vacancy sites per sample (none: every atom).
        a: Lattice constant (Å) of every sample; none: the potential's relaxed one per
            composition (`vmeb.lammps.lattice`, cached).
        potential: Potential spec for the NEB and lattice constants (``default``,
            ``eam/alloy:FILE``, ``snap:COEFF,PARAM``).
        csro_structures: Structure files (e.g. from `vmeb order`) whose sites join the pool.
        neb: `vmeb.neb.site.NEBConfig` fields of the campaign's NEB.
        workers: Local NEB worker processes (none: `vmeb.neb.campaign.default_workers`).
        pool_datasets: Labelled barrier datasets whose sites are the candidates (pool mode:
            labels revealed on selection, no NEB run).
        hop_seconds: CPU seconds charged per revealed hop in pool mode (s).
        recipe: A training config file (`vmeb.learn.settings.TrainConfig` keys).
        train: `TrainConfig` fields over the recipe (default: a small fast site MLP).
        members: Ensemble members K (>= 2).
        initial_sites: Random sites labelled in round 0 (both modes alike).
        batch_sites: Sites labelled in round 1.
        batch_growth: Factor by which the batch grows each later round (round r >= 1 labels
            ``round(batch_sites * batch_growth ** (r - 1))`` sites; 2 doubles the labelled set
            each round, the log-spaced budgets of a learning curve).
        top_factor: The diverse batch is picked among the ``top_factor * batch_sites`` best.
        score: Site score from its 8 hops' spreads: ``max`` or ``mean``.
        coverage_weight: Bonus (eV) of a composition without labelled hops, falling as
            ``1 / sqrt(1 + n)`` with its n labelled hops.
        test_dataset: A labelled dataset that is the fixed test set.
        test_groups: Groups (compositions) of ``test_dataset`` to test on (default: all).
        test_index: A grid ``index.csv`` whose ``split == test`` samples are the test set.
        test_sites: Without ``test_dataset``: random pool sites held out as test set,
            labelled in round 0.
        max_rounds: Rounds at most (round 0 included).
        hop_budget: Stop once this many hops are labelled.
        time_budget: Stop once the campaign's wall time reaches this (s).
        target_spread: Stop once the mean ensemble spread on the pool is at most this (eV).
        target_mae: Stop once the test MAE is at most this (eV).
    """

    mode: str = "active"
    seed: int = 0
    elements: tuple[str, ...] = ()
    bounds: dict | None = None
    compositions: tuple[str, ...] = ()
    grid_step: float | None = None
    composition_draws: int = 0
    cells: int = 3
    samples_per_composition: int = 1
    sites_per_sample: int | None = None
    a: float | None = None
    potential: str = "default"
    csro_structures: tuple[str, ...] = ()
    neb: dict = field(default_factory=dict)
    workers: int | None = None
    pool_datasets: tuple[str, ...] = ()
    hop_seconds: float = 1.2
    recipe: str | None = None
    train: dict = field(default_factory=dict)
    members: int = 2
    initial_sites: int = 8
    batch_sites: int = 8
    batch_growth: float = 1.0
    top_factor: int = 4
    score: str = "max"
    coverage_weight: float = 0.0
    test_dataset: str | None = None
    test_groups: tuple[str, ...] = ()
    test_index: str | None = None
    test_sites: int = 0
    max_rounds: int = 5
    hop_budget: int | None = None
    time_budget: float | None = None
    target_spread: float | None = None
    target_mae: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise VmebError(f"mode {self.mode!r}: choose one of {list(MODES)}")
        if self.score not in SITE_SCORES:
            raise VmebError(f"score {self.score!r}: choose one of {list(SITE_SCORES)}")
        for name in ("bounds", "neb", "train"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise VmebError(f"{name} must be a mapping, got {value!r}")
        optional = ("sites_per_sample", "a", "grid_step", "workers", "hop_budget")
        optional += ("time_budget", "target_spread", "target_mae")
        positive = ["cells", "samples_per_composition", "members", "initial_sites"]
        positive += ["batch_sites", "top_factor", "max_rounds", "hop_seconds"]
        positive += [name for name in optional if getattr(self, name) is not None]
        check_bounds(
            self,
            positive=positive,
            nonnegative=("seed", "coverage_weight", "test_sites", "composition_draws"),
        )
        if not (math.isfinite(self.batch_growth) and self.batch_growth >= 1):
            raise VmebError(f"batch_growth = {self.batch_growth}: must be a number >= 1")
        if self.members < 2:
            raise VmebError(f"members = {self.members}: an ensemble needs at least 2")
        if self.grid_step is not None and self.grid_step > 1:
            raise VmebError(f"grid_step = {self.grid_step}: must be at most 1")
        self._check_pool()

    def _check_pool(self) -> None:
        """The pool is given one way: pool datasets, or a composition domain or list."""
        if self.pool_datasets:
            if self.elements or self.compositions or self.csro_structures:
                raise VmebError("give pool_datasets or a composition domain, not both")
            return
        if not (self.elements or self.compositions or self.csro_structures):
            raise VmebError("no candidate pool: give elements, compositions or pool_datasets")
        if self.elements and self.compositions:
            raise VmebError("give elements (a domain) or compositions (a list), not both")
        if self.elements and self.grid_step is None and self.composition_draws == 0:
            raise VmebError("a composition domain needs grid_step or composition_draws")
        for element, span in (self.bounds or {}).items():
            if element not in self.elements:
                raise VmebError(f"bounds: {element} is not one of elements {list(self.elements)}")
            ok = isinstance(span, list | tuple) and len(span) == 2
            if not ok or not all(isinstance(x, int | float) and math.isfinite(x) for x in span):
                raise VmebError(f"bounds of {element}: expected [min, max], got {span!r}")
            if not 0 <= span[0] <= span[1] <= 1:
                raise VmebError(f"bounds of {element}: need 0 <= min <= max <= 1, got {span}")

    @property
    def pool_mode(self) -> bool:
        """Whether labels come from pool datasets instead of NEB runs."""
        return bool(self.pool_datasets)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON/YAML types."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _check_paths(config: ActiveConfig) -> None:
    """Every file and folder the campaign reads exists (checked before any output)."""
    paths = [*config.pool_datasets, *config.csro_structures]
    paths += [p for p in (config.recipe, config.test_dataset, config.test_index) if p]
    for path in paths:
        if not Path(path).exists():
            raise file_error(path, "no such file or folder")
    if (config.test_groups or config.test_index) and not config.test_dataset:
        raise VmebError("test_groups and test_index need a test_dataset")
    if config.test_groups and config.test_index:
        raise VmebError("give test_groups or test_index, not both")


def load_active_config(
    path: str | os.PathLike | None, overrides: Mapping[str, Any] | None = None
) -> ActiveConfig:
    """The campaign settings of a file plus overrides, checked.

    Args:
        path: YAML/JSON file of `ActiveConfig` fields (None: overrides only).
        overrides: Fields that win over the file (None values ignored).

    Raises:
        VmebError: one line naming the file and the bad key or value, or a missing path.
    """
    data = read_config(path, "campaign config") if path is not None else {}
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    config = config_from_mapping(ActiveConfig, data, path or "command line", what="campaign config")
    _check_paths(config)
    return config


def train_config(config: ActiveConfig, device: str = "cpu") -> Any:
    """The `vmeb.learn.settings.TrainConfig` of the ensemble members (recipe < ``train``).

    Without a recipe the small `DEFAULT_TRAIN` site MLP is the base.
    """
    from vmeb.learn.settings import resolve_train_config  # noqa: PLC0415 - imports torch

    values = {} if config.recipe else dict(DEFAULT_TRAIN)
    values.update(dict(config.train))
    values.update(seed=config.seed, device=device)
    return resolve_train_config(values, config.recipe)


def check_resumable(saved: Mapping[str, Any], config: ActiveConfig, source: Path) -> None:
    """Refuse to continue a campaign made with other settings (budgets may change).

    Raises:
        VmebError: naming ``source`` and the settings that differ.
    """
    now = config.to_dict()
    defaults = ActiveConfig.__dataclass_fields__
    keys = (set(now) | set(saved)) - set(RESUMABLE_CHANGES)

    def saved_value(key: str) -> Any:  # a field added since the campaign began: its default
        field_ = defaults.get(key)
        if key in saved or field_ is None or field_.default is dataclasses.MISSING:
            return saved.get(key)
        return field_.default

    differ = sorted(k for k in keys if saved_value(k) != now.get(k))
    if differ:
        raise file_error(
            source, f"campaign made with other settings {differ}; use another output folder"
        )
