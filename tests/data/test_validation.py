"""Hop data that contradicts itself or its structure is refused with one line and counts: imports
(nothing written) and `open_dataset`; barriers above 10 eV are failed hops, as <= 0 ones are;
valid data imports exactly as before."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from vmeb.data.dataset import HOPS_FILE, MAX_BARRIER, open_dataset
from vmeb.data.importers import import_csv, import_fpnnk
from vmeb.errors import VmebError
from vmeb.structure.io import write_structure_file
from vmeb.testing import A, make_dataset, random_alloy


@pytest.fixture
def sample() -> Atoms:
    return random_alloy(3, np.random.default_rng(5))  # 54 atoms


def first_neighbour_pairs(atoms: Atoms) -> np.ndarray:
    """[N * 8, 2] (vacancy, moving) pairs from ASE's neighbour list (independent of vmeb)."""
    i, j = neighbor_list("ij", atoms, 0.5 * (A * math.sqrt(3) / 2 + A))
    order = np.lexsort((j, i))
    return np.stack([i[order], j[order]], axis=1)


def write_csv(path: Path, pairs: np.ndarray, barriers: np.ndarray, species=None) -> Path:
    frame = pd.DataFrame({"vacancy": pairs[:, 0], "moving": pairs[:, 1], "barrier": barriers})
    if species is not None:
        frame["moving_species"] = species
    frame.to_csv(path, index=False)
    return path


