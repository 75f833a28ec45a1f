"""Training settings from a YAML file and explicit overrides (the ``vmeb train`` flags).

Precedence: `TrainConfig` defaults < the YAML file (keys equal the flag names, with ``_`` or
``-``) < explicit overrides (flags given on the command line).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vmeb.errors import VmebError, file_error

#: Settings that are lists (a single value in a file becomes a one-item list).
LIST_KEYS = ("hidden", "val_groups", "test_groups")


def read_train_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping of a training YAML file, keys normalised to `TrainConfig` field names.

    Raises:
        VmebError: naming the file if it is missing, not YAML or not a mapping.
    """
    import yaml  # noqa: PLC0415

    file = Path(path)
    if not file.is_file():
        raise file_error(file, "no such config file")
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise file_error(file, f"not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(raw, dict):
        raise file_error(file, "config must be a mapping of flag names to values")
    return {str(k).replace("-", "_"): v for k, v in raw.items()}


def resolve_train_config(
    overrides: Mapping[str, Any], config_file: str | os.PathLike | None = None
):
    """The `vmeb.learn.training.TrainConfig` of a file plus overrides.

    Args:
        overrides: Settings that win over the file; keys that are not `TrainConfig` fields are
            ignored (so a whole argparse namespace can be passed).
        config_file: Optional YAML file of settings.

    Raises:
        VmebError: naming the file for unknown keys, or for settings `TrainConfig` refuses;
            also for a device this machine lacks.
    """
    from vmeb.learn.predictors import check_device  # noqa: PLC0415
    from vmeb.learn.training import TrainConfig  # noqa: PLC0415

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values: dict[str, Any] = {}
    if config_file:
        values = read_train_settings(config_file)
        unknown = sorted(set(values) - known)
        if unknown:
            raise file_error(config_file, f"unknown keys {unknown}")
    values.update({k: v for k, v in overrides.items() if k in known})
    for key in LIST_KEYS:
        if key in values and isinstance(values[key], str | int):
            values[key] = [values[key]]
    try:
        config = TrainConfig.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise VmebError(f"{config_file or 'command line'}: bad training config ({exc})") from exc
    check_device(str(config.device))
    return config
