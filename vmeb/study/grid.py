"""Shared pieces of the Ta-Nb-Mo study: the grid split, labels, recipe runs and predictions.

The study's data is a barrier dataset made by ``vmeb neb`` over the samples that ``vmeb build
--grid ... --n-test N`` wrote, whose ``index.csv`` marks every sample ``train`` or ``test``
(paper Supp. Fig. 1). A hop's group is its sample's composition (e.g. ``Mo28Nb28Ta194``), so
"unseen composition" means "group absent from training".

Recipe runs are resumable: a finished run (``OUT/<name>/seed<s>/result.json``) is read back,
not trained again, so a study stopped half-way continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vmeb.config import read_config
from vmeb.data.dataset import BarrierDataset
from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_write_text
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.hops import HopData
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.structure.build import composition_label

logger = logging.getLogger(__name__)

_COUNT = re.compile(r"([A-Z][a-z]?)(\d+)")


@dataclass(frozen=True)
class GridSplit:
    """Which compositions (groups) train and which test.

    Attributes:
        train_groups: Groups of the training samples, sorted.
        test_groups: Groups of the test samples, sorted.
    """

    train_groups: tuple[str, ...]
    test_groups: tuple[str, ...]


def sample_id_of(file_name: str) -> str:
    """The dataset sample id of a sample file: its name cut at the first '.'."""
    return Path(file_name).name.split(".", 1)[0]


def grid_split(dataset: BarrierDataset, index_csv: str | os.PathLike) -> GridSplit:
    """The train/test groups of a grid dataset from the samples' ``index.csv``.

    Args:
        dataset: The NEB dataset of the grid samples.
        index_csv: ``index.csv`` of ``vmeb build --grid`` (columns ``file`` and ``split``).

    Returns:
        The split; samples of the index that the dataset lacks are ignored.

    Raises:
        VmebError: Missing columns, a split other than train/test, or a group in both.
    """
    path = Path(index_csv)
    try:
        index = pd.read_csv(path)
    except (OSError, pd.errors.ParserError) as exc:
        raise file_error(path, f"cannot read the sample index: {exc}") from None
    missing = {"file", "split"} - set(index.columns)
    if missing:
        raise file_error(path, f"sample index lacks columns {sorted(missing)}")
    bad = sorted(set(index["split"]) - {"train", "test"})
    if bad:
        raise file_error(path, f"split values must be 'train' or 'test', found {bad}")
    present = set(dataset.sample_ids())
    split: dict[str, set[str]] = {"train": set(), "test": set()}
    for file_name, part in zip(index["file"], index["split"], strict=True):
        sample_id = sample_id_of(str(file_name))
        if sample_id in present:
            split[part].add(dataset.group_of(sample_id))
    both = split["train"] & split["test"]
    if both:
        raise file_error(path, f"compositions {sorted(both)} are both train and test samples")
    if not split["train"] or not split["test"]:
        raise file_error(path, "the dataset holds no train or no test sample of this index")
    return GridSplit(tuple(sorted(split["train"])), tuple(sorted(split["test"])))


def _group_counts(group: str, species: Sequence[str]) -> dict[str, int]:
    """Atom counts (species order) of a composition group like ``Mo28Nb28Ta194``."""
    counts = dict.fromkeys(species, 0)
    for symbol, count in _COUNT.findall(group):
        if symbol not in counts:
            raise VmebError(f"composition {group!r}: {symbol} is not one of {list(species)}")
        counts[symbol] += int(count)
    if sum(counts.values()) == 0:
        raise VmebError(f"composition {group!r} holds no atoms")
    return counts


def group_fractions(group: str, species: Sequence[str]) -> np.ndarray:
    """Atom fractions [C] (species order) of a composition group like ``Mo28Nb28Ta194``."""
    counts = _group_counts(group, species)
    total = sum(counts.values())
    return np.array([counts[s] / total for s in species])


def group_composition_label(group: str, species: Sequence[str]) -> str:
    """Percent label of a composition group in species order, 3 significant digits, e.g.
    ``Ta77.6Nb11.2Mo11.2`` (absent species left out): `composition_label` of its counts."""
    return composition_label(_group_counts(group, species), digits=3)


def load_recipes(paths: Mapping[str, str | os.PathLike]) -> dict[str, TrainConfig]:
    """Training configs by name from YAML/JSON files (unknown keys are an error)."""
    return {
        name: TrainConfig.from_dict(read_config(path, what="training config"))
        for name, path in paths.items()
    }


def run_recipe(
    datasets: Sequence[BarrierDataset],
    data: HopData,
    config: TrainConfig,
    out_dir: str | os.PathLike,
    progress: bool = False,
) -> dict[str, Any]:
    """Train one recipe (resumable) and predict its test groups' hops.

    Args:
        datasets: The datasets ``data`` came from.
        data: Their hops (`vmeb.learn.hops.load_hops`).
        config: The recipe, with ``test_groups`` set.
        out_dir: Run directory: ``model.pt``, ``pred.npz`` (test hop indices into ``data`` and
            predictions, eV) and ``result.json``.
        progress: Show training progress bars.

    Returns:
        The run record: model path, validation MAE, best epoch, epochs, seconds per epoch,
        wall seconds.
    """
    out = Path(out_dir)
    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    start = time.perf_counter()
    result = train_model(datasets, config, out, data=data, progress=progress)
    test = np.nonzero(np.isin(data.groups, config.test_groups) & data.forward)[0]
    trained = load_checkpoint(result.model_path)
    pred = trained.predict_environments(data.environments.take(test), batch_size=512)
    np.savez_compressed(out / "pred.npz", index=test, pred=pred)
    record = {
        "model_path": str(result.model_path),
        "val_mae": result.val_mae,
        "best_epoch": result.best_epoch,
        "epochs": len(result.history),
        "seconds_per_epoch": result.seconds_per_epoch,
        "wall_s": round(time.perf_counter() - start, 1),
    }
    atomic_write_text(done, json.dumps(record, indent=2) + "\n")
    return record


def run_recipes(
    datasets: Sequence[BarrierDataset],
    data: HopData,
    recipes: Mapping[str, TrainConfig],
    test_groups: Sequence[str],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    progress: bool = False,
) -> pd.DataFrame:
    """Train every recipe at every seed with ``test_groups`` held out; predict them.

    Returns:
        One row per test hop: ``hop`` (index into ``data``), ``group``, ``barrier`` (eV) and one
        column ``<name>/seed<s>`` of predictions (eV) per run.
    """
    test = np.nonzero(np.isin(data.groups, list(test_groups)) & data.forward)[0]
    if not len(test):
        raise VmebError(f"no hops of the test compositions {list(test_groups)}")
    table = pd.DataFrame({"hop": test, "group": data.groups[test], "barrier": data.barriers[test]})
    for name, recipe in recipes.items():
        for seed in seeds:
            config = replace(recipe, seed=int(seed), test_groups=tuple(test_groups))
            run_dir = Path(out_dir) / name / f"seed{seed}"
            record = run_recipe(datasets, data, config, run_dir, progress)
            logger.info("%s seed %s: %s", name, seed, record)
            with np.load(run_dir / "pred.npz") as saved:
                pred = pd.Series(saved["pred"], index=saved["index"])
            table[f"{name}/seed{seed}"] = pred.reindex(test).to_numpy()
    return table


def run_columns(table: pd.DataFrame, name: str) -> list[str]:
    """The prediction columns ``name/seed<s>`` of a `run_recipes` table."""
    return [c for c in table.columns if c.startswith(f"{name}/seed")]


def group_errors(table: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """MAE (eV) per group and recipe: mean over seeds of each seed's MAE, and its seed std.

    Returns:
        Rows per group plus an ``all`` row (MAE over every test hop); columns ``group``,
        ``hops``, ``<name>`` and ``<name>_std``.
    """
    rows = []
    for group, part in [*table.groupby("group", sort=True), ("all", table)]:
        row: dict[str, Any] = {"group": group, "hops": len(part)}
        for name in names:
            maes = [np.mean(np.abs(part[c] - part["barrier"])) for c in run_columns(part, name)]
            row[name] = float(np.mean(maes))
            row[f"{name}_std"] = float(np.std(maes))
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A table as GitHub markdown, floats with ``digits`` decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "-" if not np.isfinite(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|---" * table.shape[1] + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)
