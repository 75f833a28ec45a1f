"""Deep ensembles: K independently seeded trainings, predictions with uncertainty, calibration.

An ensemble (Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017) is K trainings of the same
`vmeb.learn.settings.TrainConfig` that differ only in their seed: member k uses ``seed + k``, which
changes the weight initialisation, the mini-batch order, the augmentation angles and the random
validation hops. With ``bootstrap`` each member also trains on a resample (with replacement,
within each composition group) of its training hops; its validation and test hops are kept
apart exactly (relabelled ``val:<group>`` and passed as ``val_groups``), so no resampled training
hop ever validates. Hop environments are computed once and shared by all members.

Prediction of a hop gives three numbers (eV):

- ``barrier``: the ensemble mean of the members' deterministic predictions (each member averages
  over its inference operations, `vmeb.learn.sdm.INFERENCE_ANGLES` about the hop axis and the
  mirror).
- ``barrier_std``: the epistemic spread, the population standard deviation (ddof 0) over members.
- ``angle_std``: the spread over the inference operations, ``sqrt(mean_k var_o p[k, o])``: how
  much a member's prediction still depends on the physically irrelevant rotation about the hop
  axis. ``total_std = sqrt(barrier_std^2 + angle_std^2)``.

Calibration (`calibration_report`) compares |error| with sigma on data with true barriers: the
fractions within 1 and 2 sigma (68.27 % and 95.45 % for Gaussian errors of the stated sigma), the
Spearman rank correlation of |error| and sigma, the factor that would make the normalised errors
of unit variance, and the RMSE per sigma bin (a reliability diagram).

Layout of an ensemble directory: ``ensemble.json`` (format, version, members, configuration,
species; written last, atomically, so its presence marks a finished ensemble) and one
``member_XX/`` training directory per member (`vmeb.learn.training.train_model` output).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from vmeb.data.dataset import BarrierDataset
from vmeb.errors import CheckpointError, VmebError, file_error
from vmeb.files import write_json
from vmeb.learn.batches import prepare_inputs
from vmeb.learn.checkpoints import (
    MODEL_FILE,
    STATE_FILE,
    SUMMARY_FILE,
    TrainedModel,
    load_checkpoint,
    read_checkpoint,
)
from vmeb.learn.environment import LocalEnvironments
from vmeb.learn.forward import operation_outputs
from vmeb.learn.hops import HopData, load_hops, split_hops
from vmeb.learn.inference import predict_hops
from vmeb.learn.kinds import get_kind
from vmeb.learn.lattice import lattice_operation_predictions
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import check_resume, train_model

logger = logging.getLogger(__name__)

ENSEMBLE_FORMAT = "vmeb-ensemble"
ENSEMBLE_VERSION = 1
ENSEMBLE_FILE = "ensemble.json"
#: Prefix of the relabelled validation groups of bootstrap members.
VAL_PREFIX = "val:"
#: Fractions of a Gaussian within 1 and 2 standard deviations: erf(1/sqrt 2), erf(2/sqrt 2).
GAUSSIAN_WITHIN_1 = math.erf(1 / math.sqrt(2))
GAUSSIAN_WITHIN_2 = math.erf(2 / math.sqrt(2))
#: Columns added to a hop table by `vmeb.spectra.predict.predict_barriers_with_uncertainty`.
UNCERTAINTY_COLUMNS = ("barrier_std", "angle_std", "total_std")


def member_dir(root: str | os.PathLike, k: int) -> Path:
    """The training directory of member ``k``: ``root/member_XX``."""
    return Path(root) / f"member_{k:02d}"


def member_seed(config: TrainConfig, k: int) -> int:
    """Seed of member ``k``: the configuration's seed plus ``k``."""
    return int(config.seed) + int(k)


# ----------------------------------------------------------------------------- training


