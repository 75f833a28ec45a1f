"""Training settings: `TrainConfig`, read from a YAML file and explicit overrides (the flags).

`TrainConfig` is everything that defines a training run; its fields are the ``vmeb train``
flags, which `vmeb.cli.common.add_training_arguments` generates from the dataclass (one flag per
field: the name from the field, the value type from the annotation and the field's metadata,
the help text from the Attributes section below, `setting_docs`), so the flags and the config
cannot drift apart.

Precedence (`resolve_train_config`): `TrainConfig` defaults < the YAML file (keys equal the
flag names, with ``_`` or ``-``) < explicit overrides (flags given on the command line).

This module imports no torch (the command line builds its parser from it); the checks that
need the model and SDM settings import them when a config is made.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from vmeb.config import check_bounds, check_keys, config_from_mapping, read_config
from vmeb.errors import VmebError
from vmeb.learn.kinds import kind_names

#: Settings that are lists (a single value in a file becomes a one-item list).
LIST_KEYS = ("hidden", "val_groups", "test_groups", "auxiliary")
#: Rotation augmentation modes (`vmeb.learn.training` module docstring).
AUGMENT_MODES = ("random", "lattice", "none")
#: Accepted values of ``precision`` (`vmeb.learn.precision`).
PRECISIONS = ("auto", "fp32", "bf16")
#: `vmeb.species.ELEMENT_FEATURES` (tested equal; kept here so that this module imports no ase).
ELEMENT_FEATURE_CHOICES = ("onehot", "occupied", "vec", "period", "radius")
#: Fields that are tuples of values.
_TUPLE_FIELDS = ("hidden", "val_groups", "test_groups", "auxiliary", "element_features")


def _setting(default: Any = None, **flag: Any) -> Any:
    """A `TrainConfig` field whose metadata says how its flag parses values.

    Keys of ``flag`` (all optional): ``value`` (a value check of `vmeb.cli.common`:
    ``"positive_int"``, ``"nonnegative_int"``, ``"int_at_least_1"``, ``"positive_float"``,
    ``"nonnegative_float"``), ``choices`` (a tuple, or a function giving one), ``nargs``
    (instead of ``"+"`` for a tuple field), ``metavar``, ``shared`` (the flag is a shared one of
    the command line, with its own help: ``batch_size``, ``device``).
    """
    return field(default=default, metadata=flag)


@functools.lru_cache(maxsize=32)
def _sdm_config(r_c: float, l_c: float, delta: float) -> Any:
    """The `vmeb.learn.sdm.SDMConfig` of a geometry (frozen, so one instance serves all)."""
    from vmeb.learn.sdm import SDMConfig  # noqa: PLC0415 - torch only when needed

    return SDMConfig(r_c=r_c, l_c=l_c, delta=delta)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; keys equal the ``vmeb train`` flags.

    Attributes:
        kind: Model kind, a name of the registry `vmeb.learn.kinds` (cnn: the paper's SDM CNN;
            nn, lr: the paper's one-hot site baselines; mlp, latcnn: on-lattice site MLP and
            type-map CNN).
        depth: CNN n: 4n conv layers (1..4).
        filters: CNN filters per conv layer.
        hidden: Hidden layer widths of nn and mlp (the dense head of latcnn).
        r_c: Environment radius (Å).
        l_c: SDM half edge (Å).
        delta: SDM voxel size and Gaussian width (Å).
        template_cutoff: One-hot template radius in lattice constants; none/auto = r_c over
            the median lattice constant of the training hops.
        augment: Rotation augmentation about the hop axis: random (paper), lattice (the three
            rotations of the BCC hop) or none.
        mirror: Also augment/average with the mirror z -> -z.
        epochs: Maximum number of epochs.
        batch_size: Mini-batch size; None = the kind's default (the paper's size for the depth).
        lr: Initial learning rate.
        lr_patience: Epochs without validation improvement before lr /= sqrt(10).
        min_lr: Lower bound of the learning rate.
        patience: Epochs without validation improvement before early stopping.
        val_per_group: Random validation hops per group (paper: 218), capped at a fifth of the
            group; ignored when val_groups is given.
        val_groups: Groups (compositions) used entirely for validation.
        test_groups: Groups held out entirely and evaluated at the end.
        ridge: L2 penalty of the LR fit.
        dropout: Dropout after hidden layers (mlp, latcnn).
        context: Composition of the environment as extra input (mlp, latcnn).
        linear: A linear term of the site descriptors added to the output (mlp, latcnn).
        element_features: Element properties that describe each site's species instead of a
            one-hot column (mlp, latcnn; `vmeb.species.ELEMENT_FEATURES`; none given: one-hot).
        weight_decay: L2 weight decay of the optimiser.
        auxiliary: Barrier datasets of another fidelity (paths), e.g. SNAP barriers beside DFT
            ones: training hops only, moved to the primary level by one offset per moving
            species fitted on the training hops (`vmeb.learn.auxiliary`).
        reverse: Also train on the reverse of every training hop: the same NEB's barrier back
            (``reverse_barrier``) from its final state, where the vacancy and the moving
            species have swapped sites (`vmeb.learn.environment.reverse_hop_environments`):
            two barriers per NEB. Validation and test stay forward hops.
        seed: Seed of the split, initialisation, shuffling and augmentation.
        device: Torch device.
        precision: Arithmetic: auto (bf16 autocast for the CNN kinds where the device has
            native bf16, else fp32), fp32 or bf16 (`vmeb.learn.precision`).
    """

    kind: str = _setting("cnn", choices=kind_names)
    depth: int = _setting(3, value="int_at_least_1")
    filters: int = _setting(60, value="positive_int")
    hidden: tuple[int, ...] = _setting((10, 10), value="positive_int")
    r_c: float = _setting(7.6, value="positive_float")
    l_c: float = _setting(8.0, value="positive_float")
    delta: float = _setting(0.5, value="positive_float")
    template_cutoff: float | None = _setting(None, value="positive_float")
    augment: str = _setting("random", choices=AUGMENT_MODES)
    mirror: bool = _setting(True)
    epochs: int = _setting(100, value="positive_int")
    batch_size: int | None = _setting(None, value="positive_int", shared=True)
    lr: float = _setting(1e-3, value="positive_float")
    lr_patience: int = _setting(5, value="positive_int")
    min_lr: float = _setting(1e-6, value="nonnegative_float")
    patience: int = _setting(15, value="positive_int")
    val_per_group: int = _setting(218, value="nonnegative_int")
    val_groups: tuple[str, ...] = _setting(())
    test_groups: tuple[str, ...] = _setting(())
    ridge: float = _setting(0.0, value="nonnegative_float")
    dropout: float = _setting(0.0, value="nonnegative_float")
    context: bool = _setting(False)
    linear: bool = _setting(False)
    element_features: tuple[str, ...] = _setting((), choices=ELEMENT_FEATURE_CHOICES, nargs="*")
    weight_decay: float = _setting(0.0, value="nonnegative_float")
    auxiliary: tuple[str, ...] = _setting((), metavar="DATASET")
    reverse: bool = _setting(False)
    seed: int = _setting(0, value="nonnegative_int")
    device: str = _setting("cpu", shared=True)
    precision: str = _setting("auto", choices=PRECISIONS)

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:
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

    def model_config(self) -> Any:
        """The architecture part (a `vmeb.learn.models.ModelConfig`)."""
        from vmeb.learn.models import ModelConfig  # noqa: PLC0415 - torch only when needed

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

    def sdm_config(self) -> Any:
        """The SDM geometry part (a `vmeb.learn.sdm.SDMConfig`; one shared instance per
        geometry, so its checks, the memory check included, run once, not per batch)."""
        return _sdm_config(float(self.r_c), float(self.l_c), float(self.delta))

    @property
    def effective_batch_size(self) -> int:
        """``batch_size`` or the kind's default for this architecture."""
        return self.batch_size or self.model_config().paper_batch_size

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (lists instead of tuples) for checkpoints and JSON."""
        out = asdict(self)
        for name in _TUPLE_FIELDS:
            out[name] = list(out[name])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. a YAML config); unknown keys are an error."""
        return config_from_mapping(cls, data, what="training config")


