"""Climbing-image NEB of the 8 first-neighbour hops of one vacancy site (paper Methods).

Protocol for a vacancy made at atom ``i`` of a perfect sample:

1. remove ``i`` and relax the vacancy cell, with the box relaxed to zero pressure
   (``NEBConfig.relax_box``); this initial state is shared by the 8 hops;
2. for each first neighbour ``j``: the final state is the initial state with ``j`` moved onto the
   vacant site, relaxed in the same (relaxed) box;
3. climbing-image NEB between them (spring 5 eV/Å, etol 0, ftol 0.001 eV/Å, 7 replicas), from a
   linear interpolation of the relaxed end states (minimum-image displacements);
4. a path check (`check_path`) on every hop: the moving atom advances steadily from replica to
   replica, the other atoms do not slide together, no interior replica lies below the lower end
   (a metastable state), and no saddle hides between two replicas (a cubic Hermite fit through
   replica energies and tangential forces rises above the highest replica). A hop that fails the
   check or does not converge is rerun with more replicas (``retry_replicas``); if it still fails
   it is recorded as failed with the reason and no barrier.

The barrier is the highest replica energy minus the initial energy (the climbing replica is not
always the highest). Engines run the NEB: ``lammps`` (the LAMMPS ``neb`` command over MPI
partitions, `vmeb.neb.engines.lammps`), ``inproc`` and ``pool`` (LAMMPS's quickmin NEB in numpy,
`vmeb.neb.engines.quickmin`, with the replicas' forces from serial LAMMPS instances in this
process or in worker processes) and ``ase`` (ASE's NEB with one LAMMPSlib calculator per image,
`vmeb.neb.engines.ase`); they agree within 1 meV on the same hop. ``auto`` (the default,
`resolve_engine`) runs ``inproc`` for cheap cells and ``lammps`` for costly ones, and ``ase``
for a calculator potential (an ASE calculator such as ``sevennet:7net-0``; the other engines
need LAMMPS and refuse it).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from scipy.interpolate import CubicHermiteSpline

from vmeb.config import check_bounds
from vmeb.data.dataset import MAX_BARRIER
from vmeb.errors import VmebError
from vmeb.lammps.base import CALCULATOR_KIND
from vmeb.lammps.potentials import AnyPotential, load_potential
from vmeb.species import SpeciesTable
from vmeb.structure.lattice import minimum_image
from vmeb.structure.neighbours import first_neighbours

logger = logging.getLogger(__name__)

#: NEB engines by name: module with ``run_neb(images, potential, species, config, workdir)``.
ENGINES = {
    "lammps": "vmeb.neb.engines.lammps",
    "ase": "vmeb.neb.engines.ase",
    "pool": "vmeb.neb.engines.pool",
    "inproc": "vmeb.neb.engines.inproc",
}
#: Engine names of `NEBConfig.engine`: the modules above, or ``auto`` (`resolve_engine`).
AUTO_ENGINE = "auto"
#: Engines that run LAMMPS's quickmin NEB on LAMMPS forces: the same steps to the same band
#: (tests), so a campaign may resume with another of them.
SAME_BAND_ENGINES = frozenset({AUTO_ENGINE, "lammps", "inproc", "pool"})
#: EAM cells below this many atoms are cheap (`is_costly`).
COSTLY_EAM_ATOMS = 1000
#: Force norms understood by both engines (LAMMPS ``min_modify norm``).
FORCE_NORMS = ("two", "max", "inf")


@dataclass(frozen=True)
class NEBConfig:
    """Settings of one site's NEB calculations.

    Attributes:
        n_replicas: Replicas (images) including both end states.
        spring: Inter-replica spring constant (eV/Å²; LAMMPS ``fix neb``, ASE ``k``).
        etol: Energy stopping tolerance (eV); 0 disables it (paper: 0).
        ftol: Force stopping tolerance (eV/Å), applied with ``force_norm`` (paper: 0.001).
        max_steps: Step limit of the plain NEB stage (LAMMPS ``N1``).
        climb_steps: Step limit of the climbing-image stage (LAMMPS ``N2``).
        relax_box: Relax the vacancy cell's box to zero pressure (paper Methods).
        engine: ``"auto"`` (default: `resolve_engine` picks ``inproc`` for cheap cells,
            ``lammps`` for costly ones), ``"lammps"`` (LAMMPS ``neb`` over MPI partitions),
            ``"inproc"`` (the same algorithm driven from Python, the replicas evaluated one
            after another by serial LAMMPS instances in this process: one core per NEB, the
            fastest for small cells), ``"pool"`` (the same, replicas in worker processes:
            faster for slow force calls on few cores) or ``"ase"`` (ASE's NEB, the independent
            check).
        retry_replicas: Replica counts for reruns of a hop that fails its path check.
        n_procs: MPI ranks of the LAMMPS engine, a multiple of the replica count (default:
            one per replica); worker processes of the pool engine (default: one per moving
            replica).
        min_style: LAMMPS damped-dynamics minimiser for ``neb``: ``fire`` or ``quickmin``.
        ase_optimizer: Band optimiser of the ``ase`` engine: ``fire`` (ASE's FIRE, damped
            dynamics like LAMMPS) or ``bfgs`` (ASE's BFGS on the NEB forces: fewer force calls
            for bands of one to three images, where each call of a calculator potential costs
            about a second; 24 against 38 steps to 0.03 eV/Å on a 127-atom 7net-0 hop, barriers
            within 1 meV).
        timestep: Minimiser time step (ps, LAMMPS ``metal`` units).
        force_norm: Force norm of the stopping test, as LAMMPS ``min_modify norm``: ``two``
            (2-norm of a replica's 3N forces; the LAMMPS default the paper used), ``max`` (largest
            per-atom force, ASE's ``fmax``) or ``inf`` (largest component).
        relax_ftol: Force tolerance of the end-state relaxations (eV/Å, largest per-atom force).
        relax_maxiter: Iteration limit of the end-state relaxations.
        min_advance: Smallest advance of the moving atom between neighbouring replicas, as a
            fraction of the hop.
        max_advance: Largest such advance (a larger jump means the band collapsed into an end
            basin).
        max_slide: Largest median displacement (Å) of the other atoms from the interpolated end
            states (a larger one is a slide of the whole cell).
        energy_tol: Tolerance (eV) of the metastable-state test (an interior replica below the
            lower end).
        spline_tol: Tolerance (eV) of the hidden-saddle test (the Hermite fit of the profile
            above the highest replica).
        costly_replicas: LAMMPS engine tuning for replicas that are slow to evaluate: waiting
            MPI ranks sleep instead of polling, and the two end replicas hold their energies
            instead of re-evaluating the potential at every step
            (`vmeb.neb.engines.lammps.static_end_commands`); the band and barrier are unchanged.
            ``None`` (default) decides per run (`vmeb.neb.engines.lammps.costly_replicas`): on
            unless
            the potential is an EAM and the cell has fewer than 1,000 atoms, where a step takes
            about a millisecond and the polling ranks answer faster.
        relax_workers: Processes relaxing a site's 8 final states at the same time. ``None``
            (default): the available cores for costly cells (`is_costly`), 1 otherwise (a
            spawned process costs about a second, more than a small EAM relaxation).
        concurrent_hops: Hops of a site whose LAMMPS NEBs run at the same time (each with its
            own ``n_procs`` ranks). Small cells are latency-bound (ranks wait on each other
            most of a step), so several NEBs share the cores well; the ASE engine runs hops
            one at a time.
    """

    n_replicas: int = 7
    spring: float = 5.0
    etol: float = 0.0
    ftol: float = 1e-3
    max_steps: int = 50
    climb_steps: int = 2000
    relax_box: bool = True
    engine: str = AUTO_ENGINE
    retry_replicas: tuple[int, ...] = (11,)
    n_procs: int | None = None
    min_style: str = "quickmin"
    ase_optimizer: str = "fire"
    timestep: float = 0.01
    force_norm: str = "two"
    relax_ftol: float = 1e-4
    relax_maxiter: int = 10000
    min_advance: float = 0.02
    max_advance: float = 0.5
    max_slide: float = 0.1
    energy_tol: float = 1e-3
    spline_tol: float = 0.02
    costly_replicas: bool | None = None
    relax_workers: int | None = None
    concurrent_hops: int = 1

    def __post_init__(self) -> None:
        if self.n_replicas < 3 or any(r < 3 for r in self.retry_replicas):
            raise VmebError("NEB needs at least 3 replicas (2 end states and 1 image)")
        if self.engine not in ENGINES and self.engine != AUTO_ENGINE:
            names = [AUTO_ENGINE, *ENGINES]
            raise VmebError(f"NEB engine {self.engine!r} unknown; use one of {names}")
        if self.min_style not in ("fire", "quickmin"):
            raise VmebError(f"NEB min_style {self.min_style!r}: LAMMPS neb needs fire or quickmin")
        if self.ase_optimizer not in ("fire", "bfgs"):
            raise VmebError(f"NEB ase_optimizer {self.ase_optimizer!r}: use fire or bfgs")
        if self.force_norm not in FORCE_NORMS:
            raise VmebError(f"force norm {self.force_norm!r}: use one of {list(FORCE_NORMS)}")
        check_bounds(self, positive=("spring", "timestep"), nonnegative=("ftol", "etol"))
        if self.max_steps < 1 or self.climb_steps < 1:
            raise VmebError("NEB step limits (max_steps, climb_steps) must be >= 1")
        if self.n_procs is not None and self.n_procs < 1:
            raise VmebError("n_procs must be a positive number of MPI ranks")
        if self.concurrent_hops < 1:
            raise VmebError("concurrent_hops must be >= 1")
        if self.relax_workers is not None and self.relax_workers < 1:
            raise VmebError("relax_workers must be >= 1")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (dataset headers)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["retry_replicas"] = list(self.retry_replicas)
        return out


@dataclass(frozen=True)
class NEBRun:
    """Raw outcome of one NEB run by an engine.

    Attributes:
        energies: [R] potential energy of each replica (eV).
        positions: [R, N, 3] final replica positions (Å), in the frame of the input images.
        forces: [R, N, 3] true (unprojected) forces of the final replicas (eV/Å).
        iterations: Minimiser steps of both stages together.
        converged: Whether the climbing stage met the stopping tolerance.
        residual: The final force measure of the stopping test (eV/Å).
        engine: Engine name.
    """

    energies: np.ndarray
    positions: np.ndarray
    forces: np.ndarray
    iterations: int
    converged: bool
    residual: float
    engine: str


@dataclass(frozen=True)
class HopResult:
    """One hop's NEB result.

    Attributes:
        vacancy_index: Index (in the perfect sample) of the atom removed to make the vacancy.
        moving_index: Index (in the perfect sample) of the first neighbour that jumps.
        moving_species: Element of the moving atom.
        barrier: Forward barrier, highest replica minus initial energy (eV; nan if failed).
        reverse_barrier: Highest replica minus final energy (eV; nan if failed).
        energy_change: Final minus initial energy (eV; nan if failed).
        converged: Whether the NEB met its force tolerance.
        status: ``"ok"`` or ``"failed"``.
        reason: Why it failed (empty when ok); retries are listed.
        profile: Replica energies minus the initial energy (eV), of the last run.
        iterations: Minimiser steps of all runs of this hop.
        n_replicas: Replicas of the last run.
        engine: Engine name.
    """

    vacancy_index: int
    moving_index: int
    moving_species: str
    barrier: float
    reverse_barrier: float
    energy_change: float
    converged: bool
    status: str
    reason: str
    profile: tuple[float, ...]
    iterations: int
    n_replicas: int
    engine: str

    def to_row(self, sample_id: str, source: str) -> dict:
        """A `vmeb.data.dataset` hop row (keys `HOP_COLUMNS` + `EXTRA_COLUMNS`)."""
        return {
            "sample_id": sample_id,
            "vacancy_index": self.vacancy_index,
            "moving_index": self.moving_index,
            "moving_species": self.moving_species,
            "barrier": self.barrier,
            "reverse_barrier": self.reverse_barrier,
            "energy_change": self.energy_change,
            "converged": self.converged,
            "status": self.status,
            "reason": self.reason,
            "source": source,
            "engine": self.engine,
            "n_replicas": self.n_replicas,
            "iterations": self.iterations,
            "profile": [round(float(e), 6) for e in self.profile],
        }


@dataclass(frozen=True)
class VacancyCell:
    """The relaxed initial state shared by a site's 8 hops.

    Attributes:
        atoms: The relaxed vacancy cell (N-1 atoms; box relaxed if configured).
        energy: Its potential energy (eV).
        vacancy_index: Index of the removed atom in the perfect sample.
        site: [3] position of the vacant site in the relaxed cell (Å).
        neighbours: [8] perfect-sample indices of the site's first neighbours.
    """

    atoms: Atoms
    energy: float
    vacancy_index: int
    site: np.ndarray
    neighbours: np.ndarray = field(repr=False)

    def cell_index(self, perfect_index: int) -> int:
        """Index in the vacancy cell of atom ``perfect_index`` of the perfect sample."""
        return perfect_index - int(perfect_index > self.vacancy_index)


def is_costly(potential: AnyPotential, n_atoms: int) -> bool:
    """Whether force calls on this cell are slow enough to pay for extra processes.

    Everything but an EAM cell of fewer than `COSTLY_EAM_ATOMS` atoms (about a millisecond per
    force call on one core; SNAP costs about 58 µs per atom).
    """
    return not (potential.pair_style.startswith("eam") and n_atoms < COSTLY_EAM_ATOMS)


def resolve_engine(config: NEBConfig, potential: AnyPotential, n_atoms: int) -> str:
    """The engine that runs a NEB of ``n_atoms`` atoms: ``config.engine`` unless ``auto``.

    ``auto``: ``inproc`` for cheap cells (`is_costly`: EAM under `COSTLY_EAM_ATOMS` atoms), where
    per-call overhead and waiting MPI ranks dominate and one serial NEB per core wins
    (``docs/campaigns.md``); ``lammps`` otherwise, and for ``min_style fire`` (which only the
    LAMMPS engine runs). A calculator potential runs ``ase``, the one engine that does not need
    LAMMPS.

    Raises:
        VmebError: a LAMMPS engine asked for with a calculator potential.
    """
    if potential.kind == CALCULATOR_KIND:
        if config.engine not in (AUTO_ENGINE, "ase"):
            raise VmebError(
                f"NEB engine {config.engine!r} runs LAMMPS; potential "
                f"{potential.spec or potential.name!r} is an ASE calculator: use engine ase "
                "(or auto)"
            )
        return "ase"
    if config.engine != AUTO_ENGINE:
        return config.engine
    if config.min_style != "quickmin" or is_costly(potential, n_atoms):
        return "lammps"
    return "inproc"


def relax_workers(config: NEBConfig, potential: AnyPotential, n_atoms: int) -> int:
    """Processes for the final-state relaxations (`NEBConfig.relax_workers`): 1 for a calculator
    potential (its model is loaded once per process and its library uses every core already)."""
    if config.relax_workers is not None:
        return config.relax_workers
    if potential.kind == CALCULATOR_KIND:
        return 1
    return len(os.sched_getaffinity(0)) if is_costly(potential, n_atoms) else 1


def _engine(name: str):
    return importlib.import_module(ENGINES[name])


def _relax(atoms: Atoms, potential: AnyPotential, species, box: bool, config: NEBConfig):
    from vmeb.lammps.session import relax  # noqa: PLC0415 - keeps `import vmeb.neb.site` light

    return relax(
        atoms,
        potential,
        species=species,
        box=box,
        etol=0.0,
        ftol=config.relax_ftol,
        maxiter=config.relax_maxiter,
    )


def _species(atoms: Atoms, potential: AnyPotential, species: Sequence[str] | None) -> list[str]:
    if species is not None:
        species = list(species)
        potential.check_species(species)
        SpeciesTable.of(species).require(atoms.get_chemical_symbols(), "sample")
        return species
    from vmeb.lammps.session import species_of  # noqa: PLC0415

    return list(species_of(atoms, potential))


def prepare_vacancy(
    atoms: Atoms,
    vacancy_index: int,
    potential: AnyPotential,
    config: NEBConfig,
    species: Sequence[str],
) -> VacancyCell:
    """Remove one atom and relax the vacancy cell (step 1 of the protocol).

    Args:
        atoms: Perfect periodic sample (N atoms).
        vacancy_index: Atom to remove (0-based).
        potential: The interatomic potential.
        config: NEB settings (``relax_box``, ``relax_ftol``).
        species: LAMMPS type order.

    Returns:
        The relaxed initial state and its first-neighbour list.
    """
    if not 0 <= vacancy_index < len(atoms):
        raise VmebError(f"vacancy index {vacancy_index} out of range 0..{len(atoms) - 1}")
    neighbours, _ = first_neighbours(atoms, np.array([vacancy_index]), 8)
    site_frac = atoms.cell.scaled_positions(atoms.positions[vacancy_index : vacancy_index + 1])[0]
    vacancy = atoms.copy()
    vacancy.calc = None
    del vacancy[vacancy_index]
    relaxed, energy = _relax(vacancy, potential, species, config.relax_box, config)
    site = site_frac @ np.asarray(relaxed.cell.array)
    return VacancyCell(
        atoms=relaxed,
        energy=float(energy),
        vacancy_index=int(vacancy_index),
        site=site,
        neighbours=np.asarray(neighbours[0], dtype=int),
    )


def final_state(
    vacancy: VacancyCell, moving_index: int, potential: AnyPotential, config: NEBConfig, species
) -> tuple[Atoms, float]:
    """The relaxed final state of one hop (step 2 of the protocol).

    Args:
        vacancy: The relaxed initial state.
        moving_index: The jumping first neighbour, as an index of the perfect sample.
        potential: The interatomic potential.
        config: NEB settings.
        species: LAMMPS type order.

    Returns:
        ``(atoms, energy)``: the final state relaxed in the initial state's box, with positions
        unwrapped so that each atom sits at the minimum image of its initial position (Å), and
        its energy (eV).
    """
    index = vacancy.cell_index(moving_index)
    final = vacancy.atoms.copy()
    final.positions[index] = vacancy.site
    relaxed, energy = _relax(final, potential, species, False, config)
    return unwrap_to(relaxed, vacancy.atoms), float(energy)


def _final_atoms(vacancy, moving_index, potential, config, species) -> Atoms:
    return final_state(vacancy, moving_index, potential, config, species)[0]


def final_states(
    vacancy: VacancyCell,
    hops: Sequence[int],
    potential: AnyPotential,
    config: NEBConfig,
    species: Sequence[str],
) -> dict[int, Atoms]:
    """The relaxed final states of several hops, in `relax_workers` spawned processes.

    Args:
        vacancy: The relaxed initial state.
        hops: Jumping neighbours, as indices of the perfect sample.
        potential: The interatomic potential.
        config: NEB settings (``relax_workers``, ``relax_ftol``).
        species: LAMMPS type order.

    Returns:
        ``{moving_index: relaxed final state}`` as `final_state` gives them.
    """
    workers = min(relax_workers(config, potential, len(vacancy.atoms)), len(hops))
    if workers <= 1:
        return {j: _final_atoms(vacancy, j, potential, config, species) for j in hops}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {
            j: pool.submit(_final_atoms, vacancy, j, potential, config, species) for j in hops
        }
        return {j: future.result() for j, future in futures.items()}


def unwrap_to(atoms: Atoms, reference: Atoms) -> Atoms:
    """A copy of ``atoms`` whose positions are the minimum images nearest ``reference``."""
    out = atoms.copy()
    cell = np.asarray(reference.cell.array)
    out.positions = reference.positions + minimum_image(atoms.positions - reference.positions, cell)
    out.cell = reference.cell
    return out


def interpolate_path(initial: Atoms, final: Atoms, n_replicas: int) -> list[Atoms]:
    """Linear interpolation between two end states (all atoms, minimum-image displacements).

    Args:
        initial: Initial state.
        final: Final state, same atoms in the same order and box.
        n_replicas: Images including both ends.

    Returns:
        ``n_replicas`` structures; the first is ``initial``, the last ``final`` unwrapped onto it.
    """
    cell = np.asarray(initial.cell.array)
    delta = minimum_image(final.positions - initial.positions, cell)
    images = []
    for t in np.linspace(0.0, 1.0, n_replicas):
        image = initial.copy()
        image.calc = None
        image.positions = initial.positions + t * delta
        images.append(image)
    return images


def _hop_fraction(positions: np.ndarray, moving: int, cell: np.ndarray) -> np.ndarray:
    """[R] progress of the moving atom along its hop vector (0 initial, 1 final)."""
    path = positions[:, moving] - positions[0, moving]
    path = minimum_image(path, cell)
    hop = path[-1]
    return path @ hop / float(hop @ hop)


def _profile_spline_excess(energies: np.ndarray, positions: np.ndarray, forces, cell) -> float:
    """Height (eV) of a cubic Hermite fit of the profile above the highest replica.

    The path coordinate is the cumulative 3N distance between replicas; slopes are minus the
    force along the central-difference tangent (one-sided at the ends).
    """
    steps = minimum_image(np.diff(positions, axis=0), cell).reshape(len(positions) - 1, -1)
    lengths = np.linalg.norm(steps, axis=1)
    if np.any(lengths < 1e-9):
        return math.inf
    s = np.concatenate([[0.0], np.cumsum(lengths)])
    unit = steps / lengths[:, None]
    flat_forces = np.asarray(forces).reshape(len(positions), -1)
    slopes = np.empty(len(positions))
    for k in range(len(positions)):
        if k == 0:
            tangent = unit[0]
        elif k == len(positions) - 1:
            tangent = unit[-1]
        else:
            tangent = unit[k - 1] + unit[k]
            tangent = tangent / np.linalg.norm(tangent)
        slopes[k] = -float(flat_forces[k] @ tangent)
    spline = CubicHermiteSpline(s, energies, slopes)
    grid = np.linspace(0.0, s[-1], 40 * len(s))
    return float(spline(grid).max() - energies.max())


def check_path(run: NEBRun, moving: int, cell: np.ndarray, config: NEBConfig) -> str:
    """Check a converged band; return the reason it is not a valid hop ("" when it is).

    Args:
        run: The engine's result.
        moving: Index of the moving atom in the vacancy cell.
        cell: [3, 3] cell rows (Å).
        config: Thresholds (``min_advance``, ``max_advance``, ``max_slide``, ``energy_tol``,
            ``spline_tol``).

    Returns:
        An empty string for a good path, else a short reason.
    """
    positions = np.asarray(run.positions)
    energies = np.asarray(run.energies, dtype=float)
    n = len(energies)
    if not np.all(np.isfinite(energies)):
        return "non-finite replica energy"
    advance = np.diff(_hop_fraction(positions, moving, cell))
    if advance.min() < config.min_advance:
        k = int(np.argmin(advance))
        return f"moving atom does not advance between replicas {k} and {k + 1}"
    if advance.max() > config.max_advance:
        k = int(np.argmax(advance))
        return (
            f"band collapsed: moving atom jumps {advance[k]:.2f} of the hop between replicas "
            f"{k} and {k + 1}"
        )
    others = np.ones(positions.shape[1], dtype=bool)
    others[moving] = False
    t = np.linspace(0.0, 1.0, n)[:, None, None]
    straight = positions[0] + t * minimum_image(positions[-1] - positions[0], cell)
    shift = minimum_image(positions[:, others] - straight[:, others], cell)
    slide = np.linalg.norm(np.median(shift, axis=1), axis=1)
    if slide.max() > config.max_slide:
        return f"other atoms slide together by {slide.max():.3f} Å (replica {int(slide.argmax())})"
    lower = min(energies[0], energies[-1])
    interior = energies[1:-1]
    if interior.min() < lower - config.energy_tol:
        k = int(np.argmin(interior)) + 1
        return f"metastable state: replica {k} lies {lower - interior.min():.3f} eV below the ends"
    excess = _profile_spline_excess(energies, positions, run.forces, cell)
    if excess > config.spline_tol:
        return f"saddle between replicas: profile fit rises {excess:.3f} eV above the top replica"
    return ""


def _attempt_reason(run: NEBRun, moving: int, cell: np.ndarray, config: NEBConfig) -> str:
    if not run.converged:
        return f"not converged (force {run.residual:.2g} eV/Å after {run.iterations} steps)"
    return check_path(run, moving, cell, config)


def run_hop(
    vacancy: VacancyCell,
    moving_index: int,
    potential: AnyPotential,
    config: NEBConfig,
    species: Sequence[str],
    workdir: Path,
    final: Atoms | None = None,
) -> HopResult:
    """NEB of one hop with path checks and retries (steps 2-4 of the protocol).

    Args:
        vacancy: The relaxed initial state.
        moving_index: The jumping neighbour, as an index of the perfect sample.
        potential: The interatomic potential.
        config: NEB settings.
        species: LAMMPS type order.
        workdir: Scratch directory for engine files.
        final: The relaxed final state from `final_state` (computed here if None).

    Returns:
        The hop's result; failed hops carry the reasons of every attempt and nan barriers.
    """
    config = replace(config, engine=resolve_engine(config, potential, len(vacancy.atoms)))
    engine = _engine(config.engine)
    moving = vacancy.cell_index(moving_index)
    symbol = vacancy.atoms.get_chemical_symbols()[moving]
    cell = np.asarray(vacancy.atoms.cell.array)
    if final is None:
        final, _ = final_state(vacancy, moving_index, potential, config, species)
    reasons: list[str] = []
    iterations = 0
    run = None
    replica_counts = list(dict.fromkeys((config.n_replicas, *config.retry_replicas)))
    for attempt, n_replicas in enumerate(replica_counts):
        images = interpolate_path(vacancy.atoms, final, n_replicas)
        hop_dir = Path(workdir) / f"hop{moving_index}_r{n_replicas}"
        hop_dir.mkdir(parents=True, exist_ok=True)
        try:
            run = engine.run_neb(images, potential, species, config, hop_dir)
        except VmebError as exc:
            reasons.append(f"{n_replicas} replicas: {exc}")
            run = None
            continue
        iterations += run.iterations
        reason = _attempt_reason(run, moving, cell, config)
        if not reason:
            if attempt:
                logger.info(
                    "hop %d->%d ok with %d replicas",
                    moving_index,
                    vacancy.vacancy_index,
                    n_replicas,
                )
            return _hop_result(vacancy, moving_index, symbol, run, iterations, "", config)
        logger.info(
            "hop %d->%d, %d replicas: %s", moving_index, vacancy.vacancy_index, n_replicas, reason
        )
        reasons.append(f"{n_replicas} replicas: {reason}")
    return _hop_result(vacancy, moving_index, symbol, run, iterations, "; ".join(reasons), config)


def _hop_result(
    vacancy: VacancyCell,
    moving_index: int,
    symbol: str,
    run: NEBRun | None,
    iterations: int,
    reason: str,
    config: NEBConfig,
) -> HopResult:
    nan = math.nan
    if run is None:
        profile: tuple[float, ...] = ()
        n_replicas, converged = 0, False
    else:
        energies = np.asarray(run.energies, dtype=float)
        profile = tuple(float(e) for e in energies - energies[0])
        n_replicas, converged = len(energies), bool(run.converged)
    ok = run is not None and not reason
    if ok and not np.isfinite(energies).all():  # the engine diverged: no barrier to report
        reason, ok = "non-finite replica energies", False
    height = float(np.max(energies) - energies[0]) if ok else math.nan
    if height > MAX_BARRIER:  # not a migration barrier: stored failed, as imports do
        reason = f"non-physical barrier {height:g} eV (> {MAX_BARRIER:g} eV)"
        ok = False
    if ok:
        top = float(np.max(energies))
        barrier = top - float(energies[0])
        reverse = top - float(energies[-1])
        change = float(energies[-1] - energies[0])
    else:
        barrier = reverse = change = nan
    return HopResult(
        vacancy_index=vacancy.vacancy_index,
        moving_index=int(moving_index),
        moving_species=symbol,
        barrier=barrier,
        reverse_barrier=reverse,
        energy_change=change,
        converged=converged,
        status="ok" if ok else "failed",
        reason=reason,
        profile=profile,
        iterations=int(iterations),
        n_replicas=n_replicas,
        engine=config.engine,
    )


def compute_site_barriers(
    atoms: Atoms,
    vacancy_index: int,
    potential: AnyPotential | str | None,
    config: NEBConfig = NEBConfig(),  # noqa: B008 - frozen, immutable default
    species: Sequence[str] | None = None,
    workdir: str | Path | None = None,
) -> list[HopResult]:
    """The 8 hop barriers of one vacancy site by climbing-image NEB.

    Args:
        atoms: Perfect periodic BCC sample (N atoms); indices refer to it.
        vacancy_index: Atom removed to make the vacancy (0-based).
        potential: A `Potential` or a spec string (`vmeb.lammps.potentials.load_potential`).
        config: NEB settings.
        species: LAMMPS type order (default: derived from the sample and potential).
        workdir: Directory for engine scratch files (default: a temporary directory, removed).

    Returns:
        8 results, one per first neighbour, nearest first.

    Raises:
        VmebError: bad input (index out of range, a site without 8 first neighbours, species the
            potential lacks).
    """
    potential = load_potential(potential)
    species = _species(atoms, potential, species)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="vmeb-neb-") as tmp:
            return compute_site_barriers(atoms, vacancy_index, potential, config, species, tmp)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = replace(config, engine=resolve_engine(config, potential, len(atoms) - 1))
    vacancy = prepare_vacancy(atoms, vacancy_index, potential, config, species)
    hops = [int(j) for j in vacancy.neighbours]
    finals = final_states(vacancy, hops, potential, config, species)
    if config.concurrent_hops == 1 or config.engine != "lammps":
        # engines that keep state between the hops of a site (`inproc`) have a scope for it
        with getattr(_engine(config.engine), "site_scope", contextlib.nullcontext)():
            return [
                run_hop(vacancy, j, potential, config, species, workdir, finals[j]) for j in hops
            ]
    # the NEB subprocesses overlap
    with ThreadPoolExecutor(max_workers=config.concurrent_hops) as pool:
        futures = [
            pool.submit(run_hop, vacancy, j, potential, config, species, workdir, finals[j])
            for j in hops
        ]
        return [future.result() for future in futures]


def with_engine(config: NEBConfig, engine: str) -> NEBConfig:
    """A copy of ``config`` using another engine."""
    return replace(config, engine=engine)
