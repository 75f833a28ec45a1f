"""Training barrier models: the epoch loop, closed-form fits, resume.

Procedure (paper Methods): MAE loss, RMSprop, learning rate 1e-3 divided by sqrt(10) whenever the
validation MAE plateaus (``lr_patience`` epochs without improvement), early stopping after
``patience`` epochs without improvement, keeping the best-validation model; mini-batches of
160/100/80/60 for 4/8/12/16 conv layers unless ``batch_size`` is given. A kind that is not
`vmeb.learn.kinds.base.ModelKind.iterative` (the LR baseline) is fitted in closed form instead
(`vmeb.learn.models.fit_linear`). The settings are `vmeb.learn.settings.TrainConfig`; the files
written (checkpoints, metrics, summary) are described in `vmeb.learn.checkpoints`.

Data flow: hop environments are computed once per hop (`vmeb.learn.environment.hop_environments`);
the model kind (`vmeb.learn.kinds`) prepares its inputs once per run and makes every batch (SDMs
made on the fly with fresh augmentation for the CNN); validation and test predictions average
over a fixed set of symmetry operations (deterministic); the entry points are
`vmeb.learn.batches`. Augmentation modes (``augment``):

- ``"random"`` (paper): a uniform random rotation about the hop axis; inference averages over
  `vmeb.learn.sdm.INFERENCE_ANGLES`.
- ``"lattice"``: each environment is first turned about x into the lattice-aligned frame of
  `vmeb.learn.descriptors` (the roll measured from the vacancy's first neighbours), then one of the
  three rotations by 0, 120, 240 degrees is drawn; inference averages over the three. These are
  exact symmetries of the BCC hop, so nothing is learnt about arbitrary angles.
- ``"none"``: no rotation.

With ``mirror`` each training map is also reflected z -> -z with probability 1/2 (a reflection
through a plane containing the hop axis: the barrier is invariant) and inference averages over
both. For the site kinds that permute sites (NN, MLP, type-map CNN) the same point group acts on
the one-hot site sequence (`vmeb.learn.descriptors.template_symmetries`); the LR is fitted on
symmetry-averaged descriptors when ``augment`` is not ``"none"``.

``OUT/model.pt`` holds the best model, ``OUT/checkpoint.pt`` the last epoch with optimiser,
scheduler and generator state for ``resume``, ``OUT/metrics.jsonl`` one JSON line per epoch,
``OUT/summary.json`` the final metrics.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vmeb.data.dataset import BarrierDataset, open_dataset
from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_write_text, to_json, write_json
from vmeb.learn.auxiliary import align_auxiliary, is_auxiliary, load_with_auxiliary
from vmeb.learn.batches import ModelInputs, batch, prepare_inputs
from vmeb.learn.checkpoints import (
    AUX_OFFSETS_FILE,
    METRICS_FILE,
    MODEL_FILE,
    STATE_FILE,
    SUMMARY_FILE,
    model_record,
    read_checkpoint,
    save_checkpoint,
)
from vmeb.learn.descriptors import SiteTemplate, lattice_roll, site_template
from vmeb.learn.forward import predict_inputs
from vmeb.learn.hops import HopData, check_groups, dataset_groups, split_hops
from vmeb.learn.inference import training_composition_range, training_lattice_range
from vmeb.learn.kinds import get_kind
from vmeb.learn.metrics import training_metrics
from vmeb.learn.models import build_model
from vmeb.learn.precision import autocast, prepare_maps, prepare_model
from vmeb.learn.settings import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """Outcome of `train_model`.

    Attributes:
        model_path: The best model checkpoint (``OUT/model.pt``).
        best_epoch: Epoch of the best validation MAE (0 for LR).
        val_mae: Best validation MAE (eV).
        test: Test metrics ``{"mae", "rmse", "n", "groups": {group: {"mae", "n"}}}`` or empty.
        history: Per-epoch metric dicts.
    """

    model_path: Path
    best_epoch: int
    val_mae: float
    test: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds_per_epoch(self) -> float | None:
        """Mean wall seconds of the recorded epochs, or None when none were timed."""
        seconds = [h["seconds"] for h in self.history if h.get("seconds") is not None]
        return float(np.mean(seconds)) if seconds else None


# ----------------------------------------------------------------------------- training


def _resolve_template(config: TrainConfig, data: HopData, train: np.ndarray) -> SiteTemplate:
    if config.template_cutoff is not None:
        return site_template(config.template_cutoff)
    _, lattice_constant = lattice_roll(
        data.environments.positions[train], data.environments.species[train]
    )
    return site_template(config.r_c / float(np.median(lattice_constant)))


class _Log:
    """metrics.jsonl writer plus an optional per-epoch callback."""

    def __init__(self, path: Path, history: list[dict], callback: Callable[[dict], None] | None):
        self.path = path
        self.callback = callback
        atomic_write_text(path, "".join(to_json(h) + "\n" for h in history))

    def __call__(self, entry: dict[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(to_json(entry) + "\n")
        if self.callback is not None:
            self.callback(entry)


def train_model(
    datasets: Sequence[BarrierDataset],
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    data: HopData | None = None,
) -> TrainResult:
    """Train a model on datasets and write its checkpoints to ``out_dir``.

    Steps: data preparation (`_prepare_data`), seeded model and optimiser setup (`_setup_run`),
    the epoch loop (`_train_epoch`, `_validate`), checkpointing (`_save_progress`) and the final
    evaluation of the best model (`_finish`).

    Args:
        datasets: Opened barrier datasets (groups from their structures).
        config: The run's configuration.
        out_dir: Output directory (created).
        resume: Continue from ``out_dir/checkpoint.pt`` (same config required, ``epochs`` may
            grow).
        on_epoch: Called with each epoch's metrics dict (the CLI prints it as a JSON line).
        progress: Show tqdm bars.
        data: Precomputed hops (`load_hops`, or `load_with_auxiliary` with auxiliary hops)
            to skip the environment step.

    Returns:
        The best model's path and its validation and test metrics.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, split, template, inputs, offsets = _prepare_data(datasets, config, data, progress)
    if offsets is not None:
        species_offsets = dict(zip(data.species, offsets.round(6).tolist(), strict=True))
        write_json(out / AUX_OFFSETS_FILE, {"offsets_ev": species_offsets})
    model = _seeded_model(config, datasets, data, split, template)
    if not get_kind(config.kind).iterative:
        return _fit(model, inputs, data, split, config, data.species, template, out, on_epoch)
    run = _setup_run(model, config, data, split, template, inputs, out, resume)
    log = _Log(out / METRICS_FILE, run.state["history"], on_epoch)
    while run.state["epoch"] < config.epochs and run.state["stale"] < config.patience:
        epoch = run.state["epoch"] + 1
        start = time.perf_counter()
        train_mae = _train_epoch(run, epoch, progress)
        entry = _validate(run, epoch, train_mae)
        entry["seconds"] = round(time.perf_counter() - start, 2)
        run.state["epoch"] = epoch
        run.state["history"].append(entry)
        log(entry)
        _save_progress(run)
    model.load_state_dict(run.best_state)
    return _finish(model, inputs, data, split, config, out, run.state)


