"""Chemical short-range order (CSRO) by swap Monte Carlo in LAMMPS.

Two methods, one result type (`OrderResult`):

- `hybrid_mcmd` (the paper's Methods): NVT molecular dynamics with a Nose-Hoover thermostat at
  300 K, and every 100 MD steps 30 Metropolis swap trials at 300 K for every pair of species
  (one LAMMPS ``fix atom/swap`` per pair, ``semi-grand no``: atom counts are kept). Timestep
  2 fs (``timestep 0.002`` ps; the paper gives none: 1-2 fs is the usual choice for these heavy
  BCC metals at 300 K; in NVE at 340 K with the reference EAM the total energy stays within
  0.003 meV/atom over 1 ps at 2 fs, see docs/csro.md), thermostat
  damping ``Tdamp = 100`` timesteps (0.2 ps). ``ke yes``: after a swap the velocities of the two
  atoms are rescaled by ``sqrt(m_old / m_new)`` so the kinetic energy is unchanged (swapping Ta,
  181 amu, with Nb, 93 amu, at fixed velocity would otherwise heat or cool the system by up to a
  factor 2 per atom, which the thermostat would then have to remove). Velocities are drawn from
  the seed. The MD relaxes the local lattice distortions around each new arrangement, so the
  order reached is that of the relaxed alloy at temperature; it costs about 100 force
  evaluations per 30 trials of each pair.
- `lattice_swap_mc`: plain Metropolis swap Monte Carlo on the rigid lattice (atoms stay where
  they are; only species move). Energies come from LAMMPS through the same ``fix atom/swap`` run
  with no time integration (each step is one sweep: N trials split evenly over the species
  pairs), so every trial is a full LAMMPS energy evaluation of the current arrangement: exact
  for any potential (EAM, SNAP) and free of Python overhead. It skips the 100 MD steps per swap
  event, so it reaches a given number of trials faster than hybrid MC/MD; it
  ignores relaxation, so it fits potentials whose ordering energetics are pair-like on the ideal
  lattice, larger cells and quick surveys. Trial cost is O(N) (one full evaluation) for both
  methods; lattice MC needs about 2.5x less CPU per trial (figures in docs/csro.md).

Inherent energies: at each record step the current configuration is quenched (conjugate
gradients at fixed cell to a force norm of ``quench_ftol``) in a separate LAMMPS session; its
energy is the inherent potential energy of the paper's Supp. Fig. 4, and the quenched structure
(with the current species) is what a snapshot stores, so NEB starts from a 0 K lattice. The
order parameters along the run are evaluated on the fixed site-pair table of the starting
structure (`vmeb.csro.order_parameters.counts_from_types`): atoms keep their sites (no vacancies,
no diffusion),
``fix atom/swap`` exchanges species, not positions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ase import Atoms
from tqdm.auto import tqdm

from vmeb.csro.order_parameters import (
    ShellPairs,
    bcc_shells,
    counts_from_types,
    pair_labels,
    shell_pairs,
)
from vmeb.errors import VmebError, file_error
from vmeb.files import staged_output, write_json
from vmeb.lammps.base import require_lammps_potential
from vmeb.lammps.potentials import Potential, load_potential
from vmeb.species import SpeciesTable
from vmeb.structure.lattice import sample_lattice_constant

logger = logging.getLogger(__name__)

#: Name of the step column of `OrderResult.trajectory` per method.
STEP_COLUMNS = {"hybrid_mcmd": "md_step", "lattice_mc": "mc_sweep"}
#: Short tag of a step in snapshot labels per method (``TaNbMo_md5000``, ``TaNbMo_mc200``).
STEP_TAGS = {"hybrid_mcmd": "md", "lattice_mc": "mc"}


@dataclass(frozen=True)
class HybridMCMDConfig:
    """Settings of `hybrid_mcmd` (defaults: the paper's Methods).

    Attributes:
        steps: MD steps to run.
        temperature: Thermostat and Metropolis temperature (K).
        timestep: MD timestep (ps); 0.002 = 2 fs.
        tdamp_steps: Nose-Hoover damping time in timesteps.
        swap_interval: MD steps between swap events.
        swap_trials: Swap trials per species pair at each event.
        kinetic_energy: ``fix atom/swap ... ke yes`` (rescale swapped velocities).
        snapshot_steps: MD steps at which the quenched structure is kept as a sample.
        record_interval: MD steps between trajectory records (each costs one quench).
        n_shells: Neighbour shells of the order parameters in the trajectory.
        relax_first: Minimise the positions (fixed cell) before the MD.
        quench_ftol: Force-norm tolerance of quenches (eV/Å).
        label: Prefix of snapshot labels (default: the species joined, e.g. ``TaNbMo``).
    """

    steps: int = 10000
    temperature: float = 300.0
    timestep: float = 0.002
    tdamp_steps: int = 100
    swap_interval: int = 100
    swap_trials: int = 30
    kinetic_energy: bool = True
    snapshot_steps: tuple[int, ...] = ()
    record_interval: int = 500
    n_shells: int = 2
    relax_first: bool = True
    quench_ftol: float = 1e-4
    label: str | None = None


@dataclass(frozen=True)
class LatticeMCConfig:
    """Settings of `lattice_swap_mc`.

    Attributes:
        sweeps: Monte Carlo sweeps (N swap trials each, N = atoms).
        temperature: Metropolis temperature (K).
        snapshot_sweeps: Sweeps at which the quenched structure is kept as a sample.
        record_interval: Sweeps between trajectory records.
        n_shells: Neighbour shells of the order parameters in the trajectory.
        relax_first: Minimise the positions (fixed cell) before the MC; trials then use these
            relaxed sites.
        quench_ftol: Force-norm tolerance of quenches (eV/Å).
        label: Prefix of snapshot labels (default: the species joined).
    """

    sweeps: int = 100
    temperature: float = 300.0
    snapshot_sweeps: tuple[int, ...] = ()
    record_interval: int = 10
    n_shells: int = 2
    relax_first: bool = False
    quench_ftol: float = 1e-4
    label: str | None = None


@dataclass(frozen=True)
class OrderResult:
    """Outcome of a CSRO run (either method).

    Attributes:
        method: ``hybrid_mcmd`` or ``lattice_mc``.
        species: LAMMPS type order (type 1 first); columns of the order parameters.
        trajectory: One row per record: the step column (`STEP_COLUMNS`), ``potential_energy``
            (eV, instantaneous: thermal for MC/MD, rigid lattice for lattice MC),
            ``temperature`` (K), ``inherent_energy`` and ``inherent_energy_per_atom`` (eV),
            ``delta_<k>_<A>-<B>`` and ``alpha_<k>_<A>-<B>`` for shells k = 1..K and species
            pairs A <= B, and cumulative ``attempted_<A>-<B>`` / ``accepted_<A>-<B>`` swaps.
        snapshots: Quenched structures at the snapshot steps; ``info`` holds ``sample_id`` and
            ``group`` (the label, e.g. ``TaNbMo_md5000``), the step, ``potential_energy``
            (inherent, eV), ``method`` and ``temperature``.
        swaps: One row per species pair: ``pair``, ``attempted``, ``accepted``, ``acceptance``.
        final: The quenched final structure (info as for snapshots).
        settings: The config and seed, JSON-serialisable.
    """

    method: str
    species: tuple[str, ...]
    trajectory: pd.DataFrame
    snapshots: tuple[Atoms, ...]
    swaps: pd.DataFrame
    final: Atoms
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def step_column(self) -> str:
        """Name of the step column of the trajectory (``md_step`` or ``mc_sweep``)."""
        return STEP_COLUMNS[self.method]


def _species_pairs(atoms: Atoms, species: Sequence[str]) -> list[tuple[int, int]]:
    """1-based LAMMPS type pairs (a < b) of species that are both present."""
    present = set(atoms.get_chemical_symbols())
    types = [i + 1 for i, s in enumerate(species) if s in present]
    return [(a, b) for k, a in enumerate(types) for b in types[k + 1 :]]


def _fix_seeds(rng: np.random.Generator, count: int) -> list[int]:
    return [int(s) for s in rng.integers(1, 900_000_000, size=count)]


def _swap_counts(lmp, n_pairs: int) -> np.ndarray:
    """[P, 2] cumulative (attempted, accepted) swaps of the ``vmeb_swap<k>`` fixes."""
    from vmeb.lammps.loading import import_lammps  # noqa: PLC0415

    lammps = import_lammps()
    out = np.zeros((n_pairs, 2))
    for k in range(n_pairs):
        for column in (0, 1):
            out[k, column] = lmp.extract_fix(
                f"vmeb_swap{k}", lammps.LMP_STYLE_GLOBAL, lammps.LMP_TYPE_VECTOR, column
            )
    return out


def _event_steps(total: int, record_interval: int, snapshots: Sequence[int]) -> list[int]:
    """Sorted steps at which the run stops to record: 0, every interval, snapshots, the end."""
    if record_interval < 1:
        raise VmebError(f"record interval must be at least 1, got {record_interval}")
    bad = [s for s in snapshots if not 0 <= int(s) <= total]
    if bad:
        raise VmebError(f"snapshot steps {bad} lie outside 0..{total}")
    steps = set(range(0, total + 1, record_interval)) | {int(s) for s in snapshots} | {total}
    return sorted(steps)


def _default_label(species: Sequence[str], atoms: Atoms, label: str | None) -> str:
    label = label or "".join(s for s in species if s in set(atoms.get_chemical_symbols()))
    if not all(c.isalnum() or c in "-_." for c in label):
        raise VmebError(f"label {label!r}: use letters, digits, '-', '_' and '.' only")
    return label


class _Recorder:
    """Collects trajectory rows and snapshots while a swap run advances."""

    def __init__(
        self,
        method: str,
        atoms: Atoms,
        potential: Potential,
        species: tuple[str, ...],
        pairs: ShellPairs,
        type_pairs: list[tuple[int, int]],
        label: str,
        temperature: float,
        quench_ftol: float,
    ) -> None:
        self.method = method
        self.template = atoms
        self.potential = potential
        self.species = species
        self.pairs = pairs
        self.type_pairs = type_pairs
        self.label = label
        self.temperature = temperature
        self.quench_ftol = quench_ftol
        self.rows: list[dict[str, Any]] = []
        self.snapshots: list[Atoms] = []
        self.last: Atoms | None = None

    def quench(self, current: Atoms, step: int) -> tuple[Atoms, float]:
        from vmeb.lammps.session import relax  # noqa: PLC0415

        relaxed, energy = relax(
            current, self.potential, species=self.species, box=False, ftol=self.quench_ftol
        )
        relaxed.wrap()
        relaxed.info = {
            "sample_id": f"{self.label}_{STEP_TAGS[self.method]}{step}",
            "group": f"{self.label}_{STEP_TAGS[self.method]}{step}",
            STEP_COLUMNS[self.method]: int(step),
            "potential_energy": float(energy),
            "method": self.method,
            "temperature": float(self.temperature),
        }
        return relaxed, float(energy)

    def record(
        self, lmp, step: int, snapshot: bool, swap_counts: np.ndarray, temperature: float
    ) -> None:
        from vmeb.lammps.session import read_positions  # noqa: PLC0415

        current = read_positions(lmp, self.template)
        quenched, inherent = self.quench(current, step)
        self.last = quenched
        if snapshot:
            self.snapshots.append(quenched)
        types = SpeciesTable(self.species).indices(current.get_chemical_symbols())
        counts = counts_from_types(types, self.pairs, self.species)
        delta, alpha = counts.delta(), counts.warren_cowley()
        row: dict[str, Any] = {
            STEP_COLUMNS[self.method]: int(step),
            "potential_energy": float(lmp.get_thermo("pe")),
            "temperature": float(temperature),
            "inherent_energy": inherent,
            "inherent_energy_per_atom": inherent / len(current),
        }
        for k in range(self.pairs.shells.n_shells):
            for a, b, name in pair_labels(self.species):
                row[f"delta_{k + 1}_{name}"] = float(delta[k, a, b])
                row[f"alpha_{k + 1}_{name}"] = float(alpha[k, a, b])
        for (ta, tb), (attempted, accepted) in zip(self.type_pairs, swap_counts, strict=True):
            name = f"{self.species[ta - 1]}-{self.species[tb - 1]}"
            row[f"attempted_{name}"] = int(attempted)
            row[f"accepted_{name}"] = int(accepted)
        self.rows.append(row)

    def result(self, swap_counts: np.ndarray, settings: dict[str, Any]) -> OrderResult:
        swaps = pd.DataFrame(
            {
                "pair": [
                    f"{self.species[a - 1]}-{self.species[b - 1]}" for a, b in self.type_pairs
                ],
                "attempted": swap_counts[:, 0].astype(int) if len(swap_counts) else [],
                "accepted": swap_counts[:, 1].astype(int) if len(swap_counts) else [],
            }
        )
        swaps["acceptance"] = swaps["accepted"] / swaps["attempted"].where(swaps["attempted"] > 0)
        return OrderResult(
            method=self.method,
            species=self.species,
            trajectory=pd.DataFrame(self.rows),
            snapshots=tuple(self.snapshots),
            swaps=swaps,
            final=self.last,
            settings=settings,
        )


def _prepare(
    atoms: Atoms,
    potential: Potential | str | None,
    n_shells: int,
    relax_first: bool,
    quench_ftol: float,
) -> tuple[Atoms, Potential, tuple[str, ...], ShellPairs, list[tuple[int, int]]]:
    from vmeb.lammps.session import relax, species_of  # noqa: PLC0415

    potential = load_potential(potential)
    require_lammps_potential(potential, "swap Monte Carlo (vmeb order)")
    species = species_of(atoms, potential)
    type_pairs = _species_pairs(atoms, species)
    if not type_pairs:
        raise VmebError("swap Monte Carlo needs at least two species in the sample")
    start = atoms.copy()
    start.calc = None
    if relax_first:
        start, _ = relax(start, potential, species=species, box=False, ftol=quench_ftol)
    pairs = shell_pairs(start, bcc_shells(sample_lattice_constant(start), n_shells))
    return start, potential, species, pairs, type_pairs


def _run_events(
    lmp,
    recorder: _Recorder,
    events: list[int],
    snapshots: set[int],
    n_pairs: int,
    thermal: bool = True,
) -> np.ndarray:
    """Advance LAMMPS from event to event, recording at each; returns [P, 2] final swap counts.

    ``thermal``: read the MD temperature (else the Metropolis temperature is recorded).
    """
    previous = 0
    counts = np.zeros((n_pairs, 2))
    for step in tqdm(events, desc=recorder.method, unit="record", disable=None, leave=False):
        if step > previous:
            lmp.command(f"run {step - previous} post no")
        else:
            lmp.command("run 0 post no")
        previous = step
        counts = _swap_counts(lmp, n_pairs)
        temperature = float(lmp.get_thermo("temp")) if thermal else recorder.temperature
        recorder.record(lmp, step, step in snapshots, counts, temperature)
    return counts


def hybrid_mcmd(
    atoms: Atoms,
    potential: Potential | str | None,
    config: HybridMCMDConfig = HybridMCMDConfig(),
    seed: int | np.random.Generator = 0,
) -> OrderResult:
    """Hybrid Monte Carlo / molecular dynamics CSRO run (paper Methods; see module doc).

    Args:
        atoms: Starting BCC sample (usually a random solid solution), kept at its cell (NVT).
        potential: A `Potential` or spec.
        config: Run settings.
        seed: Seed or generator for the velocities and the swap trials.

    Returns:
        The trajectory, snapshots, swap statistics and final structure.
    """
    from vmeb.lammps.session import lammps_session  # noqa: PLC0415

    if config.steps < 0 or config.swap_interval < 1 or config.swap_trials < 0:
        raise VmebError("hybrid MC/MD needs steps >= 0, swap interval >= 1 and trials >= 0")
    if not (config.temperature > 0 and config.timestep > 0):
        raise VmebError("hybrid MC/MD needs a positive temperature and timestep")
    events = _event_steps(config.steps, config.record_interval, config.snapshot_steps)
    rng = np.random.default_rng(seed)
    start, potential, species, pairs, type_pairs = _prepare(
        atoms, potential, config.n_shells, config.relax_first, config.quench_ftol
    )
    label = _default_label(species, start, config.label)
    recorder = _Recorder(
        "hybrid_mcmd", start, potential, species, pairs, type_pairs, label,
        config.temperature, config.quench_ftol,
    )  # fmt: skip
    seeds = _fix_seeds(rng, len(type_pairs) + 1)
    temperature = float(config.temperature)
    ke = "yes" if config.kinetic_energy else "no"
    with lammps_session(start, potential, species) as lmp:
        commands = [
            "thermo_style custom step pe temp",
            f"timestep {config.timestep!r}",
            f"velocity all create {temperature!r} {seeds[0]} dist gaussian mom yes rot yes",
            f"fix vmeb_nvt all nvt temp {temperature!r} {temperature!r} "
            f"{config.tdamp_steps * config.timestep!r}",
        ]
        for k, (a, b) in enumerate(type_pairs):
            commands.append(
                f"fix vmeb_swap{k} all atom/swap {config.swap_interval} {config.swap_trials} "
                f"{seeds[k + 1]} {temperature!r} ke {ke} semi-grand no types {a} {b}"
            )
        lmp.commands_list(commands)
        counts = _run_events(lmp, recorder, events, set(config.snapshot_steps), len(type_pairs))
    settings = {"method": "hybrid_mcmd", "config": asdict(config), "seed": _seed_json(seed)}
    logger.info("hybrid MC/MD: %d steps, swaps %s", config.steps, counts.tolist())
    return recorder.result(counts, settings)


def lattice_swap_mc(
    atoms: Atoms,
    potential: Potential | str | None,
    temperature: float | None = None,
    sweeps: int | None = None,
    seed: int | np.random.Generator = 0,
    config: LatticeMCConfig | None = None,
) -> OrderResult:
    """Metropolis swap Monte Carlo on the rigid lattice (see module doc).

    Args:
        atoms: Starting BCC sample; the atoms stay at these positions (relaxed first if
            ``config.relax_first``).
        potential: A `Potential` or spec.
        temperature: Metropolis temperature (K), shorthand for
            ``LatticeMCConfig(temperature=...)``; only without ``config``.
        sweeps: Sweeps (N trials each), shorthand for ``LatticeMCConfig(sweeps=...)``; only
            without ``config``.
        seed: Seed or generator for the swap trials.
        config: All settings (temperature, sweeps, snapshots, records, shells); the one source
            of truth when given.

    Returns:
        The trajectory (``temperature`` column: the Metropolis temperature), snapshots, swap
        statistics and final structure.

    Raises:
        VmebError: if ``temperature`` or ``sweeps`` is given together with ``config``.
    """
    from vmeb.lammps.session import lammps_session  # noqa: PLC0415

    config = _lattice_config(temperature, sweeps, config)
    if config.sweeps < 0 or not config.temperature > 0:
        raise VmebError("lattice MC needs sweeps >= 0 and a positive temperature")
    events = _event_steps(config.sweeps, config.record_interval, config.snapshot_sweeps)
    rng = np.random.default_rng(seed)
    start, potential, species, pairs, type_pairs = _prepare(
        atoms, potential, config.n_shells, config.relax_first, config.quench_ftol
    )
    label = _default_label(species, start, config.label)
    recorder = _Recorder(
        "lattice_mc", start, potential, species, pairs, type_pairs, label,
        config.temperature, config.quench_ftol,
    )  # fmt: skip
    seeds = _fix_seeds(rng, len(type_pairs))
    trials = int(np.ceil(len(start) / len(type_pairs)))
    with lammps_session(start, potential, species) as lmp:
        # no time integration: positions stay; one step = one sweep of N trials
        commands = ["thermo_style custom step pe"]
        for k, (a, b) in enumerate(type_pairs):
            commands.append(
                f"fix vmeb_swap{k} all atom/swap 1 {trials} {seeds[k]} "
                f"{config.temperature!r} ke no semi-grand no types {a} {b}"
            )
        lmp.commands_list(commands)
        counts = _run_events(
            lmp, recorder, events, set(config.snapshot_sweeps), len(type_pairs), thermal=False
        )
    settings = {"method": "lattice_mc", "config": asdict(config), "seed": _seed_json(seed)}
    logger.info("lattice MC: %d sweeps, swaps %s", config.sweeps, counts.tolist())
    return recorder.result(counts, settings)


def _lattice_config(
    temperature: float | None, sweeps: int | None, config: LatticeMCConfig | None
) -> LatticeMCConfig:
    """The run's settings: ``config``, or the defaults with ``temperature``/``sweeps`` set."""
    given = {k: v for k, v in (("temperature", temperature), ("sweeps", sweeps)) if v is not None}
    if config is None:
        return LatticeMCConfig(**given)
    if given:
        raise VmebError(
            f"lattice_swap_mc: {', '.join(given)} given both as argument and in config; "
            "set them in LatticeMCConfig only"
        )
    return config


def _seed_json(seed: int | np.random.Generator) -> int | str:
    return int(seed) if isinstance(seed, int | np.integer) else "generator"


def write_order_result(
    result: OrderResult, directory: str | os.PathLike, figures: bool = False
) -> Path:
    """Write a result as a directory, atomically (built beside it, then renamed).

    Layout: ``snapshots/<label>.extxyz`` (one sample per snapshot, ready for ``vmeb neb``),
    ``final.extxyz``, ``trajectory.csv``, ``swaps.csv`` and ``order.json`` (method, species,
    settings, snapshot list).

    Args:
        result: The run's result.
        directory: Output directory; must not exist.
        figures: Also draw ``figures/energy_delta.png`` (inherent energy and delta_ab^1 versus
            step, paper Supp. Fig. 4).

    Returns:
        The directory.
    """
    from vmeb.structure.io import write_structure_file  # noqa: PLC0415

    root = Path(directory)
    if root.exists():
        raise file_error(root, "already exists (choose another output or remove it)")
    with staged_output(root) as tmp:
        for snap in result.snapshots:
            write_structure_file(tmp / "snapshots" / f"{snap.info['sample_id']}.extxyz", snap)
        write_structure_file(tmp / "final.extxyz", result.final)
        result.trajectory.to_csv(tmp / "trajectory.csv", index=False)
        result.swaps.to_csv(tmp / "swaps.csv", index=False)
        summary = {
            "method": result.method,
            "species": list(result.species),
            "step_column": result.step_column,
            "settings": result.settings,
            "snapshots": [
                {
                    "file": f"snapshots/{s.info['sample_id']}.extxyz",
                    "group": s.info["group"],
                    result.step_column: s.info[result.step_column],
                    "potential_energy": s.info["potential_energy"],
                }
                for s in result.snapshots
            ],
        }
        write_json(tmp / "order.json", summary)
        if figures:
            import matplotlib.pyplot as plt  # noqa: PLC0415

            from vmeb.plots.csro import plot_energy_and_delta  # noqa: PLC0415

            fig = plot_energy_and_delta(
                result.trajectory, result.step_column, 1, tmp / "figures" / "energy_delta.png"
            )
            plt.close(fig)
    return root
