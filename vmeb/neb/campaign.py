"""NEB campaigns over many vacancy sites: local or Dask execution, append-as-you-go, resume.

A campaign computes the 8 first-neighbour hops of chosen vacancy sites of a set of samples and
writes them into a barrier dataset (`vmeb.data.dataset`). The unit of work is one *site task*:
remove
the atom, relax the vacancy cell once, run the 8 climbing-image NEBs (`vmeb.neb.site`). Its 8 rows
go
into ``hops.csv`` in one crash-safe append as soon as the task finishes, so:

- a campaign killed at any moment (SIGKILL, node lost, walltime) keeps every finished site;
- running the same command again on the same dataset skips the sites whose rows are present and
  computes only the rest: no hop is lost and none is written twice;
- a hop that fails (path check, no convergence) is stored with ``status=failed`` and its reason;
  a task that raises is stored as 8 failed rows carrying the exception text (after optional
  retries), never dropped.

Execution:

- ``workers=1``: tasks run one after the other in this process.
- ``workers>1``: a local process pool (spawned processes, one task each at a time).
- ``scheduler="tcp://host:port"`` (or a `distributed.Client`): tasks go to a Dask cluster with
  `Client.submit` and are collected with `distributed.as_completed`; samples are scattered to
  the workers once. Only this (the client) process writes to the dataset.

Packing cores: each task is one NEB at a time whose LAMMPS run uses ``ranks_per_task`` cores
(MPI partitions, see `vmeb.neb.site`). Choose ``workers * ranks_per_task <= cores``;
`default_workers` does this. ``docs/campaigns.md`` explains the choice and the cluster setup.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from vmeb.data.dataset import (
    DatasetHeader,
    append_hops,
    create_dataset,
    open_dataset,
    read_header,
    structure_path,
    write_structure,
)
from vmeb.errors import VmebError, file_error
from vmeb.files import is_temporary
from vmeb.lammps.base import CALCULATOR_KIND
from vmeb.lammps.potentials import AnyPotential, load_potential, potential_difference
from vmeb.neb.packing import (  # default_workers, ranks_per_task: re-exported
    comparable_neb_settings,
    config_json,
    default_workers,
    ranks_per_task,
    source_engine,
)
from vmeb.species import default_order
from vmeb.structure.neighbours import first_neighbours

logger = logging.getLogger(__name__)

#: First neighbours of a BCC site: the hops of one vacancy.
HOPS_PER_SITE = 8
#: Numbers inside failure reasons (replaced by ``#`` when counting kinds of failure).
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
#: Longest exception text stored in the ``reason`` column of a failed task.
MAX_REASON = 300


@dataclass(frozen=True)
class SiteTask:
    """One vacancy site of one sample: the unit of work of a campaign.

    Attributes:
        sample_id: Sample identifier in the dataset.
        vacancy_index: Atom removed to make the vacancy (0-based index into the stored sample).
        moving_indices: The 8 first neighbours still missing from the dataset (normally all 8).
    """

    sample_id: str
    vacancy_index: int
    moving_indices: tuple[int, ...]


@dataclass(frozen=True)
class SiteOutcome:
    """What a finished site task returns to the campaign.

    Attributes:
        task: The task.
        rows: Hop rows for the dataset (keys of `vmeb.data.dataset.HOP_COLUMNS`), one per missing
            hop.
        seconds: Wall time of the task (s), retries included.
        error: Exception text when the task raised on every attempt, else ``""``.
    """

    task: SiteTask
    rows: tuple[dict[str, Any], ...]
    seconds: float
    error: str = ""


@dataclass(frozen=True)
class CampaignReport:
    """Summary of a campaign run.

    Attributes:
        dataset: Dataset directory.
        n_sites: Sites in the campaign (done before and now).
        n_sites_skipped: Sites already complete in the dataset when this run started.
        n_sites_run: Sites computed by this run.
        n_hops_ok: Hops with a barrier written by this run.
        n_hops_failed: Hops stored as failed by this run (path check, no convergence, errors).
        n_task_errors: Site tasks that raised on every attempt (stored as failed rows).
        seconds: Wall time of this run (s).
        hops_per_hour: Hops (ok and failed) written per wall-clock hour by this run.
        barriers_per_hour: Barriers (ok hops) per wall-clock hour by this run.
        failure_reasons: Count of failed hops per kind of reason (numbers replaced by ``#``).
    """

    dataset: Path
    n_sites: int
    n_sites_skipped: int
    n_sites_run: int
    n_hops_ok: int
    n_hops_failed: int
    n_task_errors: int
    seconds: float
    hops_per_hour: float
    barriers_per_hour: float
    failure_reasons: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        out = asdict(self)
        out["dataset"] = str(self.dataset)
        out["failure_reasons"] = dict(self.failure_reasons)
        return out


# --------------------------------------------------------------------------------------------
# Planning: samples, sites, resume state
# --------------------------------------------------------------------------------------------


def _named_samples(samples: Mapping[str, Atoms] | Sequence[Atoms]) -> dict[str, Atoms]:
    """Samples keyed by id: a mapping as given, a sequence by ``info['sample_id']`` or position."""
    if isinstance(samples, Mapping):
        named = dict(samples)
    else:
        named = {}
        for i, atoms in enumerate(samples):
            sample_id = str(atoms.info.get("sample_id") or f"sample{i:04d}")
            if sample_id in named:
                raise VmebError(f"two samples share the id {sample_id!r}")
            named[sample_id] = atoms
    if not named:
        raise VmebError("no samples given")
    return named


def choose_sites(
    n_atoms: int, sample_id: str, sites: int | Sequence[int] | None, seed: int
) -> list[int]:
    """The vacancy sites of one sample.

    Args:
        n_atoms: Atoms in the sample.
        sample_id: Sample id; mixed into the seed so each sample draws its own sites.
        sites: None for every atom, an int N for N distinct sites drawn at random, or explicit
            0-based atom indices.
        seed: Seed of the random draw. The draw depends only on ``(seed, sample_id, n_atoms)``,
            so a resumed campaign picks the same sites.

    Returns:
        Sorted site indices.
    """
    if sites is None:
        return list(range(n_atoms))
    if isinstance(sites, int | np.integer):
        if sites < 1:
            raise VmebError(f"number of sites must be positive, got {sites}")
        if sites >= n_atoms:
            return list(range(n_atoms))
        rng = np.random.default_rng([int(seed), zlib.crc32(sample_id.encode())])
        return sorted(int(i) for i in rng.choice(n_atoms, size=int(sites), replace=False))
    chosen = sorted({int(i) for i in sites})
    if chosen and (chosen[0] < 0 or chosen[-1] >= n_atoms):
        bad = chosen[0] if chosen[0] < 0 else chosen[-1]
        raise VmebError(f"sample {sample_id}: site index {bad} out of range 0..{n_atoms - 1}")
    return chosen


def campaign_method(potential: AnyPotential, neb_config: Any) -> dict[str, Any]:
    """The ``method`` block of the dataset header: how the barriers are computed."""
    neb = config_json(neb_config)
    return {
        "kind": "neb",
        "engine": neb.get("engine", "lammps"),
        "potential": potential.to_json(),
        "neb": neb,
    }


def _species_order(
    named: Mapping[str, Atoms], potential: AnyPotential, existing: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The dataset's species: an existing dataset's order when it holds every element present
    (so a resumed campaign may add, e.g., a binary sample to a ternary dataset), else the
    elements present in the samples, in the potential's element order."""
    present = default_order(s for atoms in named.values() for s in atoms.get_chemical_symbols())
    potential.check_species(present)
    if existing is not None and set(present) <= set(existing):
        return tuple(existing)
    return default_order(present, potential.elements)


def _check_method(root: Path, method: Mapping[str, Any], potential: AnyPotential) -> None:
    """Refuse to resume into a dataset whose barriers were computed another way: another
    potential (name, pair style, file hashes: `potential_difference`) or other NEB settings."""
    existing = read_header(root).method
    if not existing:
        return
    differs = potential_difference(dict(existing.get("potential", {})), potential)
    if differs:
        raise file_error(
            root / "header.json",
            f"dataset was computed with {differs}; use the same potential or another output "
            "dataset",
        )
    if comparable_neb_settings(existing.get("neb", {})) != comparable_neb_settings(method["neb"]):
        raise file_error(
            root / "header.json",
            "dataset was computed with other NEB settings "
            f"({existing.get('neb')}); use the same settings or another output dataset",
        )


def _creation_cut_short(root: Path) -> bool:
    """Whether ``root`` is a dataset whose creation was killed before its header was written:
    only the structures folder, temporary files and a hop table without rows."""
    for entry in root.iterdir():
        if is_temporary(entry.name):
            continue
        if entry.name == "structures" and entry.is_dir():
            continue
        if entry.name == "hops.csv" and entry.read_bytes().count(b"\n") <= 1:
            continue
        return False
    return True


def _same_structure(a: Atoms, b: Atoms) -> bool:
    return (
        len(a) == len(b)
        and a.get_chemical_symbols() == b.get_chemical_symbols()
        and np.allclose(a.cell.array, b.cell.array, atol=1e-6)
        and np.allclose(a.positions, b.positions, atol=1e-6)
    )


def prepare_dataset(
    out_dataset: str | os.PathLike,
    named: Mapping[str, Atoms],
    potential: AnyPotential,
    neb_config: Any,
    groups: Mapping[str, str] | None = None,
) -> dict[str, Atoms]:
    """Create (or reopen) the campaign dataset and store the samples in it.

    A new dataset gets its header (species, lattice, method) and the samples. An existing one must
    hold the same species and NEB settings, and any sample already stored under the same id must
    be the same structure.

    Returns:
        The samples as read back from the dataset (the exact inputs the NEB tasks use, so a fresh
        and a resumed campaign compute from bit-identical structures).
    """
    root = Path(out_dataset)
    method = campaign_method(potential, neb_config)
    existing_species = None
    if root.exists() and any(root.iterdir()):
        if (root / "header.json").exists():
            _check_method(root, method, potential)
            existing_species = read_header(root).species
        elif not _creation_cut_short(root):
            raise file_error(root, "exists and is not a vmeb dataset; choose another output")
    species = _species_order(named, potential, existing_species)
    header = DatasetHeader(species=species, lattice={"type": "bcc"}, method=method)
    create_dataset(root, header, exist_ok=True)
    dataset = open_dataset(root)
    stored: dict[str, Atoms] = {}
    for sample_id, atoms in named.items():
        path = structure_path(root, sample_id)
        if path.exists():
            existing = dataset.structure(sample_id)
            if not _same_structure(existing, atoms):
                raise file_error(
                    path, f"a different structure is stored as sample {sample_id!r}; rename it"
                )
        else:
            write_structure(root, sample_id, atoms, group=(groups or {}).get(sample_id))
            dataset._structures.pop(sample_id, None)
        stored[sample_id] = dataset.structure(sample_id)
    return stored


def plan_tasks(
    root: str | os.PathLike,
    stored: Mapping[str, Atoms],
    sites: int | Sequence[int] | Mapping[str, Sequence[int]] | None,
    seed: int,
) -> tuple[list[SiteTask], int]:
    """The site tasks still to run, from the hop rows already in the dataset.

    A site whose 8 hops all have rows is skipped. A site with some rows (only possible if rows were
    added by hand: a task writes its rows in one append) runs again for its missing hops only.

    Returns:
        ``(tasks, n_complete)``: the tasks to run and the number of sites already complete.
    """
    hops = open_dataset(root).hops
    done: dict[tuple[str, int], set[int]] = {}
    for sid, vac, mov in zip(
        hops["sample_id"], hops["vacancy_index"], hops["moving_index"], strict=True
    ):
        done.setdefault((str(sid), int(vac)), set()).add(int(mov))
    tasks: list[SiteTask] = []
    n_complete = 0
    for sample_id, atoms in stored.items():
        wanted = sites.get(sample_id) if isinstance(sites, Mapping) else sites
        chosen = choose_sites(len(atoms), sample_id, wanted, seed)
        if not chosen:
            continue
        neighbours, _ = first_neighbours(atoms, np.asarray(chosen), HOPS_PER_SITE)
        for site, moving in zip(chosen, neighbours, strict=True):
            have = done.get((sample_id, site), set())
            missing = tuple(int(j) for j in moving if int(j) not in have)
            if not missing:
                n_complete += 1
                continue
            if have:
                logger.warning(
                    "%s site %d has %d of 8 hops; computing the missing ones",
                    sample_id,
                    site,
                    len(have),
                )
            tasks.append(SiteTask(sample_id, site, missing))
    return tasks, n_complete


# --------------------------------------------------------------------------------------------
# The task (runs in a worker: this process, a pool process or a Dask worker)
# --------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _engine_resolved(neb_config: Any, potential: AnyPotential, atoms: Atoms) -> Any:
    """``neb_config`` with ``engine="auto"`` replaced by the engine that runs for the vacancy
    cell of ``atoms`` (`vmeb.neb.site.resolve_engine`), so that every row names it."""
    if not hasattr(neb_config, "engine"):
        return neb_config
    from vmeb.neb.site import resolve_engine  # noqa: PLC0415

    return replace(neb_config, engine=resolve_engine(neb_config, potential, len(atoms) - 1))


def failed_rows(
    task: SiteTask, atoms: Atoms, reason: str, source: str, engine: str, n_replicas: int | None
) -> list[dict[str, Any]]:
    """Rows recording every missing hop of ``task`` as failed with ``reason``."""
    symbols = atoms.get_chemical_symbols()
    return [
        {
            "sample_id": task.sample_id,
            "vacancy_index": task.vacancy_index,
            "moving_index": j,
            "moving_species": symbols[j],
            "barrier": math.nan,
            "reverse_barrier": math.nan,
            "energy_change": math.nan,
            "converged": False,
            "status": "failed",
            "reason": _one_line(reason),
            "source": source,
            "engine": engine,
            "n_replicas": n_replicas,
        }
        for j in task.moving_indices
    ]


def run_site_task(
    task: SiteTask,
    atoms: Atoms,
    potential: AnyPotential,
    neb_config: Any,
    species: Sequence[str],
    source: str,
    retries: int = 0,
) -> SiteOutcome:
    """Compute the missing hops of one vacancy site; never raises for a failing NEB.

    Args:
        task: The site and its missing moving atoms.
        atoms: The perfect sample (as stored in the dataset).
        potential: Interatomic potential.
        neb_config: A `vmeb.neb.site.NEBConfig`.
        species: Dataset species order (LAMMPS type order).
        source: Label for the ``source`` column.
        retries: Extra attempts after an exception.

    Returns:
        The outcome, with one row per missing hop: NEB results, or failed rows carrying the
        exception text when every attempt raised.
    """
    from vmeb.neb.site import compute_site_barriers  # noqa: PLC0415 - worker side

    neb_config = _engine_resolved(neb_config, potential, atoms)  # for failed rows too
    start = time.perf_counter()
    error = ""
    for attempt in range(retries + 1):
        try:
            results = compute_site_barriers(
                atoms, task.vacancy_index, potential, config=neb_config, species=list(species)
            )
        except Exception as exc:  # noqa: BLE001 - any task failure is recorded, never lost
            error = f"task error: {type(exc).__name__}: {exc}"
            logger.warning(
                "%s site %d attempt %d: %s", task.sample_id, task.vacancy_index, attempt + 1, error
            )
            continue
        wanted = set(task.moving_indices)
        rows = [r.to_row(task.sample_id, source) for r in results]
        rows = [r for r in rows if int(r["moving_index"]) in wanted]
        got = {int(r["moving_index"]) for r in rows}
        if got != wanted:
            error = f"task error: NEB returned hops {sorted(got)}, expected {sorted(wanted)}"
            continue
        return SiteOutcome(task, tuple(rows), time.perf_counter() - start)
    config = config_json(neb_config)
    rows = failed_rows(
        task, atoms, error, source, config.get("engine", "lammps"), config.get("n_replicas")
    )
    return SiteOutcome(task, tuple(rows), time.perf_counter() - start, error=error)


# --------------------------------------------------------------------------------------------
# Executors: serial, local process pool, Dask
# --------------------------------------------------------------------------------------------

#: Signature of the task function the executors call: (task, atoms) -> outcome.
TaskFunction = Callable[[SiteTask, Atoms], SiteOutcome]


def _serial_outcomes(
    tasks: Sequence[SiteTask], stored: Mapping[str, Atoms], run_kwargs: Mapping[str, Any]
) -> Iterator[SiteOutcome]:
    for task in tasks:
        yield run_site_task(task, stored[task.sample_id], **run_kwargs)


def worker_init() -> None:
    """Pool worker set-up: one BLAS/OpenMP thread, so workers x ranks packs the cores."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def _pool_outcomes(
    tasks: Sequence[SiteTask],
    stored: Mapping[str, Atoms],
    run_kwargs: Mapping[str, Any],
    workers: int,
) -> Iterator[SiteOutcome]:
    """Run tasks in a spawned process pool, at most ``2 * workers`` in flight, as they finish."""
    context = multiprocessing.get_context("spawn")
    pending = iter(tasks)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=worker_init) as pool:
        in_flight = set()

        def submit_more() -> None:
            while len(in_flight) < 2 * workers:
                task = next(pending, None)
                if task is None:
                    return
                in_flight.add(
                    pool.submit(run_site_task, task, stored[task.sample_id], **run_kwargs)
                )

        submit_more()
        while in_flight:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                in_flight.discard(future)
                try:
                    outcome = future.result()
                except Exception as exc:  # BrokenProcessPool: a worker died (crash, OOM kill)
                    raise VmebError(
                        f"a campaign worker process died ({type(exc).__name__}: {exc}); "
                        "finished sites are saved: run the same command again to resume"
                    ) from exc
                yield outcome
            submit_more()


def connect_scheduler(address: str, timeout: float = 5.0) -> Any:
    """A `distributed.Client` of the Dask scheduler at ``address``, or one line naming it.

    Args:
        address: Scheduler address, e.g. ``tcp://10.0.0.5:8786``.
        timeout: Seconds to wait for the scheduler to answer.

    Raises:
        VmebError: naming ``address``, if it is malformed or no scheduler answers in time.
    """
    try:
        from distributed import Client  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - dependency
        raise VmebError("Dask scheduling needs Dask: pip install 'vmeb[neb]'") from exc
    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, ValueError, TypeError) as exc:  # TimeoutError is an OSError
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VmebError(f"cannot reach Dask scheduler {address!r}: {detail}") from None


def _dask_outcomes(
    tasks: Sequence[SiteTask],
    stored: Mapping[str, Atoms],
    run_kwargs: Mapping[str, Any],
    scheduler: Any,
) -> Iterator[SiteOutcome]:
    """Run tasks on a Dask cluster (address or `distributed.Client`), yielding as they finish."""
    try:
        from distributed import Client, as_completed  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - dependency
        raise VmebError("Dask scheduling needs Dask: pip install 'vmeb[neb]'") from exc
    if not tasks:
        return
    own_client = not isinstance(scheduler, Client)
    client = connect_scheduler(scheduler, timeout=60.0) if own_client else scheduler
    try:
        token = uuid.uuid4().hex[:12]
        used = sorted({t.sample_id for t in tasks})
        scattered = client.scatter({sid: stored[sid] for sid in used}, broadcast=False)
        futures = [
            client.submit(
                run_site_task,
                task,
                scattered[task.sample_id],
                **run_kwargs,
                pure=False,
                key=f"vmeb-site-{task.sample_id}-{task.vacancy_index}-{token}",
            )
            for task in tasks
        ]
        task_of = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - worker lost: record as failed rows
                task = task_of[future.key]
                reason = f"task error: Dask worker failure: {type(exc).__name__}: {exc}"
                config = config_json(
                    _engine_resolved(
                        run_kwargs["neb_config"], run_kwargs["potential"], stored[task.sample_id]
                    )
                )
                rows = failed_rows(
                    task,
                    stored[task.sample_id],
                    reason,
                    run_kwargs["source"],
                    config.get("engine", "lammps"),
                    config.get("n_replicas"),
                )
                outcome = SiteOutcome(task, tuple(rows), 0.0, error=reason)
            future.release()
            yield outcome
    finally:
        if own_client:
            client.close()


# --------------------------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------------------------


def _reason_kind(reason: str) -> str:
    """A failure reason with its numbers replaced by ``#``, for counting kinds of failure."""
    if not reason:
        return "unknown"
    return _NUMBER.sub("#", reason)[:120]


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(total=total, unit="site", desc="NEB sites", disable=not enabled, smoothing=0.1)


def _check_sites(named: Mapping[str, Atoms], sites: Any, seed: int) -> None:
    """Refuse (`choose_sites`) a site choice that does not fit some sample, before any work."""
    for sample_id, atoms in named.items():
        wanted = sites.get(sample_id) if isinstance(sites, Mapping) else sites
        choose_sites(len(atoms), sample_id, wanted, seed)


def _potential_and_config(potential: AnyPotential | str, neb_config: Any) -> tuple:
    """The campaign's potential and NEB settings: a calculator potential's engine resolved to
    ``ase`` and recorded as such (a LAMMPS engine refused here, before any output)."""
    from vmeb.neb.site import NEBConfig, resolve_engine  # noqa: PLC0415

    neb_config = NEBConfig() if neb_config is None else neb_config
    potential = load_potential(potential)
    if potential.kind == CALCULATOR_KIND:
        neb_config = replace(neb_config, engine=resolve_engine(neb_config, potential, 0))
    return potential, neb_config


def run_neb_campaign(
    samples: Mapping[str, Atoms] | Sequence[Atoms],
    out_dataset: str | os.PathLike,
    potential: AnyPotential | str,
    neb_config: Any = None,
    sites: int | Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    seed: int = 0,
    workers: int | None = None,
    scheduler: Any = None,
    retries: int = 0,
    groups: Mapping[str, str] | None = None,
    source: str | None = None,
    progress: bool = True,
    max_sites: int | None = None,
) -> CampaignReport:
    """Compute NEB barriers of vacancy sites of ``samples`` into a dataset; resumable.

    Args:
        samples: Perfect (vacancy-free) BCC samples, keyed by sample id, or a sequence (ids from
            ``atoms.info['sample_id']`` or the position).
        out_dataset: Dataset directory: created, or resumed if it exists.
        potential: The interatomic potential.
        neb_config: A `vmeb.neb.site.NEBConfig` (default settings if None).
        sites: Vacancy sites per sample: None for all atoms, N for N random sites (drawn from
            ``seed`` and the sample id, so a rerun picks the same), explicit indices, or a mapping
            of sample id to indices.
        seed: Seed of the random site draw.
        workers: Local worker processes (default `default_workers` for the NEB's MPI ranks);
            1 runs in this process. Ignored with ``scheduler``.
        scheduler: Dask scheduler address (``tcp://host:8786``) or a `distributed.Client`.
        retries: Extra attempts for a site task that raises.
        groups: Metrics group of each sample (composition or CSRO label) for the dataset.
        source: ``source`` column label (default ``neb-<engine>:<potential name>``).
        progress: Show a tqdm progress bar with hops per hour.
        max_sites: Stop after this many sites in this run (the rest run when resumed).

    Returns:
        A `CampaignReport` of this run.
    """
    potential, neb_config = _potential_and_config(potential, neb_config)
    root = Path(out_dataset)
    named = _named_samples(samples)
    _check_sites(named, sites, seed)  # bad sites fail before the dataset is created
    stored = prepare_dataset(root, named, potential, neb_config, groups)
    config = config_json(neb_config)
    species = read_header(root).species
    source = source or f"neb-{source_engine(config)}:{potential.name}"
    tasks, n_complete = plan_tasks(root, stored, sites, seed)
    if max_sites is not None:
        tasks = tasks[: max(0, int(max_sites))]
    n_sites = n_complete + len(tasks)
    logger.info(
        "campaign %s: %d sites, %d already complete, %d to run",
        root,
        n_sites,
        n_complete,
        len(tasks),
    )
    run_kwargs = {
        "potential": potential,
        "neb_config": neb_config,
        "species": tuple(species),
        "source": source,
        "retries": int(retries),
    }
    if scheduler is not None:
        outcomes: Iterable[SiteOutcome] = _dask_outcomes(tasks, stored, run_kwargs, scheduler)
    else:
        n_atoms = max(len(atoms) for atoms in stored.values()) - 1  # vacancy cells
        workers = workers or default_workers(ranks_per_task(neb_config, potential, n_atoms))
        if workers > 1 and getattr(neb_config, "relax_workers", 0) is None:
            # the pool already packs the cores: one relaxation at a time per site task
            run_kwargs["neb_config"] = replace(neb_config, relax_workers=1)
        if workers == 1 or len(tasks) <= 1:
            outcomes = _serial_outcomes(tasks, stored, run_kwargs)
        else:
            outcomes = _pool_outcomes(tasks, stored, run_kwargs, workers)
    return _collect(root, outcomes, len(tasks), n_sites, n_complete, progress)


def _collect(
    root: Path,
    outcomes: Iterable[SiteOutcome],
    n_tasks: int,
    n_sites: int,
    n_complete: int,
    progress: bool,
) -> CampaignReport:
    """Append each outcome's rows as it arrives; keep counts and the progress bar."""
    start = time.perf_counter()
    n_ok = n_failed = n_errors = n_run = 0
    reasons: dict[str, int] = {}
    with _progress_bar(n_tasks, progress) as bar:
        for outcome in outcomes:
            append_hops(root, outcome.rows)
            n_run += 1
            n_errors += bool(outcome.error)
            for row in outcome.rows:
                if row.get("status") == "ok":
                    n_ok += 1
                else:
                    n_failed += 1
                    key = _reason_kind(str(row.get("reason", "")))
                    reasons[key] = reasons.get(key, 0) + 1
            hours = max(time.perf_counter() - start, 1e-9) / 3600.0
            bar.set_postfix(barriers_per_h=f"{n_ok / hours:.0f}", failed=n_failed, refresh=False)
            bar.update(1)
    seconds = time.perf_counter() - start
    report = CampaignReport(
        dataset=root,
        n_sites=n_sites,
        n_sites_skipped=n_complete,
        n_sites_run=n_run,
        n_hops_ok=n_ok,
        n_hops_failed=n_failed,
        n_task_errors=n_errors,
        seconds=seconds,
        hops_per_hour=(n_ok + n_failed) / max(seconds, 1e-9) * 3600.0,
        barriers_per_hour=n_ok / max(seconds, 1e-9) * 3600.0,
        failure_reasons=reasons,
    )
    logger.info(
        "campaign %s: %d sites run, %d hops ok, %d failed in %.1f s",
        root,
        n_run,
        n_ok,
        n_failed,
        seconds,
    )
    return report
