"""Generic LAMMPS potentials described by a YAML or JSON spec file.

A spec file names any pair style the installed LAMMPS offers::

    pair_style: eam/alloy            # the pair_style command's arguments
    pair_coeff: TaNbMo.eam.alloy     # what follows "pair_coeff * *", before the type elements
    elements: [Ta, Nb, Mo]           # the elements the potential covers
    files: [TaNbMo.eam.alloy]        # optional: files to check and hash (pair_coeff files are
                                     # found on their own)
    citation: Zhou et al. 2004       # optional
    masses: {Ta: 180.94788}          # optional, amu (default: ASE's standard masses)
    name: tanbmo-eam                 # optional (default: the spec file's stem)

For types ``1..n`` of a sample with species order ``(s1, ..., sn)`` vmeb writes
``pair_coeff * * <pair_coeff> s1 ... sn`` (the convention of eam/alloy, eam/fs, meam, snap, adp,
tersoff, sw, mliap, ...); ``pair_coeff`` may also be a list of such lines (one ``pair_coeff``
command each, e.g. for ``hybrid/overlay``, each starting with its sub-style). If any line holds
the placeholder ``{elements}``, the type elements go where it stands and nowhere else (for
sub-styles that take none, e.g. ``[eam/alloy X.eam.alloy {elements}, zero]``). Every
``pair_coeff`` token that names a file (it has a suffix or a ``/`` and is not a number or a
pair style, or it is listed in ``files``) is resolved relative to the spec file's directory and
must exist. This module only parses and checks; `vmeb.lammps.potentials.load_potential` builds
the `Potential`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ase.data import atomic_numbers

from vmeb.config import check_keys, read_config
from vmeb.errors import file_error

logger = logging.getLogger(__name__)

#: Suffixes of a spec file given as a bare path to ``--potential``.
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
REQUIRED_KEYS = ("pair_style", "pair_coeff", "elements")
#: Where a ``pair_coeff`` line wants the type elements (module doc).
ELEMENTS_PLACEHOLDER = "{elements}"
OPTIONAL_KEYS = ("files", "citation", "masses", "name")


@dataclass(frozen=True)
class PairSpec:
    """A parsed spec file, its files resolved to absolute paths.

    Attributes:
        name: Label (the ``name`` key, else the spec file's stem).
        pair_style: Arguments of the ``pair_style`` command.
        pair_coeff: One entry per ``pair_coeff * *`` command: its arguments before the type
            elements, file tokens replaced by absolute paths.
        files: Absolute paths of every file the potential reads (pair_coeff files, then the
            ``files`` list), without repeats.
        elements: Elements the potential covers.
        citation: Where it was published.
        masses: ``(element, mass in amu)`` pairs overriding ASE's standard masses.
    """

    name: str
    pair_style: str
    pair_coeff: tuple[str, ...]
    files: tuple[str, ...]
    elements: tuple[str, ...]
    citation: str = ""
    masses: tuple[tuple[str, float], ...] = ()


@functools.lru_cache(maxsize=1)
def available_pair_styles() -> frozenset[str]:
    """The pair styles of the installed LAMMPS (``lammps.available_styles("pair")``)."""
    from vmeb.lammps.loading import new_lammps  # noqa: PLC0415

    lmp = new_lammps()
    try:
        return frozenset(lmp.available_styles("pair"))
    finally:
        lmp.close()


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _looks_like_file(token: str) -> bool:
    """A token with a suffix or a ``/`` that is neither a number nor a pair style name (the
    sub-style of a ``hybrid`` line, e.g. ``eam/alloy``)."""
    if _is_number(token) or token in available_pair_styles():
        return False
    return "/" in token or bool(Path(token).suffix)


def _resolve(token: str, base: Path, path: Path) -> Path:
    candidate = Path(os.path.expanduser(token))
    candidate = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if candidate.is_dir():
        raise file_error(path, f"potential file {token!r} is a directory ({candidate})")
    if not candidate.is_file():
        raise file_error(path, f"potential file {token!r} not found (looked for {candidate})")
    return candidate


def _text_list(data: Mapping[str, Any], key: str, path: Path) -> list[str]:
    value = data.get(key)
    if isinstance(value, str):
        value = value.split() if key in ("elements", "files") else [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise file_error(path, f"{key!r} must be a non-empty string or list of strings")
    return [v.strip() for v in value]


def _masses(data: Mapping[str, Any], elements: tuple[str, ...], path: Path) -> tuple:
    masses = data.get("masses") or {}
    if not isinstance(masses, Mapping):
        raise file_error(path, "'masses' must map elements to masses in amu")
    out = []
    for element, mass in masses.items():
        if element not in elements:
            raise file_error(path, f"masses: {element!r} is not one of elements {list(elements)}")
        if isinstance(mass, bool) or not isinstance(mass, int | float) or mass <= 0:
            raise file_error(path, f"masses: {element} mass {mass!r} is not a positive number")
        out.append((str(element), float(mass)))
    return tuple(out)


def _check_pair_style(style: str, path: Path) -> None:
    first = style.split()[0] if style.split() else ""
    available = available_pair_styles()
    if first not in available:
        close = sorted(s for s in available if s.split("/")[0] == first.split("/")[0])[:8]
        hint = f" (close: {', '.join(close)})" if close else ""
        raise file_error(
            path, f"pair style {first!r} is not in this LAMMPS build{hint}; see docs/potentials.md"
        )


def read_pair_spec(path: str | os.PathLike) -> PairSpec:
    """Parse and check a spec file (module doc).

    Args:
        path: The YAML or JSON spec file.

    Returns:
        The spec with absolute file paths.

    Raises:
        VmebError: one line naming the file: missing file or key, unknown key, a pair style this
            LAMMPS lacks, a bad element, a potential file that does not exist.
    """
    path = Path(path)
    data = read_config(path, "potential spec")
    check_keys(data, set(REQUIRED_KEYS + OPTIONAL_KEYS), path, "potential spec")
    for key in REQUIRED_KEYS:
        if key not in data or data[key] in (None, "", []):
            raise file_error(path, f"potential spec has no {key!r} (needs {list(REQUIRED_KEYS)})")
    style = str(data["pair_style"]).strip()
    _check_pair_style(style, path)
    elements = tuple(_text_list(data, "elements", path))
    bad = [e for e in elements if e not in atomic_numbers]
    if bad or len(set(elements)) != len(elements):
        raise file_error(path, f"elements {list(elements)}: not distinct element symbols")
    base = path.resolve().parent
    listed = _text_list(data, "files", path) if data.get("files") else []
    files: dict[Path, None] = {}
    lines = []
    for line in _text_list(data, "pair_coeff", path):
        tokens = line.split()
        for i, token in enumerate(tokens):
            if token in listed or _looks_like_file(token):
                resolved = _resolve(token, base, path)
                files[resolved] = None
                tokens[i] = str(resolved)
        lines.append(" ".join(tokens))
    for token in listed:
        files[_resolve(token, base, path)] = None
    return PairSpec(
        name=str(data.get("name") or path.stem),
        pair_style=style,
        pair_coeff=tuple(lines),
        files=tuple(str(f) for f in files),
        elements=elements,
        citation=str(data.get("citation") or ""),
        masses=_masses(data, elements, path),
    )


def is_spec_path(text: str) -> bool:
    """Whether a ``--potential`` value is a spec file given as a bare path."""
    return Path(text).suffix.lower() in SPEC_SUFFIXES
