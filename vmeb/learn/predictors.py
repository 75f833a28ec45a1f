"""Load what predicts barriers: one trained checkpoint or a deep ensemble, on a usable device.

`load_model` (alias `load_predictor`) is what the command line uses for a MODEL argument: a
checkpoint file, a shipped model's name, or an ensemble directory (with ``ensemble.json``).
Every failure is one `VmebError` line naming the file; an unavailable device is reported as
such, never as a corrupted checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

from vmeb.errors import InputFileError, VmebError, file_error
from vmeb.learn.devices import check_device


def set_precision(predictor: Any, precision: str | None) -> Any:
    """Make ``predictor`` (a `TrainedModel` or a `DeepEnsemble`, every member) predict at
    ``precision`` (``"auto"``, ``"fp32"`` or ``"bf16"``, `vmeb.learn.precision`) instead of its
    checkpoint's; None leaves it. Returns ``predictor``.

    Raises:
        VmebError: for an unknown precision.
    """
    if precision is None:
        return predictor
    from vmeb.learn.precision import resolve_precision  # noqa: PLC0415

    resolve_precision(precision, "cpu")  # refuses unknown names
    for trained in getattr(predictor, "members", None) or [predictor]:
        trained.config["train"]["precision"] = precision
    return predictor


def load_model(path: str | os.PathLike, device: str = "cpu", precision: str | None = None) -> Any:
    """A trained checkpoint (`vmeb.learn.checkpoints.TrainedModel`) on ``device``, or the deep
    ensemble (`vmeb.learn.ensembles.DeepEnsemble`) of an ensemble directory or of a shipped
    model that is one; both predict through the same interface.

    Args:
        path: Checkpoint file of ``vmeb train``, a shipped model's name
            (`vmeb.learn.pretrained.resolve_checkpoint`) or an ensemble directory.
        device: Torch device; checked first so a missing GPU is not reported as a bad file.
        precision: Prediction precision instead of the checkpoint's (`set_precision`).

    Raises:
        VmebError: one line naming the file (or the device) and the problem.
    """
    from vmeb.learn.checkpoints import open_checkpoint  # noqa: PLC0415
    from vmeb.learn.ensembles import load_ensemble  # noqa: PLC0415
    from vmeb.learn.pretrained import resolve_checkpoint  # noqa: PLC0415

    check_device(device)
    resolved = resolve_checkpoint(path)
    if resolved.is_dir():
        return set_precision(load_ensemble(resolved, device=device), precision)
    try:
        trained = open_checkpoint(resolved, device=device)
    except InputFileError as exc:  # names its file already
        raise exc from None
    except VmebError as exc:
        raise file_error(path, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds on a bad file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise file_error(
            path, f"corrupted or incompatible checkpoint ({type(exc).__name__}: {detail})"
        ) from exc
    return set_precision(trained, precision)  # outside the try: its error names no file


def load_predictor(
    path: str | os.PathLike, device: str = "cpu", precision: str | None = None
) -> Any:
    """The same as `load_model` (a checkpoint, a shipped model or an ensemble directory), under
    the name the ensemble and map commands use.

    Returns:
        A `vmeb.learn.checkpoints.TrainedModel` or a `vmeb.learn.ensembles.DeepEnsemble`.
    """
    return load_model(path, device, precision)
