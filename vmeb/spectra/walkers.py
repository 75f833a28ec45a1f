"""Kinetic Monte Carlo of vacancies on a BCC lattice: many independent walkers, batched.

Each walker is its own copy of the sample with V vacancies (V = 1 by default). All walkers
step together: the 8 barriers out of each vacancy are kept between steps and only those whose
environment the last jump changed (within the source's reach) come from one batched call of a
barrier source; then each walker makes one residence-time (BKL) jump, chosen among the 8 V hops
of its vacancies (none into another vacancy), on its own clock. Sites never move (the lattice
is fitted once, `vmeb.learn.lattice.fit_bcc_lattice`); species move with the jumps.
Independent walkers give the statistical errors of the diffusivities directly.

Observables, per walker and then as mean and standard error over walkers:

- tracer diffusivity of species s: ``D*_s = sum_{a in s} |r_a|^2 / (6 N_s t)`` (Å^2/s; V
  vacancies in N sites, so these are diffusivities at vacancy site fraction V/N);
- vacancy diffusivity ``D_v = <|R_v|^2> / (6 t)`` (mean over a walker's vacancies);
- tracer correlation factor of species s: ``f_s = sum_{a in s} |r_a|^2 / (lambda^2 sum_{a in s}
  n_a)``, n_a the jumps of atom a and lambda the first-neighbour distance (0.7272 for a pure BCC
  metal, Compaan & Haven);
- jumps per moving species and per barrier bin.

For a pure metal with barrier E: ``D_v = nu a^2 exp(-E / k_B T)`` (8 jumps of length
sqrt(3) a / 2) and ``D* = f D_v V / N``; `tests/spectra/test_walkers.py` checks both.

Barrier sources: `ConstantBarriers` (a barrier per moving species; validation),
`WindowModelBarriers` (a lattice-window model, `vmeb.learn.field`, with a cache keyed on each
hop's window: a back-jump finds its barrier there) and `vmeb.spectra.kmc_neb.NEBBarriers`
(climbing-image NEB on the fly; the reference).

Reference: A. B. Bortz, M. H. Kalos, J. L. Lebowitz, J. Comput. Phys. 17, 10 (1975); K. Compaan,
Y. Haven, Trans. Faraday Soc. 52, 786 (1956).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.learn.lattice import DIRECTIONS, LatticeFit, fit_bcc_lattice
from vmeb.species import SpeciesTable
from vmeb.spectra.kmc import BOLTZMANN_EV_K, DEFAULT_ATTEMPT_FREQUENCY

logger = logging.getLogger(__name__)

#: Compaan & Haven's tracer correlation factor of the vacancy mechanism in BCC.
BCC_CORRELATION_FACTOR = 0.7272
#: Bin edges (eV) of the histogram of the barriers of the jumps made (the last bin takes all
#: higher barriers).
BARRIER_BIN_EDGES = np.round(np.arange(0.0, 3.0 + 1e-9, 0.05), 2)


class WalkerBarriers(Protocol):
    """Barriers of the 8 hops out of some of the walkers' vacancies.

    Called as ``source(species, vacancies, walker, vacancy, moving)`` with ``species`` [W, N]
    species index per site (a vacancy's site holds the species of the atom removed to make it,
    never a barrier's input), ``vacancies`` [W, V] every walker's vacancy sites (the other
    vacancies near a hop are empty sites of its environment), and the M hops' ``walker`` [M],
    ``vacancy`` [M] site and ``moving`` [M, 8] neighbouring sites; returns [M, 8] barriers (eV).
    ``reach`` (attribute) is how far a change reaches: a vacancy's barriers depend only on
    sites within ``reach`` doubled lattice coordinates (a/2) along every cube axis.
    """

    reach: int

    def __call__(
        self,
        species: np.ndarray,
        vacancies: np.ndarray,
        walker: np.ndarray,
        vacancy: np.ndarray,
        moving: np.ndarray,
    ) -> np.ndarray: ...  # fmt: skip


class ConstantBarriers:
    """A barrier per moving species (eV), whatever the environment.

    Args:
        barriers: [C] barrier of a jump by species c.
    """

    reach = 1  # the moving atom is a first neighbour

    def __init__(self, barriers: Sequence[float]):
        self.barriers = np.asarray(barriers, dtype=np.float64)

    def __call__(self, species, vacancies, walker, vacancy, moving) -> np.ndarray:  # noqa: D102
        return self.barriers[species[walker[:, None], moving]]


class WindowModelBarriers:
    """Barriers of a lattice-window model (kind ``latfield``), cached on each hop's window.

    Args:
        trained: The `vmeb.learn.checkpoints.TrainedModel`.
        fit: The sample's lattice.
        batch_size: Hops per model batch.
        device: Torch device.
        cache_size: Windows kept (the cache is emptied when it is full).
    """

    def __init__(
        self,
        trained: Any,
        fit: LatticeFit,
        batch_size: int = 1024,
        device: str = "cpu",
        cache_size: int = 2_000_000,
    ):
        from vmeb.learn.inference import model_window

        self.half = model_window(trained)
        self.reach = 2 * self.half + 2  # the window's sites, doubled coordinates
        if self.half <= 0:
            raise VmebError(
                f"batched walkers need a lattice-window model (kind latfield), not {trained.kind!r}"
            )
        self.trained, self.fit = trained, fit
        self.batch_size, self.device, self.cache_size = batch_size, device, cache_size
        self.cache: dict[bytes, float] = {}
        self._tables()
        self.hits = self.misses = 0

    def _tables(self) -> None:
        """Site -> (sublattice, cell) and the cell grid's site index, once per lattice."""
        from vmeb.learn.field import lattice_grid, site_cells, window_centre

        self.grid, cells = lattice_grid(self.fit)  # [2, n0, n1, n2] site on each corner / body
        self.cells = np.array(cells)
        self.site_sub, self.site_cell = site_cells(self.fit)
        self.neighbours, _ = lattice_tables(self.fit)
        self.centre = window_centre(self.half)
        h = self.half
        up = np.arange(1, 2 * h + 2)  # block positions of k = -h..h (block spans +-(h + 1))
        # per axis, the block positions of the window's corner-role and body-role sites
        self._positions = {
            ("corner", 1, 0): up, ("corner", -1, 0): up[::-1],
            ("body", 1, 0): up, ("body", -1, 0): up[::-1] - 1,
            ("corner", 1, 1): up, ("corner", -1, 1): up[::-1],
            ("body", 1, 1): up + 1, ("body", -1, 1): up[::-1],
        }  # fmt: skip

    def windows(
        self,
        species: np.ndarray,
        vacancies: np.ndarray,
        walker: np.ndarray,
        vacancy: np.ndarray,
        moving: np.ndarray,
    ) -> np.ndarray:
        """[M * 8, Wn] int8 windows of the 8 hops of M vacancies (those of
        `vmeb.learn.field.hop_windows` with per-walker species; the walker's other vacancies
        are empty sites), ``moving`` the vacancies' neighbours in `DIRECTIONS` order.

        One block of ``(2 h + 3)^3`` cells is gathered per vacancy; the 8 windows are its
        flips (a body-site vacancy reads the corner sublattice as its window's body sites).
        """
        if not np.array_equal(moving, self.neighbours[vacancy]):
            raise VmebError("walker hops must be the vacancies' neighbours in DIRECTIONS order")
        h, count = self.half, len(vacancy)
        reach = np.arange(-(h + 1), h + 2)
        cell = self.site_cell[vacancy]
        index = [(cell[:, a, None] + reach[None]) % self.cells[a] for a in range(3)]
        sites = self.grid[:, index[0][:, :, None, None], index[1][:, None, :, None],
                          index[2][:, None, None, :]].transpose(1, 0, 2, 3, 4)  # fmt: skip
        block = species[walker[:, None, None, None, None], sites].astype(np.int8)
        for other in vacancies[walker].T:  # every vacancy of the walker is empty
            block[sites == other[:, None, None, None, None]] = -1
        sub = self.site_sub[vacancy]
        size = (2 * h + 1) ** 3
        out = np.empty((count, len(DIRECTIONS), 2 * size), dtype=np.int8)
        for v_sub in (0, 1):
            rows = np.nonzero(sub == v_sub)[0]
            if not len(rows):
                continue
            own, other = block[rows, v_sub], block[rows, 1 - v_sub]
            for k, signs in enumerate(DIRECTIONS):
                for part, role, source in ((0, "corner", own), (1, "body", other)):
                    p = [self._positions[(role, int(sgn), v_sub)] for sgn in signs]
                    cut = source[:, p[0]][:, :, p[1]][:, :, :, p[2]]
                    out[rows, k, part * size : (part + 1) * size] = cut.reshape(len(rows), -1)
        out[:, :, self.centre] = species[walker, vacancy][:, None]
        return out.reshape(count * len(DIRECTIONS), -1)

    def __call__(self, species, vacancies, walker, vacancy, moving) -> np.ndarray:  # noqa: D102
        from vmeb.learn.field import window_barriers

        windows = self.windows(species, vacancies, walker, vacancy, moving)
        keys = [w.tobytes() for w in windows]
        out = np.empty(len(keys))
        missing = []
        for i, key in enumerate(keys):
            value = self.cache.get(key)
            if value is None:
                missing.append(i)
            else:
                out[i] = value
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            first: dict[bytes, int] = {}  # each new window once
            for i in missing:
                first.setdefault(keys[i], i)
            rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
            values = window_barriers(self.trained, windows[rows], self.batch_size, self.device)
            if len(self.cache) + len(rows) > self.cache_size:
                self.cache.clear()
            self.cache.update(zip(first, values.tolist(), strict=True))
            for i in missing:
                out[i] = self.cache[keys[i]]
        return out.reshape(moving.shape)

    @property
    def hit_rate(self) -> float:
        """Fraction of hops whose barrier came from the cache."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclass(frozen=True)
class WalkerConfig:
    """Settings of a batched walker run.

    Attributes:
        temperature: T (K).
        steps: Jumps per walker.
        walkers: Independent walkers W (sample copies).
        attempt_frequency: nu (1/s).
        vacancies: Vacancies V in each walker's sample (at random sites); the vacancy site
            fraction is V / N.
    """

    temperature: float
    steps: int
    walkers: int = 16
    attempt_frequency: float = DEFAULT_ATTEMPT_FREQUENCY
    vacancies: int = 1

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise VmebError(f"temperature must be positive, got {self.temperature} K")
        if self.steps < 1 or self.walkers < 1:
            raise VmebError(f"steps ({self.steps}) and walkers ({self.walkers}) must be >= 1")
        if not self.attempt_frequency > 0:
            raise VmebError(f"attempt frequency must be positive, got {self.attempt_frequency}")
        if self.vacancies < 1:
            raise VmebError(f"vacancies per walker must be >= 1, got {self.vacancies}")


@dataclass
class WalkerState:
    """Everything a run needs to go on (a checkpoint saves it).

    Attributes:
        species: [W, N] int8 species index on every site (a vacancy's site: the removed atom's).
        occupant: [W, N] int64 atom (starting site index) on every site.
        vacancy: [W, V] vacancy sites.
        displacement: [W, N, 3] unwrapped displacement of every atom (Å), by starting site.
        jumps: [W, N] int64 jumps of every atom.
        vacancy_displacement: [W, V, 3] unwrapped vacancy displacements (Å).
        time: [W] simulated time (s).
        step: Jumps made by every walker.
        jump_species: [C] jumps made by each moving species.
        barrier_sum: [C] sum of the barriers of those jumps (eV).
        barrier_histogram: [C, B] jumps made per moving species and barrier bin
            (`BARRIER_BIN_EDGES`).
    """

    species: np.ndarray
    occupant: np.ndarray
    vacancy: np.ndarray
    displacement: np.ndarray
    jumps: np.ndarray
    vacancy_displacement: np.ndarray
    time: np.ndarray
    step: int
    jump_species: np.ndarray
    barrier_sum: np.ndarray
    barrier_histogram: np.ndarray

    @classmethod
    def start(
        cls,
        channel: np.ndarray,
        n_species: int,
        walkers: int,
        rng: np.random.Generator,
        vacancies: int = 1,
    ) -> WalkerState:
        """W copies of a sample (species [N]), each with V vacancies at distinct random sites."""
        n = len(channel)
        if vacancies == 1:
            sites = rng.integers(0, n, size=(walkers, 1))
        else:
            sites = np.stack([rng.choice(n, vacancies, replace=False) for _ in range(walkers)])
        return cls(
            species=np.tile(channel.astype(np.int8), (walkers, 1)),
            occupant=np.tile(np.arange(n), (walkers, 1)),
            vacancy=sites,
            displacement=np.zeros((walkers, n, 3)),
            jumps=np.zeros((walkers, n), dtype=np.int64),
            vacancy_displacement=np.zeros((walkers, vacancies, 3)),
            time=np.zeros(walkers),
            step=0,
            jump_species=np.zeros(n_species, dtype=np.int64),
            barrier_sum=np.zeros(n_species),
            barrier_histogram=np.zeros((n_species, len(BARRIER_BIN_EDGES) - 1), dtype=np.int64),
        )


def lattice_tables(fit: LatticeFit) -> tuple[np.ndarray, np.ndarray]:
    """([N, 8] neighbour site of every site along `DIRECTIONS`, [8, 3] jump vectors in Å)."""
    neighbours = fit.lookup(fit.coords[:, None, :] + DIRECTIONS[None])
    if np.any(neighbours < 0):
        raise VmebError("a site lacks a first neighbour on the lattice")
    return neighbours, DIRECTIONS @ fit.axes / 2.0


class WalkerStepper:
    """Residence-time jumps of all walkers, with every vacancy's 8 barriers kept between steps
    and recomputed only where a jump changed the environment (within the source's ``reach``).

    Args:
        source: The barriers (`WalkerBarriers`; without ``reach`` every walker's vacancies are
            recomputed after each of its jumps).
        fit: The sample's lattice.
        shape: (W, V) walkers and vacancies per walker.
        beta: 1 / (k_B T) (1/eV).
        nu: Attempt frequency (1/s).
    """

    def __init__(self, source: WalkerBarriers, fit: LatticeFit, shape, beta: float, nu: float):
        self.source, self.beta, self.nu = source, beta, nu
        self.neighbours, self.vectors = lattice_tables(fit)
        self.coords, self.dims = fit.coords, fit.dims
        self.reach = getattr(source, "reach", None)
        self.barriers = np.zeros((*shape, len(DIRECTIONS)))
        self.stale = np.ones(shape, dtype=bool)

    def refresh(self, state: WalkerState) -> None:
        """Barriers of the stale vacancies from the source."""
        walker, slot = np.nonzero(self.stale)
        if not len(walker):
            return
        vacancy = state.vacancy[walker, slot]
        moving = self.neighbours[vacancy]
        values = self.source(state.species, state.vacancy, walker, vacancy, moving)
        values = np.asarray(values, dtype=np.float64)
        if values.shape != moving.shape or not np.all(np.isfinite(values)):
            raise VmebError("barrier source returned a wrong shape or non-finite barriers")
        self.barriers[walker, slot] = values
        self.stale[:] = False

    def _mark(self, state: WalkerState, walkers: np.ndarray, changed: np.ndarray) -> None:
        """Vacancies whose environment holds a changed site [W] become stale."""
        if self.reach is None:
            self.stale[walkers] = True
            return
        d = self.coords[state.vacancy] - self.coords[changed][:, None, :]  # [W, V, 3]
        d = (d + self.dims // 2) % self.dims - self.dims // 2
        self.stale |= np.all(np.abs(d) <= self.reach, axis=2)

    def step(self, state: WalkerState, rng: np.random.Generator) -> None:
        """One jump of every walker (of one of its vacancies; updates ``state`` in place)."""
        self.refresh(state)
        count, slots = state.vacancy.shape
        walkers = np.arange(count)
        moving = self.neighbours[state.vacancy]  # [W, V, 8]
        rates = self.nu * np.exp(-self.beta * self.barriers)
        if slots > 1:  # no jump into another vacancy
            blocked = (moving[..., None] == state.vacancy[:, None, None, :]).any(axis=3)
            rates = np.where(blocked, 0.0, rates)
        cumulative = np.cumsum(rates.reshape(count, -1), axis=1)
        total = cumulative[:, -1]
        if not np.all(total > 0):
            raise VmebError("a walker has no possible jump (its vacancies block each other)")
        u = rng.random((count, 2))
        choice = np.minimum((cumulative <= u[:, :1] * total[:, None]).sum(axis=1), 8 * slots - 1)
        slot, k = np.divmod(choice, len(DIRECTIONS))
        target = moving[walkers, slot, k]
        barrier = self.barriers[walkers, slot, k]
        state.time += -np.log1p(-u[:, 1]) / total
        source = state.vacancy[walkers, slot]
        _jump(state, walkers, source, target, self.vectors[k], barrier)
        state.vacancy_displacement[walkers, slot] += self.vectors[k]
        state.vacancy[walkers, slot] = target
        state.step += 1
        self._mark(state, walkers, source)
        self._mark(state, walkers, target)


def _jump(state: WalkerState, walkers, vacancy, target, vector, barrier) -> None:
    """Move the atoms on ``target`` [W] into the vacancies ``vacancy`` [W], with statistics."""
    atom = state.occupant[walkers, target]
    species = state.species[walkers, target]
    state.displacement[walkers, atom] -= vector
    state.jumps[walkers, atom] += 1
    np.add.at(state.jump_species, species, 1)
    np.add.at(state.barrier_sum, species, barrier)
    bins = np.clip(np.searchsorted(BARRIER_BIN_EDGES, barrier, side="right") - 1, 0,
                   state.barrier_histogram.shape[1] - 1)  # fmt: skip
    np.add.at(state.barrier_histogram, (species, bins), 1)
    ghost = state.species[walkers, vacancy]
    state.species[walkers, vacancy], state.species[walkers, target] = species, ghost
    state.occupant[walkers, target] = state.occupant[walkers, vacancy]
    state.occupant[walkers, vacancy] = atom


def run_walkers(
    atoms: Atoms,
    species: Sequence[str],
    source: WalkerBarriers | None,
    config: WalkerConfig,
    rng: np.random.Generator,
    *,
    state: WalkerState | None = None,
    progress: bool = False,
    fit: LatticeFit | None = None,
    observe: Callable[[WalkerState], None] | None = None,
    every: int = 1,
) -> tuple[WalkerState, dict[str, Any]]:
    """Run (or continue) W walkers for ``config.steps`` jumps each.

    Args:
        atoms: Perfect BCC sample (on its lattice).
        species: Species order of the barrier source.
        source: The barriers (`WalkerBarriers`).
        config: Temperature, steps, walkers, attempt frequency.
        rng: Random generator (vacancy sites, jumps).
        state: A state to continue (a checkpoint); None starts W new walkers.
        progress: tqdm bar over steps.
        fit: The sample's lattice (fitted if None).
        observe: Called with the state at the start and after every ``every`` steps.
        every: Steps between calls of ``observe``.

    Returns:
        ``(state, summary)`` with `summarise`'s observables and ``steps_per_second`` (walker
        jumps per wall second).
    """
    fit = fit if fit is not None else fit_bcc_lattice(atoms)
    channel = SpeciesTable(species).indices(atoms.get_chemical_symbols())
    if state is None:
        state = WalkerState.start(channel, len(species), config.walkers, rng, config.vacancies)
    if state.vacancy.shape[1] >= len(atoms):
        raise VmebError(f"{state.vacancy.shape[1]} vacancies leave no atom in {len(atoms)} sites")
    beta = 1.0 / (BOLTZMANN_EV_K * config.temperature)
    stepper = WalkerStepper(source, fit, state.vacancy.shape, beta, config.attempt_frequency)
    start = time.perf_counter()
    todo = config.steps - state.step
    if observe is not None:
        observe(state)
    for _ in tqdm(range(todo), desc="kmc", unit="step", disable=not progress):
        stepper.step(state, rng)
        if observe is not None and state.step % every == 0:
            observe(state)
    wall = time.perf_counter() - start
    jump = float(np.linalg.norm(stepper.vectors[0]))
    summary = summarise(state, channel, list(species), jump)
    summary["steps_per_second"] = todo * len(state.vacancy) / wall if wall > 0 else float("nan")
    return state, summary


def _mean_error(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    error = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(values.mean()), error


def summarise(
    state: WalkerState, channel: np.ndarray, species: Sequence[str], jump_length: float
) -> dict[str, Any]:
    """Diffusivities and correlation factors, mean and standard error over walkers.

    Args:
        state: The walkers.
        channel: [N] species of the atom that started on each site.
        species: Species order.
        jump_length: lambda, the first-neighbour distance (Å).

    Returns:
        ``tracer_diffusivity``, ``tracer_diffusivity_error``, ``correlation_factor``,
        ``correlation_factor_error`` ({species: value}), ``vacancy_diffusivity`` (and error),
        ``walkers``, ``steps``, ``time`` (mean simulated time, s), ``jumps`` and
        ``mean_barrier`` per moving species, ``jump_barrier_histogram`` (``bin_edges_eV`` and
        the jumps per bin of each moving species).
    """
    squared = np.sum(state.displacement**2, axis=2)  # [W, N]
    present = np.ones_like(squared, dtype=bool)
    # the atoms removed at each walker's start are never tracers
    rows = np.arange(len(state.vacancy))[:, None]
    present[rows, state.occupant[rows, state.vacancy]] = False
    out: dict[str, Any] = {key: {} for key in (
        "tracer_diffusivity", "tracer_diffusivity_error", "correlation_factor",
        "correlation_factor_error", "jumps", "mean_barrier",
    )}  # fmt: skip
    t = state.time
    for c, symbol in enumerate(species):
        mask = present & (channel[None, :] == c)
        count = mask.sum(axis=1)
        if not count.any():
            continue
        msd = np.where(count > 0, (squared * mask).sum(axis=1) / np.maximum(count, 1), np.nan)
        d, d_err = _mean_error(msd / (6.0 * t))
        jumps = (state.jumps * mask).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            f_walker = (squared * mask).sum(axis=1) / (jump_length**2 * jumps)
        f, f_err = _mean_error(np.where(jumps > 0, f_walker, np.nan))
        out["tracer_diffusivity"][symbol], out["tracer_diffusivity_error"][symbol] = d, d_err
        out["correlation_factor"][symbol], out["correlation_factor_error"][symbol] = f, f_err
        out["jumps"][symbol] = int(state.jump_species[c])
        out["mean_barrier"][symbol] = (
            float(state.barrier_sum[c] / state.jump_species[c]) if state.jump_species[c] else None
        )
    histogram: dict[str, Any] = {"bin_edges_eV": BARRIER_BIN_EDGES.tolist()}
    for c, symbol in enumerate(species):
        if state.jump_species[c]:
            histogram[symbol] = state.barrier_histogram[c].tolist()
    out["jump_barrier_histogram"] = histogram
    vacancy_msd = np.sum(state.vacancy_displacement**2, axis=2).mean(axis=1)
    dv, dv_err = _mean_error(vacancy_msd / (6.0 * t))
    out.update(
        vacancy_diffusivity=dv,
        vacancy_diffusivity_error=dv_err,
        walkers=int(len(state.vacancy)),
        vacancies_per_walker=int(state.vacancy.shape[1]),
        vacancy_site_fraction=state.vacancy.shape[1] / state.species.shape[1],
        steps=int(state.step),
        time=float(t.mean()),
    )
    return out


def save_state(state: WalkerState, rng: np.random.Generator, path) -> None:
    """Write a checkpoint (npz, atomically) of the walkers and the generator."""
    import json

    from vmeb.files import atomic_output

    arrays = {k: getattr(state, k) for k in state.__dataclass_fields__ if k != "step"}
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, step=state.step, rng=json.dumps(rng.bit_generator.state), **arrays)


def load_state(path) -> tuple[WalkerState, np.random.Generator]:
    """Read a checkpoint of `save_state`: the walkers and a generator in the saved state."""
    import json

    with np.load(path) as data:
        fields = {k: data[k] for k in WalkerState.__dataclass_fields__ if k != "step"}
        if fields["vacancy"].ndim == 1:  # a checkpoint of one vacancy per walker, before V
            fields["vacancy"] = fields["vacancy"][:, None]
            fields["vacancy_displacement"] = fields["vacancy_displacement"][:, None]
        state = WalkerState(step=int(data["step"]), **fields)
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(data["rng"]))
    return state, rng


def species_barriers(barriers: Mapping[str, float], species: Sequence[str]) -> ConstantBarriers:
    """`ConstantBarriers` from ``{symbol: eV}`` in the given species order."""
    missing = [s for s in species if s not in barriers]
    if missing:
        raise VmebError(f"no barrier given for species {missing}")
    return ConstantBarriers([barriers[s] for s in species])


def arrhenius_fit(
    temperatures: Sequence[float], values: Sequence[float], errors: Sequence[float]
) -> dict[str, float]:
    """Weighted least-squares fit of ``D = D0 exp(-Q / k_B T)``.

    Fits ``ln D = ln D0 - Q / (k_B T)`` with weights ``(D / sigma_D)^2`` (the variance of
    ln D is ``(sigma_D / D)^2``); the errors of Q and D0 are the fit's standard errors, scaled
    by the square root of the reduced chi-square when that exceeds 1.

    Args:
        temperatures: [K] temperatures (K), at least 2 distinct.
        values: [K] diffusivities (positive).
        errors: [K] their standard errors (non-positive or non-finite: unweighted).

    Returns:
        ``{"Q_eV", "Q_error_eV", "D0", "D0_error"}`` (D0 in the unit of ``values``).
    """
    t = np.asarray(temperatures, dtype=np.float64)
    d = np.asarray(values, dtype=np.float64)
    err = np.asarray(errors, dtype=np.float64)
    if len(np.unique(t)) < 2 or np.any(d <= 0) or not np.all(np.isfinite(d)):
        raise VmebError("an Arrhenius fit needs positive diffusivities at 2 or more temperatures")
    x = -1.0 / (BOLTZMANN_EV_K * t)
    y = np.log(d)
    good = np.isfinite(err) & (err > 0)
    weights = np.where(good, (d / np.where(good, err, 1.0)) ** 2, 1.0)
    design = np.stack([np.ones_like(x), x], axis=1)
    normal = design.T @ (weights[:, None] * design)
    cov = np.linalg.inv(normal)
    coef = cov @ design.T @ (weights * y)
    if len(t) > 2:
        chi2 = float(np.sum(weights * (y - design @ coef) ** 2) / (len(t) - 2))
        cov = cov * max(chi2, 1.0)
    d0 = float(np.exp(coef[0]))
    return {
        "Q_eV": float(coef[1]),
        "Q_error_eV": float(np.sqrt(cov[1, 1])),
        "D0": d0,
        "D0_error": float(d0 * np.sqrt(cov[0, 0])),
    }
