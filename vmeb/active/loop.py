"""The active-learning loop: rounds of select, label, train, evaluate, score; resumable.

Round 0 labels ``initial_sites`` random sites (and the random test set, if any); every later
round selects ``batch_sites`` sites with the previous round's scores: by uncertainty with
diversity (``mode: active``, `vmeb.active.selection.diverse_batch`) or at random
(``mode: random``), on identical footing. Each round then retrains the ensemble, evaluates it
on the fixed test set, scores the unlabelled pool and adds a row to the learning curve. The
campaign stops at ``max_rounds``, a hop or time budget, a target spread or test MAE, or when
the pool is exhausted.

Outputs under OUTPUT::

    config.yaml                the campaign settings (a rerun must match; budgets may change)
    pool/                      candidates.csv, descriptors.npy, samples/, pool.json
    dataset/                   the labelled barrier dataset (NEB rows or revealed pool rows)
    test_dataset/              the random test set (without a fixed test_dataset)
    rounds/round_XX/           state.json, selected.csv, ensemble/, test_predictions.csv,
                               scores.csv
    learning_curve.csv, .png   one row per finished round
    summary.json               rounds, stop reason, last row

Kill safety: every stage of a round is marked done in ``state.json`` (written atomically) with
its result; a rerun skips done stages and redoes an interrupted one, which is itself
resumable (the NEB campaign skips finished sites, revealed rows are appended once, training
continues from its checkpoints) or deterministic (selection, scores from seeds and saved files).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from vmeb.active.config import ActiveConfig, check_resumable, train_config
from vmeb.active.curve import CURVE_COLUMNS, write_curve
from vmeb.active.labels import label_by_neb, prepare_label_dataset, reveal_from_pool
from vmeb.active.models import evaluate_test, load_round_ensemble, predict_sites, train_round
from vmeb.active.pool import POOL_DIR, Pool, make_pool, read_pool, test_groups, write_pool
from vmeb.active.selection import coverage_bonus, diverse_batch, random_batch, site_scores
from vmeb.config import config_from_mapping
from vmeb.data.dataset import open_dataset
from vmeb.errors import file_error
from vmeb.files import atomic_write_text, write_json

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
DATASET_DIR = "dataset"
TEST_DIR = "test_dataset"
ROUNDS_DIR = "rounds"
STATE_FILE = "state.json"
SUMMARY_FILE = "summary.json"
STAGES = ("select", "label", "train", "evaluate", "score")


@dataclass(frozen=True)
class CampaignResult:
    """Outcome of `run_active_campaign`.

    Attributes:
        output: The campaign folder.
        rounds: Rounds finished.
        stop_reason: Why the campaign stopped.
        curve: The learning curve (`vmeb.active.curve.CURVE_COLUMNS`).
    """

    output: Path
    rounds: int
    stop_reason: str
    curve: pd.DataFrame


@dataclass
class _Campaign:
    """What the stages share."""

    config: ActiveConfig
    output: Path
    pool: Pool
    train: Any
    potential: Any
    neb: Any
    test: tuple[Any, tuple[str, ...] | None]
    device: str
    scheduler: Any
    progress: bool

    _loaded: dict[int, Any] = field(default_factory=dict)

    def round_dir(self, r: int) -> Path:
        return self.output / ROUNDS_DIR / f"round_{r:02d}"

    def ensemble(self, r: int) -> Any:
        """Round r's trained ensemble, loaded once for its evaluate and score stages."""
        if r not in self._loaded:
            self._loaded.clear()
            self._loaded[r] = load_round_ensemble(self.round_dir(r) / "ensemble", self.device)
        return self._loaded[r]


# ------------------------------------------------------------------------------ set-up


def _check_output(output: Path, config: ActiveConfig) -> None:
    """A new or empty folder, or a campaign made with the same settings."""
    saved = output / CONFIG_FILE
    if saved.is_file():
        check_resumable(yaml.safe_load(saved.read_text()) or {}, config, saved)
    elif output.exists() and any(output.iterdir()):
        raise file_error(output, "exists and is not a vmeb campaign; choose another output")


