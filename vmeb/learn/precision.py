"""Numeric precision of the 3D CNNs: bf16 autocast where the hardware makes it pay, else fp32.

bf16 autocast with channels-last 3D tensors speeds up Conv3d several times on CPUs with native
bf16 matrix units (x86 AMX or AVX512-BF16) and on CUDA GPUs with bf16 support; on CPUs without
them (e.g. AVX2-only) PyTorch emulates bf16 and it is *slower* than fp32
(`benchmarks/bench_training.py` prints both). ``precision="auto"`` therefore picks bf16 only
where the device has bf16 units and fp32 elsewhere; ``"fp32"`` and ``"bf16"`` force one.

Training and prediction differ on CPUs with AVX512-BF16 but no AMX (e.g. AMD Zen 4): training
stays on fp32 under ``"auto"`` there (the test suite saw occasional NaN losses in bf16 Conv3d
training, torch 2.13), prediction uses bf16 (``inference=True``: 1.8x faster for the type-map
CNN of `nbmotawv-dft`, 2,466 against 1,373 barriers/s on 2 cores; its barriers of the 22,517
shared DFT hops within 0.004 eV of fp32, 0.0005 eV on average;
`benchmarks/bench_spectrum.py --precision`). `inference_forward` redoes in fp32 any batch whose
bf16 output is not finite, and training skips any step whose loss or gradients are not finite,
as AMP's grad scaler does, and logs how many.
Only the convolutional kinds use it (those whose `vmeb.learn.kinds.base.ModelKind.autocast` is
set: ``"cnn"``, ``"latcnn"``): the site models are a few small matrix
products whose cost is the Python loop, not the arithmetic. Losses, the target normalisation and
the returned barriers stay fp32/fp64.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import torch

from vmeb.errors import VmebError
from vmeb.learn.kinds import get_kind
from vmeb.learn.settings import PRECISIONS

logger = logging.getLogger(__name__)

#: CPU flags (``/proc/cpuinfo``) under which ``"auto"`` trains in bf16 (AMX tiles; not AVX512-BF16).
BF16_CPU_FLAGS = ("amx_bf16",)
#: CPU flags under which ``"auto"`` predicts in bf16 (no gradients: AVX512-BF16 as well).
BF16_INFERENCE_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine (empty where ``/proc/cpuinfo`` is unreadable)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: str | torch.device, inference: bool = False) -> bool:
    """Whether ``device`` has native bf16 arithmetic (an AMX CPU, a bf16 CUDA GPU; for
    ``inference`` an AVX512-BF16 CPU too)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        flags = BF16_INFERENCE_CPU_FLAGS if inference else BF16_CPU_FLAGS
        return any(flag in cpu_flags() for flag in flags)
    return False


def resolve_precision(precision: str, device: str | torch.device, inference: bool = False) -> str:
    """``"fp32"`` or ``"bf16"``: the precision a run uses on ``device``.

    Args:
        precision: ``"auto"`` (bf16 where `native_bf16`, else fp32), ``"fp32"`` or ``"bf16"``.
        device: Torch device of the model.
        inference: Prediction (True) or training (False); they differ under ``"auto"`` on
            AVX512-BF16 CPUs without AMX (module docstring).

    Raises:
        VmebError: for an unknown precision.
    """
    if precision not in PRECISIONS:
        raise VmebError(f"precision {precision!r}: choose one of {list(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if native_bf16(device, inference) else "fp32"
    return precision


@contextlib.contextmanager
def autocast(
    kind: str, precision: str, device: str | torch.device, inference: bool = False
) -> Iterator[None]:
    """Context of a forward pass: bf16 autocast for a CNN kind at ``precision`` bf16, else none.

    Args:
        kind: The model kind (only kinds with `ModelKind.autocast` are cast).
        precision: ``"auto"``, ``"fp32"`` or ``"bf16"`` (`resolve_precision`).
        device: Torch device of the model.
        inference: A prediction, not a training step (`resolve_precision`).
    """
    if uses_bf16(kind, precision, device, inference):
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            yield
    else:
        yield


def uses_bf16(
    kind: str, precision: str, device: str | torch.device, inference: bool = False
) -> bool:
    """Whether a model of ``kind`` runs under bf16 autocast at ``precision`` on ``device``."""
    return get_kind(kind).autocast and resolve_precision(precision, device, inference) == "bf16"


def inference_forward(
    network: torch.nn.Module, x: torch.Tensor, kind: str, precision: str, device
) -> torch.Tensor:
    """``network(x)`` at the prediction precision, as fp32; a batch whose bf16 output is not
    finite is computed again in fp32 (logged), so bf16 never returns NaN barriers."""
    with autocast(kind, precision, device, inference=True):
        out = network(x)
    if uses_bf16(kind, precision, device, True) and not bool(torch.isfinite(out).all()):
        logger.warning("non-finite bf16 predictions in a batch of %d: redone in fp32", len(x))
        out = network(x)
    return out.float()


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 5-D map batch [B, C, G, G, G] in channels-last-3D memory order (other tensors as is)."""
    if x.dim() == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


def prepare_model(
    model: torch.nn.Module, kind: str, precision: str, device, inference: bool = False
) -> torch.nn.Module:
    """The model in the memory format of its precision: channels-last 3D with bf16 (where
    oneDNN's bf16 convolutions want it), unchanged with fp32 (channels-last is slower there on
    AVX2 CPUs, `benchmarks/bench_training.py`)."""
    if uses_bf16(kind, precision, device, inference):
        return model.to(memory_format=torch.channels_last_3d)
    return model


def prepare_maps(
    x: torch.Tensor, kind: str, precision: str, device, inference: bool = False
) -> torch.Tensor:
    """Model input in the memory format of its precision (see `prepare_model`)."""
    return channels_last(x) if uses_bf16(kind, precision, device, inference) else x