def expect_refused(call, output: Path, *patterns: str) -> str:
    with pytest.raises(VmebError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for pattern in patterns:
        assert re.search(pattern, message), message
    assert not output.exists() and not list(output.parent.glob(f".{output.name}.*"))
    return message


def test_valid_csv_imports_exactly(tmp_path, sample):
    pairs = first_neighbour_pairs(sample)
    barriers = np.round(0.5 + np.arange(len(pairs)) % 17 * 0.05, 6)
    symbols = np.asarray(sample.get_chemical_symbols())
    table = write_csv(tmp_path / "hops.csv", pairs, barriers, symbols[pairs[:, 1]])
    structure = write_structure_file(tmp_path / "s.extxyz", sample)
    report = import_csv(structure, table, tmp_path / "ds")
    assert [(s.read, s.kept, s.rejected) for s in report.samples] == [(len(pairs), len(pairs), 0)]
    hops = open_dataset(tmp_path / "ds").hops
    np.testing.assert_array_equal(hops[["vacancy_index", "moving_index"]].to_numpy(), pairs)
    np.testing.assert_array_equal(hops["barrier"].to_numpy(), barriers)
    assert hops["moving_species"].tolist() == symbols[pairs[:, 1]].tolist()
    assert (hops["status"] == "ok").all()


def test_csv_duplicates_and_conflicts_refused(tmp_path, sample):
    pairs = first_neighbour_pairs(sample)
    barriers = np.full(len(pairs), 0.8)
    structure = write_structure_file(tmp_path / "s.extxyz", sample)
    output = tmp_path / "ds"
    # the same hop listed twice with the same barrier, twice over
    dup = write_csv(
        tmp_path / "dup.csv", np.vstack([pairs, pairs[[3, 7]]]), np.append(barriers, [0.8, 0.8])
    )
    v, m = pairs[3]
    expect_refused(
        lambda: import_csv(structure, dup, output),
        output,
        r"^.*dup\.csv: 2 duplicate hop\(s\) \(same vacancy and moving atom listed again\)",
        rf"first: vacancy {v} moving {m} in entries 4 and {len(pairs) + 1}",
    )
    # the same hop with another barrier
    rows = np.vstack([pairs, pairs[[5]]])
    conflict = write_csv(tmp_path / "conflict.csv", rows, [*barriers, 1.3])
    v, m = pairs[5]
    expect_refused(
        lambda: import_csv(structure, conflict, output),
        output,
        r"conflict\.csv: 1 conflicting duplicate hop\(s\) \(same vacancy and moving atom, "
        r"different barriers\)",
        rf"vacancy {v} moving {m} in entries 6 and {len(pairs) + 1} \(0\.8 and 1\.3 eV\)",
    )


def test_csv_species_and_neighbours_contradicting_the_structure(tmp_path, sample):
    pairs = first_neighbour_pairs(sample)
    symbols = np.asarray(sample.get_chemical_symbols())
    species = symbols[pairs[:, 1]].copy()
    wrong = [k for k in range(len(pairs)) if species[k] != "Ta"][:3]
    species[wrong] = "Ta"
    structure = write_structure_file(tmp_path / "s.extxyz", sample)
    output = tmp_path / "ds"
    table = write_csv(tmp_path / "species.csv", pairs, np.full(len(pairs), 0.9), species)
    k = wrong[0]
    expect_refused(
        lambda: import_csv(structure, table, output),
        output,
        r"species\.csv: 3 hop\(s\) whose moving_species contradicts the structure",
        rf"entry {k + 1} says Ta but atom {pairs[k, 1]} is {symbols[pairs[k, 1]]}",
    )
    # a moving atom in the second shell (distance a) of the vacancy
    second = int(np.nonzero(np.abs(sample.get_distances(0, range(54), mic=True) - A) < 1e-6)[0][0])
    far = write_csv(tmp_path / "far.csv", np.array([[0, second]]), np.array([0.9]))
    expect_refused(
        lambda: import_csv(structure, far, output),
        output,
        rf"far\.csv: entry 1: atom {second} is not a first neighbour of vacancy 0",
    )


def test_out_of_range_barriers_are_failed_hops(tmp_path, sample):
    pairs = first_neighbour_pairs(sample)
    barriers = np.full(len(pairs), 0.9)
    barriers[[2, 40]] = [1e6, MAX_BARRIER + 0.5]
    barriers[9] = MAX_BARRIER  # the bound itself is accepted
    table = write_csv(tmp_path / "hops.csv", pairs, barriers)
    structure = write_structure_file(tmp_path / "s.extxyz", sample)
    report = import_csv(structure, table, tmp_path / "ds")
    assert [(s.kept, s.rejected) for s in report.samples] == [(len(pairs) - 2, 2)]
    hops = open_dataset(tmp_path / "ds").hops
    assert hops["status"][[2, 40]].tolist() == ["failed", "failed"]
    assert hops["reason"][2] == "non-physical barrier 1e+06 eV in source (> 10 eV)"
    assert hops["reason"][40] == "non-physical barrier 10.5 eV in source (> 10 eV)"
    assert hops["status"][9] == "ok" and hops["barrier"][9] == MAX_BARRIER
    assert math.isnan(hops["barrier"][2])


def write_fpnnk(folder: Path, atoms: Atoms, barriers: np.ndarray) -> np.ndarray:
    folder.mkdir(parents=True)
    ase.io.write(folder / "POSCAR", atoms, format="vasp", direct=True)
    ids = first_neighbour_pairs(atoms)[:, 1].reshape(len(atoms), 8)
    np.savetxt(folder / "atomid_for_NN.txt", ids + 1, fmt="%d")
    np.savetxt(folder / "barrier_for_NN.txt", barriers, fmt="%.6f")
    return ids


def test_fpnnk_duplicate_neighbour_refused(tmp_path, sample):
    barriers = np.full((len(sample), 8), 0.7)
    ids = write_fpnnk(tmp_path / "src" / "TaNbMo_1", sample, barriers)
    assert import_fpnnk([tmp_path / "src"], tmp_path / "ok").samples[0].kept == 8 * len(sample)
    ids[4, 6] = ids[4, 2]  # row 5 lists one neighbour twice (and misses another)
    ids_file = tmp_path / "src" / "TaNbMo_1" / "atomid_for_NN.txt"
    np.savetxt(ids_file, ids + 1, fmt="%d")
    output = tmp_path / "ds"
    expect_refused(
        lambda: import_fpnnk([tmp_path / "src"], output),
        output,
        rf"atomid_for_NN\.txt: 1 duplicate hop\(s\) .* first: vacancy 5 moving {ids[4, 2] + 1} "
        r"in entries 35 and 39",
    )


@pytest.fixture
def good_dataset(tmp_path, sample) -> Path:
    return make_dataset(tmp_path / "good", {"s0": sample})


def edited(good: Path, tmp_path: Path, edit) -> Path:
    root = tmp_path / "edited"
    shutil.copytree(good, root)
    hops = pd.read_csv(root / HOPS_FILE, dtype=str, keep_default_na=False)
    hops = edit(hops)
    hops.to_csv(root / HOPS_FILE, index=False)
    return root


def expect_open_refused(root: Path, *patterns: str) -> None:
    with pytest.raises(VmebError) as info:
        open_dataset(root)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(root / HOPS_FILE))
    for pattern in patterns:
        assert re.search(pattern, message), message


