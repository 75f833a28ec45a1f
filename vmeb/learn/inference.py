"""A trained model applied to given hops of a structure: environments in chunks, then the model.

`predict_hops` is the one place where hop environments are built for a model and evaluated
(datasets in `vmeb.learn.evaluate` and `vmeb.learn.ensembles`, whole structures in
`vmeb.spectra.predict`); `model_cutoff`, `check_species` and `check_ranges` are its input checks.

A checkpoint records the range of BCC lattice constants ``a = (2 V / N)^(1/3)`` of the samples it
was trained on (``lattice_range``, Å; `training_lattice_range`). A structure whose lattice constant
lies more than `LATTICE_WARN` (2 %) outside that range gets a warning, more than `LATTICE_REFUSE`
(10 %) an error: the model has never seen such distances and would still return plausible numbers.
Checkpoints written before the range was recorded are not checked (a debug log says so).

A checkpoint also records, per species, the smallest and largest atomic fraction of its training
samples (``composition_range``; `training_composition_range`). A structure with an element more
than `COMPOSITION_WARN` (10 at.%) outside that range gets a warning: in the leave-compositions-out
cross-validation of `docs/results_dft.md`, compositions within the training ranges erred by
0.04-0.10 eV, compositions 40-48 at.% beyond them by up to 0.24 eV, mostly as one offset of the
whole composition. `check_ranges` applies both checks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.learn.environment import hop_environments
from vmeb.species import SpeciesTable
from vmeb.structure.lattice import volume_lattice_constant
from vmeb.structure.neighbours import GhostedCell, ghosted_cell

logger = logging.getLogger(__name__)

#: Hops whose environments `predict_hops` builds at once (2,048 vacancy sites of 8 hops).
DEFAULT_CHUNK_HOPS = 8 * 2048
#: Relative distance outside the training lattice range that gets a warning.
LATTICE_WARN = 0.02
#: Relative distance outside the training lattice range that is refused.
LATTICE_REFUSE = 0.10
#: Atomic fraction outside the training composition range of an element that gets a warning.
COMPOSITION_WARN = 0.10

_warned: set[tuple] = set()


def model_cutoff(trained: Any) -> float:
    """The environment radius r_c (Å) a trained model was built for.

    Args:
        trained: A `vmeb.learn.checkpoints.TrainedModel`.

    Returns:
        r_c in Å.
    """
    return float(trained.r_c)


def model_window(trained: Any) -> int:
    """Half width (cells) of the lattice window a model reads per hop (0: environments only;
    `vmeb.learn.kinds.base.ModelKind.window_half`)."""
    from vmeb.learn.kinds import KINDS, get_kind

    kind = getattr(trained, "kind", None)
    if kind not in KINDS:  # e.g. a deep ensemble ("ensemble"), whose members are site models
        return 0
    return int(get_kind(kind).window_half(trained.train_config))


def window_lattice(trained: Any, atoms: Atoms) -> tuple[Any, np.ndarray] | None:
    """What `attach_windows` needs of a structure, computed once per structure: its snapped
    lattice (`vmeb.learn.field.snap_lattice`) and every atom's species index; None for a
    model that reads no windows (`model_window`)."""
    if model_window(trained) <= 0:
        return None
    from vmeb.learn.field import snap_lattice

    channel = SpeciesTable(trained.species).indices(atoms.get_chemical_symbols())
    return snap_lattice(atoms), channel


def attach_windows(
    trained: Any,
    env: Any,
    vacancies: np.ndarray,
    moving: np.ndarray,
    lattice: tuple[Any, np.ndarray] | None,
) -> Any:
    """``env`` with the hops' lattice windows a model needs, else as it is.

    Args:
        trained: The model.
        env: The hops' environments.
        vacancies: [H] vacancy atoms.
        moving: [H] moving atoms.
        lattice: `window_lattice` of the structure (None: no windows).
    """
    if lattice is None:
        return env
    import dataclasses

    from vmeb.learn.field import hop_windows

    fit, channel = lattice
    windows = hop_windows(fit, channel, vacancies, moving, model_window(trained))
    return dataclasses.replace(env, window=windows)


def check_species(atoms: Atoms, species: Sequence[str]) -> None:
    """Raise if ``atoms`` holds an element outside ``species`` (the model's channels).

    Raises:
        VmebError: naming the unknown elements and the known ones.
    """
    unknown = SpeciesTable.of(species).unknown(atoms.get_chemical_symbols())
    if unknown:
        raise VmebError(
            f"element(s) {unknown} not known to the model (it was trained on {list(species)})"
        )


def training_structures(
    datasets: Iterable[Any], exclude_groups: Sequence[str] = ()
) -> Iterator[Atoms]:
    """The samples with valid hops outside ``exclude_groups`` (held-out test groups).

    Args:
        datasets: Opened `vmeb.data.dataset.BarrierDataset` s.
        exclude_groups: Groups whose samples do not count.

    Yields:
        Each such perfect sample, dataset by dataset in order of first appearance.
    """
    for dataset in datasets:
        hops = dataset.with_groups()
        used = hops.loc[~hops["group"].isin(list(exclude_groups)), "sample_id"].unique()
        for sid in used:
            yield dataset.structure(str(sid))


def training_lattice_range(
    datasets: Iterable[Any], exclude_groups: Sequence[str] = ()
) -> tuple[float, float] | None:
    """Smallest and largest BCC lattice constant ``(2 V / N)^(1/3)`` (Å) of the training samples.

    Args:
        datasets: Opened `vmeb.data.dataset.BarrierDataset` s.
        exclude_groups: Groups held out of training (test groups); their samples do not count.

    Returns:
        ``(a_min, a_max)`` in Å over the samples with valid hops, or None if there are none.
    """
    values = [volume_lattice_constant(a) for a in training_structures(datasets, exclude_groups)]
    if not values:
        return None
    return round(min(values), 5), round(max(values), 5)


def check_lattice(atoms: Atoms, trained: Any) -> None:
    """Warn or refuse when ``atoms`` lies outside the model's training lattice range.

    Args:
        atoms: The perfect BCC structure to predict (lattice constant from its volume per atom).
        trained: A model with a ``lattice_range`` attribute ``(a_min, a_max)`` in Å; a model
            without one (an older checkpoint) is not checked.

    Raises:
        VmebError: if the lattice constant is more than `LATTICE_REFUSE` outside the range,
            naming both.
    """
    span = getattr(trained, "lattice_range", None)
    if span is None:
        logger.debug("model records no training lattice range (older checkpoint): not checked")
        return
    low, high = (float(v) for v in span)
    a = volume_lattice_constant(atoms)
    if a < low:
        off, side = (low - a) / low, "below"
    elif a > high:
        off, side = (a - high) / high, "above"
    else:
        return
    message = (
        f"lattice constant a = {a:.4f} Å of the structure is {100 * off:.1f} % {side} the model's "
        f"training range a = {low:.4f}-{high:.4f} Å"
    )
    if off > LATTICE_REFUSE:
        raise VmebError(
            f"{message}; refused beyond {100 * LATTICE_REFUSE:g} % (the model never saw such "
            "distances)"
        )
    key = (round(a, 4), low, high)
    if off > LATTICE_WARN and key not in _warned:
        _warned.add(key)
        logger.warning("%s; predictions may be unreliable", message)


def training_composition_range(
    datasets: Iterable[Any], species: Sequence[str], exclude_groups: Sequence[str] = ()
) -> dict[str, tuple[float, float]] | None:
    """Smallest and largest atomic fraction of each species over the training samples.

    Args:
        datasets: Opened `vmeb.data.dataset.BarrierDataset` s.
        species: The model's species (channel order); a species absent from a sample has
            fraction 0 there.
        exclude_groups: Groups held out of training (test groups); their samples do not count.

    Returns:
        ``{symbol: (x_min, x_max)}`` in channel order, or None if no sample has valid hops.
    """
    rows = [
        list(atomic_fractions(atoms, species).values())
        for atoms in training_structures(datasets, exclude_groups)
    ]
    if not rows:
        return None
    table = np.asarray(rows)
    return {
        s: (round(float(lo), 5), round(float(hi), 5))
        for s, lo, hi in zip(species, table.min(axis=0), table.max(axis=0), strict=True)
    }


def atomic_fractions(atoms: Atoms, species: Iterable[str]) -> dict[str, float]:
    """Atomic fraction of each of ``species`` in ``atoms`` (0 for an absent one)."""
    symbols = np.asarray(atoms.get_chemical_symbols())
    return {s: float(np.mean(symbols == s)) for s in species}


def composition_excursions(
    fractions: Mapping[str, float], span: Mapping[str, Sequence[float]]
) -> dict[str, float]:
    """How far each element's fraction lies outside its training range (<= 0 inside).

    Args:
        fractions: ``{symbol: x}`` atomic fractions; a symbol of ``span`` missing here counts 0.
        span: ``{symbol: (x_min, x_max)}``, a checkpoint's ``composition_range``.

    Returns:
        ``{symbol: max(x_min - x, x - x_max)}`` in ``span`` order (atomic fraction).
    """
    return {
        s: max(float(lo) - fractions.get(s, 0.0), fractions.get(s, 0.0) - float(hi))
        for s, (lo, hi) in span.items()
    }


def composition_outside(fractions: Mapping[str, float], trained: Any) -> float:
    """Largest excursion (atomic fraction) of a composition outside a model's training ranges.

    Returns:
        0 inside every element's range, NaN for a model that records no range.
    """
    span = getattr(trained, "composition_range", None)
    if span is None:
        return float("nan")
    return max(0.0, *composition_excursions(fractions, span).values())


def check_composition(atoms: Atoms, trained: Any) -> None:
    """Warn when an element's atomic fraction in ``atoms`` lies outside the training range.

    Args:
        atoms: The structure to predict.
        trained: A model with a ``composition_range`` attribute ``{symbol: (x_min, x_max)}``; a
            model without one (an older checkpoint) is not checked.
    """
    span = getattr(trained, "composition_range", None)
    if span is None:
        logger.debug("model records no training composition range (older checkpoint): not checked")
        return
    x = atomic_fractions(atoms, span)
    outside = [
        f"{s} {x[s]:.3f} (trained {span[s][0]:.3f}-{span[s][1]:.3f})"
        for s, off in composition_excursions(x, span).items()
        if off > COMPOSITION_WARN
    ]
    key = ("composition", *outside)
    if outside and key not in _warned:
        _warned.add(key)
        logger.warning(
            "composition of the structure lies more than %g at.%% outside the model's training "
            "compositions: %s; predictions extrapolate in composition and may be unreliable",
            100 * COMPOSITION_WARN,
            ", ".join(outside),
        )


def check_ranges(atoms: Atoms, trained: Any) -> None:
    """`check_lattice` then `check_composition`: the model's training ranges against ``atoms``."""
    check_lattice(atoms, trained)
    check_composition(atoms, trained)


def predict_hops(
    trained: Any,
    atoms: Atoms,
    vacancy_indices: np.ndarray,
    moving_indices: np.ndarray,
    *,
    ghosts: GhostedCell | None = None,
    chunk_hops: int = DEFAULT_CHUNK_HOPS,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Predicted barriers of given hops of one structure.

    Args:
        trained: A `vmeb.learn.checkpoints.TrainedModel`.
        atoms: The perfect (vacancy-free) periodic structure.
        vacancy_indices: [H] atom removed to make each hop's vacancy.
        moving_indices: [H] first neighbour that jumps into it.
        ghosts: A `ghosted_cell` of ``atoms`` with cutoff >= the model's r_c (built if None).
        chunk_hops: Hops whose environments are built at once.
        batch_size: Hops per model batch.
        device: Torch device of the model evaluation.
        progress: Show a tqdm bar over hops.

    Returns:
        [H] float64 barriers (eV).
    """
    vacancies = np.asarray(vacancy_indices, dtype=np.int64).reshape(-1)
    moving = np.asarray(moving_indices, dtype=np.int64).reshape(-1)
    check_species(atoms, trained.species)
    check_ranges(atoms, trained)
    r_c = model_cutoff(trained)
    if ghosts is None or ghosts.cutoff < r_c:
        ghosts = ghosted_cell(atoms, r_c)
    out = np.empty(len(vacancies), dtype=np.float64)
    lattice = window_lattice(trained, atoms)
    with tqdm(total=len(vacancies), unit="hop", disable=not progress, desc="barriers") as bar:
        for start in range(0, len(vacancies), chunk_hops):
            stop = min(start + chunk_hops, len(vacancies))
            env = hop_environments(
                atoms,
                vacancies[start:stop],
                moving[start:stop],
                trained.species,
                r_c=r_c,
                ghosts=ghosts,
            )
            env = attach_windows(trained, env, vacancies[start:stop], moving[start:stop], lattice)
            out[start:stop] = trained.predict_environments(
                env, batch_size=batch_size, device=device
            )
            bar.update(stop - start)
    return out
