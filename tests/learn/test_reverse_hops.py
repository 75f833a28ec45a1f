"""Reverse hops: the final state of each NEB hopping back, two barriers per NEB."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from vmeb import testing
from vmeb.data.dataset import open_dataset
from vmeb.learn.environment import hop_environments, reverse_hop_environments
from vmeb.learn.hops import load_hops, split_hops
from vmeb.learn.settings import TrainConfig
from vmeb.structure.neighbours import first_neighbours


def _hops(atoms, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    sites = rng.choice(len(atoms), size=count, replace=False)
    neighbours, _ = first_neighbours(atoms, sites)
    return sites, neighbours[np.arange(count), rng.integers(0, 8, size=count)]


def _final_state(atoms, vacancy: int, moving: int):
    """The hop's final state as a perfect sample: the mover on the old vacancy site."""
    final = atoms.copy()
    symbols = final.get_chemical_symbols()
    symbols[vacancy], symbols[moving] = symbols[moving], symbols[vacancy]
    final.set_chemical_symbols(symbols)
    return final


def test_reverse_environment_is_the_final_states_hop_back():
    """Equal to the environment of (vacancy m, mover v) in the explicitly swapped structure, and
    the reverse of the reverse is the forward hop."""
    rng = np.random.default_rng(11)
    atoms = testing.random_alloy(4, rng)
    vacancies, moving = _hops(atoms, 12, rng)
    got = reverse_hop_environments(atoms, vacancies, moving, testing.SPECIES, 6.0)
    forward = hop_environments(atoms, vacancies, moving, testing.SPECIES, 6.0)
    for h, (v, m) in enumerate(zip(vacancies, moving, strict=True)):
        final = _final_state(atoms, int(v), int(m))
        want = hop_environments(final, [m], [v], testing.SPECIES, 6.0)
        n = int(want.counts[0])
        np.testing.assert_array_equal(got.species[h, :n], want.species[0, :n])
        np.testing.assert_allclose(got.positions[h, :n], want.positions[0, :n], atol=1e-5)
        back = reverse_hop_environments(final, [m], [v], testing.SPECIES, 6.0)
        np.testing.assert_array_equal(back.species[0, :n], forward.species[h, :n])
    # a swap is seen: the mover's slot holds the mover's species, not the old occupant's
    mover_species = np.array(atoms.get_chemical_symbols())[moving]
    slot = got.atom_index == vacancies[:, None]
    assert (slot.sum(axis=1) == 1).all()
    assert [testing.SPECIES[c] for c in got.species[slot]] == mover_species.tolist()


@pytest.fixture(scope="module")
def reverse_data(tmp_path_factory):
    """A counting-model dataset whose reverse_barrier column holds the counting barrier of the
    hop back, brute-forced on the final-state structure (minimum-image distances)."""
    rng = np.random.default_rng(5)
    samples = {f"s{i}": testing.random_alloy(3, rng) for i in range(4)}
    root = testing.make_dataset(tmp_path_factory.mktemp("rev") / "d", samples,
                                groups={s: f"g{i % 2}" for i, s in enumerate(samples)})  # fmt: skip
    hops = pd.read_csv(root / "hops.csv")
    back = []
    for row in hops.itertuples():
        final = _final_state(samples[row.sample_id], row.vacancy_index, row.moving_index)
        back.append(testing.brute_force_counting_barriers(final)[(row.moving_index,
                                                                  row.vacancy_index)])  # fmt: skip
    hops["reverse_barrier"] = back
    hops.loc[hops.index[:5], "reverse_barrier"] = np.nan  # a NEB without a reverse value
    hops.to_csv(root / "hops.csv", index=False)
    return root


def test_load_hops_adds_each_hops_reverse_with_its_barrier(reverse_data):
    dataset = open_dataset(reverse_data)
    plain = load_hops([dataset], 6.0)
    data = load_hops([dataset], 6.0, reverse=True)
    n = len(plain.barriers)
    assert plain.reverse_of is None and len(data.barriers) == 2 * n - 5
    np.testing.assert_array_equal(data.reverse_of[:n], -1)
    np.testing.assert_array_equal(data.reverse_of[n:], np.arange(5, n))
    np.testing.assert_array_equal(data.groups[n:], plain.groups[5:])
    np.testing.assert_array_equal(data.barriers[:n], plain.barriers)
    # the reverse environments reproduce the brute-force reverse barriers
    model = testing.CountingModel()
    back = data.take(np.arange(n, len(data.barriers)))
    np.testing.assert_allclose(model.predict_environments(back.environments), back.barriers)
    assert back.reverse_of.tolist() == [-2] * len(back.barriers)  # their forward hops left out


def test_reverse_hops_train_only_beside_their_forward_hop(reverse_data):
    data = load_hops([open_dataset(reverse_data)], 6.0, reverse=True)
    config = TrainConfig(kind="lr", val_per_group=10, test_groups=("g1",), reverse=True)
    split = split_hops(data.groups, config, data.reverse_of)
    plain = split_hops(data.groups[data.forward], dataclasses.replace(config, reverse=False))
    for name in ("val", "test"):  # forward hops only, the same draw as without reverse hops
        np.testing.assert_array_equal(split[name], plain[name])
    back = np.nonzero(data.reverse_of >= 0)[0]
    trains = np.isin(back, split["train"])
    np.testing.assert_array_equal(trains, np.isin(data.reverse_of[back], split["train"]))
    assert 0 < trains.sum() < len(back)  # reverse of validation and test hops left out
    off = split_hops(data.groups, dataclasses.replace(config, reverse=False), data.reverse_of)
    np.testing.assert_array_equal(off["train"], plain["train"])