def test_open_dataset_accepts_valid_data(good_dataset):
    ds = open_dataset(good_dataset)
    assert len(ds.hops) == 8 * 54 and len(ds.valid_hops()) == 8 * 54


def test_open_dataset_refuses_bad_rows(good_dataset, tmp_path):
    def duplicate(h):
        return pd.concat([h, h.iloc[[10]]], ignore_index=True)

    root = edited(good_dataset, tmp_path, duplicate)
    expect_open_refused(
        root, r"1 duplicate hop row\(s\) \(same sample, vacancy and moving atom\)", r"lines 12 and"
    )
    shutil.rmtree(root)

    def conflict(h):
        extra = h.iloc[[10]].copy()
        extra["barrier"] = "2.5"
        return pd.concat([h, extra], ignore_index=True)

    root = edited(good_dataset, tmp_path, conflict)
    expect_open_refused(root, r"1 conflicting duplicate hop\(s\)", r"and 2\.5 eV\)")
    shutil.rmtree(root)

    def huge(h):
        h.loc[3, "barrier"] = "1000000.0"
        return h

    root = edited(good_dataset, tmp_path, huge)
    expect_open_refused(root, r"1 ok hop\(s\) with a barrier above 10 eV", r"line 5: 1e\+06 eV")
    shutil.rmtree(root)

    def species(h):
        h.loc[6, "moving_species"] = "Mo" if h.loc[6, "moving_species"] != "Mo" else "Ta"
        return h

    root = edited(good_dataset, tmp_path, species)
    expect_open_refused(
        root,
        r"1 row\(s\) of sample s0 whose moving_species contradicts the structure, first on "
        r"line 8",
    )
    shutil.rmtree(root)

    def far(h):
        h.loc[0, "moving_index"] = str(int(h.loc[0, "vacancy_index"]))  # itself: not a neighbour
        return h

    root = edited(good_dataset, tmp_path, far)
    expect_open_refused(root, r"not a first neighbour of the vacancy, first on line 2")


def test_failed_rows_may_repeat(good_dataset, tmp_path):
    """A failed attempt and a later result of the same hop are history, not a conflict."""

    def retried(h):
        failed = h.iloc[[4]].copy()
        failed["status"], failed["barrier"], failed["reason"] = "failed", "", "did not converge"
        return pd.concat([failed, h], ignore_index=True)

    root = edited(good_dataset, tmp_path, retried)
    assert len(open_dataset(root).valid_hops()) == 8 * 54


def test_write_structure_refuses_what_is_not_a_perfect_sample(good_dataset, sample):
    from ase.build import bulk

    from vmeb.data.dataset import structure_path, write_structure

    holed = sample.copy()
    del holed[0]
    with pytest.raises(VmebError, match=r"^sample holed: 53 atoms, but a 3x3x3 BCC cell"):
        write_structure(good_dataset, "holed", holed)
    fcc = bulk("Ta", "fcc", a=4.2, cubic=True).repeat(3)
    with pytest.raises(VmebError, match=r"^sample fcc: not a BCC lattice: 12 first neighbours"):
        write_structure(good_dataset, "fcc", fcc)
    assert not structure_path(good_dataset, "holed").exists()
    assert not structure_path(good_dataset, "fcc").exists()
