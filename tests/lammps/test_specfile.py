"""Generic LAMMPS spec files: the built-in EAM written as a spec gives the barriers of
``default``; a bad spec file is refused in one line naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vmeb.errors import VmebError
from vmeb.lammps.eam import write_setfl
from vmeb.lammps.lattice import lattice_constant
from vmeb.lammps.potentials import (
    Potential,
    default_potential,
    load_potential,
    potential_difference,
)
from vmeb.lammps.session import forces, potential_energy
from vmeb.lammps.specfile import available_pair_styles
from vmeb.neb.site import NEBConfig, compute_site_barriers
from vmeb.testing import equiatomic_alloy

#: The generic spec runs the same LAMMPS commands on the same file: barriers equal to this (eV).
SAME_BARRIER = 1e-6


def _write_spec(folder, text: str, name: str = "eam.yaml"):
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def eam_spec(tmp_path):
    """The built-in Ta-Nb-Mo EAM as a spec file beside its own setfl file (relative path)."""
    (tmp_path / "pots").mkdir()
    write_setfl(["Ta", "Nb", "Mo"], tmp_path / "pots" / "TaNbMo.eam.alloy")
    text = (
        "pair_style: eam/alloy\n"
        "pair_coeff: TaNbMo.eam.alloy\n"
        "elements: [Ta, Nb, Mo]\n"
        "citation: Zhou et al. 2004; Lin et al. 2013\n"
    )
    return _write_spec(tmp_path / "pots", text)


def test_spec_file_is_a_potential_with_resolved_files(eam_spec):
    for spec in (f"lammps:{eam_spec}", str(eam_spec)):
        potential = load_potential(spec)
        assert isinstance(potential, Potential) and potential.kind == "lammps"
        assert potential.spec == spec and potential.name == "eam"
        assert potential.files == (str(eam_spec.parent / "TaNbMo.eam.alloy"),)
        assert potential.elements == ("Ta", "Nb", "Mo")
    commands = load_potential(str(eam_spec)).lammps_commands(["Mo", "Ta"])
    assert commands[:2] == [
        "pair_style eam/alloy",
        f"pair_coeff * * {eam_spec.parent / 'TaNbMo.eam.alloy'} Mo Ta",
    ]
    assert commands[2:] == ["mass 1 95.950000", "mass 2 180.947880"]


def test_generic_eam_spec_gives_the_barriers_of_default(eam_spec):
    """Acceptance test of issue 27: one site's 8 hops, the spec against ``default``."""
    atoms = equiatomic_alloy(3, 3.2428, seed=1)
    config = NEBConfig(engine="inproc")
    by_default = compute_site_barriers(atoms, 5, "default", config)
    by_spec = compute_site_barriers(atoms, 5, f"lammps:{eam_spec}", config)
    assert [h.status for h in by_spec] == ["ok"] * 8
    reference = np.array([h.barrier for h in by_default])
    assert np.all((reference > 0.3) & (reference < 2.5))
    np.testing.assert_allclose([h.barrier for h in by_spec], reference, atol=SAME_BARRIER, rtol=0)
    np.testing.assert_allclose(
        [h.energy_change for h in by_spec], [h.energy_change for h in by_default], atol=SAME_BARRIER
    )


def test_generic_spec_energy_forces_and_lattice_constant_equal_default(eam_spec):
    atoms = equiatomic_alloy(2, 3.25, seed=3, rattle=0.05)
    spec = load_potential(str(eam_spec))
    assert potential_energy(atoms, spec) == pytest.approx(
        potential_energy(atoms, "default"), abs=1e-9
    )
    np.testing.assert_allclose(forces(atoms, spec), forces(atoms, "default"), atol=1e-9)
    a = lattice_constant(spec, {"Mo": 1.0}, cells=2, cache=False)
    assert a == pytest.approx(3.1501, abs=5e-4)  # 2 re / sqrt(3) of Zhou et al.'s Mo


