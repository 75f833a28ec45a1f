"""Torch devices: whether a device name is usable on this machine (torch imported on use)."""

from __future__ import annotations

from vmeb.errors import VmebError


def check_device(name: str) -> str:
    """Return ``name`` if it is a torch device usable on this machine.

    Args:
        name: ``cpu``, ``cuda``, ``cuda:1``, ``mps`` ...

    Raises:
        VmebError: naming the device, if torch does not know it or this machine lacks it.
    """
    if name == "cpu":
        return name
    import torch  # noqa: PLC0415

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise VmebError(f"device {name!r}: not a torch device (cpu, cuda, cuda:1 ...)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VmebError(f"device {name!r} is not available: this machine has no usable CUDA")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise VmebError(
                f"device {name!r} is not available: this machine has {count} CUDA device(s)"
            )
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise VmebError(f"device {name!r} is not available on this machine")
    elif device.type != "cpu":
        raise VmebError(f"device {name!r}: unsupported device type (cpu, cuda or mps)")
    return name
