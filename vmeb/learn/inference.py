"""A trained model applied to given hops of a structure: environments in chunks, then the model.

`predict_hops` is the one place where hop environments are built for a model and evaluated
(datasets in `vmeb.learn.evaluate` and `vmeb.learn.ensembles`, whole structures in
`vmeb.spectra.predict`); `model_cutoff` and `check_species` are its input checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.learn.environment import hop_environments
from vmeb.species import SpeciesTable
from vmeb.structure.neighbours import GhostedCell, ghosted_cell

logger = logging.getLogger(__name__)

#: Hops whose environments `predict_hops` builds at once (2,048 vacancy sites of 8 hops).
DEFAULT_CHUNK_HOPS = 8 * 2048


def model_cutoff(trained: Any) -> float:
    """The environment radius r_c (Å) a trained model was built for.

    Args:
        trained: A `vmeb.learn.training.TrainedModel`.

    Returns:
        r_c in Å.
    """
    return float(trained.r_c)


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
        trained: A `vmeb.learn.training.TrainedModel`.
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
    r_c = model_cutoff(trained)
    if ghosts is None or ghosts.cutoff < r_c:
        ghosts = ghosted_cell(atoms, r_c)
    out = np.empty(len(vacancies), dtype=np.float64)
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
            out[start:stop] = trained.predict_environments(
                env, batch_size=batch_size, device=device
            )
            bar.update(stop - start)
    return out