def _prepare_data(
    datasets: Sequence[BarrierDataset],
    config: TrainConfig,
    data: HopData | None,
    progress: bool = False,
):
    """Data preparation: hops (loaded unless given), the split, the site template (a kind that
    `uses_template`, or for the auxiliary alignment), auxiliary hops moved to the primary
    level, inputs.

    Returns:
        ``(data, split, template, inputs, offsets)``; ``offsets`` [C] (eV) subtracted from the
        auxiliary barriers per moving species, None without auxiliary hops.
    """
    if data is None:
        check_groups(dataset_groups(datasets), config)  # before the environments' minutes
        auxiliary = [open_dataset(path) for path in config.auxiliary]
        data = load_with_auxiliary(
            datasets, auxiliary, config.r_c, progress=progress, reverse=config.reverse,
            window=get_kind(config.kind).window_half(config),
        )  # fmt: skip
    split = split_hops(data.groups, config, data.reverse_of)
    logger.info("hops: %s", {k: len(v) for k, v in split.items()})
    aux = is_auxiliary(data.groups)
    primary_train = split["train"][~aux[split["train"]]]
    uses_template = get_kind(config.kind).uses_template
    template = None
    if uses_template or aux.any():
        template = _resolve_template(config, data, primary_train)
    offsets = None
    if aux.any():
        data, offsets = align_auxiliary(data, template, split["train"])
    if not uses_template:
        template = None  # e.g. the SDM CNN reads maps, not sites
    inputs = prepare_inputs(data.environments, config, len(data.species), template)
    return data, split, template, inputs, offsets


