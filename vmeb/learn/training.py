"""Training barrier models (CNN on SDMs, NN and LR on one-hot sites), checkpoints, resume.

Procedure (paper Methods): MAE loss, RMSprop, learning rate 1e-3 divided by sqrt(10) whenever the
validation MAE plateaus (``lr_patience`` epochs without improvement), early stopping after
``patience`` epochs without improvement, keeping the best-validation model; mini-batches of
160/100/80/60 for 4/8/12/16 conv layers unless ``batch_size`` is given. The LR baseline is
fitted in closed form (`vmeb.learn.models.fit_linear`).

Data flow: hop environments are computed once per hop (`vmeb.learn.environment.hop_environments`);
CNN inputs are SDMs made on the fly for every batch (`vmeb.learn.sdm.encode_sdm`) with fresh
augmentation; validation and test predictions average over a fixed set of symmetry operations
(deterministic); input preparation and batching are `vmeb.learn.batches`. Augmentation modes
(``augment``):

- ``"random"`` (paper): a uniform random rotation about the hop axis; inference averages over
  `vmeb.learn.sdm.INFERENCE_ANGLES`.
- ``"lattice"``: each environment is first turned about x into the lattice-aligned frame of
  `vmeb.learn.descriptors` (the roll measured from the vacancy's first neighbours), then one of the
  three rotations by 0, 120, 240 degrees is drawn; inference averages over the three. These are
  exact symmetries of the BCC hop, so nothing is learnt about arbitrary angles.
- ``"none"``: no rotation.

With ``mirror`` each training map is also reflected z -> -z with probability 1/2 (a reflection
through a plane containing the hop axis: the barrier is invariant) and inference averages over
both. For the NN the same point group acts on the one-hot site sequence
(`vmeb.learn.descriptors.template_symmetries`); the LR is fitted on symmetry-averaged descriptors
when ``augment`` is not ``"none"``.

A checkpoint is a plain dict (tensors, numbers, strings, lists) loaded with
``torch.load(weights_only=True)``; see `save_checkpoint`. ``OUT/model.pt`` holds the best model,
``OUT/checkpoint.pt`` the last epoch with optimiser, scheduler and generator state for ``resume``,
``OUT/metrics.jsonl`` one JSON line per epoch, ``OUT/summary.json`` the final metrics.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vmeb.config import check_bounds, config_from_mapping
from vmeb.data.dataset import BarrierDataset, open_dataset
from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_output, atomic_write_text, to_json, write_json
from vmeb.learn.auxiliary import align_auxiliary, is_auxiliary, load_with_auxiliary
from vmeb.learn.batches import ModelInputs, batch, prepare_inputs
from vmeb.learn.descriptors import SiteTemplate, lattice_roll, site_template
from vmeb.learn.environment import LocalEnvironments
from vmeb.learn.forward import predict_inputs
from vmeb.learn.hops import (  # noqa: F401
    HopData,
    check_groups,
    dataset_groups,
    load_hops,
    merged_species,
    split_hops,
)
from vmeb.learn.inference import training_composition_range, training_lattice_range
from vmeb.learn.lattice import HopGeometry, lattice_operation_predictions
from vmeb.learn.metrics import training_metrics
from vmeb.learn.models import ModelConfig, build_model, fit_linear
from vmeb.learn.precision import PRECISIONS, autocast, prepare_maps, prepare_model
from vmeb.learn.pretrained import resolve_checkpoint
from vmeb.learn.sdm import SDMConfig
from vmeb.species import SpeciesTable

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "vmeb-model"
CHECKPOINT_VERSION = 1
AUGMENT_MODES = ("random", "lattice", "none")
MODEL_FILE = "model.pt"
STATE_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
#: Offsets per moving species subtracted from auxiliary barriers (eV), written when there are any.
AUX_OFFSETS_FILE = "auxiliary_offsets.json"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; keys equal the ``vmeb train`` flags.

    Attributes:
        kind: ``"cnn"``, ``"nn"`` or ``"lr"``.
        depth: CNN n (4n conv layers).
        filters: CNN filters per conv layer.
        hidden: NN hidden widths.
        r_c: Environment radius (Å).
        l_c: SDM half edge (Å).
        delta: SDM voxel size and Gaussian width (Å).
        template_cutoff: One-hot template radius in lattice constants; None = r_c over the
            median lattice constant of the training hops.
        augment: ``"random"``, ``"lattice"`` or ``"none"`` (module docstring).
        mirror: Also augment/average with the mirror z -> -z.
        epochs: Maximum number of epochs.
        batch_size: Mini-batch size; None = the paper's size for the depth.
        lr: Initial learning rate.
        lr_patience: Epochs without validation improvement before lr /= sqrt(10).
        min_lr: Lower bound of the learning rate.
        patience: Epochs without validation improvement before early stopping.
        val_per_group: Random validation hops per group (paper: 218), capped at a fifth of the
            group; ignored when ``val_groups`` is given.
        val_groups: Groups (compositions) used entirely for validation.
        test_groups: Groups held out entirely and evaluated at the end.
        ridge: L2 penalty of the LR fit.
        dropout: Dropout after hidden layers (``"mlp"``, ``"latcnn"``).
        context: Composition of the environment as extra input (``"mlp"``, ``"latcnn"``).
        linear: A linear term of the site descriptors added to the output (``"mlp"``,
            ``"latcnn"``).
        element_features: Element properties that describe each site's species instead of a
            one-hot column (``"mlp"``, ``"latcnn"``; `vmeb.species.ELEMENT_FEATURES`).
        weight_decay: L2 weight decay of the optimiser.
        auxiliary: Barrier datasets of another fidelity (paths), e.g. SNAP barriers beside DFT
            ones: training hops only, moved to the primary level by one offset per moving
            species fitted on the training hops (`vmeb.learn.auxiliary`).
        seed: Seed of the split, initialisation, shuffling and augmentation.
        device: Torch device.
        precision: ``"auto"`` (bf16 autocast for the CNN kinds where the device has native
            bf16, else fp32), ``"fp32"`` or ``"bf16"`` (`vmeb.learn.precision`).
    """

    kind: str = "cnn"
    depth: int = 3
    filters: int = 60
    hidden: tuple[int, ...] = (10, 10)
    r_c: float = 7.6
    l_c: float = 8.0
    delta: float = 0.5
    template_cutoff: float | None = None
    augment: str = "random"
    mirror: bool = True
    epochs: int = 100
    batch_size: int | None = None
    lr: float = 1e-3
    lr_patience: int = 5
    min_lr: float = 1e-6
    patience: int = 15
    val_per_group: int = 218
    val_groups: tuple[str, ...] = ()
    test_groups: tuple[str, ...] = ()
    ridge: float = 0.0
    dropout: float = 0.0
    context: bool = False
    linear: bool = False
    element_features: tuple[str, ...] = ()
    weight_decay: float = 0.0
    auxiliary: tuple[str, ...] = ()
    seed: int = 0
    device: str = "cpu"
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("hidden", "val_groups", "test_groups", "auxiliary", "element_features"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.augment not in AUGMENT_MODES:
            raise VmebError(f"augment {self.augment!r}: choose one of {list(AUGMENT_MODES)}")
        if self.precision not in PRECISIONS:
            raise VmebError(f"precision {self.precision!r}: choose one of {list(PRECISIONS)}")
        check_bounds(
            self,
            positive=("epochs", "lr", "patience", "lr_patience")
            + (("template_cutoff",) if self.template_cutoff is not None else ()),
            nonnegative=("min_lr", "ridge", "weight_decay", "val_per_group", "seed"),
        )
        if self.batch_size is not None and self.batch_size < 2:
            raise VmebError("batch_size must be at least 2 (batch norm)")
        overlap = set(self.val_groups) & set(self.test_groups)
        if overlap:
            raise VmebError(f"groups {sorted(overlap)} are both validation and test groups")
        self.model_config()  # validates kind, depth, filters
        self.sdm_config()

    def model_config(self) -> ModelConfig:
        """The architecture part."""
        return ModelConfig(
            kind=self.kind,
            depth=self.depth,
            filters=self.filters,
            hidden=self.hidden,
            dropout=self.dropout,
            context=self.context,
            linear=self.linear,
            element_features=self.element_features,
        )

    def sdm_config(self) -> SDMConfig:
        """The SDM geometry part."""
        return SDMConfig(r_c=self.r_c, l_c=self.l_c, delta=self.delta)

    @property
    def effective_batch_size(self) -> int:
        """``batch_size`` or the paper's size for this depth."""
        return self.batch_size or self.model_config().paper_batch_size

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lists instead of tuples) for checkpoints and JSON."""
        out = asdict(self)
        for name in ("hidden", "val_groups", "test_groups", "auxiliary", "element_features"):
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a YAML config); unknown keys are an error."""
        return config_from_mapping(cls, data, what="training config")


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


