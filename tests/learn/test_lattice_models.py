"""On-lattice models (mlp, latcnn): grid geometry, point-group symmetry, training, checkpoints."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.learn.checkpoints import MODEL_FILE, load_checkpoint
from vmeb.learn.descriptors import (
    FIRST_SHELL,
    HOP_FRAME,
    site_template,
    symmetry_images,
    template_symmetries,
)
from vmeb.learn.hops import load_hops
from vmeb.learn.lattice import inference_network
from vmeb.learn.lattice_models import (
    GRID_HALF,
    TypeMapCNN,
    grid_half,
    grid_index,
    occupancy_onehot,
)
from vmeb.learn.models import ModelConfig, build_model
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.species import element_features
from vmeb.spectra.predict import predict_barriers
from vmeb.testing import make_dataset, random_alloy

G = 2 * GRID_HALF + 1


def _grid_point(flat: int) -> tuple[int, int, int]:
    """(x, y, z) doubled lattice coordinates of a flat grid index (layout [z, y, x])."""
    z, rest = divmod(int(flat), G * G)
    y, x = divmod(rest, G)
    return x - GRID_HALF, y - GRID_HALF, z - GRID_HALF


def test_grid_index_places_bcc_sites():
    template = site_template(2.375)
    index = grid_index(template)
    assert np.all(index >= 0)  # every site within 2.375 a lies inside |x| <= 2 a
    assert len(set(index.tolist())) == template.n_sites
    points = np.array([_grid_point(i) for i in index])
    parity = points % 2
    assert np.all(parity == parity[:, :1])  # BCC: doubled coordinates all even or all odd
    np.testing.assert_allclose(points / 2.0, template.sites @ HOP_FRAME, atol=1e-9)
    moving = np.nonzero(np.all(np.abs(template.sites - [FIRST_SHELL, 0, 0]) < 1e-9, axis=1))[0]
    assert _grid_point(index[moving[0]]) == (1, 1, 1)  # the hop a/2 [111]


def test_point_group_images_are_axis_permutations_of_the_type_map():
    """The hop's six operations act on the cubic grid as the six permutations of x, y, z."""
    template = site_template(2.375)
    rng = np.random.default_rng(0)
    occ = rng.integers(0, 3, size=(4, template.n_sites))
    x = occupancy_onehot(occ, 3)
    net = TypeMapCNN(template, 3, filters=2)
    base = net.type_map(torch.as_tensor(x))
    perms = itertools.permutations(range(3))
    transposes = {p: base.permute(0, 1, *(2 + np.array(p))) for p in perms}
    found = set()
    for image in symmetry_images(x, template_symmetries(template), 3):
        grid = net.type_map(torch.as_tensor(image))
        match = [p for p, t in transposes.items() if torch.equal(grid, t)]
        assert len(match) == 1
        found.add(match[0])
    assert len(found) == 6


def test_context_and_dropout_models():
    template = site_template(1.5)
    occ = np.array([[0] * template.n_sites, [1, 2] + [-1] * (template.n_sites - 2)])
    x = torch.as_tensor(occupancy_onehot(occ, 3))
    for kind in ("mlp", "latcnn"):
        config = ModelConfig(kind=kind, filters=2, hidden=(8,), dropout=0.2, context=True)
        model = build_model(config, 3, template.n_sites, template).eval()
        np.testing.assert_allclose(model.body.context(x).numpy(), [[1, 0, 0], [0, 0.5, 0.5]])
        out = model(x)
        assert out.shape == (2,) and torch.equal(out, model(x))  # eval: dropout off