def _seeded_model(
    config: TrainConfig, datasets: Sequence[BarrierDataset], data: HopData, split, template
) -> torch.nn.Module:
    """The model, initialised from ``config.seed``, target-normalised on the training hops."""
    input_size = get_kind(config.kind).input_size(config, template)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation, global RNG untouched
        torch.manual_seed(config.seed)
        model = build_model(
            config.model_config(), len(data.species), input_size, template, data.species
        )
    model.lattice_range = training_lattice_range(datasets, config.test_groups)  # for checkpoints
    model.composition_range = training_composition_range(datasets, data.species, config.test_groups)
    train_y = data.barriers[split["train"]]
    model.set_target_normalisation(float(train_y.mean()), float(train_y.std()))
    return model.to(torch.device(config.device))


@dataclass
class _Run:
    """Everything the epoch loop of `train_model` reads and updates."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator
    config: TrainConfig
    data: HopData
    split: Mapping[str, np.ndarray]
    template: SiteTemplate | None
    inputs: ModelInputs
    out: Path
    state: dict[str, Any]
    best_state: dict[str, torch.Tensor]


def _setup_run(model, config, data, split, template, inputs, out, resume) -> _Run:
    """Optimiser (RMSprop), plateau scheduler, batch generator, progress state (or resumed)."""
    model = prepare_model(model, config.kind, config.precision, config.device)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.RMSprop(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=1 / math.sqrt(10),
        patience=config.lr_patience - 1,
        min_lr=config.min_lr,
    )
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": 0, "stale": 0, "history": []}
    best_state = copy.deepcopy(model.state_dict())
    if resume:
        best_state = _restore(
            out / STATE_FILE, config, model, optimizer, scheduler, generator, state
        )
    return _Run(
        model, optimizer, scheduler, generator, config, data, split, template, inputs, out,
        state, best_state,
    )  # fmt: skip


def _train_epoch(run: _Run, epoch: int, progress: bool) -> float:
    """One pass over the shuffled training hops; returns the mean training MAE (eV)."""
    config, model, n_species = run.config, run.model, len(run.data.species)
    device = torch.device(config.device)
    batch_size = config.effective_batch_size
    targets = torch.as_tensor(run.data.barriers, dtype=torch.float32)
    train_index = torch.as_tensor(run.split["train"], dtype=torch.long)
    model.train()
    order = train_index[torch.randperm(len(train_index), generator=run.generator)]
    total, seen, skipped = 0.0, 0, 0
    steps = range(0, len(order), batch_size)
    bar = tqdm(steps, desc=f"epoch {epoch}", disable=not progress, leave=False)
    for first in bar:
        index = order[first : first + batch_size]
        if len(index) < 2:
            continue
        x = batch(run.inputs, index, n_species, config, run.generator, device=device)
        with autocast(config.kind, config.precision, device):
            out = model(prepare_maps(x, config.kind, config.precision, device))
        loss = torch.nn.functional.l1_loss(out.float(), targets[index].to(device))
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if not _finite_step(loss, model):  # as AMP's grad scaler: skip, never poison weights
            skipped += 1
            continue
        run.optimizer.step()
        total += float(loss.detach()) * len(index)
        seen += len(index)
        bar.set_postfix(mae=f"{total / seen:.4f}")
    if skipped:
        logger.warning(
            "epoch %d: %d of %d steps skipped (non-finite loss or gradients, precision %s)",
            epoch, skipped, len(steps), config.precision,
        )  # fmt: skip
    if seen == 0 and skipped:
        raise VmebError(
            f"epoch {epoch}: every training step gave a non-finite loss or gradient "
            f"(precision {config.precision}); check the barriers or train with --precision fp32"
        )
    return total / max(seen, 1)


def _finite_step(loss: torch.Tensor, model: torch.nn.Module) -> bool:
    """Whether a step's loss and every gradient are finite."""
    if not bool(torch.isfinite(loss)):
        return False
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return all(bool(torch.isfinite(g).all()) for g in grads)


def _validate(run: _Run, epoch: int, train_mae: float) -> dict[str, Any]:
    """Validation MAE, scheduler step, best-model checkpoint; returns the epoch's metrics."""
    config, state, n_species = run.config, run.state, len(run.data.species)
    device = torch.device(config.device)
    val = run.split["val"]
    val_pred = predict_inputs(
        run.model, run.inputs, val, n_species, config, 256, device, inference=False
    )
    val_mae = float(np.abs(val_pred - run.data.barriers[val]).mean())
    lr = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step(val_mae)
    if val_mae < state["best_val"]:
        state.update(best_val=val_mae, best_epoch=epoch, stale=0)
        run.best_state = copy.deepcopy(run.model.state_dict())
        best = _with_state(run.model, run.best_state, config, run.data.species, run.template)
        save_checkpoint(best, run.out / MODEL_FILE)
    else:
        state["stale"] += 1
    return {
        "epoch": epoch,
        "train_mae": train_mae,
        "val_mae": val_mae,
        "best_val_mae": state["best_val"],
        "lr": lr,
    }