# ----------------------------------------------------------------------------- prediction


# ----------------------------------------------------------------------------- checkpoints


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def _model_record(
    model: torch.nn.Module,
    config: TrainConfig,
    species: Sequence[str],
    template: SiteTemplate | None,
) -> dict[str, Any]:
    """The checkpoint fields that define a trained model."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    lattice_range = getattr(model, "lattice_range", None)  # set by train_model (Å)
    fractions = getattr(model, "composition_range", None)  # set by train_model
    return {
        **({"lattice_range": list(lattice_range)} if lattice_range else {}),
        **({"composition_range": {k: list(v) for k, v in fractions.items()}} if fractions else {}),
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "kind": config.kind,
        "species": list(species),
        "config": {
            "model": config.model_config().to_dict(),
            "sdm": config.sdm_config().to_dict(),
            "train": config.to_dict(),
            "template": {"cutoff": template.cutoff} if template is not None else None,
        },
        "target": {
            "mean": float(model.target_mean),
            "std": float(model.target_std),
        },
        "state_dict": state,
    }


def save_checkpoint(record: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a checkpoint dict atomically (temporary file, fsync, rename)."""
    path = Path(path)
    _atomic_torch_save(dict(record), path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True`` and check its format.

    Raises:
        VmebError: naming the file if it is missing, unreadable or not a vmeb checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such checkpoint file")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupted file
        raise file_error(
            path, f"corrupted or unreadable checkpoint ({type(exc).__name__})"
        ) from exc
    if not isinstance(record, dict) or record.get("format") != CHECKPOINT_FORMAT:
        raise file_error(path, "not a vmeb model checkpoint")
    if record.get("version") != CHECKPOINT_VERSION:
        raise file_error(
            path,
            f"checkpoint version {record.get('version')!r}; this vmeb reads {CHECKPOINT_VERSION}",
        )
    for key in ("kind", "species", "config", "target", "state_dict"):
        if key not in record:
            raise file_error(path, f"checkpoint lacks {key!r}")
    return record


@dataclass
class TrainedModel:
    """A trained barrier model ready for prediction.

    Attributes:
        model: The network, in eval mode.
        kind: ``"cnn"``, ``"nn"`` or ``"lr"``.
        species: Channel order; environments must use it.
        config: The saved configs: ``{"model", "sdm", "train", "template"}`` plain dicts.
        lattice_range: ``(a_min, a_max)`` (Å) of the training samples, None in older checkpoints
            (`vmeb.learn.inference.check_lattice`).
        composition_range: ``{symbol: (x_min, x_max)}`` atomic fractions of the training
            samples, None in older checkpoints (`vmeb.learn.inference.check_composition`).
    """

    model: torch.nn.Module
    kind: str
    species: tuple[str, ...]
    config: dict
    lattice_range: tuple[float, float] | None = None
    composition_range: dict[str, tuple[float, float]] | None = None

    @property
    def train_config(self) -> TrainConfig:
        """The training config the model was made with."""
        return TrainConfig.from_dict(self.config["train"])

    @property
    def r_c(self) -> float:
        """Environment radius (Å) the model expects."""
        return float(self.config["sdm"]["r_c"])

    def template(self) -> SiteTemplate | None:
        """The one-hot site template (NN, LR) or None (CNN)."""
        spec = self.config.get("template")
        return site_template(float(spec["cutoff"])) if spec else None

    def predict_environments(
        self, env: LocalEnvironments, batch_size: int = 256, device: str = "cpu"
    ) -> np.ndarray:
        """Barriers of hop environments, deterministic.

        Args:
            env: H environments whose species indices follow `species`, radius `r_c`.
            batch_size: Hops per forward pass.
            device: Torch device.

        Returns:
            [H] barriers (eV), float64.
        """
        if len(env) == 0:
            return np.zeros(0)
        if int(env.species.max()) >= len(self.species):
            raise VmebError(
                f"environment species index {int(env.species.max())} beyond the model's "
                f"{len(self.species)} species {list(self.species)}"
            )
        config = self.train_config
        self.model.to(device)
        inputs = prepare_inputs(env, config, len(self.species), self.template())
        return predict_inputs(
            self.model, inputs, np.arange(len(env)), len(self.species), config, batch_size, device
        )

    def predict_occupancies(
        self, occupancy, direction, geometry: HopGeometry, batch_size=1024, device="cpu"
    ) -> np.ndarray:
        """[H] float64 barriers (eV) of on-lattice hops, equal to `predict_environments` of the
        same ideal hops within 1e-4 eV: the fast path of `vmeb.spectra.predict`.

        Contract (every model kind implements it): ``occupancy`` [H, S] integer species index
        in `species` order on each lattice offset ``geometry.offsets[s]`` (a
        `vmeb.learn.lattice.HopGeometry`, vacancy at the origin), -1 for an empty site;
        ``direction`` [H] index 0..7 of the moving atom's offset in ``geometry.directions``;
        ``geometry.positions`` [8, S, 3] the ideal hop-frame positions (Å) of the offsets.
        """
        args = (occupancy, direction, geometry, batch_size, device)
        return lattice_operation_predictions(self, *args).mean(axis=0)


def model_from_record(record: Mapping[str, Any], path: str | os.PathLike = "<checkpoint>"):
    """Build the eval-mode `TrainedModel` of a checkpoint dict.

    Raises:
        VmebError: naming ``path`` if the configs or weights do not fit together.
    """
    try:
        config = TrainConfig.from_dict(record["config"]["train"])
        species = SpeciesTable.from_json(record["species"], "checkpoint").symbols
        template = None
        if config.kind == "cnn":
            size = config.sdm_config().grid_size
        else:
            template = site_template(float(record["config"]["template"]["cutoff"]))
            size = template.n_sites
        model = build_model(config.model_config(), len(species), size, template, species)
        model.load_state_dict(record["state_dict"], strict=True)
    except (VmebError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise file_error(path, f"checkpoint does not match its model config ({problem})") from exc
    model.eval()
    span, fractions = record.get("lattice_range"), record.get("composition_range")
    return TrainedModel(
        model=model,
        kind=config.kind,
        species=species,
        config=record["config"],
        lattice_range=(float(span[0]), float(span[1])) if span else None,
        composition_range=(
            {str(k): (float(lo), float(hi)) for k, (lo, hi) in fractions.items()}
            if fractions
            else None
        ),
    )


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> TrainedModel:
    """Load a trained model (``OUT/model.pt`` or ``OUT/checkpoint.pt``) for prediction.

    Args:
        path: Checkpoint file, or the name of a shipped model (`vmeb.learn.pretrained`, e.g.
            ``"nbmotawv-dft"``; an existing file of that name wins).
        device: Torch device for the model.

    Returns:
        The model in eval mode.

    Raises:
        VmebError: naming the file if it is corrupted, of another format, or mismatched.
    """
    path = resolve_checkpoint(path)
    trained = model_from_record(read_checkpoint(path), path)
    trained.model.to(device)
    return trained


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
    if config.kind == "lr":
        return _fit_lr(model, inputs, data, split, config, data.species, template, out, on_epoch)
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
    """Data preparation: hops (loaded unless given), the split, the NN/LR template, auxiliary
    hops moved to the primary level, inputs.

    Returns:
        ``(data, split, template, inputs, offsets)``; ``offsets`` [C] (eV) subtracted from the
        auxiliary barriers per moving species, None without auxiliary hops.
    """
    if data is None:
        check_groups(dataset_groups(datasets), config)  # before the environments' minutes
        auxiliary = [open_dataset(path) for path in config.auxiliary]
        data = load_with_auxiliary(datasets, auxiliary, config.r_c, progress=progress)
    split = split_hops(data.groups, config)
    logger.info("hops: %s", {k: len(v) for k, v in split.items()})
    aux = is_auxiliary(data.groups)
    primary_train = split["train"][~aux[split["train"]]]
    template = None
    if config.kind != "cnn" or aux.any():
        template = _resolve_template(config, data, primary_train)
    offsets = None
    if aux.any():
        data, offsets = align_auxiliary(data, template, split["train"])
    if config.kind == "cnn":
        template = None  # the SDM CNN reads maps, not sites
    inputs = prepare_inputs(data.environments, config, len(data.species), template)
    return data, split, template, inputs, offsets


def _seeded_model(
    config: TrainConfig, datasets: Sequence[BarrierDataset], data: HopData, split, template
) -> torch.nn.Module:
    """The model, initialised from ``config.seed``, target-normalised on the training hops."""
    input_size = config.sdm_config().grid_size if config.kind == "cnn" else template.n_sites
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
    record = _model_record(run.model, run.config, run.data.species, run.template)
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
    record = _model_record(model, config, species, template)
    record["state_dict"] = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
    return record


def _restore(path, config, model, optimizer, scheduler, generator, state) -> dict:
    record = read_checkpoint(path)
    saved = TrainConfig.from_dict(record["config"]["train"])
    if {**saved.to_dict(), "epochs": 0} != {**config.to_dict(), "epochs": 0}:
        diff = sorted(k for k, v in config.to_dict().items() if saved.to_dict()[k] != v)
        raise file_error(path, f"cannot resume: config differs in {diff}")
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


def _fit_lr(model, inputs, data, split, config, species, template, out, on_epoch) -> TrainResult:
    start = time.perf_counter()
    x = inputs.descriptors[split["train"]].numpy()
    fit_linear(model, x, data.barriers[split["train"]], ridge=config.ridge)
    val_pred = predict_inputs(
        model, inputs, split["val"], len(species), config, 4096, config.device, inference=False
    )
    val_mae = float(np.abs(val_pred - data.barriers[split["val"]]).mean())
    save_checkpoint(_model_record(model, config, species, template), out / MODEL_FILE)
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
