"""Importers: the shared DFT data (counted independently from the text files), synthetic folders
built with ASE, CSV tables, bad input, and the ``vmeb import`` command."""

from __future__ import annotations

import math
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

from vmeb.cli.main import main
from vmeb.data.dataset import open_dataset
from vmeb.data.importers import fpnnk_group_name, import_csv, import_fpnnk
from vmeb.errors import VmebError
from vmeb.testing import random_alloy

A = 3.25
FIRST_NEIGHBOUR = A * math.sqrt(3) / 2
NBMOTA = ("Nb", "Mo", "Ta")


def ase_first_neighbours(atoms: Atoms) -> np.ndarray:
    """[N, 8] first-neighbour ids from ASE's neighbour list (independent of vmeb)."""
    i, j = neighbor_list("ij", atoms, 0.5 * (FIRST_NEIGHBOUR + A))
    return np.stack([np.sort(j[i == k]) for k in range(len(atoms))])


def write_fpnnk_folder(folder: Path, atoms: Atoms, barriers: np.ndarray) -> np.ndarray:
    """Write a sample in the FPNNK layout (1-based ids); returns the 0-based [N, 8] ids."""
    folder.mkdir(parents=True)
    ase.io.write(folder / "POSCAR", atoms, format="vasp", direct=True)
    ids = ase_first_neighbours(atoms)
    np.savetxt(folder / "atomid_for_NN.txt", ids + 1, fmt="%d")
    np.savetxt(folder / "barrier_for_NN.txt", barriers, fmt="%.6f")
    return ids


def count_non_physical(path: Path) -> int:
    """Barriers <= 0 or not finite, counted from the raw text."""
    return sum(
        not (math.isfinite(float(tok)) and float(tok) > 0) for tok in path.read_text().split()
    )


def test_shared_dft_folders(fpnnk_dir, tmp_path):
    names = ["NbTaV", "NbMoTaWV", "NbMoTaWV_2"]
    report = import_fpnnk([fpnnk_dir / n for n in names], tmp_path / "ds")
    expected_rejected = [count_non_physical(fpnnk_dir / n / "barrier_for_NN.txt") for n in names]
    assert expected_rejected == [8, 0, 0]
    assert [s.rejected for s in report.samples] == expected_rejected
    assert [s.read for s in report.samples] == [1024] * 3
    assert [s.group for s in report.samples] == ["NbTaV", "NbMoTaWV", "NbMoTaWV"]
    assert [row[:2] for row in report.by_group()] == [("NbTaV", 1), ("NbMoTaWV", 2)]

    ds = open_dataset(tmp_path / "ds")
    # default species order (vmeb.species.default_order): the elements of the POSCARs (element
    # line of each file) by atomic number
    present = set()
    for name in names:
        present.update((fpnnk_dir / name / "POSCAR").read_text().splitlines()[5].split())
    assert ds.species == tuple(sorted(present, key=lambda s: atomic_numbers[s]))
    assert ds.header.method["engine"] == "vasp" and "Nat. Commun." in ds.header.method["citation"]
    assert len(ds.hops) == 3 * 1024 and len(ds.valid_hops()) == 3 * 1024 - 8
    assert ds.group_of("NbMoTaWV_2") == "NbMoTaWV"

    # row i, column k of the text files -> 0-based hop (i, id - 1) with that barrier
    sample = ds.hops[ds.hops["sample_id"] == "NbTaV"].reset_index(drop=True)
    ids = np.loadtxt(fpnnk_dir / "NbTaV" / "atomid_for_NN.txt", dtype=int)
    barriers = np.loadtxt(fpnnk_dir / "NbTaV" / "barrier_for_NN.txt")
    np.testing.assert_array_equal(sample["vacancy_index"], np.repeat(np.arange(128), 8))
    np.testing.assert_array_equal(sample["moving_index"], ids.reshape(-1) - 1)
    ok = (sample["status"] == "ok").to_numpy()
    np.testing.assert_allclose(sample["barrier"][ok], barriers.reshape(-1)[ok])
    assert np.all(barriers.reshape(-1)[~ok] <= 0)
    assert sample["reason"][~ok].str.contains("non-physical").all()
    atoms = ds.structure("NbTaV")
    assert (
        sample["moving_species"] == np.array(atoms.get_chemical_symbols())[ids.reshape(-1) - 1]
    ).all()
    d = [
        atoms.get_distance(i, j, mic=True)
        for i, j in zip(sample["vacancy_index"][:64], sample["moving_index"][:64], strict=True)
    ]
    lattice = (2 * atoms.get_volume() / len(atoms)) ** (1 / 3)
    np.testing.assert_allclose(d, lattice * math.sqrt(3) / 2, rtol=1e-6)


