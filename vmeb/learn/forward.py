"""Deterministic predictions of a network over prepared inputs (the exact, per-hop path).

`operation_outputs` evaluates a model on each inference image its kind gives
(`vmeb.learn.kinds.base.ModelKind.inference_inputs`: the six point-group images of a site model,
the rotations and mirrors of an SDM CNN) with the faster
eval-only equivalent of the network (`vmeb.learn.lattice.inference_network`); `predict_inputs`
averages them (an ensemble keeps them apart for its spread). Predictions use
the prediction precision (`vmeb.learn.precision`, ``inference=True``); the validation of a
training run passes ``inference=False`` and uses the training precision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vmeb.learn.batches import ModelInputs
from vmeb.learn.kinds import get_kind
from vmeb.learn.lattice import inference_network
from vmeb.learn.precision import autocast, inference_forward, prepare_maps, prepare_model

if TYPE_CHECKING:
    from vmeb.learn.settings import TrainConfig


def predict_inputs(*args: Any, **kwargs: Any) -> np.ndarray:
    """Barriers [N] (eV, float64) of the hops ``index`` of ``inputs``: `operation_outputs`
    (same arguments) averaged over the inference operations."""
    return operation_outputs(*args, **kwargs).mean(axis=0)


@torch.no_grad()
def operation_outputs(
    model: torch.nn.Module,
    inputs: ModelInputs,
    index: np.ndarray,
    n_species: int,
    config: TrainConfig,
    batch_size: int,
    device: torch.device | str,
    inference: bool = True,
) -> np.ndarray:
    """Barriers [O, len(index)] (eV, float64) of the hops ``index`` for each of the O inference
    operations.

    Args:
        model: The network (put in eval mode).
        inputs: Prepared model inputs (`vmeb.learn.batches.prepare_inputs`).
        index: [N] hops to predict.
        n_species: C.
        config: The model's training config (kind, augmentation, precision).
        batch_size: Hops per forward pass.
        device: Torch device.
        inference: Prediction precision (True) or training precision (False, validation).

    Returns:
        [O, N] barriers, one row per inference operation.
    """
    kind = get_kind(inputs.kind)
    mode = (config.kind, config.precision, device)
    network = prepare_model(inference_network(model.eval()), *mode, inference).eval()
    out = np.empty((kind.inference_count(inputs, config), len(index)), dtype=np.float64)
    index_t = torch.as_tensor(np.asarray(index), dtype=torch.long)
    for start in range(0, len(index), batch_size):
        chunk = index_t[start : start + batch_size]
        # maps are made in fp32, outside autocast
        images = kind.inference_inputs(inputs, chunk, n_species, config, device)
        xs = [prepare_maps(x, *mode, inference) for x in images]
        if inference:
            preds = [inference_forward(network, x, *mode) for x in xs]
        else:
            with autocast(*mode):
                preds = [network(x).float() for x in xs]
        out[:, start : start + len(chunk)] = torch.stack(preds).double().cpu().numpy()
    return out
