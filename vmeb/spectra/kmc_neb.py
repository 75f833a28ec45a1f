"""Walker barriers by climbing-image NEB, computed on the fly: the reference of model KMC.

`NEBBarriers` is a `vmeb.spectra.walkers.WalkerBarriers` source that runs the NEB of the 8 hops
of every walker's vacancy site in its current configuration (`vmeb.neb.site.
compute_site_barriers`: vacancy cell and box relaxed, 8 final states relaxed, climbing-image NEB,
path checks) and keeps the result per configuration, so a walker that jumps back finds its
barriers computed. Walkers are spread over worker processes. It is slow (about a second per site
for a 250-atom EAM cell on one core) and meant for validating model barriers along KMC
trajectories (`examples/kmc/neb_validation.py`), not for production runs.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from ase import Atoms

from vmeb.errors import VmebError
from vmeb.neb.campaign import worker_init
from vmeb.neb.site import NEBConfig, compute_site_barriers

logger = logging.getLogger(__name__)

#: Barrier (eV) given to a hop whose NEB failed: its rate is zero for any practical temperature.
FAILED_BARRIER = 50.0


def _site_barriers(
    atoms: Atoms, vacancy: int, potential: Any, config: NEBConfig, species: Sequence[str]
) -> dict[int, tuple[float, str]]:
    """{moving site: (barrier, status)} of one vacancy site (a worker's task)."""
    hops = compute_site_barriers(atoms, vacancy, potential, config, species)
    return {h.moving_index: (float(h.barrier), h.status) for h in hops}


class NEBBarriers:
    """Barriers of the walkers' hops by NEB in their current configurations, cached.

    Args:
        atoms: The perfect sample the walkers started from (site i = atom i); its positions are
            the sites'.
        species: Species order of the walkers' species indices (also the LAMMPS type order).
        potential: A `vmeb.lammps.potentials.Potential` or spec.
        config: NEB settings.
        workers: Processes computing different walkers' sites at the same time.
    """

    def __init__(
        self,
        atoms: Atoms,
        species: Sequence[str],
        potential: Any,
        config: NEBConfig = NEBConfig(),  # noqa: B008 - frozen, immutable default
        workers: int = 1,
    ):
        self.atoms, self.species = atoms, list(species)
        self.potential, self.config, self.workers = potential, config, workers
        self.cache: dict[bytes, np.ndarray] = {}
        #: (species [N] with the removed atom's species on the vacancy, vacancy site, [8]
        #: barriers) of every computed site
        self.records: list[tuple[np.ndarray, int, np.ndarray]] = []
        self.failed = self.computed = 0
        self._pool: ProcessPoolExecutor | None = None

    def _key(self, species: np.ndarray, vacancy: int) -> bytes:
        occupied = species.astype(np.int8)  # a copy
        occupied[vacancy] = -1
        return occupied.tobytes()

    def _atoms(self, species: np.ndarray) -> Atoms:
        atoms = self.atoms.copy()
        atoms.set_chemical_symbols([self.species[c] for c in species])
        return atoms

    def _compute(self, tasks: list[tuple[Atoms, int]]) -> list[dict[int, tuple[float, str]]]:
        args = (self.potential, self.config, self.species)
        if self.workers <= 1 or len(tasks) == 1:
            return [_site_barriers(a, v, *args) for a, v in tasks]
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=worker_init
            )
        futures = [self._pool.submit(_site_barriers, a, v, *args) for a, v in tasks]
        return [f.result() for f in futures]

    def __call__(self, species, vacancies, walker, vacancy, moving) -> np.ndarray:  # noqa: D102
        if vacancies.shape[1] != 1:
            raise VmebError("NEB barriers take one vacancy per walker")
        keys = [self._key(species[w], int(v)) for w, v in zip(walker, vacancy, strict=True)]
        todo: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in self.cache and key not in todo:
                todo[key] = i
        if todo:
            rows = list(todo.values())
            tasks = [(self._atoms(species[walker[i]]), int(vacancy[i])) for i in rows]
            for i, result in zip(rows, self._compute(tasks), strict=True):
                values = np.empty(moving.shape[1])
                for k, site in enumerate(moving[i]):
                    if int(site) not in result:
                        raise VmebError(f"the NEB of site {vacancy[i]} lacks neighbour {site}")
                    barrier, status = result[int(site)]
                    ok = status == "ok" and np.isfinite(barrier)
                    values[k] = barrier if ok else FAILED_BARRIER
                    self.failed += not ok
                self.computed += len(values)
                self.cache[keys[i]] = values
                self.records.append((species[walker[i]].copy(), int(vacancy[i]), values))
        return np.stack([self.cache[key] for key in keys])

    def close(self) -> None:
        """Shut the worker processes down."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