def _save_progress(run: _Run) -> None:
    """The resumable checkpoint: last weights, optimiser, scheduler, generator, best weights."""
    record = model_record(run.model, run.config, run.data.species, run.template)
    record.update(
        optimizer=run.optimizer.state_dict(),
        scheduler=run.scheduler.state_dict(),
        generator=run.generator.get_state(),
        best_state=run.best_state,
        progress={k: run.state[k] for k in ("epoch", "best_val", "best_epoch", "stale")},
        history=json.dumps(run.state["history"]),
    )
    save_checkpoint(record, run.out / STATE_FILE)


def _with_state(model, state_dict, config, species, template) -> dict[str, Any]:
    record = model_record(model, config, species, template)
    record["state_dict"] = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
    return record


def check_resume(path: str | os.PathLike, config: TrainConfig) -> dict[str, Any]:
    """Refuse to resume the run of the checkpoint ``path`` with another config.

    Only ``epochs`` may differ (a resumed run may go on for longer). Callers that write
    anything for a resumed run (the command line's ``config.yaml``) check first.

    Returns:
        The checkpoint dict (`vmeb.learn.checkpoints.read_checkpoint`).

    Raises:
        VmebError: naming the file and the settings that differ, or a bad checkpoint.
    """
    record = read_checkpoint(path)
    saved = TrainConfig.from_dict(record["config"]["train"])
    if {**saved.to_dict(), "epochs": 0} != {**config.to_dict(), "epochs": 0}:
        diff = sorted(k for k, v in config.to_dict().items() if saved.to_dict()[k] != v)
        raise file_error(path, f"cannot resume: config differs in {diff}")
    return record


def _restore(path, config, model, optimizer, scheduler, generator, state) -> dict:
    record = check_resume(path, config)
    try:
        model.load_state_dict(record["state_dict"])
        optimizer.load_state_dict(record["optimizer"])
        scheduler.load_state_dict(record["scheduler"])
        generator.set_state(record["generator"])
        state.update(record["progress"])
        state["history"] = json.loads(record["history"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise file_error(path, f"cannot resume from this checkpoint ({exc})") from exc
    logger.info("resuming after epoch %d (best val MAE %.4f)", state["epoch"], state["best_val"])
    return record["best_state"]


def _finish(model, inputs, data, split, config, out, state) -> TrainResult:
    n_species = len(data.species)
    test: dict[str, Any] = {}
    if len(split["test"]):
        pred = predict_inputs(model, inputs, split["test"], n_species, config, 256, config.device)
        test = training_metrics(pred, data.barriers[split["test"]], data.groups[split["test"]])
    summary = {
        "kind": config.kind,
        "best_epoch": state["best_epoch"],
        "val_mae": state["best_val"],
        "n_train": len(split["train"]),
        "n_val": len(split["val"]),
        "test": test,
    }
    write_json(out / SUMMARY_FILE, summary)
    return TrainResult(
        model_path=out / MODEL_FILE,
        best_epoch=state["best_epoch"],
        val_mae=state["best_val"],
        test=test,
        history=state["history"],
    )


def _fit(model, inputs, data, split, config, species, template, out, on_epoch) -> TrainResult:
    """A closed-form fit (a kind that is not `iterative`) as one recorded epoch."""
    start = time.perf_counter()
    train = split["train"]
    get_kind(config.kind).fit(model, inputs, train, data.barriers[train], config)
    val_pred = predict_inputs(
        model, inputs, split["val"], len(species), config, 4096, config.device, inference=False
    )
    val_mae = float(np.abs(val_pred - data.barriers[split["val"]]).mean())
    save_checkpoint(model_record(model, config, species, template), out / MODEL_FILE)
    entry = {
        "epoch": 1,
        "train_mae": None,
        "val_mae": val_mae,
        "best_val_mae": val_mae,
        "lr": None,
        "seconds": round(time.perf_counter() - start, 2),
    }
    _Log(out / METRICS_FILE, [], on_epoch)(entry)
    state = {"best_epoch": 1, "best_val": val_mae, "history": [entry]}
    return _finish(model, inputs, data, split, config, out, state)