def test_masses_and_several_pair_coeff_lines(tmp_path):
    write_setfl(["Ta", "Mo"], tmp_path / "TaMo.eam.alloy")
    text = (
        "pair_style: hybrid/overlay eam/alloy zero 6.0\n"
        "pair_coeff: ['eam/alloy TaMo.eam.alloy {elements}', zero]\n"
        "elements: Ta Mo\n"
        "masses: {Mo: 96.0}\n"
    )
    potential = load_potential(str(_write_spec(tmp_path, text, "hybrid.yml")))
    commands = potential.lammps_commands(["Ta", "Mo"])
    assert commands[1] == f"pair_coeff * * eam/alloy {tmp_path / 'TaMo.eam.alloy'} Ta Mo"
    assert commands[2:] == ["pair_coeff * * zero", "mass 1 180.947880", "mass 2 96.000000"]
    atoms = equiatomic_alloy(2, 3.2, seed=0, species=("Ta", "Mo"), rattle=0.05)
    eam = load_potential(f"eam/alloy:{tmp_path / 'TaMo.eam.alloy'}")
    assert potential_energy(atoms, potential) == pytest.approx(potential_energy(atoms, eam))
    assert potential.to_json()["pair_coeff"] == ["eam/alloy TaMo.eam.alloy {elements}", "zero"]
    assert potential.to_json()["masses"] == {"Mo": 96.0}


def test_json_spec_and_header_record_compare(tmp_path, eam_spec):
    data = {"pair_style": "eam/alloy", "pair_coeff": "pots/TaNbMo.eam.alloy"}
    data["elements"] = ["Ta", "Nb", "Mo"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(data))
    potential = load_potential(str(path))
    assert potential.files == load_potential(str(eam_spec)).files
    record = potential.to_json()
    assert potential_difference(record, potential) == ""
    assert "'spec'" in potential_difference(record, default_potential())  # another name


def test_installed_lammps_offers_the_metal_pair_styles():
    styles = available_pair_styles()
    for style in ("eam/alloy", "eam/fs", "meam", "snap", "mliap", "adp", "tersoff"):
        assert style in styles


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pair_coeff: TaNbMo.eam.alloy\nelements: [Ta]\n", "has no 'pair_style'"),
        ("pair_style: eam/alloy\nelements: [Ta]\n", "has no 'pair_coeff'"),
        ("pair_style: eam/alloy\npair_coeff: TaNbMo.eam.alloy\n", "has no 'elements'"),
        (
            "pair_style: eam/alloy\npair_coeff: missing.eam.alloy\nelements: [Ta]\n",
            "potential file 'missing.eam.alloy' not found",
        ),
        (
            "pair_style: pace\npair_coeff: TaNbMo.eam.alloy\nelements: [Ta]\n",
            "pair style 'pace' is not in this LAMMPS build",
        ),
        (
            "pair_style: eam/alloy\npair_coeff: TaNbMo.eam.alloy\nelements: [Ta, Xx]\n",
            "not distinct element symbols",
        ),
        (
            "pair_style: eam/alloy\npair_coeff: TaNbMo.eam.alloy\nelements: [Ta]\ncutoff: 5\n",
            "unknown potential spec keys ['cutoff']",
        ),
        (
            "pair_style: eam/alloy\npair_coeff: TaNbMo.eam.alloy\nelements: [Ta]\n"
            "masses: {Mo: 96}\n",
            "masses: 'Mo' is not one of elements",
        ),
        ("pair_style: [eam/alloy\n", "not valid YAML"),
    ],
)
def test_bad_spec_file_is_refused_in_one_line_naming_it(eam_spec, text, message):
    path = _write_spec(eam_spec.parent, text, "bad.yaml")
    with pytest.raises(VmebError) as caught:
        load_potential(f"lammps:{path}")
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_missing_spec_file_is_refused(tmp_path):
    with pytest.raises(VmebError, match="no such potential spec file"):
        load_potential(str(tmp_path / "none.yaml"))
    with pytest.raises(VmebError, match="nothing after 'lammps:'"):
        load_potential("lammps:")