def _test_set(config: ActiveConfig) -> tuple[Any, tuple[str, ...] | None]:
    """The fixed test dataset and its groups, or (None, None) for a random test set."""
    if not config.test_dataset:
        return None, None
    dataset = open_dataset(config.test_dataset)
    return dataset, test_groups(config, dataset)


def _setup(config: ActiveConfig, output: Path, device: str, scheduler, progress) -> _Campaign:
    """Check everything, then create the output, the pool and the datasets."""
    potential = neb = None
    if not config.pool_mode:
        from vmeb.lammps.loading import require_lammps  # noqa: PLC0415
        from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
        from vmeb.neb.site import NEBConfig  # noqa: PLC0415

        require_lammps("vmeb campaign")
        potential = load_potential(config.potential)
        neb = config_from_mapping(NEBConfig, dict(config.neb), what="NEB settings")
    train = train_config(config, device)
    test = _test_set(config)
    _check_output(output, config)
    output.mkdir(parents=True, exist_ok=True)
    if not (output / CONFIG_FILE).is_file():
        atomic_write_text(output / CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False))
    if not (output / POOL_DIR).is_dir():
        start = time.perf_counter()
        pool = make_pool(config, potential)
        write_pool(pool, output, time.perf_counter() - start)
    pool = read_pool(output)
    prepare_label_dataset(output / DATASET_DIR, pool, config, potential, neb)
    if test[0] is None and (pool.candidates["role"] == "test").any():
        prepare_label_dataset(output / TEST_DIR, pool, config, potential, neb)
    return _Campaign(config, output, pool, train, potential, neb, test, device, scheduler,
                     progress)  # fmt: skip


# ------------------------------------------------------------------------------ state


def _read_state(path: Path, r: int) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    return {"round": r, "done": {}}


def _stage(state: dict, path: Path, name: str, work: Callable[[], dict]) -> dict[str, Any]:
    """Run a stage unless ``state`` marks it done; record its result and wall time."""
    if name in state["done"]:
        return state["done"][name]
    logger.info("round %d: %s", state["round"], name)
    start = time.perf_counter()
    result = dict(work())
    result["seconds"] = time.perf_counter() - start
    state["done"][name] = result
    write_json(path, state)
    return result


def _selected(c: _Campaign, rounds: range) -> pd.DataFrame:
    """Candidate rows selected in the given rounds (their ``selected.csv``)."""
    parts = [pd.read_csv(c.round_dir(r) / "selected.csv") for r in rounds]
    ids = np.concatenate([p["candidate"].to_numpy() for p in parts]) if parts else []
    return c.pool.candidates.iloc[np.sort(np.asarray(ids, dtype=int))]


def _unlabelled(c: _Campaign, through: int) -> pd.DataFrame:
    """Pool candidates not selected in rounds 0..through."""
    taken = set(_selected(c, range(through + 1))["candidate"])
    table = c.pool.candidates
    return table[(table["role"] == "pool") & ~table["candidate"].isin(taken)]


# ------------------------------------------------------------------------------ stages


def _batch_size(c: _Campaign, r: int, labelled_hops: int) -> int:
    config = c.config
    growth = config.batch_growth ** max(r - 1, 0)
    k = config.initial_sites if r == 0 else round(config.batch_sites * growth)
    if config.hop_budget is not None:
        k = min(k, max(1, math.ceil((config.hop_budget - labelled_hops) / 8)))
    return k


