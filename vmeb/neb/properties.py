"""Pure-element reference properties of a potential: lattice constant, vacancy formation energy,
vacancy migration barrier, beside reference values.

For element X in a ``cells``^3 conventional BCC cell (N = 2 ``cells``^3 atoms):

- ``a``: `vmeb.lammps.session.lattice_constant` (box relaxed to zero pressure, cubic);
- ``E_vf = E(N-1) - (N-1)/N E(N)``: the perfect cell's energy at ``a`` and the relaxed vacancy
  cell's energy, relaxed exactly as the initial state of a NEB (`vmeb.neb.site.prepare_vacancy`:
  positions and box to zero pressure);
- ``E_m``: the 7-replica climbing-image NEB barrier of one first-neighbour hop
  (`vmeb.neb.site.run_hop`, path checks and retries included); the 8 hops of a pure metal are
  equivalent by symmetry.

Reference values (`REFERENCES`): the BCC lattice constant 2 re / sqrt(3) of each element's fitted
nearest-neighbour distance ``re`` in the EAM papers (Zhou, Johnson & Wadley 2004 for Ta and Mo;
Lin et al. 2013 for Nb), and, for both potentials, a reference LAMMPS calculation with the same
potential files in 686-atom cells (7-replica CI-NEB) that vmeb's numbers are tested against.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vmeb.errors import VmebError
from vmeb.lammps.potentials import Potential, load_potential
from vmeb.neb.site import NEBConfig, prepare_vacancy, run_hop

logger = logging.getLogger(__name__)

LI2020 = (
    "X.-G. Li, C. Chen, H. Zheng, Y. Zuo, S. P. Ong, npj Comput. Mater. 6, 70 (2020) [NbMoTaW SNAP]"
)
#: Label of the reference LAMMPS calculations with the same potential files.
REFERENCE_LAMMPS = "reference LAMMPS run, same potential files, 686-atom cells, 7-replica CI-NEB"


@dataclass(frozen=True)
class ReferenceValue:
    """A published or reference value of one property.

    Attributes:
        value: The value (Å or eV).
        source: Where it comes from.
    """

    value: float
    source: str


def _eam_lattice_references() -> dict[str, ReferenceValue]:
    from vmeb.lammps.eam import PARAMETERS  # noqa: PLC0415

    return {
        symbol: ReferenceValue(round(p.lattice_constant_from_re, 4), f"2 re/sqrt(3), {p.source}")
        for symbol, p in PARAMETERS.items()
        if symbol in ("Ta", "Nb", "Mo")
    }


def _table(values: dict[str, tuple[float, float, float]], source: str) -> dict:
    return {
        symbol: {
            "a": ReferenceValue(a, source),
            "E_vf": ReferenceValue(evf, source),
            "E_m": ReferenceValue(em, source),
        }
        for symbol, (a, evf, em) in values.items()
    }


#: Reference values per potential family: family -> element -> property -> list of values.
#: Properties: ``a`` (Å), ``E_vf`` and ``E_m`` (eV).
REFERENCE_RUNS = {
    "eam-zhou": _table(
        {
            "Ta": (3.3025, 2.975, 0.995),
            "Nb": (3.3004, 2.656, 0.768),
            "Mo": (3.1501, 2.952, 1.543),
        },
        REFERENCE_LAMMPS,
    ),
    "snap-li2020": _table(
        {
            "Ta": (3.3183, 2.241, 1.323),
            "Nb": (3.3265, 2.477, 0.978),
            "Mo": (3.1667, 2.815, 1.754),
        },
        REFERENCE_LAMMPS,
    ),
}


def potential_family(potential: Potential) -> str | None:
    """``eam-zhou``, ``snap-li2020`` or None: which reference set applies to a potential."""
    if potential.pair_style == "eam/alloy" and "Zhou04" in potential.name:
        return "eam-zhou"
    if potential.pair_style == "snap" and {"Nb", "Mo", "Ta", "W"} <= set(potential.elements):
        return "snap-li2020"
    return None


def references(potential: Potential, element: str) -> dict[str, list[ReferenceValue]]:
    """Reference values of ``element`` for a potential: property -> values (may be empty)."""
    out: dict[str, list[ReferenceValue]] = {"a": [], "E_vf": [], "E_m": []}
    family = potential_family(potential)
    if family == "eam-zhou" and element in _eam_lattice_references():
        out["a"].append(_eam_lattice_references()[element])
    if family is not None and element in REFERENCE_RUNS[family]:
        for key, ref in REFERENCE_RUNS[family][element].items():
            out[key].append(ref)
    return out


@dataclass(frozen=True)
class ElementProperties:
    """Measured properties of one pure element with one potential.

    Attributes:
        element: Element symbol.
        potential: Potential name.
        cells: Conventional cells per edge; n_atoms: 2 cells^3.
        a: Lattice constant (Å).
        E_vf: Vacancy formation energy (eV).
        E_m: Vacancy migration barrier (eV; nan if the NEB failed).
        E_m_status: ``ok`` or ``failed: <reason>``.
        n_replicas: Replicas of the accepted NEB.
        iterations: NEB minimiser steps.
    """

    element: str
    potential: str
    cells: int
    n_atoms: int
    a: float
    E_vf: float
    E_m: float
    E_m_status: str
    n_replicas: int
    iterations: int


def element_properties(
    element: str,
    potential: Potential | str | None,
    cells: int = 7,
    config: NEBConfig = NEBConfig(),  # noqa: B008 - frozen, immutable default
    workdir: str | Path | None = None,
) -> ElementProperties:
    """Lattice constant, vacancy formation energy and migration barrier of a pure BCC metal.

    Args:
        element: Element symbol the potential covers.
        potential: A `Potential` or spec.
        cells: Conventional cells per edge (2 ``cells``^3 atoms; 7 gives 686).
        config: NEB settings (7 replicas, spring 5 eV/Å², ftol 1e-3 eV/Å by default).
        workdir: Scratch directory for the NEB (default: temporary).

    Returns:
        The measured properties.
    """
    from vmeb.lammps.lattice import lattice_constant
    from vmeb.lammps.session import potential_energy  # noqa: PLC0415
    from vmeb.structure.build import bcc_supercell  # noqa: PLC0415

    potential = load_potential(potential)
    potential.check_species([element])
    if cells < 3:
        raise VmebError(f"cells={cells}: use at least 3 (54 atoms) for a vacancy hop")
    n_atoms = 2 * cells**3
    a = lattice_constant(potential, {element: 1.0}, cells=cells)
    atoms = bcc_supercell({element: n_atoms}, cells, a, rng=np.random.default_rng(0))
    energy = potential_energy(atoms, potential, [element])
    vacancy = prepare_vacancy(atoms, 0, potential, config, [element])
    formation = vacancy.energy - (n_atoms - 1) / n_atoms * energy
    with tempfile.TemporaryDirectory(prefix="vmeb-props-") as tmp:
        hop = run_hop(
            vacancy, int(vacancy.neighbours[0]), potential, config, [element], Path(workdir or tmp)
        )
    status = "ok" if hop.status == "ok" else f"failed: {hop.reason}"
    logger.info(
        "%s %s %d atoms: a=%.4f Å E_vf=%.3f eV E_m=%.3f eV",
        potential.name,
        element,
        n_atoms,
        a,
        formation,
        hop.barrier,
    )
    return ElementProperties(
        element=element,
        potential=potential.name,
        cells=cells,
        n_atoms=n_atoms,
        a=float(a),
        E_vf=float(formation),
        E_m=float(hop.barrier),
        E_m_status=status,
        n_replicas=hop.n_replicas,
        iterations=hop.iterations,
    )


def _reference_columns(potential: Potential, element: str) -> dict[str, object]:
    row: dict[str, object] = {}
    for key, values in references(potential, element).items():
        row[f"{key}_ref"] = values[-1].value if values else math.nan
        row[f"{key}_ref_source"] = values[-1].source if values else ""
        if key == "a":
            published = [v for v in values if v.source != REFERENCE_LAMMPS]
            row["a_published"] = published[0].value if published else math.nan
            row["a_published_source"] = published[0].source if published else ""
    return row


def properties_table(
    elements: Sequence[str],
    potential: Potential | str | None,
    cells: int = 7,
    config: NEBConfig = NEBConfig(),  # noqa: B008 - frozen, immutable default
) -> pd.DataFrame:
    """Measured properties of each element beside the reference values.

    Args:
        elements: Element symbols.
        potential: A `Potential` or spec.
        cells: Conventional cells per edge.
        config: NEB settings.

    Returns:
        One row per element: the `ElementProperties` fields, ``a_published`` (EAM papers),
        ``<prop>_ref`` and ``<prop>_ref_source`` for ``a``, ``E_vf``, ``E_m``, and the
        differences ``<prop>_diff`` = measured - reference.
    """
    potential = load_potential(potential)
    rows = []
    for element in elements:
        measured = asdict(element_properties(element, potential, cells, config))
        measured.update(_reference_columns(potential, element))
        for key in ("a", "E_vf", "E_m"):
            measured[f"{key}_diff"] = measured[key] - measured[f"{key}_ref"]
        rows.append(measured)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """A plain-text table of measured and reference values (for the terminal and docs)."""
    lines = [
        f"{'element':<8}{'a (Å)':>9}{'ref':>9}{'paper':>9}{'E_vf (eV)':>11}{'ref':>8}"
        f"{'E_m (eV)':>10}{'ref':>8}  replicas",
    ]
    for _, row in table.iterrows():
        lines.append(
            f"{row['element']:<8}{row['a']:>9.4f}{row['a_ref']:>9.4f}{row['a_published']:>9.4f}"
            f"{row['E_vf']:>11.3f}{row['E_vf_ref']:>8.3f}{row['E_m']:>10.3f}{row['E_m_ref']:>8.3f}"
            f"  {row['n_replicas']}{'' if row['E_m_status'] == 'ok' else ' ' + row['E_m_status']}"
        )
    return "\n".join(lines)
