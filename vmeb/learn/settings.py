"""Training settings from a YAML file and explicit overrides (the ``vmeb train`` flags).

Precedence: `TrainConfig` defaults < the YAML file (keys equal the flag names, with ``_`` or
``-``) < explicit overrides (flags given on the command line).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from vmeb.config import check_keys, config_from_mapping, read_config

#: Settings that are lists (a single value in a file becomes a one-item list).
LIST_KEYS = ("hidden", "val_groups", "test_groups", "auxiliary")


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
