"""Model kinds: one registry, names without torch, and a new kind from one module (this one)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from vmeb.cli.main import build_parser
from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.learn.checkpoints import load_checkpoint, read_checkpoint
from vmeb.learn.kinds import (
    KINDS,
    check_kind,
    get_kind,
    kind_names,
    register_kind,
    unregister_kind,
)
from vmeb.learn.kinds.base import ModelKind
from vmeb.learn.kinds.sites import SiteKind
from vmeb.learn.lattice import inference_image_count
from vmeb.learn.models import ModelConfig, SiteLinear
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.spectra.predict import predict_barriers
from vmeb.testing import make_dataset, random_alloy

#: Largest difference (eV) of the lattice fast path from the exact path (their contract).
PATH_TOLERANCE = 1e-4


class TinyLinearKind(SiteKind):
    """A throw-away kind: a linear layer on one-hot sites trained by epochs (not fitted like the
    LR) with point-group permutations. Everything but `build` comes from `SiteKind`."""

    permutes_sites = True

    def build(self, config, n_species, input_size, template, features) -> torch.nn.Module:
        return SiteLinear(input_size * n_species)


@pytest.fixture
def tiny_linear():
    register_kind("tinylin", TinyLinearKind)
    yield "tinylin"
    unregister_kind("tinylin")


def test_every_registered_kind_loads_and_follows_the_protocol():
    assert kind_names() == ("cnn", "nn", "lr", "mlp", "latcnn", "latfield")
    for name in kind_names():
        kind = get_kind(name)
        assert isinstance(kind, ModelKind) and kind.name == name
        assert get_kind(name) is kind  # one object per name
    assert [n for n in kind_names() if not get_kind(n).uses_template] == ["cnn", "latfield"]
    assert [n for n in kind_names() if get_kind(n).autocast] == ["cnn", "latcnn", "latfield"]
    assert [n for n in kind_names() if get_kind(n).whole_lattice] == ["latfield"]
    assert [n for n in kind_names() if get_kind(n).window_half(TrainConfig(kind=n))] == ["latfield"]
    assert [n for n in kind_names() if get_kind(n).permutes_sites] == ["nn", "mlp", "latcnn"]
    assert [n for n in kind_names() if not get_kind(n).iterative] == ["lr"]
    assert ModelConfig(kind="cnn", depth=2).paper_batch_size == 100
    assert ModelConfig(kind="nn").paper_batch_size == 160


def test_unknown_kind_is_refused_by_name():
    with pytest.raises(VmebError, match=r"model kind 'gnn': choose one of \['cnn', 'nn'"):
        check_kind("gnn")
    with pytest.raises(VmebError, match="model kind 'gnn'"):
        TrainConfig(kind="gnn")
    with pytest.raises(VmebError, match="only the 'mlp' and 'latcnn' kinds take them, not 'nn'"):
        ModelConfig(kind="nn", element_features=("vec",))
    with pytest.raises(VmebError, match="already registered"):
        register_kind("cnn", TinyLinearKind)


def test_kind_names_and_training_flags_without_torch():
    """The command line lists the kinds and parses the training flags before torch loads."""
    code = (
        "import sys\n"
        "from vmeb.cli.main import build_parser\n"
        "from vmeb.learn.kinds import kind_names\n"
        "args = build_parser().parse_args(['train', 'd', '-o', 'x', '--kind', 'mlp',\n"
        "                                  '--hidden', '8', '4', '--template-cutoff', 'auto'])\n"
        "assert (args.kind, args.hidden, args.template_cutoff) == ('mlp', [8, 4], None)\n"
        "assert kind_names()[0] == 'cnn'\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_new_kind_trains_saves_loads_and_predicts(tiny_linear, tmp_path):
    """A kind registered from this test module alone goes through training, the checkpoint,
    loading, the exact and the lattice prediction paths and the command line."""
    rng = np.random.default_rng(3)
    samples = {"s0": random_alloy(3, rng), "s1": random_alloy(3, rng)}
    dataset = open_dataset(make_dataset(tmp_path / "data", samples))
    config = TrainConfig(kind=tiny_linear, r_c=5.0, epochs=3, batch_size=32, lr=1e-2, seed=1)
    result = train_model([dataset], config, tmp_path / "run", progress=False)
    assert len(result.history) == 3 and np.isfinite(result.val_mae)
    record = read_checkpoint(result.model_path)
    assert record["kind"] == tiny_linear and record["config"]["template"]["cutoff"] > 0
    trained = load_checkpoint(result.model_path)
    assert trained.kind == tiny_linear and isinstance(trained.model, SiteLinear)
    assert inference_image_count(trained) == 6  # the hop's point-group images
    fast = predict_barriers(trained, samples["s1"], progress=False)
    exact = predict_barriers(trained, samples["s1"], progress=False, path="exact")
    assert (fast.attrs["path"], exact.attrs["path"]) == ("lattice", "exact")
    assert np.isfinite(exact["barrier"]).all() and exact["barrier"].std() > 0
    np.testing.assert_allclose(fast["barrier"], exact["barrier"], atol=PATH_TOLERANCE)
    args = build_parser().parse_args(["train", "d", "-o", "x", "--kind", tiny_linear])
    assert args.kind == tiny_linear
    assert tiny_linear in KINDS


def test_a_registered_kind_is_gone_after_unregistering(tmp_path):
    register_kind("tinylin", "tests_do_not_import:Nothing")
    unregister_kind("tinylin")
    assert "tinylin" not in kind_names()
    with pytest.raises(VmebError, match="model kind 'tinylin'"):
        get_kind("tinylin")
