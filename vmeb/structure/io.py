"""Reading and writing structure files: extxyz, LAMMPS data and dump, VASP POSCAR.

LAMMPS files carry atom types, not elements. Types map to elements through an explicit
``species`` list (type 1 is ``species[0]``), or else through the masses in a data file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.data import atomic_masses, chemical_symbols

from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_output
from vmeb.species import SpeciesTable
from vmeb.structure.validate import validate_structure

logger = logging.getLogger(__name__)

#: File formats understood by `read_structure`, by name.
FORMATS = ("extxyz", "lammps-data", "lammps-dump-text", "vasp")
#: File name endings `guess_format` reads as extxyz (any case).
EXTXYZ_SUFFIXES = (".extxyz", ".xyz")


def guess_format(path: str | os.PathLike) -> str:
    """Guess a structure format from a file name.

    Returns:
        One of `FORMATS`.
    """
    name = Path(path).name.lower()
    if name.endswith(EXTXYZ_SUFFIXES):
        return "extxyz"
    if name.startswith(("poscar", "contcar")) or name.endswith((".vasp", ".poscar")):
        return "vasp"
    if name.endswith((".dump", ".lammpstrj")) or name.startswith("dump"):
        return "lammps-dump-text"
    if name.endswith((".data", ".lmp", ".lammps")) or name.startswith("data"):
        return "lammps-data"
    raise file_error(path, f"cannot tell the format from the name; give one of {list(FORMATS)}")


def _symbols_from_masses(masses: np.ndarray, path: Path) -> list[str]:
    symbols = []
    for mass in masses:
        z = int(np.argmin(np.abs(atomic_masses[1:] - mass))) + 1
        if abs(atomic_masses[z] - mass) > 0.1:
            raise file_error(path, f"mass {mass} matches no element; pass species explicitly")
        symbols.append(chemical_symbols[z])
    return symbols


def _apply_species(atoms: Atoms, species: list[str] | None, path: Path) -> Atoms:
    """Turn LAMMPS types (stored by ASE as numbers or in ``type``) into element symbols."""
    types = atoms.arrays.get("type")
    if types is None:
        types = atoms.get_atomic_numbers()
    types = np.asarray(types, dtype=int)
    if species is None:
        masses = atoms.get_masses() if atoms.has("masses") else None
        if masses is None:
            raise file_error(path, "LAMMPS file without masses: pass species (type 1 first)")
        per_type = {}
        for t, m in zip(types, masses, strict=True):
            per_type.setdefault(int(t), float(m))
        ordered = sorted(per_type)
        symbols_by_type = dict(
            zip(
                ordered,
                _symbols_from_masses(np.array([per_type[t] for t in ordered]), path),
                strict=True,
            )
        )
    else:
        if types.max() > len(species) or types.min() < 1:
            raise file_error(
                path,
                f"atom types {sorted(set(types.tolist()))} but species {list(species)} "
                f"(type 1 first)",
            )
        symbols_by_type = {i + 1: s for i, s in enumerate(species)}
    atoms.set_chemical_symbols([symbols_by_type[int(t)] for t in types])
    atoms.set_masses(None)
    return atoms


def _check_species(atoms: Atoms, species: list[str], path: Path) -> None:
    """Refuse a file with element symbols that are not all in ``species``.

    Extxyz and POSCAR files name their elements, so ``species`` maps nothing there; an element
    missing from it means the user expected another structure (or another species order).

    Raises:
        VmebError: naming the file, the elements it holds and the given species.
    """
    present = sorted(set(atoms.get_chemical_symbols()))
    missing = [s for s in present if s not in species]
    if missing:
        raise file_error(
            path,
            f"holds element(s) {missing} not in the given species {list(species)} (--species); "
            f"the file's elements: {present}",
        )


def _is_blank(path: Path, probe: int = 1 << 16) -> bool:
    """True if the file holds nothing but whitespace (reads at most ``probe`` bytes)."""
    with open(path, "rb") as handle:
        head = handle.read(probe)
    return len(head) < probe and not head.strip()


def read_structure(
    path: str | os.PathLike,
    fmt: str | None = None,
    species: list[str] | None = None,
    index: int = -1,
    *,
    lattice: str | None = "bcc",
    perfect: bool = True,
) -> Atoms:
    """Read one structure from a file and check it before any work (`validate_structure`).

    Args:
        path: Structure file.
        fmt: One of `FORMATS`; guessed from the file name if None.
        species: For LAMMPS files, the element of each atom type in type order; for files
            that name their elements, a list that must hold every one of them.
        index: Frame to read from a multi-frame file (default: the last).
        lattice: ``"bcc"`` (default) refuses a structure that is not a BCC lattice (relaxed and
            thermal displacements allowed); None checks only coordinates and overlaps.
        perfect: Refuse a BCC sample with an empty site (a vacancy) or an extra atom.

    Returns:
        The structure, with ``pbc`` set on all axes (bulk samples; a warning names the axes a
        file declared non-periodic).

    Raises:
        VmebError: naming the file, if it is missing, empty or cannot be parsed, or holds
            non-finite coordinates, overlapping atoms, another lattice or a vacancy, or names
            an element that ``species`` lacks.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such file")
    if _is_blank(path):
        raise file_error(path, "empty file (no structure in it)")
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise file_error(path, f"unknown format {fmt!r}; use one of {list(FORMATS)}")
    try:
        if fmt == "lammps-data":
            atoms = ase.io.read(path, format="lammps-data", atom_style="atomic", units="metal")
        else:
            atoms = ase.io.read(path, format=fmt, index=index)
    except StopIteration as exc:
        raise file_error(path, f"no structure in the file (read as {fmt})") from exc
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise file_error(path, f"cannot read as {fmt} ({type(exc).__name__}: {exc})") from exc
    if fmt.startswith("lammps"):
        atoms = _apply_species(atoms, species, path)
    elif species is not None:
        _check_species(atoms, species, path)
    if len(atoms) == 0:
        raise file_error(path, "contains no atoms")
    if not atoms.pbc.all():
        axes = "".join(axis for axis, on in zip("xyz", atoms.pbc, strict=True) if not on)
        logger.warning(
            "%s: not periodic along %s in the file; read as a bulk sample, periodic along x, y "
            "and z",
            path,
            axes,
        )
    atoms.pbc = True
    validate_structure(atoms, str(path), lattice=lattice, perfect=perfect)
    return atoms


def write_structure_file(
    path: str | os.PathLike, atoms: Atoms, fmt: str | None = None, species: list[str] | None = None
) -> Path:
    """Write a structure as extxyz or LAMMPS data (types follow ``species`` order).

    Args:
        path: Output file; written through a temporary file and renamed.
        atoms: The structure.
        fmt: ``extxyz`` or ``lammps-data``; guessed from the name if None.
        species: Type order for LAMMPS data files (default: `vmeb.species.default_order`).

    Returns:
        The written path.
    """
    path = Path(path)
    fmt = fmt or guess_format(path)
    if fmt not in ("extxyz", "lammps-data"):
        raise VmebError(f"{path}: writing {fmt!r} is not supported (extxyz, lammps-data)")
    with atomic_output(path) as tmp:
        if fmt == "extxyz":
            ase.io.write(tmp, atoms, format="extxyz")
        else:
            order = SpeciesTable.for_symbols(atoms.get_chemical_symbols(), species).to_json()
            ase.io.write(
                tmp, atoms, format="lammps-data", specorder=order, masses=True, units="metal"
            )
    return path
