"""Checkpoints of trained models: the file format, and the loaded model that predicts.

A checkpoint is a plain dict (tensors, numbers, strings, lists) loaded with
``torch.load(weights_only=True)``: ``format`` (`CHECKPOINT_FORMAT`), ``version``
(`CHECKPOINT_VERSION`), ``kind``, ``species``, ``config`` (``{"model", "sdm", "train",
"template"}`` plain dicts; ``template`` is the site template's cutoff for a kind that
`vmeb.learn.kinds.base.ModelKind.uses_template`, else None), ``target`` (mean and std of the
training barriers, eV), ``state_dict``, and where known ``lattice_range`` and
``composition_range``; `model_record` makes one, `save_checkpoint` writes it atomically,
`read_checkpoint` checks it. The resumable ``checkpoint.pt`` adds the optimiser, scheduler,
generator, best weights and progress (`vmeb.learn.training`).

A training run's folder holds ``model.pt`` (`MODEL_FILE`, the best model), ``checkpoint.pt``
(`STATE_FILE`), ``metrics.jsonl`` (`METRICS_FILE`), ``summary.json`` (`SUMMARY_FILE`) and, with
auxiliary data, `AUX_OFFSETS_FILE`.

`load_checkpoint` (a path or a shipped model's name) gives a `TrainedModel`, which predicts
barriers of hop environments (the exact path) or of on-lattice occupancies (the fast path).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_output
from vmeb.learn.batches import prepare_inputs
from vmeb.learn.descriptors import SiteTemplate, site_template
from vmeb.learn.environment import LocalEnvironments
from vmeb.learn.forward import predict_inputs
from vmeb.learn.intervals import CompositionIntervals
from vmeb.learn.kinds import get_kind
from vmeb.learn.lattice import HopGeometry, lattice_operation_predictions
from vmeb.learn.models import build_model
from vmeb.learn.pretrained import resolve_checkpoint
from vmeb.learn.settings import TrainConfig
from vmeb.species import SpeciesTable

CHECKPOINT_FORMAT = "vmeb-model"
CHECKPOINT_VERSION = 1
#: The best model of a training run.
MODEL_FILE = "model.pt"
#: The last epoch of a training run, with what ``resume`` needs.
STATE_FILE = "checkpoint.pt"
#: One JSON line of metrics per epoch.
METRICS_FILE = "metrics.jsonl"
#: The final metrics.
SUMMARY_FILE = "summary.json"
#: Offsets per moving species subtracted from auxiliary barriers (eV), written when there are any.
AUX_OFFSETS_FILE = "auxiliary_offsets.json"


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def model_record(
    model: torch.nn.Module,
    config: TrainConfig,
    species: Sequence[str],
    template: SiteTemplate | None,
) -> dict[str, Any]:
    """The checkpoint fields that define a trained model (`save_checkpoint` writes them).

    Args:
        model: The network; its ``lattice_range`` and ``composition_range`` attributes (set by
            `vmeb.learn.training.train_model`) are saved when present.
        config: The run's configuration.
        species: Channel order.
        template: The site template of a kind that `uses_template`, else None.
    """
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
        kind: The model kind (`vmeb.learn.kinds`).
        species: Channel order; environments must use it.
        config: The saved configs: ``{"model", "sdm", "train", "template"}`` plain dicts.
        lattice_range: ``(a_min, a_max)`` (Å) of the training samples, None in older checkpoints
            (`vmeb.learn.inference.check_lattice`).
        composition_range: ``{symbol: (x_min, x_max)}`` atomic fractions of the training
            samples, None in older checkpoints (`vmeb.learn.inference.check_composition`).
        intervals: Calibrated error bars that widen away from the training compositions
            (`vmeb.learn.intervals.CompositionIntervals`, record key ``intervals``), or None.
    """

    model: torch.nn.Module
    kind: str
    species: tuple[str, ...]
    config: dict
    lattice_range: tuple[float, float] | None = None
    composition_range: dict[str, tuple[float, float]] | None = None
    intervals: CompositionIntervals | None = None

    @property
    def train_config(self) -> TrainConfig:
        """The training config the model was made with."""
        return TrainConfig.from_dict(self.config["train"])

    @property
    def r_c(self) -> float:
        """Environment radius (Å) the model expects."""
        return float(self.config["sdm"]["r_c"])

    def template(self) -> SiteTemplate | None:
        """The one-hot site template (a kind that `uses_template`) or None (the SDM CNN)."""
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


@torch.no_grad()
def _flush_subnormal(model: torch.nn.Module) -> None:
    """Set subnormal float weights (|w| < 1.2e-38, left by weight decay) to zero in place.

    They change no prediction (max difference 0.0 on `tanbmo-eam`), but fp32 CPU convolutions
    on them run about 5x slower (`tanbmo-eam`: 0.36 s against 0.065 s for a 30^3-cell pass).
    """
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            tiny = torch.finfo(tensor.dtype).tiny
            tensor[(tensor != 0) & (tensor.abs() < tiny)] = 0.0


def model_from_record(record: Mapping[str, Any], path: str | os.PathLike = "<checkpoint>"):
    """Build the eval-mode `TrainedModel` of a checkpoint dict.

    Raises:
        VmebError: naming ``path`` if the configs or weights do not fit together.
    """
    try:
        config = TrainConfig.from_dict(record["config"]["train"])
        species = SpeciesTable.from_json(record["species"], "checkpoint").symbols
        template = None
        if get_kind(config.kind).uses_template:
            template = site_template(float(record["config"]["template"]["cutoff"]))
        size = get_kind(config.kind).input_size(config, template)
        model = build_model(config.model_config(), len(species), size, template, species)
        model.load_state_dict(record["state_dict"], strict=True)
        _flush_subnormal(model)
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
        intervals=_intervals(record, path),
    )


def _intervals(record: Mapping[str, Any], path: str | os.PathLike) -> CompositionIntervals | None:
    """The checkpoint's calibrated intervals, if it carries them."""
    if "intervals" not in record:
        return None
    try:
        return CompositionIntervals.from_record(record["intervals"])
    except (VmebError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise file_error(path, f"intervals record is malformed ({exc})") from exc


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
    return open_checkpoint(resolve_checkpoint(path), device)


def open_checkpoint(path: str | os.PathLike, device: str = "cpu") -> TrainedModel:
    """`load_checkpoint` of a checkpoint file path already resolved
    (`vmeb.learn.pretrained.resolve_checkpoint`), as `vmeb.learn.predictors.load_model` has it.

    Raises:
        VmebError: naming the file if it is corrupted, of another format, or mismatched.
    """
    trained = model_from_record(read_checkpoint(path), path)
    trained.model.to(device)
    return trained
