"""The Ta-Nb-Mo study's grid split, labels and the composition study (paper Fig. 3) on data of
a closed-form model: the LR recovers it exactly on compositions it never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError
from vmeb.learn.hops import load_hops
from vmeb.learn.settings import TrainConfig
from vmeb.study.compositions import (
    composition_study,
    error_bars_figure,
    heldout_distributions_figure,
    write_study,
)
from vmeb.study.grid import (
    grid_split,
    group_composition_label,
    group_fractions,
    markdown_table,
    sample_id_of,
)
from vmeb.testing import SPECIES, make_dataset, random_alloy


def _composition(atoms) -> str:
    symbols = atoms.get_chemical_symbols()
    return "".join(f"{s}{symbols.count(s)}" for s in sorted(set(symbols)))


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    rng = np.random.default_rng(3)
    samples = {f"{k:03d}_x": random_alloy(3, rng) for k in range(5)}
    groups = {sid: _composition(atoms) for sid, atoms in samples.items()}
    dataset = make_dataset(root / "data", samples, groups=groups)
    files = [f"{sid}.5.extxyz" for sid in samples]
    split = ["train", "test", "train", "train", "test"]
    pd.DataFrame({"file": files, "split": split}).to_csv(root / "index.csv", index=False)
    return open_dataset(dataset), root / "index.csv", groups


def test_labels_and_fractions():
    assert sample_id_of("samples/004_Ta77.78Nb11.11Mo11.11.extxyz") == "004_Ta77"
    np.testing.assert_allclose(group_fractions("Mo28Nb28Ta194", SPECIES), [0.776, 0.112, 0.112])
    assert group_composition_label("Mo28Nb28Ta194", SPECIES) == "Ta77.6Nb11.2Mo11.2"
    assert group_composition_label("Nb250", SPECIES) == "Nb100"
    with pytest.raises(VmebError, match="W is not one of"):
        group_fractions("W10Ta5", SPECIES)


def test_grid_split_reads_the_index(grid, tmp_path):
    dataset, index, groups = grid
    split = grid_split(dataset, index)
    assert split.test_groups == tuple(sorted({groups["001_x"], groups["004_x"]}))
    assert len(split.train_groups) == 3
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"file": ["000_x.extxyz"], "split": ["val"]}).to_csv(bad, index=False)
    with pytest.raises(VmebError, match="bad.csv: split values must be 'train' or 'test'"):
        grid_split(dataset, bad)
    pd.DataFrame({"name": ["000_x.extxyz"]}).to_csv(bad, index=False)
    with pytest.raises(VmebError, match=r"lacks columns \['file', 'split'\]"):
        grid_split(dataset, bad)


def test_composition_study_lr_is_exact_on_unseen_compositions(grid, tmp_path):
    dataset, index, _ = grid
    split = grid_split(dataset, index)
    data = load_hops([dataset], 7.6)
    recipe = TrainConfig(kind="lr", augment="lattice", val_per_group=10)
    study = composition_study([dataset], data, split, {"lr": recipe}, [0, 1], tmp_path / "runs")
    test = np.isin(data.groups, split.test_groups)
    assert len(study.predictions) == test.sum() == 2 * 54 * 8
    assert set(study.predictions["group"]) == set(split.test_groups)
    # the counting model is linear in the site occupancies: exact on compositions never seen
    assert study.errors["lr"].max() < 1e-5
    np.testing.assert_allclose(study.mean_prediction("lr"), data.barriers[test], atol=1e-5)
    assert list(study.errors["group"])[-1] == "all"
    paths = write_study(study, tmp_path / "out")
    assert pd.read_csv(paths["errors"]).shape[0] == 3
    error_bars_figure(study, {"paper": 0.03}).savefig(tmp_path / "bars.png")
    heldout_distributions_figure(study, "lr").savefig(tmp_path / "dist.png")
    assert "| group | label | hops | lr | lr_std |" in markdown_table(study.errors)
    # finished runs are read back, not trained again
    before = (tmp_path / "runs" / "lr" / "seed0" / "result.json").stat().st_mtime_ns
    composition_study([dataset], data, split, {"lr": recipe}, [0], tmp_path / "runs")
    after = (tmp_path / "runs" / "lr" / "seed0" / "result.json").stat().st_mtime_ns
    assert before == after
