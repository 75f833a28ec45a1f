"""Species tables: one ordered list of elements for LAMMPS types, SDM channels and one-hot columns.

A `SpeciesTable` is a frozen, ordered tuple of distinct element symbols (like MACE's
``AtomicNumberTable``). Position ``k`` in the table is LAMMPS type ``k + 1``, SDM channel ``k``,
one-hot column ``k`` and row/column ``k`` of order-parameter tables. Datasets store the table in
``header.json`` and checkpoints in their record, both as a plain JSON list of symbols
(`SpeciesTable.to_json` / `SpeciesTable.from_json`), so files written before this module load
unchanged.

The default order, used wherever no order is given, is decided in ONE place, `default_order`:

1. an order given by the user (``--species``, a dataset header, a checkpoint) is kept as given;
2. otherwise, when a reference order is known (the potential's element list), the elements
   present follow the reference order;
3. otherwise, the elements present are sorted by atomic number (Nb, Mo, Ta, W).

Membership is checked in ONE place too, `SpeciesTable.indices` (and `SpeciesTable.require`), whose
error names the unknown elements and the table.

This module imports no other vmeb module except `vmeb.errors` (bottom of the layer order).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.data import atomic_numbers

from vmeb.errors import VmebError


def _check_symbols(symbols: Sequence[str], what: str) -> None:
    bad = [s for s in symbols if not isinstance(s, str) or s not in atomic_numbers or s == "X"]
    if bad:
        raise VmebError(f"{what}: {bad} are not element symbols")


def default_order(
    symbols: Iterable[str], reference: Sequence[str] | None = None
) -> tuple[str, ...]:
    """THE default species order of vmeb: the distinct elements of ``symbols``, ordered.

    Args:
        symbols: Element symbols (e.g. ``atoms.get_chemical_symbols()``; repeats allowed).
        reference: A known element order (e.g. ``potential.elements``). If given, the elements
            follow it; otherwise they are sorted by atomic number.

    Returns:
        The distinct elements in default order.

    Raises:
        VmebError: if a symbol is not an element, or not in ``reference`` (naming both).
    """
    present = set(symbols)
    _check_symbols(sorted(present), "species")
    if reference is None:
        return tuple(sorted(present, key=lambda s: atomic_numbers[s]))
    missing = sorted(present - set(reference), key=lambda s: atomic_numbers[s])
    if missing:
        raise VmebError(f"element(s) {missing} not in the species {list(reference)}")
    return tuple(s for s in dict.fromkeys(reference) if s in present)


@dataclass(frozen=True)
class SpeciesTable:
    """An ordered set of element symbols: index ``k`` is channel ``k`` / LAMMPS type ``k + 1``.

    Attributes:
        symbols: Distinct element symbols in table order.
    """

    symbols: tuple[str, ...]

    def __post_init__(self) -> None:
        symbols = tuple(self.symbols)
        object.__setattr__(self, "symbols", symbols)
        if not symbols:
            raise VmebError("a species table needs at least one element")
        _check_symbols(symbols, f"species {list(symbols)}")
        if len(set(symbols)) != len(symbols):
            raise VmebError(f"species must be distinct elements, got {list(symbols)}")

    # ------------------------------------------------------------------ construction

    @classmethod
    def of(cls, species: SpeciesTable | Iterable[str]) -> SpeciesTable:
        """``species`` as a table (a table is returned as is)."""
        return species if isinstance(species, SpeciesTable) else cls(tuple(species))

    @classmethod
    def for_symbols(
        cls,
        symbols: Iterable[str],
        given: SpeciesTable | Iterable[str] | None = None,
        reference: Sequence[str] | None = None,
    ) -> SpeciesTable:
        """The table for a structure: ``given`` (checked to cover ``symbols``) or `default_order`.

        Args:
            symbols: Element of each atom (or any iterable of the elements present).
            given: An order chosen by the user, a dataset or a checkpoint.
            reference: Reference order for the default (the potential's elements).
        """
        symbols = list(symbols)
        if given is None:
            return cls(default_order(symbols, reference))
        table = cls.of(given)
        table.require(symbols)
        return table

    @classmethod
    def union(cls, tables: Iterable[SpeciesTable | Iterable[str]]) -> SpeciesTable:
        """The first table's order, then elements of later tables not yet in it, in their order."""
        order: dict[str, None] = {}
        for table in tables:
            order.update(dict.fromkeys(cls.of(table).symbols))
        return cls(tuple(order))

    @classmethod
    def from_json(cls, value: Any, source: str = "species") -> SpeciesTable:
        """A table from its JSON form, a list of symbols (as in dataset headers and checkpoints).

        Raises:
            VmebError: naming ``source`` if ``value`` is not a non-empty list of element symbols.
        """
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(s, str) for s in value)
        ):
            raise VmebError(f"{source}: 'species' must be a non-empty list of element symbols")
        try:
            return cls(tuple(value))
        except VmebError as exc:
            raise VmebError(f"{source}: {exc}") from exc

    def to_json(self) -> list[str]:
        """The JSON form: the list of symbols in table order."""
        return list(self.symbols)

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[str]:
        return iter(self.symbols)

    def __getitem__(self, index: int) -> str:
        return self.symbols[index]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.symbols

    def __str__(self) -> str:
        return str(list(self.symbols))

    def unknown(self, symbols: Iterable[str]) -> list[str]:
        """The distinct elements of ``symbols`` not in the table (by atomic number, then name)."""
        missing = set(symbols) - set(self.symbols)
        return sorted(missing, key=lambda s: (atomic_numbers.get(s, 10**6), str(s)))

    def require(self, symbols: Iterable[str], what: str = "structure") -> None:
        """Raise if ``symbols`` holds an element outside the table.

        Raises:
            VmebError: ``"<what> holds element(s) [...] not in the species [...]"``.
        """
        missing = self.unknown(symbols)
        if missing:
            raise VmebError(f"{what} holds element(s) {missing} not in the species {self}")

    def index_of(self, symbol: str) -> int:
        """The 0-based index (channel) of ``symbol``; raises VmebError if it is not in the table."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise VmebError(f"element {symbol!r} not in the species {self}") from None

    def indices(self, symbols: Iterable[str], what: str = "structure") -> np.ndarray:
        """[N] int64 0-based index (channel) of each symbol.

        Raises:
            VmebError: naming the unknown elements (and an atom holding one) and the table.
        """
        symbols = list(symbols)
        lookup = {s: k for k, s in enumerate(self.symbols)}
        out = np.fromiter((lookup.get(s, -1) for s in symbols), dtype=np.int64, count=len(symbols))
        bad = np.nonzero(out < 0)[0]
        if bad.size:
            raise VmebError(
                f"{what} holds element(s) {self.unknown(symbols)} (e.g. atom {int(bad[0])}) "
                f"not in the species {self}"
            )
        return out

    def number_lookup(self) -> np.ndarray:
        """[119] int64 index (channel) of the element of each atomic number, -1 for elements not
        in the table: ``number_lookup()[atoms.numbers]`` gives every atom's channel."""
        out = np.full(119, -1, dtype=np.int64)
        out[[atomic_numbers[s] for s in self.symbols]] = np.arange(len(self.symbols))
        return out

    def present(self, symbols: Iterable[str]) -> SpeciesTable:
        """The sub-table of the elements in ``symbols``, in this table's order."""
        symbols = list(symbols)
        self.require(symbols)
        found = set(symbols)
        return SpeciesTable(tuple(s for s in self.symbols if s in found))