def _select(c: _Campaign, r: int) -> dict[str, Any]:
    """Choose the round's sites and write ``selected.csv``."""
    config = c.config
    labelled = open_dataset(c.output / DATASET_DIR).with_groups()
    k = _batch_size(c, r, len(labelled))
    if r == 0 or config.mode == "random":
        free = _unlabelled(c, r - 1)
        chosen = free.iloc[random_batch(len(free), k, [config.seed, 5, r])].copy()
        chosen["score"] = np.nan
    else:
        scores = pd.read_csv(c.round_dir(r - 1) / "scores.csv")
        counts = labelled["group"].value_counts().to_dict()
        free = c.pool.candidates.iloc[scores["candidate"].to_numpy()]
        total = scores["score"].to_numpy() + coverage_bonus(
            free["group"].to_numpy(), counts, config.coverage_weight
        )
        pick = diverse_batch(
            total,
            c.pool.descriptors[scores["candidate"].to_numpy()],
            free["group"].to_numpy(),
            k,
            config.top_factor,
            seed=config.seed + 7919 * r,
        )
        chosen = free.iloc[pick].copy()
        chosen["score"] = total[pick]
    atomic_write_text(c.round_dir(r) / "selected.csv", chosen.to_csv(index=False))
    return {"sites": len(chosen), "groups": int(chosen["group"].nunique())}


def _label_into(c: _Campaign, root: Path, batch: pd.DataFrame, everything: pd.DataFrame):
    config = c.config
    if config.pool_mode:
        return reveal_from_pool(root, batch, config.pool_datasets, config.hop_seconds)
    return label_by_neb(
        root, c.pool, batch, everything, c.potential, c.neb, workers=config.workers,
        scheduler=c.scheduler, seed=config.seed, progress=c.progress,
    )  # fmt: skip


def _label(c: _Campaign, r: int) -> dict[str, Any]:
    """Label the round's sites (and in round 0 the random test set)."""
    result: dict[str, Any] = {"test_cpu_seconds": 0.0}
    test = c.pool.candidates[c.pool.candidates["role"] == "test"]
    if r == 0 and c.test[0] is None and len(test):
        cost = _label_into(c, c.output / TEST_DIR, test, test)
        result.update(test_hops=cost.valid, test_cpu_seconds=cost.cpu_seconds)
    batch = _selected(c, range(r, r + 1))
    cost = _label_into(c, c.output / DATASET_DIR, batch, _selected(c, range(r + 1)))
    dataset = open_dataset(c.output / DATASET_DIR)
    labelled = dataset.hops[["sample_id", "vacancy_index"]].drop_duplicates()
    result.update(
        hops=cost.hops, valid=cost.valid, cpu_seconds=cost.cpu_seconds,
        total_hops=len(dataset.valid_hops()), total_sites=len(labelled),
    )  # fmt: skip
    return result


def _evaluate(c: _Campaign, r: int) -> dict[str, Any]:
    ensemble = c.ensemble(r)
    dataset, groups = c.test
    if dataset is None:
        dataset = open_dataset(c.output / TEST_DIR)
    metrics, table = evaluate_test(ensemble, dataset, groups, c.device)
    atomic_write_text(c.round_dir(r) / "test_predictions.csv", table.to_csv(index=False))
    logger.info("round %d: test MAE %.4f eV (worst %.4f)", r, metrics["test_mae"],
                metrics["test_mae_worst"])  # fmt: skip
    return metrics


def _score(c: _Campaign, r: int) -> dict[str, Any]:
    """Ensemble mean and spread of every unlabelled pool site: ``scores.csv``."""
    free = _unlabelled(c, r)
    if free.empty:
        atomic_write_text(c.round_dir(r) / "scores.csv", "candidate,score,mean_spread\n")
        return {"pool_sites": 0, "pool_spread": float("nan")}
    ensemble = c.ensemble(r)
    mean, spread = predict_sites(ensemble, c.pool, free, c.device)
    table = pd.DataFrame({
        "candidate": free["candidate"].to_numpy(),
        "score": site_scores(spread, c.config.score),
        "mean_spread": spread.mean(axis=1),
        "mean_barrier": mean.mean(axis=1),
    })  # fmt: skip
    atomic_write_text(c.round_dir(r) / "scores.csv", table.to_csv(index=False))
    return {"pool_sites": len(free), "pool_spread": float(spread.mean())}