def test_synthetic_folders_replicas_and_rejections(tmp_path):
    rng = np.random.default_rng(0)
    barriers = rng.uniform(0.3, 1.5, size=(128, 8))
    barriers[3, 2], barriers[7, 0], barriers[100, 7] = -1.0, 0.0, np.nan
    ids = write_fpnnk_folder(
        tmp_path / "src" / "NbMoTa_1", random_alloy(4, 1, NBMOTA, a=A), barriers
    )
    write_fpnnk_folder(
        tmp_path / "src" / "NbMoTa_2", random_alloy(4, 2, NBMOTA, a=A), np.full((128, 8), 0.8)
    )
    write_fpnnk_folder(
        tmp_path / "src" / "MoTa", random_alloy(4, 3, ("Mo", "Ta"), a=A), np.full((128, 8), 1.1)
    )
    report = import_fpnnk([tmp_path / "src"], tmp_path / "ds", species=["Ta", "Nb", "Mo"])
    assert [s.sample_id for s in report.samples] == ["MoTa", "NbMoTa_1", "NbMoTa_2"]
    assert [s.group for s in report.samples] == ["MoTa", "NbMoTa", "NbMoTa"]
    assert [s.rejected for s in report.samples] == [0, 3, 0]
    assert "total" in report.table() and report.table().splitlines()[-1].split()[1:] == [
        "3",
        "3072",
        "3069",
        "3",
    ]
    ds = open_dataset(tmp_path / "ds")
    assert ds.species == ("Ta", "Nb", "Mo")
    hops = ds.hops[ds.hops["sample_id"] == "NbMoTa_1"].reset_index(drop=True)
    np.testing.assert_array_equal(hops["moving_index"], ids.reshape(-1))
    failed = hops.index[hops["status"] == "failed"].tolist()
    assert failed == [3 * 8 + 2, 7 * 8 + 0, 100 * 8 + 7]
    assert hops.loc[failed, "barrier"].isna().all()
    assert not hops.loc[failed, "converged"].any()
    assert len(ds.valid_hops()) == 3069
    assert not list(tmp_path.glob(".ds.*"))  # staging directory renamed away


