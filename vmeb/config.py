"""Config files: one YAML/JSON reader and one mapping-to-frozen-dataclass builder.

`read_config` reads a settings file (YAML; JSON is valid YAML) into a dict, with a one-line
error for a missing file, bad YAML or a file that is not a mapping. `config_from_mapping` builds
a (frozen) dataclass from a mapping, rejecting unknown keys by name and values of the wrong
type (naming the file the mapping came from). Training, NEB and pipeline settings all go
through these two functions; `check_bounds` refuses non-finite and out-of-range numbers of a
config by name.

This module imports no other vmeb module except `vmeb.errors` (bottom of the layer order).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from vmeb.errors import VmebError, file_error

T = TypeVar("T")


def read_config(path: str | os.PathLike, what: str = "config") -> dict[str, Any]:
    """The settings of a YAML/JSON config file as a dict.

    Keys are turned into strings with ``-`` replaced by ``_`` (so ``val-per-group`` and
    ``val_per_group`` both name the field ``val_per_group``); an empty file gives ``{}``.

    Args:
        path: The file.
        what: What the file holds, for messages (``"training config"`` ...).

    Raises:
        VmebError: one line naming the file: missing, unreadable, not valid YAML (first line of
            the parser's message), or not a mapping.
    """
    import yaml  # noqa: PLC0415 - yaml is only needed when a file is read

    path = Path(path)
    if not path.is_file():
        raise file_error(path, f"no such {what} file")
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise file_error(path, f"cannot read {what} ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise file_error(path, f"cannot read {what} (not text: {exc.reason})") from exc
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split("\n")[0].split())
        raise file_error(path, f"not valid YAML ({first})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise file_error(path, f"{what} must be a mapping of settings, not {type(data).__name__}")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def field_names(cls: type) -> set[str]:
    """The field names of dataclass ``cls``."""
    return {f.name for f in dataclasses.fields(cls)}


def check_keys(
    data: Mapping[str, Any],
    known: set[str] | frozenset[str],
    source: str | os.PathLike | None = None,
    what: str = "config",
) -> None:
    """Raise if ``data`` has keys outside ``known``.

    Raises:
        VmebError: ``"<source>: unknown <what> keys [...]; known: [...]"``.
    """
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        message = f"unknown {what} keys {unknown}; known: {sorted(known)}"
        raise (file_error(source, message) if source is not None else VmebError(message))


def _coerce(hint: Any, value: Any) -> Any:
    """``value`` as the annotated type ``hint``, or raise ValueError naming what was expected.

    Simple annotations only (int, float, bool, str, their optionals, tuples/lists of them);
    other annotations pass values through unchanged. A float field takes an int or a numeric
    string (YAML 1.1 reads ``1e-3`` as a string); an int field takes an integral float.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value) if len(inner) == 1 else value
    if origin in (tuple, list) and (len(args) == 1 or (len(args) == 2 and args[1] is ...)):
        if not isinstance(value, list | tuple):
            raise ValueError("a list")
        return origin(_coerce(args[0], v) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    if hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError("an integer")
    if hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError("a number")
    if hint is str and not isinstance(value, str):
        raise ValueError("a string")
    return value


def coerce_fields(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with each value checked against (and converted to) its field's annotated type.

    Raises:
        VmebError: ``"<field>: expected <kind>, got <value>"`` for the first value that does not
            fit (e.g. ``lr: abc``, ``epochs: 2.5``, ``mirror: 3``).
    """
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # unresolvable annotations: leave the values alone
        return dict(data)
    out = {}
    for key, value in data.items():
        try:
            out[key] = _coerce(hints[key], value) if key in hints else value
        except ValueError as exc:
            raise VmebError(f"{key}: expected {exc}, got {value!r}") from None
    return out


def config_from_mapping(
    cls: type[T],
    data: Mapping[str, Any],
    source: str | os.PathLike | None = None,
    *,
    base: T | None = None,
    what: str = "config",
) -> T:
    """A dataclass instance from a mapping of its fields.

    Args:
        cls: The (frozen) dataclass.
        data: Field values; unknown keys are an error.
        source: The file (or other origin) the values came from, named in errors.
        base: Values of fields not in ``data`` (default: the dataclass defaults).
        what: What the settings are, for messages.

    Raises:
        VmebError: naming ``source`` and the unknown keys, a value of the wrong type
            (`coerce_fields`), or the constructor's complaint (a missing required field, a bad
            value).
    """
    check_keys(data, field_names(cls), source, what)
    try:
        data = coerce_fields(cls, data)
        if base is not None:
            return dataclasses.replace(base, **dict(data))
        return cls(**dict(data))
    except (TypeError, ValueError) as exc:
        message = f"bad {what} ({exc})"
        raise (file_error(source, message) if source is not None else VmebError(message)) from exc
    except VmebError as exc:
        if source is None:
            raise
        raise file_error(source, str(exc)) from exc


def check_bounds(
    config: Any, positive: Sequence[str] = (), nonnegative: Sequence[str] = ()
) -> None:
    """Refuse fields of ``config`` that are not finite numbers > 0 (``positive``) or >= 0.

    Args:
        config: A config dataclass instance.
        positive: Field names that must be finite and > 0.
        nonnegative: Field names that must be finite and >= 0.

    Raises:
        VmebError: naming every offending field with its value (NaN and inf included).
    """
    bad = []
    for names, strict in ((positive, True), (nonnegative, False)):
        for name in names:
            value = getattr(config, name)
            if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
                bad.append((name, value, "> 0" if strict else ">= 0"))
    if bad:
        shown = ", ".join(f"{name} = {value}" for name, value, _ in bad)
        rules = "; ".join(f"{name} must be finite and {rule}" for name, _, rule in bad)
        raise VmebError(f"{shown}: {rules}")