def _run_round(c: _Campaign, r: int) -> dict[str, Any]:
    """Every stage of round r (done ones skipped); returns the state."""
    path = c.round_dir(r) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    state = _read_state(path, r)
    work = {
        "select": lambda: _select(c, r),
        "label": lambda: _label(c, r),
        "train": lambda: train_round(
            c.output / DATASET_DIR,
            c.train,
            c.config.members,
            c.round_dir(r) / "ensemble",
            r,
            progress=c.progress,
        ),  # fmt: skip
        "evaluate": lambda: _evaluate(c, r),
        "score": lambda: _score(c, r),
    }
    for name in STAGES:
        _stage(state, path, name, work[name])
    return state


# ------------------------------------------------------------------------------ the loop


def _row(c: _Campaign, r: int, states: list[dict], pool_seconds: float) -> dict[str, Any]:
    done = [s["done"] for s in states]
    label, last = done[-1]["label"], done[-1]
    return {
        "round": r,
        "hops": label["total_hops"],
        "sites": label["total_sites"],
        "cpu_seconds": sum(d["label"]["cpu_seconds"] for d in done),
        "wall_seconds": pool_seconds + sum(d[n]["seconds"] for d in done for n in STAGES),
        **{k: last["evaluate"][k] for k in ("test_mae", "test_mae_worst", "test_spread")},
        "pool_spread": last["score"]["pool_spread"],
        "mode": c.config.mode,
        "seed": c.config.seed,
    }


def _stop_reason(config: ActiveConfig, row: dict[str, Any]) -> str:
    """Why the campaign stops after this row ('' to go on)."""
    spread, mae = row["pool_spread"], row["test_mae"]
    checks = [
        (row["round"] + 1 >= config.max_rounds, f"max_rounds {config.max_rounds} reached"),
        (not math.isfinite(spread), "pool exhausted"),
        (config.hop_budget is not None and row["hops"] >= config.hop_budget, "hop budget"),
        (config.time_budget is not None and row["wall_seconds"] >= config.time_budget,
         "time budget"),
        (config.target_spread is not None and spread <= config.target_spread, "target spread"),
        (config.target_mae is not None and mae <= config.target_mae, "target test MAE"),
    ]  # fmt: skip
    return next((reason for hit, reason in checks if hit), "")


def run_active_campaign(
    config: ActiveConfig,
    output: str | Path,
    *,
    device: str = "cpu",
    scheduler: Any = None,
    progress: bool = True,
) -> CampaignResult:
    """Run (or resume) an active-learning campaign into ``output``.

    Args:
        config: The campaign settings.
        output: The campaign folder: created, or continued when it holds this campaign.
        device: Torch device of training and prediction.
        scheduler: Dask scheduler address or `distributed.Client` for the NEB (else local).
        progress: tqdm bars.

    Returns:
        The `CampaignResult` with the learning curve.

    Raises:
        VmebError: one line, before anything is written, for bad settings, missing inputs or
            an output folder holding something else.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    c = _setup(config, Path(output), device, scheduler, progress)
    pool_seconds = float(json.loads((c.output / POOL_DIR / "pool.json").read_text())["seconds"])
    states, rows, reason = [], [], ""
    with tqdm(total=config.max_rounds, desc="rounds", disable=not progress) as bar:
        for r in range(config.max_rounds):
            states.append(_run_round(c, r))
            rows.append(_row(c, r, states, pool_seconds))
            write_curve(c.output, rows)
            bar.update(1)
            reason = _stop_reason(config, rows[-1])
            if reason:
                break
    write_json(c.output / SUMMARY_FILE, {"rounds": len(rows), "stop_reason": reason,
                                         "last": rows[-1]})  # fmt: skip
    logger.info("campaign %s stopped after %d rounds: %s", c.output, len(rows), reason)
    curve = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    return CampaignResult(c.output, len(rows), reason, curve)