def test_bad_fpnnk_input_leaves_nothing(tmp_path):
    atoms = random_alloy(4, 4, NBMOTA, a=A)
    folder = tmp_path / "NbMoTa"
    write_fpnnk_folder(folder, atoms, np.full((128, 8), 0.9))
    (folder / "barrier_for_NN.txt").write_text("0.5 0.6\n")
    with pytest.raises(VmebError, match=r"barrier_for_NN.txt: expected 128 rows x 8 columns"):
        import_fpnnk([folder], tmp_path / "ds")
    (folder / "barrier_for_NN.txt").unlink()
    with pytest.raises(VmebError, match=r"barrier_for_NN.txt: no such file"):
        import_fpnnk([folder], tmp_path / "ds")
    np.savetxt(folder / "barrier_for_NN.txt", np.full((128, 8), 0.9))
    ids = np.loadtxt(folder / "atomid_for_NN.txt", dtype=int)
    second_shell = int(np.argmin(np.abs(atoms.get_distances(0, range(128), mic=True) - A)))
    ids[0, 5] = second_shell + 1
    np.savetxt(folder / "atomid_for_NN.txt", ids, fmt="%d")
    with pytest.raises(VmebError, match=r"atomid_for_NN.txt: entry 6: atom .* not a first neigh"):
        import_fpnnk([folder], tmp_path / "ds")
    ids[0, 5] = 129
    np.savetxt(folder / "atomid_for_NN.txt", ids, fmt="%d")
    with pytest.raises(VmebError, match=r"atomid_for_NN.txt: row 6: moving id 129 out of range"):
        import_fpnnk([folder], tmp_path / "ds")
    with pytest.raises(VmebError, match="not in the species"):
        write_fpnnk_folder(tmp_path / "ok", atoms, np.full((128, 8), 0.9))
        import_fpnnk([tmp_path / "ok"], tmp_path / "ds", species=["Nb", "Mo"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NbMoTa", "ok"]
    (tmp_path / "ds").mkdir()
    with pytest.raises(VmebError, match="already exists"):
        import_fpnnk([tmp_path / "ok"], tmp_path / "ds")


def test_fpnnk_group_name():
    assert fpnnk_group_name("NbMoTaWV_2") == "NbMoTaWV"
    assert fpnnk_group_name("NbMoTaWV40") == "NbMoTaWV40"
    assert fpnnk_group_name("Nb80MoTaWV") == "Nb80MoTaWV"
    assert fpnnk_group_name("A_B_12") == "A_B"


def test_csv_import_with_header_and_one_based(tmp_path):
    atoms = random_alloy(4, 5, NBMOTA, a=A)
    ase.io.write(tmp_path / "sample.extxyz", atoms, format="extxyz")
    ids = ase_first_neighbours(atoms)
    lines = ["vacancy_index,moving_index,barrier,reverse_barrier"]
    lines += [f"{4},{ids[4, k]},{0.5 + 0.1 * k},{0.6 + 0.1 * k}" for k in range(8)]
    lines.append(f"9,{ids[9, 0]},-0.2,")
    (tmp_path / "hops.csv").write_text("\n".join(lines) + "\n")
    report = import_csv(tmp_path / "sample.extxyz", tmp_path / "hops.csv", tmp_path / "ds")
    assert (report.samples[0].read, report.samples[0].kept, report.samples[0].rejected) == (9, 8, 1)
    ds = open_dataset(tmp_path / "ds")
    present = set(atoms.get_chemical_symbols())
    assert ds.species == tuple(sorted(present, key=lambda s: atomic_numbers[s]))
    assert ds.sample_ids() == ["sample"]
    np.testing.assert_allclose(ds.valid_hops()["barrier"], 0.5 + 0.1 * np.arange(8))
    np.testing.assert_allclose(ds.valid_hops()["reverse_barrier"], 0.6 + 0.1 * np.arange(8))
    np.testing.assert_array_equal(ds.valid_hops()["moving_index"], ids[4])

    # headerless, 1-based ids
    text = "\n".join(f"5 ,{ids[4, k] + 1}, 0.7" for k in range(8)) + "\n"
    (tmp_path / "plain.csv").write_text(text)
    import_csv(
        tmp_path / "sample.extxyz",
        tmp_path / "plain.csv",
        tmp_path / "ds1",
        one_based=True,
        species=["Ta", "Mo", "Nb"],
        sample_id="s1",
        group="equiatomic",
    )
    ds1 = open_dataset(tmp_path / "ds1")
    assert ds1.species == ("Ta", "Mo", "Nb") and ds1.group_of("s1") == "equiatomic"
    np.testing.assert_array_equal(ds1.hops["vacancy_index"], [4] * 8)
    np.testing.assert_array_equal(ds1.hops["moving_index"], ids[4])


def test_csv_bad_input(tmp_path):
    atoms = random_alloy(4, 6, NBMOTA, a=A)
    ase.io.write(tmp_path / "s.extxyz", atoms, format="extxyz")
    (tmp_path / "a.csv").write_text("vacancy,moving\n0,1\n")
    with pytest.raises(VmebError, match=r"a.csv: header .* lacks columns \['barrier'\]"):
        import_csv(tmp_path / "s.extxyz", tmp_path / "a.csv", tmp_path / "ds")
    (tmp_path / "b.csv").write_text("0,1.5,0.4\n")
    with pytest.raises(VmebError, match=r"b.csv: line 1: moving_index must be an integer"):
        import_csv(tmp_path / "s.extxyz", tmp_path / "b.csv", tmp_path / "ds")
    far = int(np.argmax(atoms.get_distances(0, range(len(atoms)), mic=True)))
    (tmp_path / "c.csv").write_text(f"0,{far},0.4\n")
    with pytest.raises(VmebError, match=r"c.csv: entry 1: atom .* not a first neighbour"):
        import_csv(tmp_path / "s.extxyz", tmp_path / "c.csv", tmp_path / "ds")
    with pytest.raises(VmebError, match=r"missing.extxyz: no such file"):
        import_csv(tmp_path / "missing.extxyz", tmp_path / "c.csv", tmp_path / "ds")
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.*"))


def test_import_command(tmp_path, capsys):
    write_fpnnk_folder(
        tmp_path / "NbMoTa_3", random_alloy(4, 7, NBMOTA, a=A), np.full((128, 8), 0.9)
    )
    barriers = np.full((128, 8), 0.9)
    barriers[0, 0] = -1.0
    write_fpnnk_folder(tmp_path / "NbMoTa_4", random_alloy(4, 8, NBMOTA, a=A), barriers)
    out = tmp_path / "ds"
    assert (
        main(
            [
                "import",
                "fpnnk",
                str(tmp_path / "NbMoTa_3"),
                str(tmp_path / "NbMoTa_4"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert any(
        line.split() == ["NbMoTa", "2", "2048", "2047", "1"] for line in printed.splitlines()
    )
    assert len(open_dataset(out).valid_hops()) == 2047
    status = main(["import", "fpnnk", str(tmp_path / "nowhere"), "-o", str(tmp_path / "ds2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "nowhere: no such directory" in err[0]

    atoms = random_alloy(4, 9, NBMOTA, a=A)
    ase.io.write(tmp_path / "s.extxyz", atoms)
    ids = ase_first_neighbours(atoms)
    (tmp_path / "h.csv").write_text(
        "".join(f"3,{ids[2, k] + 1},{0.3 + 0.1 * k:.2f}\n" for k in range(8))
    )
    args = ["import", "csv", str(tmp_path / "s.extxyz"), str(tmp_path / "h.csv"), "--one-based"]
    assert main(args + ["-o", str(tmp_path / "ds3")]) == 0
    hops = open_dataset(tmp_path / "ds3").valid_hops()
    np.testing.assert_allclose(hops["barrier"], 0.3 + 0.1 * np.arange(8))
    np.testing.assert_array_equal(hops["moving_index"], ids[2])


def test_csv_binary_or_short_rows_are_one_line(tmp_path, capsys):
    """A binary file used to end in a UnicodeDecodeError traceback; a short row in 'bad barrier
    (list index out of range)'."""
    atoms = random_alloy(4, 6, NBMOTA, a=A)
    ase.io.write(tmp_path / "s.extxyz", atoms, format="extxyz")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01garbage\xff\xfe\n")
    with pytest.raises(VmebError, match=r"bin.csv: not a text CSV file"):
        import_csv(tmp_path / "s.extxyz", tmp_path / "bin.csv", tmp_path / "ds")
    (tmp_path / "short.csv").write_text("vacancy,moving,barrier\n0,1\n")
    with pytest.raises(VmebError, match=r"short.csv: line 2: no barrier \(only 2 fields\)"):
        import_csv(tmp_path / "s.extxyz", tmp_path / "short.csv", tmp_path / "ds")
    argv = ["import", "csv", str(tmp_path / "s.extxyz"), str(tmp_path / "bin.csv")]
    assert main([*argv, "-o", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bin.csv: not a text CSV file" in err[0], err
    assert not (tmp_path / "ds").exists() and not list(tmp_path.glob(".ds.*"))


def test_fpnnk_empty_matrix_or_file_argument_is_one_line(tmp_path, capsys):
    """An empty barrier file used to print numpy's UserWarning (two more lines) before the error;
    a file given as a folder was reported as missing."""
    folder = tmp_path / "NbMoTa"
    write_fpnnk_folder(folder, random_alloy(4, 4, NBMOTA, a=A), np.full((128, 8), 0.9))
    (folder / "barrier_for_NN.txt").write_text("")
    assert main(["import", "fpnnk", str(folder), "-o", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("barrier_for_NN.txt: empty file"), err
    with pytest.raises(VmebError, match=r"POSCAR: is a file, not a directory"):
        import_fpnnk([folder / "POSCAR"], tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
