"""BarrierCNN architecture per depth, baselines, and the closed-form LR against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, Ridge
from torch import nn

from vmeb.errors import VmebError
from vmeb.learn.models import (
    PAPER_BATCH_SIZES,
    BarrierCNN,
    ModelConfig,
    SiteLinear,
    build_model,
    count_layers,
    fit_linear,
)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_cnn_layers_per_depth(depth):
    model = build_model(ModelConfig(kind="cnn", depth=depth, filters=4), n_species=3, input_size=8)
    counts = count_layers(model)
    assert counts == {"conv": 4 * depth, "batchnorm": 4 * depth, "pool": 3, "linear": 1}
    # conv -> batchnorm -> relu, pools right after conv n, 2n and 3n
    kinds = [type(m).__name__ for m in model.features]
    conv_seen, pools_after = 0, []
    for i, name in enumerate(kinds):
        if name == "Conv3d":
            conv_seen += 1
            assert kinds[i + 1 : i + 3] == ["BatchNorm3d", "ReLU"]
        if name == "MaxPool3d":
            pools_after.append(conv_seen)
    assert pools_after == [depth, 2 * depth, 3 * depth]
    assert model.output.out_features == 1
    assert ModelConfig(kind="cnn", depth=depth).paper_batch_size == PAPER_BATCH_SIZES[4 * depth]
    out = model(torch.randn(2, 3, 8, 8, 8))
    assert out.shape == (2,)


def test_cnn_paper_defaults_shapes():
    model = BarrierCNN(n_species=3, grid_size=32, depth=3, filters=60)
    conv = [m for m in model.modules() if isinstance(m, nn.Conv3d)]
    assert all(c.out_channels == 60 and c.kernel_size == (3, 3, 3) for c in conv)
    assert all(c.padding == (1, 1, 1) for c in conv)
    # 32 -> 16 -> 8 -> 4 voxels after three pools; flatten 60 * 4^3 into one neuron
    assert model.output.in_features == 60 * 4**3
    assert PAPER_BATCH_SIZES == {4: 160, 8: 100, 12: 80, 16: 60}


def test_target_normalisation_and_bad_configs():
    model = build_model(ModelConfig(kind="nn", hidden=(10, 10)), n_species=2, input_size=5)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(10, 10), (10, 10), (10, 1)]
    x = torch.randn(4, 10)
    raw = model(x)
    model.set_target_normalisation(1.2, 0.3)
    assert torch.allclose(model(x), raw * 0.3 + 1.2)
    with pytest.raises(VmebError):
        ModelConfig(depth=5)
    with pytest.raises(VmebError):
        ModelConfig(kind="svm")
    with pytest.raises(VmebError):
        BarrierCNN(3, grid_size=12)


def _onehot_problem(rng, n=400, sites=12, species=3):
    occ = rng.integers(0, species, size=(n, sites))
    x = np.zeros((n, sites, species), np.float32)
    x[np.arange(n)[:, None], np.arange(sites), occ] = 1
    x = x.reshape(n, -1)
    w = rng.normal(0, 0.05, size=x.shape[1])
    y = 1.0 + x @ w + rng.normal(0, 0.01, size=n)
    return x, y


def test_fit_linear_matches_sklearn():
    rng = np.random.default_rng(3)
    x, y = _onehot_problem(rng)
    x_test, _ = _onehot_problem(rng, n=50)
    model = SiteLinear(x.shape[1])
    model.set_target_normalisation(float(y.mean()), float(y.std()))
    fit_linear(model, x, y)
    ours = model(torch.as_tensor(x_test)).double().detach().numpy()
    reference = LinearRegression().fit(x.astype(np.float64), y).predict(x_test.astype(np.float64))
    np.testing.assert_allclose(ours, reference, atol=2e-5)

    ridge = SiteLinear(x.shape[1])
    ridge.set_target_normalisation(float(y.mean()), float(y.std()))
    fit_linear(ridge, x, y, ridge=3.0)
    ours = ridge(torch.as_tensor(x_test)).double().detach().numpy()
    reference = Ridge(alpha=3.0).fit(x.astype(np.float64), y).predict(x_test.astype(np.float64))
    np.testing.assert_allclose(ours, reference, atol=2e-5)