def setting_docs(cls: type = TrainConfig) -> dict[str, str]:
    """The text of each field in the Attributes section of a dataclass's docstring.

    Returns:
        ``{field: text}``, continuation lines joined by single spaces.
    """
    docs: dict[str, str] = {}
    text = inspect.cleandoc(cls.__doc__ or "")
    section = text.split("Attributes:", 1)[1] if "Attributes:" in text else ""
    current = None
    for line in section.splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.startswith("        "):
            docs[current] += " " + line.strip()
        elif line.strip():
            break
    return docs


def resolve_train_config(
    overrides: Mapping[str, Any], config_file: str | os.PathLike | None = None
) -> TrainConfig:
    """The `TrainConfig` of a file plus overrides.

    Args:
        overrides: Settings that win over the file; keys that are not `TrainConfig` fields are
            ignored (so a whole argparse namespace can be passed).
        config_file: Optional YAML file of settings.

    Raises:
        VmebError: naming the file for unknown keys, or for settings `TrainConfig` refuses;
            also for a device this machine lacks.
    """
    from vmeb.learn.devices import check_device  # noqa: PLC0415 - imports torch

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values: dict[str, Any] = {}
    if config_file:
        values = read_config(config_file, "training config")
        check_keys(values, known, config_file, "training config")
    values.update({k: v for k, v in overrides.items() if k in known})
    for key in LIST_KEYS:
        if key in values and isinstance(values[key], str | int):
            values[key] = [values[key]]
    config = config_from_mapping(
        TrainConfig, values, config_file or "command line", what="training config"
    )
    check_device(str(config.device))
    return config
