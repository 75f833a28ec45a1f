"""What every kind of interatomic potential shares: the protocol, element checks, file hashes.

vmeb knows two kinds of potential, both loaded from a spec string by
`vmeb.lammps.potentials.load_potential`:

- ``lammps``: a LAMMPS pair style with its files (`vmeb.lammps.potentials.Potential`); every
  energy, relaxation and NEB runs in LAMMPS;
- ``calculator``: an ASE calculator (`vmeb.lammps.calculators.CalculatorPotential`), e.g. a
  universal machine-learned potential; energies and relaxations run through ASE
  (`vmeb.lammps.calcrun`) and NEBs with the ``ase`` engine.

Both satisfy `InteratomicPotential`; code that only needs a name, elements or a dataset record
takes either, and code that runs LAMMPS checks ``kind`` first (`require_lammps_potential`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vmeb.errors import VmebError

#: ``InteratomicPotential.kind`` of a LAMMPS pair-style potential.
LAMMPS_KIND = "lammps"
#: ``InteratomicPotential.kind`` of an ASE-calculator potential.
CALCULATOR_KIND = "calculator"


@runtime_checkable
class InteratomicPotential(Protocol):
    """The protocol of every potential kind.

    Attributes:
        name: Short label used in dataset headers and logs.
        spec: The spec string it was loaded from (``""`` when built by hand).
        pair_style: The LAMMPS pair style, or ``ase`` for a calculator potential.
        elements: Elements it covers, in its own order (the LAMMPS type order of samples).
        kind: `LAMMPS_KIND` or `CALCULATOR_KIND`.
    """

    name: str
    spec: str
    pair_style: str
    elements: tuple[str, ...]

    @property
    def kind(self) -> str: ...  # noqa: D102 - documented above

    def check_species(self, species: Sequence[str]) -> None: ...  # noqa: D102

    def to_json(self) -> dict[str, Any]: ...  # noqa: D102

    def cache_identity(self) -> str: ...  # noqa: D102


def missing_species(
    name: str, where: str, elements: Sequence[str], species: Sequence[str]
) -> VmebError | None:
    """The error for species a potential lacks (None when it covers them all).

    Args:
        name: Potential name.
        where: Its files or source, for the message.
        elements: Elements it covers.
        species: Elements asked for.
    """
    missing = [s for s in species if s not in elements]
    if not missing:
        return None
    known = list(elements) if len(elements) < 20 else f"{len(elements)} elements"
    return VmebError(
        f"potential {name} ({where}) has no parameters for {missing}; it knows {known}"
    )


def require_lammps_potential(potential: InteratomicPotential, what: str) -> None:
    """Refuse a calculator potential where only LAMMPS can run (one line naming both).

    Args:
        potential: The potential.
        what: The step that needs LAMMPS (``"swap Monte Carlo"``, ``"the lammps NEB engine"``).
    """
    if potential.kind != LAMMPS_KIND:
        raise VmebError(
            f"{what} runs in LAMMPS; potential {potential.spec or potential.name!r} is an ASE "
            "calculator: use a LAMMPS potential (default, eam/alloy:FILE, snap:..., a spec file)"
        )


def file_sha256(path: str | os.PathLike) -> str | None:
    """The SHA-256 hex digest of a file, or None if it cannot be read (cached per path, size and
    modification time, so a header written per campaign run hashes each file once)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def file_records(files: Sequence[str]) -> list[dict[str, Any]]:
    """``{"name": base name, "sha256": digest or None}`` of each file (dataset records)."""
    return [{"name": Path(f).name, "sha256": file_sha256(f)} for f in files]