def test_linear_skip_adds_a_linear_term_of_the_descriptors():
    template = site_template(1.5)
    rng = np.random.default_rng(2)
    occ = rng.integers(-1, 3, size=(5, template.n_sites))
    x = torch.as_tensor(occupancy_onehot(occ, 3))
    for kind in ("mlp", "latcnn"):
        models = []
        for flag in (False, True):
            torch.manual_seed(0)
            config = ModelConfig(kind=kind, filters=2, hidden=(8,), linear=flag)
            models.append(build_model(config, 3, template.n_sites, template).eval())
        plain, wide = models
        assert plain.body.skip is None
        torch.testing.assert_close(wide(x), plain(x))  # zero-initialised: the network alone
        weight = torch.as_tensor(rng.normal(size=(1, x.shape[1])), dtype=torch.float32)
        with torch.no_grad():
            wide.body.skip.linear.weight.copy_(weight)
            wide.body.skip.linear.bias.fill_(0.25)
        torch.testing.assert_close(wide(x) - plain(x), x @ weight[0] + 0.25)


FEATURES = ("occupied", "vec", "period", "radius")


def test_element_features_project_the_one_hot_sites():
    """With element features the type map and the linear term see each site's properties: the
    one-hot map contracted with the [C, F] table."""
    species = ["Ta", "Nb", "Mo"]
    table = torch.as_tensor(element_features(species, FEATURES))
    template = site_template(2.375)
    rng = np.random.default_rng(6)
    x = torch.as_tensor(occupancy_onehot(rng.integers(-1, 3, size=(5, template.n_sites)), 3))
    onehot = TypeMapCNN(template, 3, filters=2).type_map(x)
    config = ModelConfig(
        kind="latcnn", filters=2, hidden=(8,), linear=True, element_features=FEATURES
    )
    model = build_model(config, 3, template.n_sites, template, species).eval()
    assert model.body.features[0].in_channels == 4
    torch.testing.assert_close(
        model.body.type_map(x), torch.einsum("bcxyz,cf->bfxyz", onehot, table)
    )
    plain = build_model(replace(config, linear=False), 3, template.n_sites, template, species)
    plain.load_state_dict(model.state_dict(), strict=False)
    plain.eval()
    weight = torch.as_tensor(rng.normal(size=(1, template.n_sites * 4)), dtype=torch.float32)
    with torch.no_grad():
        model.body.skip.linear.weight.copy_(weight)
    sites = (x.reshape(5, -1, 3) @ table).flatten(1)
    torch.testing.assert_close(model(x) - plain(x), sites @ weight[0], atol=1e-5, rtol=0)
    with pytest.raises(VmebError, match="needs its species table"):
        build_model(config, 3, template.n_sites, template)
    with pytest.raises(VmebError, match="only the 'mlp' and 'latcnn' kinds"):
        ModelConfig(kind="nn", element_features=FEATURES)


@pytest.mark.parametrize("kind", ["mlp", "latcnn"])
def test_elements_with_equal_features_are_indistinguishable(kind):
    """Nb and Ta share valence and radius: described by those alone, swapping them anywhere
    leaves every prediction unchanged, while Mo (group 6) changes it."""
    species = ["Nb", "Mo", "Ta"]
    template = site_template(1.5)
    config = ModelConfig(
        kind=kind,
        filters=2,
        hidden=(8,),
        linear=True,
        element_features=("occupied", "vec", "radius"),
    )
    torch.manual_seed(3)
    model = build_model(config, 3, template.n_sites, template, species).eval()
    with torch.no_grad():
        model.body.skip.linear.weight.normal_(0.0, 0.1)
    occ = np.random.default_rng(7).integers(0, 3, size=(6, template.n_sites))
    swapped = np.where(occ == 0, 2, np.where(occ == 2, 0, occ))
    mo = np.where(occ == 0, 1, occ)

    def predict(o):
        with torch.no_grad():
            return model(torch.as_tensor(occupancy_onehot(o, 3)))

    torch.testing.assert_close(predict(swapped), predict(occ))
    assert float((predict(mo) - predict(occ)).abs().max()) > 1e-3


