"""Potentials that are ASE calculators: ``ase:MODULE:FACTORY[:KWARGS]`` specs and their kind.

A `CalculatorPotential` names a factory (``module:callable``) that returns an ASE calculator,
the keyword arguments to call it with, the elements it covers and the files that identify it
(a checkpoint's SHA-256 goes into dataset records). Energies, forces and relaxations with it run
through ASE (`vmeb.lammps.calcrun`); NEBs run with the ``ase`` engine. The factory gets
``device=`` and ``species=`` (the type order, type 1 first) when its signature takes them.

``ase:`` specs (`parse_ase_spec`)::

    ase:ase.calculators.emt:EMT
    ase:mypkg.pot:make_calc:{"model": "m.pt", "cutoff": 5.0}      (kwargs as a JSON object)
    ase:mypkg.pot:make_calc:model=m.pt,cutoff=5.0                 (or key=value pairs)

Values of ``key=value`` pairs are read as JSON where they parse (numbers, true/false, null),
else kept as text; a string value naming an existing file is made absolute and hashed. The key
``device`` sets the device (``cpu``, ``cuda``, ``cuda:1``) instead of being passed through.
The named universal potentials (``sevennet:...``, ``chgnet:...``) are in `vmeb.lammps.umlip`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ase.data import chemical_symbols

from vmeb.errors import VmebError
from vmeb.lammps.base import (
    CALCULATOR_KIND,
    file_records,
    file_sha256,
    missing_species,
)

logger = logging.getLogger(__name__)

#: Elements of a universal potential: H to Pu.
ALL_ELEMENTS = tuple(chemical_symbols[1:95])
#: The optional extra that installs the named universal potentials.
UMLIP_EXTRA = "pip install -e '.[umlip]'"


@dataclass(frozen=True)
class CalculatorPotential:
    """An interatomic potential given by an ASE calculator factory.

    Attributes:
        name: Short label used in dataset headers and logs.
        factory: ``module:callable`` returning an ASE calculator.
        kwargs_json: Keyword arguments of the factory as sorted JSON (hashable).
        elements: Elements it covers (`ALL_ELEMENTS` for a universal potential).
        files: Absolute paths of the files that identify it (e.g. a checkpoint), hashed in
            `to_json`.
        package: Distribution that provides the calculator (named in the message when it is
            not installed, and its version in `to_json`).
        citation: Where it was published.
        spec: The spec it was loaded from.
        device: Torch device the factory gets (``cpu``, ``cuda``, ``cuda:1``).
        batch: ``module:callable`` evaluating several structures in one call
            (``batch(calculator, images) -> (energies [R] eV, forces [R, N, 3] eV/Å)``), or
            ``""`` when the calculator evaluates one structure at a time.
        batch_on_cpu: Whether `batch` pays on the CPU too (where batching only saves per-call
            overhead; SevenNet's batch mode costs 1.5x the CPU time of single calls).
        pair_style: Always ``ase`` (no LAMMPS pair style; the dataset record's family).
    """

    name: str
    factory: str
    kwargs_json: str = "{}"
    elements: tuple[str, ...] = field(default=ALL_ELEMENTS, repr=False)
    files: tuple[str, ...] = ()
    package: str = ""
    citation: str = ""
    spec: str = ""
    device: str = "cpu"
    batch: str = ""
    batch_on_cpu: bool = True
    pair_style: str = "ase"

    kind: ClassVar[str] = CALCULATOR_KIND

    @property
    def kwargs(self) -> dict[str, Any]:
        """The factory's keyword arguments."""
        return json.loads(self.kwargs_json)

    def check_species(self, species: Sequence[str]) -> None:
        """Raise a clear error if the potential does not cover ``species``."""
        error = missing_species(self.name, self.factory, self.elements, species)
        if error is not None:
            raise error

    def with_device(self, device: str | None) -> CalculatorPotential:
        """A copy running on ``device`` (None keeps the current one)."""
        return self if device in (None, "") else replace(self, device=str(device))

    def calculator(self, species: Sequence[str]):
        """The ASE calculator (one per potential, device and species order in this process:
        a model is loaded once and reused by every relaxation and NEB image).

        Args:
            species: Element of each type, type 1 first (passed to factories that take it).
        """
        self.check_species(species)
        return _calculator(self, tuple(species))

    def batch_function(self) -> Callable | None:
        """The batched evaluation of `batch`, or None (none, or on the CPU without
        `batch_on_cpu`)."""
        if not self.batch or (self.device == "cpu" and not self.batch_on_cpu):
            return None
        return _resolve(self.batch, self)

    def versions(self) -> dict[str, str | None]:
        """``{package: installed version}`` of the calculator's distribution."""
        package = self.package or self.factory.split(".")[0].split(":")[0]
        try:
            return {package: importlib.metadata.version(package)}
        except importlib.metadata.PackageNotFoundError:
            return {package: None}

    def to_json(self) -> dict[str, Any]:
        """A JSON description for dataset headers, free of this machine's paths.

        Returns:
            ``name``, ``spec``, ``kind``, ``pair_style`` (``ase``), ``factory``, ``kwargs``
            (file paths as base names), ``files`` (base name and SHA-256 of each), ``package``
            versions, ``elements``, ``citation`` and ``device``.
        """
        files = set(self.files)
        kwargs = {k: Path(v).name if v in files else v for k, v in self.kwargs.items()}
        return {
            "name": self.name,
            "spec": self.spec,
            "kind": self.kind,
            "pair_style": self.pair_style,
            "factory": self.factory,
            "kwargs": kwargs,
            "files": file_records(self.files),
            "package": self.versions(),
            "elements": list(self.elements),
            "citation": self.citation,
            "device": self.device,
        }

    def cache_identity(self) -> str:
        """What a cached result (a lattice constant) depends on: factory, kwargs, file hashes."""
        hashes = ",".join((file_sha256(f) or "unreadable")[:16] for f in self.files)
        return f"ase|{self.factory}|{json.dumps(self.to_json()['kwargs'], sort_keys=True)}|{hashes}"


def _missing_package(potential: CalculatorPotential, exc: ImportError) -> VmebError:
    package = potential.package or str(exc.name or potential.factory.split(".")[0]).split(".")[0]
    hint = f" ({UMLIP_EXTRA})" if potential.package in ("sevenn", "chgnet") else ""
    return VmebError(
        f"potential {potential.spec or potential.name!r} needs the Python package {package!r}, "
        f"which is not installed: pip install {package}{hint}"
    )


def _resolve(target: str, potential: CalculatorPotential) -> Callable:
    """The callable named ``module:attribute`` (one clear line when it is missing)."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # the module or one of its dependencies
        raise _missing_package(potential, exc) from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise VmebError(f"potential {potential.spec!r}: module {module_name} has no {attribute!r}")
    return function


@functools.lru_cache(maxsize=8)
def _calculator(potential: CalculatorPotential, species: tuple[str, ...]):
    factory = _resolve(potential.factory, potential)
    kwargs = potential.kwargs
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # builtins and some extension types
        parameters = {}
    if "device" in parameters:
        kwargs["device"] = potential.device
    elif potential.device != "cpu":
        raise VmebError(f"potential {potential.spec!r}: {potential.factory} takes no device")
    if "species" in parameters:
        kwargs["species"] = list(species)
    try:
        calc = factory(**kwargs)
    except (TypeError, ValueError, OSError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = f"potential {potential.spec!r}: {potential.factory} failed: {first}"
        raise VmebError(message) from exc
    logger.info("loaded calculator %s on %s", potential.name, potential.device)
    return calc


def clear_calculators() -> None:
    """Drop the calculators kept by `CalculatorPotential.calculator` (frees their models)."""
    _calculator.cache_clear()


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_kwargs(text: str, spec: str) -> dict[str, Any]:
    """Factory keyword arguments from a JSON object or ``key=value[,key=value]`` pairs."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"potential spec {spec!r}: kwargs are not valid JSON ({exc.msg})"
            raise VmebError(message) from exc
        if not isinstance(data, dict):
            raise VmebError(f"potential spec {spec!r}: kwargs must be a JSON object")
        return data
    out: dict[str, Any] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise VmebError(
                f"potential spec {spec!r}: kwargs {pair!r} is not key=value (or give a JSON object)"
            )
        out[key.strip()] = _value(value.strip())
    return out


def _file_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """kwargs with string values naming existing files made absolute, and those files."""
    files = []
    for key, value in kwargs.items():
        if isinstance(value, str) and value and Path(value).is_file():
            kwargs[key] = str(Path(value).resolve())
            files.append(kwargs[key])
    return kwargs, tuple(files)


def calculator_potential(
    factory: str,
    kwargs: dict[str, Any] | None = None,
    spec: str = "",
    **fields: Any,
) -> CalculatorPotential:
    """A `CalculatorPotential` (``device`` taken out of ``kwargs``; file kwargs resolved).

    Args:
        factory: ``module:callable``.
        kwargs: Keyword arguments of the factory.
        spec: The spec string.
        **fields: Other `CalculatorPotential` fields (``name``, ``elements``, ``files`` ...).
    """
    kwargs = dict(kwargs or {})
    device = str(kwargs.pop("device", fields.pop("device", "cpu")))
    kwargs, files = _file_kwargs(kwargs)
    fields["files"] = tuple(dict.fromkeys((*fields.get("files", ()), *files)))
    return CalculatorPotential(
        name=fields.pop("name", None) or factory.rpartition(":")[2],
        factory=factory,
        kwargs_json=json.dumps(kwargs, sort_keys=True),
        spec=spec,
        device=device,
        **fields,
    )


def parse_ase_spec(spec: str) -> CalculatorPotential:
    """A `CalculatorPotential` from ``ase:MODULE:FACTORY[:KWARGS]`` (module doc).

    Raises:
        VmebError: one line naming the spec when it has no module or factory, or bad kwargs.
    """
    _, _, rest = spec.partition(":")
    module, _, rest = rest.partition(":")
    factory, _, kwargs = rest.partition(":")
    if not module.strip() or not factory.strip().isidentifier():
        raise VmebError(
            f"potential spec {spec!r}: use ase:MODULE:FACTORY[:KWARGS], e.g. "
            "ase:ase.calculators.emt:EMT"
        )
    if not all(part.isidentifier() for part in module.strip().split(".")):
        raise VmebError(f"potential spec {spec!r}: {module!r} is not a Python module name")
    return calculator_potential(
        f"{module.strip()}:{factory.strip()}", parse_kwargs(kwargs, spec), spec=spec
    )
