"""bf16 autocast where the hardware has native bf16, fp32 elsewhere (vmeb.learn.precision)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.learn import precision
from vmeb.learn.checkpoints import TrainedModel, load_checkpoint
from vmeb.learn.hops import load_hops
from vmeb.learn.models import ModelConfig, build_model
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.testing import make_dataset, random_alloy


@pytest.fixture
def no_bf16_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))


@pytest.fixture
def amx_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))


def test_auto_trains_in_fp32_but_predicts_in_bf16_with_avx512_bf16_but_no_amx(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert precision.resolve_precision("auto", "cpu", inference=True) == "bf16"
    assert precision.uses_bf16("latcnn", "auto", "cpu", inference=True)
    assert not precision.uses_bf16("latcnn", "fp32", "cpu", inference=True)  # forced


def test_auto_predicts_in_fp32_without_bf16_units(no_bf16_cpu):
    assert precision.resolve_precision("auto", "cpu", inference=True) == "fp32"
    assert not precision.uses_bf16("cnn", "auto", "cpu", inference=True)


class _NaNInBf16(torch.nn.Module):
    """Doubles its input; NaN where it runs under bf16 autocast (a bf16 overflow stand-in)."""

    def forward(self, x):
        if torch.is_autocast_enabled("cpu"):
            return torch.full_like(x, float("nan"))
        return 2 * x


def test_inference_forward_redoes_non_finite_bf16_batches_in_fp32(caplog):
    x = torch.arange(4.0)
    with caplog.at_level("WARNING", logger="vmeb.learn.precision"):
        out = precision.inference_forward(_NaNInBf16(), x, "latcnn", "bf16", "cpu")
    torch.testing.assert_close(out, 2 * x)
    assert "redone in fp32" in caplog.text
    assert torch.isnan(_bf16_forward(x)).all()  # the stand-in does fail under autocast


def _bf16_forward(x):
    with precision.autocast("latcnn", "bf16", "cpu"):
        return _NaNInBf16()(x)


def test_auto_is_fp32_without_native_bf16(no_bf16_cpu):
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"  # forced
    assert not precision.uses_bf16("cnn", "auto", "cpu")


def test_auto_is_bf16_with_amx_for_cnn_kinds_only(amx_cpu):
    assert precision.resolve_precision("auto", "cpu") == "bf16"
    assert precision.uses_bf16("cnn", "auto", "cpu")
    assert precision.uses_bf16("latcnn", "auto", "cpu")
    assert not precision.uses_bf16("nn", "auto", "cpu")
    assert not precision.uses_bf16("cnn", "fp32", "cpu")


def test_unknown_precision_is_refused():
    with pytest.raises(VmebError, match="precision 'half'"):
        precision.resolve_precision("half", "cpu")
    with pytest.raises(VmebError, match="precision 'fp16'"):
        TrainConfig(precision="fp16")


def test_autocast_runs_convolutions_in_bf16_and_returns_fp32_barriers():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="cnn", depth=1, filters=4), 3, 8).eval()
    model.set_target_normalisation(1.2, 0.3)
    x = torch.rand(5, 3, 8, 8, 8)
    conv = model.features[0]
    assert isinstance(conv, torch.nn.Conv3d)
    with torch.no_grad():
        exact = model(x)
        with precision.autocast("cnn", "bf16", "cpu"):
            cast = model(precision.prepare_maps(x, "cnn", "bf16", "cpu"))
            assert conv(x).dtype == torch.bfloat16
        with precision.autocast("nn", "bf16", "cpu"):  # site models are never cast
            assert torch.nn.Linear(4, 1)(torch.rand(2, 4)).dtype == torch.float32
    assert cast.dtype == torch.float32  # the eV scale is applied in fp32
    # bf16 keeps ~3 significant digits of the raw output: error << the model's 0.3 eV scale
    np.testing.assert_allclose(cast.numpy(), exact.numpy(), atol=0.03)
    assert precision.prepare_maps(x, "cnn", "bf16", "cpu").is_contiguous(
        memory_format=torch.channels_last_3d
    )
    assert precision.prepare_maps(x, "cnn", "fp32", "cpu").is_contiguous()


def test_bf16_training_and_prediction_match_fp32_path(tmp_path):
    rng = np.random.default_rng(3)
    data = make_dataset(tmp_path / "data", {"s0": random_alloy(3, rng), "s1": random_alloy(3, rng)})
    common = dict(kind="cnn", depth=1, filters=4, r_c=5.0, l_c=6.0, delta=1.5, mirror=False,
                  augment="lattice", epochs=2, batch_size=64, seed=0, val_per_group=10)  # fmt: skip
    result = train_model([open_dataset(data)], TrainConfig(**common, precision="bf16"),
                         tmp_path / "bf16", progress=False)  # fmt: skip
    assert np.isfinite(result.val_mae)
    trained = load_checkpoint(result.model_path)
    assert trained.train_config.precision == "bf16"
    env = load_hops([open_dataset(data)], 5.0).environments
    as_fp32 = copy.deepcopy(trained.config)
    as_fp32["train"]["precision"] = "fp32"
    fp32 = TrainedModel(trained.model, trained.kind, trained.species, as_fp32)
    bf16 = trained.predict_environments(env)
    exact = fp32.predict_environments(env)
    assert bf16.dtype == np.float64
    assert np.abs(bf16 - exact).max() < 0.03
    assert np.abs(bf16 - exact).mean() < 0.01


def test_prediction_precision_flag_overrides_the_checkpoint(tiny_setup, tmp_path, capsys):
    """``--precision`` of the model commands: bf16 rounds the tiny CNN's barriers by a few meV,
    fp32 gives the checkpoint's fp32 barriers exactly, unknown names are refused."""
    from vmeb.cli.main import main
    from vmeb.learn.ensembles import DeepEnsemble
    from vmeb.learn.predictors import load_model, set_precision

    dataset, checkpoint, _ = tiny_setup
    env = load_hops([open_dataset(dataset)], 5.0).environments
    fp32 = load_model(checkpoint, precision="fp32")
    bf16 = load_model(checkpoint, precision="bf16")
    assert (fp32.train_config.precision, bf16.train_config.precision) == ("fp32", "bf16")
    exact, cast = fp32.predict_environments(env), bf16.predict_environments(env)
    assert 0 < np.abs(cast - exact).max() < 0.03
    assert load_model(checkpoint).train_config.precision == "auto"  # the checkpoint's
    ensemble = set_precision(DeepEnsemble(members=[load_model(checkpoint)] * 2), "bf16")
    assert {m.train_config.precision for m in ensemble.members} == {"bf16"}
    with pytest.raises(VmebError, match="precision 'half'"):
        set_precision(fp32, "half")
    for name, expected in (("fp32", exact), ("bf16", cast)):
        out = tmp_path / name
        assert main(["evaluate", str(checkpoint), str(dataset), "-o", str(out),
                     "--precision", name, "--no-progress"]) == 0  # fmt: skip
        predicted = pd.read_csv(out / "predictions.csv")
        assert len(predicted) == len(expected)
        np.testing.assert_allclose(np.sort(predicted["predicted"]),
                                   np.sort(expected), atol=1e-6)  # fmt: skip
    assert main(["evaluate", str(checkpoint), str(dataset), "--precision", "half"]) == 2
    assert "--precision" in capsys.readouterr().err
