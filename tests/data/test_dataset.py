"""The barrier dataset format: round trip, resume, crash-cut tails, header checks."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from ase.build import bulk

from vmeb.cli.main import main
from vmeb.data.dataset import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HOP_COLUMNS,
    DatasetHeader,
    append_hops,
    create_dataset,
    hop_rows_to_csv,
    open_dataset,
    read_hops,
    write_structure,
)
from vmeb.errors import VmebError

SPECIES = ("Ta", "Nb", "Mo")


def hop(sample="s1", i=0, j=1, species="Nb", barrier=0.75, status="ok", **extra):
    row = {
        "sample_id": sample,
        "vacancy_index": i,
        "moving_index": j,
        "moving_species": species,
        "barrier": barrier,
        "reverse_barrier": None if barrier is None else barrier - 0.1,
        "energy_change": 0.1,
        "converged": status == "ok",
        "status": status,
        "reason": "" if status == "ok" else "did not converge",
        "source": "test",
    }
    row.update(extra)
    return row


@pytest.fixture
def dataset(tmp_path):
    root = create_dataset(
        tmp_path / "ds",
        DatasetHeader(species=SPECIES, lattice={"type": "bcc", "a": 3.3}, method={"kind": "neb"}),
    )
    atoms = bulk("Ta", "bcc", a=3.3, cubic=True).repeat(2)
    atoms.set_chemical_symbols(["Ta", "Nb", "Mo", "Nb"] * 4)
    write_structure(root, "s1", atoms, group="TaNb2Mo")
    return root


def test_round_trip_types_and_valid_hops(dataset):
    rows = [
        hop(
            i=0, j=1, barrier=0.75, engine="lammps", n_replicas=7, iterations=120, profile=[0, 0.5]
        ),
        hop(i=1, j=2, species="Mo", barrier=1.25),
        hop(i=3, j=4, species="Ta", barrier=None, status="failed"),
        hop(i=3, j=6, species="Mo", barrier=-0.2),  # non-physical even though marked ok
        hop(i=4, j=7, barrier=math.nan),
    ]
    assert append_hops(dataset, rows) == 5
    ds = open_dataset(dataset)
    assert ds.species == SPECIES
    assert ds.header.lattice == {"type": "bcc", "a": 3.3}
    assert ds.header.format_version == FORMAT_VERSION
    hops = ds.hops
    assert list(hops.columns[: len(HOP_COLUMNS)]) == list(HOP_COLUMNS)
    assert hops["vacancy_index"].dtype == np.int64 and hops["barrier"].dtype == np.float64
    assert hops["barrier"].tolist()[:2] == [0.75, 1.25]
    assert math.isnan(hops["barrier"][2]) and hops["reason"][2] == "did not converge"
    assert hops["converged"].tolist() == [True, True, False, True, True]
    assert hops["profile"][0] == "0;0.5" and hops["n_replicas"][0] == 7
    valid = ds.valid_hops()
    assert valid["moving_index"].tolist() == [1, 2]
    assert ds.with_groups()["group"].tolist() == ["TaNb2Mo", "TaNb2Mo"]
    atoms = ds.structure("s1")
    assert atoms.get_chemical_symbols()[:4] == ["Ta", "Nb", "Mo", "Nb"]
    np.testing.assert_allclose(atoms.cell.lengths(), [6.6] * 3)
    assert ds.sample_ids() == ["s1"]


def test_resume_keeps_rows_and_checks_species(dataset):
    append_hops(dataset, [hop(i=0, j=1)])
    header = DatasetHeader(species=SPECIES)
    assert create_dataset(dataset, header, exist_ok=True) == dataset
    append_hops(dataset, [hop(i=0, j=2)])
    assert read_hops(dataset)["moving_index"].tolist() == [1, 2]
    with pytest.raises(VmebError, match="already exists"):
        create_dataset(dataset, header)
    with pytest.raises(VmebError, match=r"existing dataset has species \['Ta', 'Nb', 'Mo'\]"):
        create_dataset(dataset, DatasetHeader(species=("W", "Nb")), exist_ok=True)


def test_partial_last_line_is_ignored_then_repaired(dataset):
    append_hops(dataset, [hop(i=0, j=1), hop(i=0, j=2)])
    path = dataset / "hops.csv"
    full = path.read_bytes()
    # a write killed mid-row: bytes of a third row without its newline
    partial = hop_rows_to_csv([hop(i=9, j=9, barrier=0.5)]).encode()[:17]
    with open(path, "ab") as handle:
        handle.write(partial)
    assert read_hops(dataset)["moving_index"].tolist() == [1, 2]
    append_hops(dataset, [hop(i=1, j=3, barrier=0.9)])
    hops = read_hops(dataset)
    assert hops["moving_index"].tolist() == [1, 2, 3]
    assert hops["barrier"].tolist() == [0.75, 0.75, 0.9]
    assert path.read_bytes().startswith(full) and path.read_bytes().endswith(b"\n")
    assert b"9,9" not in path.read_bytes()


def test_append_is_one_write_per_call(dataset, monkeypatch):
    writes = []
    real_write = os.write

    def counting_write(fd, data):
        writes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    append_hops(dataset, [hop(i=k, j=k + 1) for k in range(50)])
    assert len(writes) == 1
    assert len(read_hops(dataset)) == 50


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"format_version": FORMAT_VERSION + 1},
            "dataset format version 2; this vmeb reads version 1",
        ),
        ({"format": "something-else"}, f"not a {FORMAT_NAME} header"),
        ({"species": []}, "'species' must be a non-empty list"),
    ],
)
def test_header_checks(dataset, change, message):
    path = dataset / "header.json"
    raw = json.loads(path.read_text())
    raw.update(change)
    path.write_text(json.dumps(raw))
    with pytest.raises(VmebError, match=f"header.json: {message}"):
        open_dataset(dataset)


def test_bad_files_name_the_file(dataset, tmp_path):
    (dataset / "header.json").write_text("{not json")
    with pytest.raises(VmebError, match="header.json: not valid JSON"):
        open_dataset(dataset)
    with pytest.raises(VmebError, match="no such dataset directory"):
        open_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VmebError, match="not a vmeb dataset"):
        open_dataset(tmp_path / "empty")


def test_hop_table_checks(dataset):
    append_hops(dataset, [hop(species="W")])
    with pytest.raises(VmebError, match=r"moving species \['W'\] not in header species"):
        open_dataset(dataset)
    (dataset / "hops.csv").write_text("sample_id,vacancy_index\ns1,0\n")
    with pytest.raises(VmebError, match="hops.csv: missing columns"):
        read_hops(dataset)
    (dataset / "hops.csv").write_text(
        ",".join(HOP_COLUMNS) + "\ns1,zero,1,Nb,0.5,,,true,ok,,test\n"
    )
    with pytest.raises(VmebError, match="hops.csv: bad value"):
        read_hops(dataset)
    (dataset / "hops.csv").write_bytes(b"\xf4\x00\xff binary\n")  # was a UnicodeDecodeError
    with pytest.raises(VmebError, match=r"hops.csv: cannot parse hop table \(not text"):
        read_hops(dataset)
    with pytest.raises(VmebError, match="unknown columns"):
        hop_rows_to_csv([hop(colour="red")])


def test_missing_structure_and_bad_sample_id(dataset):
    append_hops(dataset, [hop(sample="s2")])
    with pytest.raises(VmebError, match="s2.extxyz: structure missing"):
        open_dataset(dataset)
    with pytest.raises(VmebError, match="sample id"):
        write_structure(dataset, "bad/id", bulk("Ta", "bcc", a=3.3))


@pytest.mark.parametrize(
    ("change", "message"),
    [({"converged": "maybe"},
      "2 row(s) whose converged is not true/false/1/0/yes/no, first on line 3: 'maybe'"),
     ({"converged": ""}, "whose converged is not true/false/1/0/yes/no, first on line 3: ''"),
     ({"status": "pending"},
      "2 row(s) whose status is not ok or failed, first on line 3: 'pending'"),
     ({"status": "OK"}, "whose status is not ok or failed, first on line 3: 'OK'")],
)  # fmt: skip
def test_unknown_converged_or_status_is_refused(dataset, capsys, change, message):
    """``converged: maybe`` used to read as false, ``status: pending`` dropped the row from
    training without a word."""
    append_hops(dataset, [hop(), hop(i=1, j=2, species="Mo", **change), hop(i=2, **change)])
    with pytest.raises(VmebError) as caught:
        read_hops(dataset)
    problem = str(caught.value)
    assert problem.startswith(f"{dataset / 'hops.csv'}: ") and message in problem
    assert main(["train", str(dataset), "-o", str(dataset.parent / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (dataset.parent / "run").exists()


def test_every_spelling_of_converged_is_read(dataset):
    values = ["True", " yes", "1", "FALSE", "no ", "0"]
    append_hops(dataset, [hop(i=k, j=k + 1, converged=v) for k, v in enumerate(values)])
    assert read_hops(dataset)["converged"].tolist() == [True, True, True, False, False, False]