def bootstrap_member(
    data: HopData, config: TrainConfig, rng: np.random.Generator
) -> tuple[HopData, TrainConfig]:
    """Hops and configuration of one bootstrap member.

    The member's own split (`vmeb.learn.hops.split_hops` with ``config``) is made first; its
    training hops are resampled with replacement within each group (same size per group), its
    validation hops relabelled ``val:<group>`` and named in ``val_groups`` so that the split of
    the returned data reproduces them exactly; test hops are kept as they are.

    Args:
        data: All hops (environments computed once).
        config: The member's configuration (its seed fixes the split).
        rng: Source of the resample.

    Returns:
        (hops: resampled training hops, then validation, then test; the configuration to train).
    """
    split = split_hops(data.groups, config, data.reverse_of)
    train = split["train"]
    groups = data.groups[train]
    resampled = np.concatenate(
        [
            rng.choice(train[groups == g], size=int((groups == g).sum()), replace=True)
            for g in sorted(set(groups.tolist()))
        ]
    )
    index = np.concatenate([resampled, split["val"], split["test"]])
    labels = np.concatenate(
        [
            data.groups[resampled],
            np.array([VAL_PREFIX + str(g) for g in data.groups[split["val"]]], dtype=object),
            data.groups[split["test"]],
        ]
    ).astype(str)
    member_data = HopData(
        environments=data.environments.take(index),
        barriers=data.barriers[index],
        groups=labels,
        species=data.species,
    )
    val_groups = tuple(sorted({VAL_PREFIX + str(g) for g in data.groups[split["val"]]}))
    return member_data, dataclasses.replace(config, val_groups=val_groups)


@dataclass
class EnsembleResult:
    """Outcome of `train_ensemble`.

    Attributes:
        root: The ensemble directory.
        model_paths: [K] best checkpoints of the members.
        val_mae: [K] best validation MAE of each member (eV).
        test: [K] test metrics of each member (empty dicts without test groups).
    """

    root: Path
    model_paths: list[Path]
    val_mae: list[float]
    test: list[dict[str, Any]]


def _finished(path: Path) -> bool:
    return (path / SUMMARY_FILE).is_file() and (path / MODEL_FILE).is_file()


def train_ensemble(
    datasets: Sequence[BarrierDataset],
    config: TrainConfig,
    out_dir: str | os.PathLike,
    members: int = 5,
    *,
    bootstrap: bool = False,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
    data: HopData | None = None,
) -> EnsembleResult:
    """Train a deep ensemble of ``members`` independently seeded models.

    Args:
        datasets: Opened barrier datasets.
        config: The configuration shared by all members (member k uses seed ``seed + k``).
        out_dir: Ensemble directory (created).
        members: K >= 2.
        bootstrap: Resample each member's training hops (`bootstrap_member`).
        resume: Keep finished members, continue an interrupted one from its checkpoint.
        progress: Show tqdm bars.
        on_epoch: Called with (member, epoch metrics) after every epoch.
        data: Precomputed hops (`vmeb.learn.hops.load_hops`), else computed here once.

    Returns:
        Paths and validation/test metrics of the members.

    Raises:
        VmebError: for K < 2, or an existing ensemble without ``resume``.
    """
    if members < 2:
        raise VmebError(f"an ensemble needs at least 2 members, got {members}")
    root = Path(out_dir)
    existing = (root / ENSEMBLE_FILE).exists() or any(
        member_dir(root, k).exists() for k in range(members)
    )
    if existing and not resume:
        raise file_error(root, "already holds an ensemble (use resume or another directory)")
    root.mkdir(parents=True, exist_ok=True)
    if data is None:
        window = get_kind(config.kind).window_half(config)
        data = load_hops(
            datasets, config.r_c, progress=progress, reverse=config.reverse, window=window
        )
    paths, val_mae, tests, records = [], [], [], []
    for k in range(members):
        seed = member_seed(config, k)
        member_config = dataclasses.replace(config, seed=seed)
        member_data = data
        if bootstrap:
            rng = np.random.default_rng([seed, 1])
            member_data, member_config = bootstrap_member(data, member_config, rng)
        callback = None if on_epoch is None else (lambda e, k=k: on_epoch(k, e))
        path, mae, test = _train_member(
            datasets, member_config, member_dir(root, k), member_data, resume, progress, callback
        )
        paths.append(path)
        val_mae.append(mae)
        tests.append(test)
        records.append({"path": str(path.relative_to(root)), "seed": seed, "val_mae": mae})
    _write_ensemble_header(root, records, bootstrap, config, data.species)
    return EnsembleResult(root=root, model_paths=paths, val_mae=val_mae, test=tests)


