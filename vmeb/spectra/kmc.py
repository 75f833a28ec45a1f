"""Residence-time (BKL) kinetic Monte Carlo of one vacancy in a periodic BCC sample.

The sample is a perfect lattice; one atom index marks the vacancy site (that atom is absent: its
species is carried along but never seen, since environments exclude the vacancy site). Each step:

1. the 8 barriers E_k (eV) of the current vacancy site are requested from a barrier provider for
   the current chemical environment (recomputed every step: a jump changes the environment of
   every site near it, so no cache keyed on the site is valid);
2. rates r_k = nu exp(-E_k / k_B T); total rate R = sum_k r_k;
3. hop k is chosen with probability r_k / R (one uniform number), the clock advances by
   dt = -ln(u) / R (a second uniform number; mean 1/R, the residence time);
4. the neighbour atom moves onto the vacancy site and the vacancy onto its site.

Positions stay on the lattice, so the neighbour table (8 first neighbours and hop vectors of each
site) is geometry only and is cached. Displacements are tracked unwrapped (through periodic
boundaries) for the vacancy and for every atom, giving the vacancy's squared displacement and the
tracer diffusivity of each species, D_s = sum_{a in s} |dr_a|^2 / (6 N_s t) (Å^2/s); with one
vacancy in N sites these are the diffusivities at vacancy site fraction 1/N.

Reference: A. B. Bortz, M. H. Kalos, J. L. Lebowitz, J. Comput. Phys. 17, 10 (1975).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from ase import Atoms
from ase.units import kB
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.species import SpeciesTable, default_order
from vmeb.structure.neighbours import GhostedCell, first_neighbours, ghosted_cell

logger = logging.getLogger(__name__)

#: Default attempt frequency nu (1/s).
DEFAULT_ATTEMPT_FREQUENCY = 1.0e13
#: Boltzmann constant (eV/K), from ASE.
BOLTZMANN_EV_K = float(kB)


class BarrierProvider(Protocol):
    """Anything that gives the barriers of the hops out of a vacancy site.

    Called as ``provider(atoms, vacancy_index, moving_indices)`` with the current sample (species
    up to date), the vacancy site and its [8] first-neighbour atom indices; returns [8] barriers
    (eV) in the order of ``moving_indices``.
    """

    def __call__(
        self, atoms: Atoms, vacancy_index: int, moving_indices: np.ndarray
    ) -> np.ndarray: ...


class ModelBarrierProvider:
    """Barriers predicted by a trained model for the current environment (the CLI default).

    Args:
        trained: A `vmeb.learn.checkpoints.TrainedModel`.
        atoms: The lattice (positions fixed during the run; species may change).
        batch_size: Hops per model batch.
        device: Torch device.
    """

    def __init__(self, trained: Any, atoms: Atoms, batch_size: int = 256, device: str = "cpu"):
        from vmeb.learn.inference import check_ranges, check_species, model_cutoff, model_window

        check_species(atoms, trained.species)
        check_ranges(atoms, trained)
        self.trained = trained
        self.batch_size = batch_size
        self.device = device
        self._window = model_window(trained)
        self._fit = None
        if self._window > 0:  # a lattice-window model: the sites never move, only species
            from vmeb.learn.field import snap_lattice

            self._fit = snap_lattice(atoms)
            self._channel = SpeciesTable(trained.species).number_lookup()
        else:
            self._ghosts = ghosted_cell(atoms, model_cutoff(trained))

    def __call__(self, atoms: Atoms, vacancy_index: int, moving_indices: np.ndarray) -> np.ndarray:
        """[8] predicted barriers (eV) of the hops into ``vacancy_index``."""
        from vmeb.learn.inference import predict_hops

        moving = np.asarray(moving_indices, dtype=np.int64)
        vacancy = np.full(len(moving), int(vacancy_index))
        if self._fit is not None:
            from vmeb.learn.field import hop_windows, window_barriers

            channel = self._channel[atoms.numbers]
            windows = hop_windows(self._fit, channel, vacancy, moving, self._window)
            return window_barriers(self.trained, windows, self.batch_size, self.device)
        return predict_hops(
            self.trained,
            atoms,
            vacancy,
            moving,
            ghosts=self._ghosts,
            batch_size=self.batch_size,
            device=self.device,
        )


@dataclass(frozen=True)
class KMCConfig:
    """Settings of a kinetic Monte Carlo run.

    Attributes:
        temperature: T (K).
        steps: Number of vacancy jumps.
        attempt_frequency: nu (1/s).
    """

    temperature: float
    steps: int
    attempt_frequency: float = DEFAULT_ATTEMPT_FREQUENCY

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise VmebError(f"temperature must be positive, got {self.temperature} K")
        if self.steps < 0:
            raise VmebError(f"number of steps must be >= 0, got {self.steps}")
        if not self.attempt_frequency > 0:
            raise VmebError(f"attempt frequency must be positive, got {self.attempt_frequency}")


@dataclass(frozen=True)
class KMCResult:
    """Trajectory of a kinetic Monte Carlo run.

    Attributes:
        times: [S+1] simulated time after each step, starting at 0 (s).
        vacancy_displacement: [S+1, 3] unwrapped vacancy displacement from its start (Å).
        atom_displacement: [N, 3] unwrapped displacement of each atom at the end (Å), indexed by
            the atom's index in the starting sample; the vacancy's own row is 0.
        species: [N] element of each atom (starting sample order).
        vacancy_index: Starting vacancy site (the absent atom's index).
        jumps: One row per step: ``step``, ``time`` (s, after the jump), ``dt`` (s),
            ``vacancy_site`` (site before the jump), ``moving_index`` (site the atom leaves,
            which becomes the vacancy), ``moving_atom`` (the atom's starting index),
            ``moving_species``, ``barrier`` (eV), ``total_rate`` (1/s).
        final_atoms: The sample at the end (species moved with the jumps; the vacancy site is
            ``final_vacancy``).
        final_vacancy: Vacancy site at the end.
    """

    times: np.ndarray
    vacancy_displacement: np.ndarray
    atom_displacement: np.ndarray
    species: np.ndarray
    vacancy_index: int
    jumps: pd.DataFrame
    final_atoms: Atoms
    final_vacancy: int

    @property
    def vacancy_squared_displacement(self) -> np.ndarray:
        """[S+1] |vacancy displacement|^2 (Å^2)."""
        return np.sum(self.vacancy_displacement**2, axis=1)

    @property
    def total_time(self) -> float:
        """Simulated time of the run (s)."""
        return float(self.times[-1])

    def vacancy_diffusivity(self) -> float:
        """|R(t)|^2 / (6 t) of this trajectory (Å^2/s); average over runs for a good estimate."""
        t = self.total_time
        return float(self.vacancy_squared_displacement[-1] / (6 * t)) if t > 0 else float("nan")

    def tracer_diffusivity(self) -> dict[str, float]:
        """Per-species tracer diffusivity sum |dr|^2 / (6 N_s t) (Å^2/s) over the atoms present."""
        t = self.total_time
        present = np.ones(len(self.species), dtype=bool)
        present[self.vacancy_index] = False
        squared = np.sum(self.atom_displacement**2, axis=1)
        out = {}
        for symbol in default_order(self.species[present].tolist()):
            mask = present & (self.species == symbol)
            out[str(symbol)] = float(squared[mask].mean() / (6 * t)) if t > 0 else float("nan")
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: steps, time, mean residence time, diffusivities."""
        steps = len(self.jumps)
        return {
            "steps": steps,
            "total_time_s": self.total_time,
            "mean_residence_time_s": self.total_time / steps if steps else None,
            "vacancy_squared_displacement_A2": float(self.vacancy_squared_displacement[-1]),
            "vacancy_diffusivity_A2_per_s": self.vacancy_diffusivity() if steps else None,
            "tracer_diffusivity_A2_per_s": self.tracer_diffusivity() if steps else {},
            "jumps_per_species": {
                str(k): int(v) for k, v in self.jumps["moving_species"].value_counts().items()
            },
            "start_vacancy": int(self.vacancy_index),
            "final_vacancy": int(self.final_vacancy),
        }


class NeighbourTable:
    """Cached 8 first neighbours and hop vectors of lattice sites (geometry only).

    Args:
        atoms: The lattice.
    """

    def __init__(self, atoms: Atoms):
        volume_per_atom = atoms.get_volume() / len(atoms)
        cutoff = max(2.5 * volume_per_atom ** (1 / 3), 3.0)
        self._atoms = atoms
        self._ghosts: GhostedCell = ghosted_cell(atoms, cutoff)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, site: int) -> tuple[np.ndarray, np.ndarray]:
        """([8] neighbour indices, [8, 3] vectors site -> neighbour in Å) of ``site``."""
        if site not in self._cache:
            ids, vectors = first_neighbours(self._atoms, np.array([site]), 8, ghosts=self._ghosts)
            self._cache[site] = (ids[0], vectors[0])
        return self._cache[site]


def _checked_barriers(values: Any, expected: int, site: int) -> np.ndarray:
    barriers = np.asarray(values, dtype=np.float64).reshape(-1)
    if barriers.shape != (expected,):
        raise VmebError(
            f"barrier provider returned {barriers.shape[0]} values for the {expected} hops "
            f"of site {site}"
        )
    if not np.all(np.isfinite(barriers)):
        raise VmebError(f"barrier provider returned a non-finite barrier at site {site}")
    return barriers


def run_kmc(
    atoms: Atoms,
    vacancy_index: int,
    barrier_provider: BarrierProvider,
    config: KMCConfig,
    rng: np.random.Generator,
    *,
    neighbours: NeighbourTable | None = None,
    progress: bool = False,
) -> KMCResult:
    """Residence-time kinetic Monte Carlo of one vacancy.

    Args:
        atoms: Perfect periodic BCC sample (not modified; a copy evolves).
        vacancy_index: Atom removed to make the vacancy.
        barrier_provider: See `BarrierProvider`; e.g. `ModelBarrierProvider`.
        config: Temperature, number of steps, attempt frequency.
        rng: Random generator (the run is reproducible from its state).
        neighbours: A `NeighbourTable` of ``atoms`` to reuse across runs (built if None).
        progress: Show a tqdm bar over steps.

    Returns:
        The trajectory.

    Raises:
        VmebError: if the vacancy index is out of range, a site has no clean shell of 8 first
            neighbours, or the provider returns a wrong number of barriers or non-finite values.
    """
    n = len(atoms)
    if not 0 <= int(vacancy_index) < n:
        raise VmebError(f"vacancy index {vacancy_index} out of range 0..{n - 1}")
    work = atoms.copy()
    work.calc = None
    table = neighbours or NeighbourTable(work)
    beta = 1.0 / (BOLTZMANN_EV_K * config.temperature)
    symbols = np.asarray(work.get_chemical_symbols())
    numbers = work.numbers  # a view: swaps below update the sample in place
    occupant = np.arange(n)  # site -> atom (starting index)
    atom_disp = np.zeros((n, 3))
    vac_disp = np.zeros((config.steps + 1, 3))
    times = np.zeros(config.steps + 1)
    records: dict[str, list] = {k: [] for k in _JUMP_COLUMNS}
    site = int(vacancy_index)
    for step in tqdm(range(config.steps), desc="kmc", unit="jump", disable=not progress):
        ids, vectors = table(site)
        barriers = _checked_barriers(barrier_provider(work, site, ids.copy()), len(ids), site)
        rates = config.attempt_frequency * np.exp(-beta * barriers)
        total = float(rates.sum())
        if not total > 0:
            raise VmebError(f"all hop rates out of site {site} vanish at {config.temperature} K")
        u_choice, u_time = rng.random(2)
        k = min(int(np.searchsorted(np.cumsum(rates), u_choice * total, side="right")), 7)
        dt = -np.log1p(-u_time) / total  # u in [0, 1): 1 - u in (0, 1]
        target = int(ids[k])
        atom = int(occupant[target])
        atom_disp[atom] -= vectors[k]
        vac_disp[step + 1] = vac_disp[step] + vectors[k]
        times[step + 1] = times[step] + dt
        for name, value in zip(
            _JUMP_COLUMNS,
            (step, times[step + 1], dt, site, target, atom, symbols[atom], barriers[k], total),
            strict=True,
        ):
            records[name].append(value)
        occupant[site], occupant[target] = atom, occupant[site]
        numbers[site], numbers[target] = numbers[target], numbers[site]
        site = target
    logger.info("kmc: %d jumps in %.3e s at %.1f K", config.steps, times[-1], config.temperature)
    return KMCResult(
        times=times,
        vacancy_displacement=vac_disp,
        atom_displacement=atom_disp,
        species=symbols,
        vacancy_index=int(vacancy_index),
        jumps=pd.DataFrame(records, columns=list(_JUMP_COLUMNS)),
        final_atoms=work,
        final_vacancy=site,
    )


_JUMP_COLUMNS: Sequence[str] = (
    "step",
    "time",
    "dt",
    "vacancy_site",
    "moving_index",
    "moving_atom",
    "moving_species",
    "barrier",
    "total_rate",
)
