"""Labels of selected sites: NEB through the campaign machinery, or revealed from pool datasets.

Both paths write the 8 hop rows of each selected site into a barrier dataset of the campaign
(``OUTPUT/dataset`` for training, ``OUTPUT/test_dataset`` for a random test set) and are safe
to rerun after a kill:

- NEB (`label_by_neb`): `vmeb.neb.campaign.run_neb_campaign` with every site selected so far
  for that dataset; sites whose rows are present are skipped, so no hop is computed twice.
  The cost is the CPU time of this process and its finished children during the call
  (``getrusage``: the NEB's MPI ranks and worker processes; not remote Dask workers).
- Pool (`reveal_from_pool`): the rows of the pool datasets are appended for sites not yet in
  the target dataset; the cost is ``hop_seconds`` per revealed row (the NEB time is not
  recorded in those datasets), counted for every selected site, so a rerun charges the same.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vmeb.active.config import ActiveConfig
from vmeb.active.pool import Pool
from vmeb.data.dataset import (
    EXTRA_COLUMNS,
    HOP_COLUMNS,
    DatasetHeader,
    append_hops,
    create_dataset,
    open_dataset,
    read_header,
    read_hops,
    structure_path,
    valid_mask,
    write_structure,
)
from vmeb.errors import file_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelCost:
    """What labelling a batch cost.

    Attributes:
        hops: Hop rows of the batch's sites in the dataset (ok and failed).
        valid: Of which with a barrier.
        cpu_seconds: CPU time of the NEB (s; pool mode: ``hop_seconds`` per row).
        wall_seconds: Wall time of the stage (s).
    """

    hops: int
    valid: int
    cpu_seconds: float
    wall_seconds: float


def _cpu_now() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def prepare_label_dataset(root: Path, pool: Pool, config: ActiveConfig, potential, neb) -> None:
    """Create a campaign dataset holding every pool sample (so its species are the pool's from
    the first round on) with the NEB method, or the pool datasets' header in pool mode."""
    if (root / "header.json").exists():
        return
    groups = dict(zip(pool.candidates["sample_id"], pool.candidates["group"], strict=True))
    if not config.pool_mode:
        from vmeb.neb.campaign import prepare_dataset  # noqa: PLC0415

        prepare_dataset(root, pool.samples, potential, neb, groups)
        return
    source = read_header(config.pool_datasets[0])
    header = DatasetHeader(species=source.species, lattice=source.lattice, method=source.method)
    create_dataset(root, header, exist_ok=True)
    for sample_id, atoms in pool.samples.items():
        if not structure_path(root, sample_id).exists():
            write_structure(root, sample_id, atoms, group=groups[sample_id])


def _batch_counts(root: Path, sites: pd.DataFrame) -> tuple[int, int]:
    """(rows, valid rows) of the given sites in the dataset."""
    hops = read_hops(root)
    keys = set(zip(sites["sample_id"], sites["vacancy_index"], strict=True))
    mine = hops[[(s, int(v)) in keys for s, v in zip(hops["sample_id"], hops["vacancy_index"],
                                                     strict=True)]]  # fmt: skip
    return len(mine), int(valid_mask(mine).sum())


def label_by_neb(
    root: Path,
    pool: Pool,
    selected: pd.DataFrame,
    everything: pd.DataFrame,
    potential,
    neb,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    seed: int = 0,
    progress: bool = True,
) -> LabelCost:
    """NEB of the sites in ``selected`` (and any of ``everything`` still missing) into ``root``.

    Args:
        root: The campaign dataset.
        pool: The pool (its samples are the NEB inputs).
        selected: Candidate rows of this batch.
        everything: Candidate rows of every batch so far for this dataset (this one included):
            the campaign's site list, so a resumed run skips what is done.
        potential: The `vmeb.lammps.potentials.Potential`.
        neb: The `vmeb.neb.site.NEBConfig`.
        workers, scheduler: Local processes or a Dask scheduler (`run_neb_campaign`).
        seed: Seed passed to the campaign (its site lists are explicit, so unused there).
        progress: tqdm bar.
    """
    from vmeb.neb.campaign import run_neb_campaign  # noqa: PLC0415

    sites: dict[str, list[int]] = {}
    for sample_id, vacancy in zip(everything["sample_id"], everything["vacancy_index"],
                                  strict=True):  # fmt: skip
        sites.setdefault(str(sample_id), []).append(int(vacancy))
    samples = {sample_id: pool.samples[sample_id] for sample_id in sites}
    start, cpu = time.perf_counter(), _cpu_now()
    report = run_neb_campaign(
        samples, root, potential, neb, sites=sites, seed=seed, workers=workers,
        scheduler=scheduler, progress=progress,
    )  # fmt: skip
    logger.info("labelled by NEB: %s", report.to_json())
    cpu, wall = _cpu_now() - cpu, time.perf_counter() - start
    hops, valid = _batch_counts(root, selected)
    return LabelCost(hops=hops, valid=valid, cpu_seconds=cpu, wall_seconds=wall)


def reveal_from_pool(
    root: Path, selected: pd.DataFrame, pool_datasets: Sequence[str], hop_seconds: float
) -> LabelCost:
    """Append the pool datasets' rows of the selected sites to ``root`` (missing ones only).

    Args:
        root: The campaign dataset (made by `prepare_label_dataset`).
        selected: Candidate rows (``sample_id``, ``vacancy_index``, ``source``,
            ``source_sample``).
        pool_datasets: The pool dataset folders (``source`` indexes them).
        hop_seconds: CPU seconds charged per row.
    """
    start = time.perf_counter()
    present = read_hops(root)
    have = set(zip(present["sample_id"], present["vacancy_index"], strict=True))
    tables: dict[int, pd.DataFrame] = {}
    rows: list[dict[str, Any]] = []
    for record in selected.itertuples():
        if (record.sample_id, int(record.vacancy_index)) in have:
            continue
        if record.source not in tables:
            tables[record.source] = open_dataset(pool_datasets[record.source]).hops
        hops = tables[record.source]
        mine = hops[(hops["sample_id"] == record.source_sample)
                    & (hops["vacancy_index"] == record.vacancy_index)]  # fmt: skip
        if mine.empty:
            raise file_error(pool_datasets[record.source], f"no rows of site {record}")
        for row in mine.to_dict("records"):
            rows.append(_clean_row(row, record.sample_id))
    if rows:
        append_hops(root, rows)
    hops, valid = _batch_counts(root, selected)
    return LabelCost(hops, valid, hop_seconds * hops, time.perf_counter() - start)


def _clean_row(row: Mapping[str, Any], sample_id: str) -> dict[str, Any]:
    """A pool row for appending: the campaign's sample id, missing values left empty."""
    known = (*HOP_COLUMNS, *EXTRA_COLUMNS)
    out = {k: ("" if isinstance(v, float) and v != v else v) for k, v in row.items() if k in known}
    out["sample_id"] = sample_id
    return out