def check_ensemble_resume(
    root: str | os.PathLike, config: TrainConfig, members: int, bootstrap: bool = False
) -> None:
    """Refuse to resume the ensemble in ``root`` with another config, before anything is written.

    Every member with a resumable checkpoint must have been made with ``config`` and its member
    seed (`member_seed`; a bootstrap member's own validation groups are not compared); only
    ``epochs`` may differ (`vmeb.learn.training.check_resume`).

    Raises:
        VmebError: naming the member's checkpoint and the settings that differ.
    """
    for k in range(members):
        path = member_dir(root, k) / STATE_FILE
        if not path.is_file():
            continue
        expected = dataclasses.replace(config, seed=member_seed(config, k))
        if bootstrap:
            saved = read_checkpoint(path)["config"]["train"].get("val_groups", ())
            expected = dataclasses.replace(expected, val_groups=tuple(saved))
        check_resume(path, expected)


def _train_member(
    datasets: Sequence[BarrierDataset],
    config: TrainConfig,
    folder: Path,
    data: HopData,
    resume: bool,
    progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> tuple[Path, float, dict[str, Any]]:
    """Train one member into ``folder`` (or keep it when resuming a finished one).

    Returns:
        (best model path, validation MAE in eV, test metrics).
    """
    if resume and _finished(folder):
        logger.info("member %s already trained, kept", folder.name)
        summary = json.loads((folder / SUMMARY_FILE).read_text())
        return folder / MODEL_FILE, float(summary["val_mae"]), summary.get("test") or {}
    logger.info("training member %s (seed %d)", folder.name, config.seed)
    result = train_model(
        datasets,
        config,
        folder,
        data=data,
        progress=progress,
        resume=resume and (folder / STATE_FILE).is_file(),
        on_epoch=on_epoch,
    )
    return result.model_path, float(result.val_mae), result.test


def _write_ensemble_header(
    root: Path, records: list[dict], bootstrap: bool, config: TrainConfig | None, species
) -> None:
    """``ensemble.json``: format, version, members, the shared config (None for members trained
    apart, whose records carry their own), species."""
    header = {
        "format": ENSEMBLE_FORMAT,
        "version": ENSEMBLE_VERSION,
        "members": records,
        "bootstrap": bool(bootstrap),
        **({"config": config.to_dict()} if config is not None else {}),
        "species": list(species),
    }
    write_json(root / ENSEMBLE_FILE, header)


def assemble_ensemble(root: str | os.PathLike, checkpoints: Sequence[str | os.PathLike]) -> Path:
    """An ensemble directory of checkpoints trained apart, e.g. of different kinds.

    Members may differ in kind and architecture but must share species order and r_c
    (`DeepEnsemble` checks on loading); each is copied to ``member_XX/model.pt`` and
    ``ensemble.json`` lists them with their kind and training config (written last).

    Args:
        root: New ensemble directory (must not exist).
        checkpoints: Member checkpoint files, in order.

    Returns:
        ``root``.

    Raises:
        VmebError: if ``root`` exists, or a checkpoint cannot be loaded.
    """
    import shutil  # noqa: PLC0415

    from vmeb.files import staged_output  # noqa: PLC0415

    root = Path(root)
    if root.exists():
        raise file_error(root, "already exists")
    for path in checkpoints:
        if Path(path).is_dir():
            raise file_error(path, "is a directory; members must be single checkpoints")
    members = [load_checkpoint(path) for path in checkpoints]
    DeepEnsemble(members=members, root=root)  # same species and r_c, or an error
    records = []
    with staged_output(root) as staging:  # the whole ensemble or nothing
        for k, (path, member) in enumerate(zip(checkpoints, members, strict=True)):
            target = member_dir(staging, k) / MODEL_FILE
            target.parent.mkdir(parents=True)
            shutil.copyfile(path, target)
            records.append({"path": str(target.relative_to(staging)), "kind": member.kind,
                            "config": member.config["train"]})  # fmt: skip
        _write_ensemble_header(staging, records, False, None, members[0].species)
    return root


# ----------------------------------------------------------------------------- prediction


@torch.no_grad()
def operation_predictions(
    trained: TrainedModel, env: LocalEnvironments, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """One model's predictions for each inference operation, before averaging.

    The operations are those `TrainedModel.predict_environments` averages over: for a CNN the
    rotations about the hop axis (and the mirror), for an NN the lattice symmetry images of the
    one-hot sites; an LR (fitted on symmetry-averaged descriptors) has one.

    Args:
        trained: A loaded model.
        env: H hop environments in the model's species order and radius.
        batch_size: Hops per forward pass.
        device: Torch device.

    Returns:
        [O, H] barriers (eV); their mean over O equals ``trained.predict_environments(env)``.
    """
    # The input pipeline and forward are those of prediction (folded network, the model's
    # prediction precision), so the operations and their arithmetic cannot drift.
    inputs = prepare_inputs(env, trained.train_config, len(trained.species), trained.template())
    index = np.arange(len(env))
    model = trained.model.to(device)
    config = trained.train_config
    return operation_outputs(model, inputs, index, len(trained.species), config, batch_size, device)


@dataclass(frozen=True)
class EnsemblePrediction:
    """Ensemble predictions of H hops.

    Attributes:
        members: [K, H] each member's deterministic prediction (eV).
        mean: [H] ensemble mean (eV).
        epistemic_std: [H] standard deviation over members, ddof 0 (eV).
        angle_std: [H] root mean over members of the variance over inference operations (eV).
    """

    members: np.ndarray
    mean: np.ndarray
    epistemic_std: np.ndarray
    angle_std: np.ndarray

    @property
    def total_std(self) -> np.ndarray:
        """[H] ``sqrt(epistemic_std^2 + angle_std^2)`` (eV)."""
        return np.sqrt(self.epistemic_std**2 + self.angle_std**2)


def combine_predictions(per_operation: np.ndarray) -> EnsemblePrediction:
    """Ensemble statistics of per-member, per-operation predictions.

    Args:
        per_operation: [K, O, H] barriers (eV).

    Returns:
        The `EnsemblePrediction`.
    """
    per_operation = np.asarray(per_operation, dtype=np.float64)
    members = per_operation.mean(axis=1)
    return EnsemblePrediction(
        members=members,
        mean=members.mean(axis=0),
        epistemic_std=members.std(axis=0),
        angle_std=np.sqrt(per_operation.var(axis=1).mean(axis=0)),
    )


@dataclass
class DeepEnsemble:
    """K trained models used together; duck-types as a `TrainedModel` for `vmeb.spectra.predict`.

    Attributes:
        members: The loaded member models (same species order and r_c).
        root: The ensemble directory.
    """

    members: list[TrainedModel]
    root: Path | None = None

    def __post_init__(self) -> None:
        if len(self.members) < 1:
            raise VmebError("an ensemble needs at least one member")
        first = self.members[0]
        for k, member in enumerate(self.members[1:], start=1):
            if tuple(member.species) != tuple(first.species) or member.r_c != first.r_c:
                raise file_error(
                    self.root or "<ensemble>",
                    f"member {k} has species {list(member.species)} and r_c {member.r_c}, "
                    f"member 0 {list(first.species)} and {first.r_c}",
                )

    #: What `vmeb models` and model cards call this kind of predictor.
    kind = "ensemble"

    @property
    def species(self) -> tuple[str, ...]:
        """Channel order shared by the members."""
        return tuple(self.members[0].species)

    @property
    def r_c(self) -> float:
        """Environment radius (Å) shared by the members."""
        return float(self.members[0].r_c)

    @property
    def lattice_range(self) -> tuple[float, float] | None:
        """``(a_min, a_max)`` (Å) spanned by the members' training samples (None if unknown for
        any member): `vmeb.learn.inference.check_lattice` warns outside it."""
        spans = [m.lattice_range for m in self.members]
        if any(span is None for span in spans):
            return None
        return (min(lo for lo, _ in spans), max(hi for _, hi in spans))

    @property
    def composition_range(self) -> dict[str, tuple[float, float]] | None:
        """``{symbol: (x_min, x_max)}`` atomic fractions spanned by the members' training samples
        (None if unknown for any member): `vmeb.learn.inference.check_composition` warns
        outside it."""
        spans = [m.composition_range for m in self.members]
        if any(span is None for span in spans):
            return None
        return {
            s: (min(span[s][0] for span in spans), max(span[s][1] for span in spans))
            for s in spans[0]
        }

    def predict_uncertainty(
        self, env: LocalEnvironments, batch_size: int = 256, device: str = "cpu"
    ) -> EnsemblePrediction:
        """Mean, epistemic and angle spread of H hop environments (eV)."""
        stacked = [operation_predictions(m, env, batch_size, device) for m in self.members]
        return _combine_members(stacked)

    def predict_uncertainty_occupancies(
        self, occupancy, direction, geometry, batch_size: int = 1024, device: str = "cpu"
    ) -> EnsemblePrediction:
        """`predict_uncertainty` of on-lattice hops (arguments of
        `TrainedModel.predict_occupancies`)."""
        stacked = [
            lattice_operation_predictions(m, occupancy, direction, geometry, batch_size, device)
            for m in self.members
        ]
        return _combine_members(stacked)

    def predict_environments(
        self, env: LocalEnvironments, batch_size: int = 256, device: str = "cpu"
    ) -> np.ndarray:
        """[H] ensemble-mean barriers (eV), the `TrainedModel` interface."""
        return self.predict_uncertainty(env, batch_size, device).mean

    def predict_occupancies(
        self, occupancy, direction, geometry, batch_size: int = 1024, device: str = "cpu"
    ) -> np.ndarray:
        """[H] ensemble-mean barriers (eV) of on-lattice hops (contract of
        `TrainedModel.predict_occupancies`)."""
        return self.predict_uncertainty_occupancies(
            occupancy, direction, geometry, batch_size, device
        ).mean


def _combine_members(stacked: list[np.ndarray]) -> EnsemblePrediction:
    """Ensemble statistics of K members' [O_k, H] per-operation predictions."""
    n_ops = {len(s) for s in stacked}
    if len(n_ops) > 1:  # members of different kinds: average each member first
        stacked = [np.repeat(s.mean(0, keepdims=True), max(n_ops), axis=0) for s in stacked]
    return combine_predictions(np.stack(stacked))


def load_ensemble(path: str | os.PathLike, device: str = "cpu") -> DeepEnsemble:
    """Load an ensemble directory written by `train_ensemble`.

    Raises:
        VmebError: naming the file, for a missing or malformed ``ensemble.json`` or member.
    """
    root = Path(path)
    header_path = root / ENSEMBLE_FILE
    if not header_path.is_file():
        raise file_error(root, f"not an ensemble directory (no {ENSEMBLE_FILE})")
    try:
        header = json.loads(header_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise file_error(header_path, f"unreadable ({type(exc).__name__})") from exc
    if not isinstance(header, dict) or header.get("format") != ENSEMBLE_FORMAT:
        raise file_error(header_path, f"not a {ENSEMBLE_FORMAT} file")
    if header.get("version") != ENSEMBLE_VERSION:
        raise file_error(
            header_path, f"version {header.get('version')!r}; this vmeb reads {ENSEMBLE_VERSION}"
        )
    records = header.get("members")
    if not isinstance(records, list) or not records:
        raise file_error(header_path, "lists no members")
    members = []
    for record in records:
        member_path = root / str(record.get("path", ""))
        if not member_path.is_file():
            raise file_error(member_path, "ensemble member checkpoint missing")
        members.append(load_checkpoint(member_path, device=device))
    return DeepEnsemble(members=members, root=root)


def require_ensemble(predictor: Any, path: str | os.PathLike, instead: str) -> DeepEnsemble:
    """Return ``predictor`` if it is a deep ensemble, else refuse the single model.

    Args:
        predictor: What `vmeb.learn.predictors.load_predictor` returned for ``path``.
        path: The checkpoint, shipped model or directory as the user gave it.
        instead: What to do with a single model, e.g. ``"use vmeb predict for its spectrum"``.

    Raises:
        CheckpointError: naming ``path``, if it is a single model.
    """
    if isinstance(predictor, DeepEnsemble):
        return predictor
    raise CheckpointError(path, f"is a single model, not an ensemble ({instead})")


class EnsembleRecorder:
    """Feeds `vmeb.spectra.predict` with the ensemble mean and keeps the spreads, chunk by chunk."""

    def __init__(self, ensemble: DeepEnsemble):
        self.ensemble = ensemble
        self.species = ensemble.species
        self.r_c = ensemble.r_c
        self.parts: list[EnsemblePrediction] = []

    def predict_environments(self, env, batch_size: int = 256, device: str = "cpu"):
        prediction = self.ensemble.predict_uncertainty(env, batch_size, device)
        self.parts.append(prediction)
        return prediction.mean

    def predict_occupancies(
        self, occupancy, direction, geometry, batch_size: int = 1024, device: str = "cpu"
    ):
        prediction = self.ensemble.predict_uncertainty_occupancies(
            occupancy, direction, geometry, batch_size, device
        )
        self.parts.append(prediction)
        return prediction.mean

    def joined(self, n_members: int) -> EnsemblePrediction:
        if not self.parts:
            empty = np.zeros(0)
            return EnsemblePrediction(np.zeros((n_members, 0)), empty, empty, empty)
        return EnsemblePrediction(
            members=np.concatenate([p.members for p in self.parts], axis=1),
            mean=np.concatenate([p.mean for p in self.parts]),
            epistemic_std=np.concatenate([p.epistemic_std for p in self.parts]),
            angle_std=np.concatenate([p.angle_std for p in self.parts]),
        )


def predict_dataset(
    ensemble: DeepEnsemble,
    dataset: BarrierDataset,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    """Ensemble predictions of every valid hop of a dataset, beside the true barriers.

    Returns:
        The dataset's valid hops with ``group``, ``barrier`` (true, eV), ``predicted`` (ensemble
        mean), ``error`` (predicted - true) and `UNCERTAINTY_COLUMNS` (eV).
    """
    hops = dataset.with_groups().reset_index(drop=True)
    columns = {name: np.zeros(len(hops)) for name in ("predicted", *UNCERTAINTY_COLUMNS)}
    for _, atoms, rows in dataset.iter_samples(hops):
        recorder = EnsembleRecorder(ensemble)
        predict_hops(
            recorder,
            atoms,
            rows["vacancy_index"].to_numpy(),
            rows["moving_index"].to_numpy(),
            batch_size=batch_size,
            device=device,
            progress=progress,
        )
        joined = recorder.joined(len(ensemble.members))
        index = rows.index.to_numpy()
        columns["predicted"][index] = joined.mean
        columns["barrier_std"][index] = joined.epistemic_std
        columns["angle_std"][index] = joined.angle_std
        columns["total_std"][index] = joined.total_std
    for name, values in columns.items():
        hops[name] = values
    hops["error"] = hops["predicted"] - hops["barrier"]
    return hops


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationReport:
    """How well predicted sigmas describe the actual errors.

    Attributes:
        n: Number of hops.
        mae: Mean |error| (eV).
        rmse: Root mean square error (eV).
        mean_sigma: Mean predicted sigma (eV).
        within_1sigma: Fraction with |error| <= sigma (Gaussian: 0.6827).
        within_2sigma: Fraction with |error| <= 2 sigma (Gaussian: 0.9545).
        spearman: Spearman rank correlation of |error| and sigma.
        spearman_p: Its two-sided p-value.
        sigma_scale: ``sqrt(mean((error / sigma)^2))``: multiply sigma by it for unit-variance
            normalised errors (1 when calibrated; > 1 when sigma is too small).
        bins: Reliability diagram: per sigma-quantile bin ``count``, ``rms_sigma``, ``rmse`` (eV).
    """

    n: int
    mae: float
    rmse: float
    mean_sigma: float
    within_1sigma: float
    within_2sigma: float
    spearman: float
    spearman_p: float
    sigma_scale: float
    bins: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the Gaussian reference fractions."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "bins"}
        out["gaussian_within_1sigma"] = GAUSSIAN_WITHIN_1
        out["gaussian_within_2sigma"] = GAUSSIAN_WITHIN_2
        out["bins"] = json.loads(self.bins.to_json(orient="records"))
        return out


def calibration_report(
    true: np.ndarray, predicted: np.ndarray, sigma: np.ndarray, n_bins: int = 10
) -> CalibrationReport:
    """Calibration of predicted uncertainties against true values.

    Args:
        true: [N] true barriers (eV).
        predicted: [N] predicted barriers (eV).
        sigma: [N] predicted standard deviations (eV), > 0.
        n_bins: Equal-count bins of sigma for the reliability diagram.

    Returns:
        The `CalibrationReport`.

    Raises:
        VmebError: for mismatched lengths, no data, or non-positive sigma.
    """
    from scipy.stats import spearmanr  # noqa: PLC0415

    true, predicted, sigma = (
        np.asarray(v, dtype=np.float64).ravel() for v in (true, predicted, sigma)
    )
    if not len(true) == len(predicted) == len(sigma):
        raise VmebError(f"lengths differ: {len(true)}, {len(predicted)}, {len(sigma)}")
    if len(true) < 2:
        raise VmebError("calibration needs at least 2 values")
    if not np.all(sigma > 0):
        raise VmebError(f"{int(np.sum(~(sigma > 0)))} sigma values are not > 0")
    error = np.abs(predicted - true)
    rho, p_value = spearmanr(error, sigma)
    order = np.argsort(sigma, kind="stable")
    rows = []
    for part in np.array_split(order, min(n_bins, len(order))):
        rows.append(
            {
                "count": int(len(part)),
                "rms_sigma": float(np.sqrt(np.mean(sigma[part] ** 2))),
                "rmse": float(np.sqrt(np.mean(error[part] ** 2))),
            }
        )
    return CalibrationReport(
        n=int(len(error)),
        mae=float(error.mean()),
        rmse=float(np.sqrt(np.mean(error**2))),
        mean_sigma=float(sigma.mean()),
        within_1sigma=float(np.mean(error <= sigma)),
        within_2sigma=float(np.mean(error <= 2 * sigma)),
        spearman=float(rho),
        spearman_p=float(p_value),
        sigma_scale=float(np.sqrt(np.mean((error / sigma) ** 2))),
        bins=pd.DataFrame(rows, columns=["count", "rms_sigma", "rmse"]),
    )


def calibration_figure(
    true: np.ndarray, predicted: np.ndarray, sigma: np.ndarray, title: str = ""
) -> Figure:
    """Error versus sigma: (a) |error| against sigma with the 1 and 2 sigma lines, (b) the
    reliability diagram (RMSE per sigma bin against the bin's RMS sigma, ideal on y = x).

    Args:
        true: [N] true barriers (eV).
        predicted: [N] predicted barriers (eV).
        sigma: [N] predicted standard deviations (eV).
        title: Figure title.

    Returns:
        The figure (not saved).
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415

    report = calibration_report(true, predicted, sigma)
    error = np.abs(np.asarray(predicted, float) - np.asarray(true, float))
    sigma = np.asarray(sigma, float)
    fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(9.5, 4.2))
    ax_a.scatter(sigma, error, s=4, alpha=0.35, color="#1f77b4", linewidths=0)
    top = float(max(sigma.max(), 1e-6)) * 1.05
    line = np.array([0.0, top])
    ax_a.plot(line, line, "k-", lw=1, label=f"1σ ({100 * report.within_1sigma:.1f}% within)")
    ax_a.plot(line, 2 * line, "k--", lw=1, label=f"2σ ({100 * report.within_2sigma:.1f}% within)")
    ax_a.set_xlim(0, top)
    ax_a.set_ylim(0, max(float(error.max()), 2 * top) * 1.02)
    ax_a.set_xlabel("predicted σ (eV)")
    ax_a.set_ylabel("|error| (eV)")
    ax_a.set_title(f"Spearman ρ = {report.spearman:.2f}", fontsize=10)
    ax_a.legend(frameon=False, fontsize=8, loc="upper left")
    bins = report.bins
    ax_b.plot(bins["rms_sigma"], bins["rmse"], "o-", color="#d62728", label="ensemble")
    limit = float(max(bins["rms_sigma"].max(), bins["rmse"].max())) * 1.1
    ax_b.plot([0, limit], [0, limit], "k:", lw=1, label="calibrated")
    ax_b.set_xlim(0, limit)
    ax_b.set_ylim(0, limit)
    ax_b.set_xlabel("RMS predicted σ in bin (eV)")
    ax_b.set_ylabel("RMSE in bin (eV)")
    ax_b.set_title(f"σ scale for calibration: {report.sigma_scale:.2f}", fontsize=10)
    ax_b.legend(frameon=False, fontsize=8, loc="upper left")
    for ax, label in ((ax_a, "a"), (ax_b, "b")):
        ax.text(-0.14, 1.02, label, transform=ax.transAxes, fontweight="bold", fontsize=12)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