# ----------------------------------------------------------------------------- element properties

#: Per-element properties for models that describe a species by what it is rather than by a
#: one-hot column (`element_features`): valence electrons (the group of a transition metal,
#: 3 for Al), period, and the metallic radius for 12-fold coordination (Å; Teatum, Gschneidner
#: & Waber, LA-4003 (1968), as tabulated in Greenwood & Earnshaw, Chemistry of the Elements).
ELEMENT_PROPERTIES: dict[str, tuple[int, int, float]] = {
    "Al": (3, 3, 1.43),
    "Ti": (4, 4, 1.47),
    "V": (5, 4, 1.34),
    "Cr": (6, 4, 1.28),
    "Mn": (7, 4, 1.27),
    "Fe": (8, 4, 1.26),
    "Co": (9, 4, 1.25),
    "Ni": (10, 4, 1.24),
    "Cu": (11, 4, 1.28),
    "Zr": (4, 5, 1.60),
    "Nb": (5, 5, 1.46),
    "Mo": (6, 5, 1.39),
    "Hf": (4, 6, 1.59),
    "Ta": (5, 6, 1.46),
    "W": (6, 6, 1.39),
    "Re": (7, 6, 1.37),
}

#: Feature names understood by `element_features`, each with its fixed centre and scale (the
#: values of the refractory BCC elements V-Nb-Mo-Ta-W land in about -1..1; fixed, so that a
#: model's input does not depend on the species of its training data). ``"onehot"`` is not one
#: column but C: the species' own one-hot columns in table order.
ELEMENT_FEATURES: dict[str, tuple[float, float]] = {
    "onehot": (0.0, 1.0),
    "occupied": (0.0, 1.0),
    "vec": (5.5, 0.5),
    "period": (5.0, 1.0),
    "radius": (1.40, 0.06),
}


def check_element_feature_names(names: Sequence[str]) -> None:
    """Raise if a name is not one of `ELEMENT_FEATURES`.

    Raises:
        VmebError: naming the unknown features and the known ones.
    """
    if bad := [n for n in names if n not in ELEMENT_FEATURES]:
        raise VmebError(f"element feature(s) {bad} unknown: choose from {list(ELEMENT_FEATURES)}")


def element_features(symbols: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Scaled element properties of each species: [C, F] float32, C = ``len(symbols)``.

    ``"occupied"`` is 1 for every element (it marks occupied sites against empty ones);
    ``"vec"``, ``"period"`` and ``"radius"`` are the columns of `ELEMENT_PROPERTIES`, centred and
    scaled by `ELEMENT_FEATURES`; ``"onehot"`` adds C columns, the identity (so that a model can
    tell elements apart beyond their properties).

    Args:
        symbols: Species in table order.
        names: Feature names, in channel order.

    Raises:
        VmebError: naming an unknown feature or an element without tabulated properties.
    """
    check_element_feature_names(names)
    if missing := [s for s in symbols if s not in ELEMENT_PROPERTIES]:
        raise VmebError(
            f"element(s) {missing} have no tabulated properties for element features "
            f"(known: {list(ELEMENT_PROPERTIES)})"
        )
    column = {"vec": 0, "period": 1, "radius": 2}
    blocks = []
    for name in names:
        if name == "onehot":
            blocks.append(np.eye(len(symbols)))
            continue
        centre, scale = ELEMENT_FEATURES[name]
        raw = [1.0 if name == "occupied" else ELEMENT_PROPERTIES[s][column[name]] for s in symbols]
        blocks.append((np.asarray(raw, dtype=np.float64)[:, None] - centre) / scale)
    return np.concatenate(blocks, axis=1).astype(np.float32)
