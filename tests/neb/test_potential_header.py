"""A campaign's header records its potential by name, spec and file SHA-256, not by the paths of
the machine that ran it: a dataset resumes on another machine, old headers (absolute paths) are
still read, and another version of a potential file is refused in one line."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from vmeb.cli.main import main
from vmeb.data.dataset import open_dataset, read_hops
from vmeb.errors import VmebError
from vmeb.lammps.potentials import (
    default_potential,
    eam_alloy_potential,
    load_potential,
    potential_difference,
)
from vmeb.neb.campaign import prepare_dataset
from vmeb.neb.site import NEBConfig
from vmeb.structure.build import build_random_alloy
from vmeb.structure.io import write_structure_file

FAST_NEB = NEBConfig(n_replicas=5, ftol=0.01, max_steps=200, relax_ftol=1e-3)
DEFAULT_FILE = "TaNbMo_Zhou04_Lin13.eam.alloy"


def _samples() -> dict:
    return {"equi": build_random_alloy("Ta:1,Nb:1,Mo:1", 3, a=3.24, seed=1)}


def _machine(monkeypatch, root: Path) -> Path:
    """Switch to another "machine": its own vmeb cache (where the built-in EAM is generated)."""
    monkeypatch.setenv("VMEB_CACHE", str(root))
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit_potential_record(dataset: Path, **changes) -> None:
    header = json.loads((dataset / "header.json").read_text())
    header["method"]["potential"].update(changes)
    (dataset / "header.json").write_text(json.dumps(header, indent=2))


def test_header_records_name_spec_and_file_hashes_not_paths(tmp_path, monkeypatch):
    cache = _machine(monkeypatch, tmp_path / "machine-a")
    prepare_dataset(tmp_path / "ds", _samples(), load_potential("default"), FAST_NEB)
    text = (tmp_path / "ds" / "header.json").read_text()
    record = json.loads(text)["method"]["potential"]
    setfl = cache / "eam" / DEFAULT_FILE
    assert record["name"] == "TaNbMo_Zhou04_Lin13" and record["spec"] == "default"
    assert record["files"] == [{"name": DEFAULT_FILE, "sha256": _sha256(setfl)}]
    assert record["pair_style"] == "eam/alloy" and record["elements"] == ["Ta", "Nb", "Mo"]
    assert str(tmp_path) not in text


def test_dataset_made_on_one_machine_resumes_on_another(tmp_path, monkeypatch):
    _machine(monkeypatch, tmp_path / "machine-a")
    prepare_dataset(tmp_path / "a" / "ds", _samples(), default_potential(), FAST_NEB)
    moved = tmp_path / "b" / "copied-ds"
    shutil.copytree(tmp_path / "a" / "ds", moved)
    _machine(monkeypatch, tmp_path / "machine-b")  # another cache: another path of the EAM
    other = default_potential()
    assert other.files[0].startswith(str(tmp_path / "machine-b"))
    stored = prepare_dataset(moved, _samples(), other, FAST_NEB)
    assert list(stored) == ["equi"]


def test_user_potential_file_moved_elsewhere_resumes(tmp_path, eam):
    for folder in ("here", "there"):
        (tmp_path / folder).mkdir()
        shutil.copy(eam.files[0], tmp_path / folder / "pot.eam.alloy")
    spec = f"eam/alloy:{tmp_path / 'here' / 'pot.eam.alloy'}"
    prepare_dataset(tmp_path / "ds", _samples(), load_potential(spec), FAST_NEB)
    assert open_dataset(tmp_path / "ds").header.method["potential"]["spec"] == spec
    moved = load_potential(f"eam/alloy:{tmp_path / 'there' / 'pot.eam.alloy'}")
    prepare_dataset(tmp_path / "ds", _samples(), moved, FAST_NEB)


def test_old_header_with_another_machines_path_is_accepted(tmp_path, eam):
    prepare_dataset(tmp_path / "ds", _samples(), default_potential(), FAST_NEB)
    old_path = f"/home/someone/.cache/vmeb/eam/{DEFAULT_FILE}"  # vmeb 0.1.0: absolute paths
    _edit_potential_record(tmp_path / "ds", files=[old_path])
    header = json.loads((tmp_path / "ds" / "header.json").read_text())
    del header["method"]["potential"]["spec"]
    (tmp_path / "ds" / "header.json").write_text(json.dumps(header))
    assert open_dataset(tmp_path / "ds").header.method["potential"]["files"] == [old_path]
    prepare_dataset(tmp_path / "ds", _samples(), default_potential(), FAST_NEB)


def test_old_header_path_readable_here_is_compared_by_hash(tmp_path, eam):
    changed = tmp_path / "old" / DEFAULT_FILE
    changed.parent.mkdir()
    changed.write_text(Path(eam.files[0]).read_text().replace("\n", " (edited)\n", 1))
    prepare_dataset(tmp_path / "ds", _samples(), default_potential(), FAST_NEB)
    _edit_potential_record(tmp_path / "ds", files=[str(changed)])
    with pytest.raises(VmebError, match="another version of the potential"):
        prepare_dataset(tmp_path / "ds", _samples(), default_potential(), FAST_NEB)
    _edit_potential_record(tmp_path / "ds", files=[eam.files[0]])  # the same file: accepted
    prepare_dataset(tmp_path / "ds", _samples(), default_potential(), FAST_NEB)


def test_other_version_of_a_potential_file_is_refused_in_one_line(
    tmp_path, monkeypatch, capsys, eam
):
    for folder, edit in (("a", False), ("b", True)):
        (tmp_path / folder).mkdir()
        text = Path(eam.files[0]).read_text()
        if edit:  # same name and elements, another first comment line: another hash
            text = text.replace("\n", " (edited)\n", 1)
        (tmp_path / folder / "pot.eam.alloy").write_text(text)
    dataset = tmp_path / "ds"
    prepare_dataset(dataset, _samples(), eam_alloy_potential(tmp_path / "a" / "pot.eam.alloy"), FAST_NEB)  # fmt: skip  # noqa: E501
    header_before = (dataset / "header.json").read_text()
    write_structure_file(tmp_path / "equi.extxyz", _samples()["equi"])
    monkeypatch.chdir(tmp_path)
    argv = ["neb", "equi.extxyz", "-o", "ds", "--sites", "0,", "--potential",
            "eam/alloy:b/pot.eam.alloy", "--config", "neb.yaml"]  # fmt: skip
    (tmp_path / "neb.yaml").write_text(json.dumps(FAST_NEB.to_json()))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    old, new = _sha256(tmp_path / "a" / "pot.eam.alloy"), _sha256(tmp_path / "b" / "pot.eam.alloy")
    assert f"potential file pot.eam.alloy (sha256 {old[:12]}), not pot.eam.alloy (sha256 " in err[0]
    assert f"{new[:12]}): another version of the potential" in err[0]
    assert (dataset / "header.json").read_text() == header_before
    assert len(read_hops(dataset)) == 0


@pytest.mark.parametrize("name", ["tanbmo-eam-250", "tanbmo-eam-250-b"])
def test_shared_datasets_with_old_headers_still_open(tanbmo_dir, name):
    root = tanbmo_dir.parent / name / name
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    dataset = open_dataset(root)
    assert len(dataset.hops) > 3000
    record = dataset.header.method["potential"]
    assert "spec" not in record and isinstance(record["files"][0], str)  # the old format
    assert potential_difference(record, default_potential()) == ""


@pytest.mark.parametrize("spec", ["eam/alloy:{d}", "snap:{d},{d}"])
def test_potential_file_that_is_a_directory_is_named(tmp_path, spec):
    with pytest.raises(VmebError, match="is a directory, not a potential file"):
        load_potential(spec.format(d=tmp_path))