def test_folded_type_map_cnn_equals_the_model():
    """Inference folds each batch norm into its convolution; the barriers stay the same."""
    template = site_template(2.375)
    rng = np.random.default_rng(5)
    x = torch.as_tensor(occupancy_onehot(rng.integers(-1, 3, size=(7, template.n_sites)), 3))
    torch.manual_seed(1)
    config = ModelConfig(kind="latcnn", filters=4, hidden=(8,), linear=True, context=True)
    model = build_model(config, 3, template.n_sites, template)
    model.set_target_normalisation(1.2, 0.3)
    with torch.no_grad():  # batch norms far from identity, so that folding is tested
        for norm in model.modules():
            if isinstance(norm, torch.nn.BatchNorm3d):
                norm.running_mean.normal_(0.0, 0.5)
                norm.running_var.uniform_(0.2, 3.0)
                norm.weight.uniform_(0.5, 2.0)
                norm.bias.normal_(0.0, 0.5)
        model.body.skip.linear.weight.normal_(0.0, 0.05)
    model.eval()
    folded = inference_network(model)
    assert folded is not model
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())  # not mutated
    with torch.no_grad():
        expected, got = model(x), folded(x)
    assert float(expected.std()) > 0.01
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert inference_network(model.train()) is model  # training mode: no folding


def test_grid_widens_for_templates_beyond_two_lattice_constants():
    assert grid_half(site_template(2.375)) == GRID_HALF  # 112 sites within 7.6 Å at 3.2 Å
    wide = site_template(2.7)  # includes (5, 1, 1) a / 2 at 2.598 a
    assert grid_half(wide) == 5
    index = grid_index(wide, grid_half(wide))
    assert (index >= 0).all() and len(set(index)) == wide.n_sites
    net = TypeMapCNN(wide, 3, filters=2)
    assert net.size == 11 and net(torch.zeros(2, wide.n_sites * 3)).shape == (2, 1)


@pytest.fixture(scope="module")
def lattice_data(tmp_path_factory):
    rng = np.random.default_rng(4)
    samples = {name: random_alloy(3, rng) for name in ("A", "B", "C")}
    root = make_dataset(tmp_path_factory.mktemp("lattice") / "data", samples)
    dataset = open_dataset(root)
    return dataset, load_hops([dataset], 4.0)


@pytest.mark.parametrize(
    "kind, features", [("mlp", ()), ("latcnn", ()), ("latcnn", FEATURES), ("mlp", FEATURES)]
)
def test_trains_round_trips_and_predicts_occupancies(kind, features, lattice_data, tmp_path):
    dataset, hops = lattice_data
    config = TrainConfig(
        kind=kind,
        element_features=features,
        linear=bool(features),
        filters=4,
        hidden=(32,),
        dropout=0.1,
        context=True,
        weight_decay=1e-5,
        r_c=4.0,
        augment="lattice",
        template_cutoff=1.25,
        epochs=4,
        batch_size=16,
        val_per_group=10,
        test_groups=("C",),
    )
    result = train_model([dataset], config, tmp_path, data=hops, progress=False)
    assert result.history[-1]["train_mae"] < result.history[0]["train_mae"]
    trained = load_checkpoint(tmp_path / MODEL_FILE)
    assert trained.kind == kind and trained.train_config.context
    assert trained.train_config.element_features == features
    if features:  # the checkpoint keeps the property table it was trained with
        expected = element_features(trained.species, features)
        np.testing.assert_array_equal(trained.model.body.project.table.numpy(), expected)
    pred = trained.predict_environments(hops.environments)
    # the on-lattice fast path of spectra gives the same barriers as the exact environments
    atoms = dataset.structure(dataset.sample_ids()[0])
    fast = predict_barriers(trained, atoms, path="lattice", progress=False)
    exact = predict_barriers(trained, atoms, path="exact", progress=False)
    np.testing.assert_allclose(fast["barrier"], exact["barrier"], atol=1e-5)
    test = np.isin(hops.groups, ["C"])
    assert np.abs(pred[test] - hops.barriers[test]).mean() == pytest.approx(
        result.test["mae"], abs=1e-5
    )
