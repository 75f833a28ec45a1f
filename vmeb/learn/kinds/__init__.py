"""Model kinds: the registry of names, one line per kind (torch-free).

A model kind (the paper's SDM CNN, the one-hot site NN and LR, the on-lattice MLP and type-map
CNN) is a class in its own module of this package that implements the protocol of
`vmeb.learn.kinds.base.ModelKind`: how to build its network, prepare and batch its inputs,
which inference images its predictions average, how it predicts on the lattice fast path, what
its checkpoint stores beside the weights. Training, checkpoints and prediction call the kind
object (`get_kind`); nothing else branches on the name.

`KINDS` maps each name to ``"module:Class"``; the module is imported on first use, so the
command line lists the names (`kind_names`) without importing torch. Adding a kind is one new
module plus one line here (`docs/training.md`, "Adding a model kind"); `register_kind` adds one
at run time (a plugin or a test).
"""

from __future__ import annotations

import importlib
from typing import Any

from vmeb.errors import VmebError

#: The model kinds: name -> ``"module:Class"`` of its `vmeb.learn.kinds.base.ModelKind`.
KINDS: dict[str, Any] = {
    "cnn": "vmeb.learn.kinds.cnn:SDMConvKind",
    "nn": "vmeb.learn.kinds.nn:SiteNNKind",
    "lr": "vmeb.learn.kinds.lr:SiteLinearKind",
    "mlp": "vmeb.learn.kinds.mlp:SiteMLPKind",
    "latcnn": "vmeb.learn.kinds.latcnn:TypeMapKind",
    "latfield": "vmeb.learn.kinds.latfield:LatticeFieldKind",
}

#: Kind objects made so far (one instance per name).
_LOADED: dict[str, Any] = {}


def kind_names() -> tuple[str, ...]:
    """The registered kind names, in registry order (imports no kind module)."""
    return tuple(KINDS)


def check_kind(name: str) -> str:
    """Return ``name`` if it is a registered kind.

    Raises:
        VmebError: ``model kind 'x': choose one of [...]``.
    """
    if name not in KINDS:
        raise VmebError(f"model kind {name!r}: choose one of {list(KINDS)}")
    return name


def get_kind(name: str) -> Any:
    """The `vmeb.learn.kinds.base.ModelKind` object of a kind name (its module imported on
    first use).

    Raises:
        VmebError: for a name not in the registry.
    """
    if name not in _LOADED:
        target = KINDS[check_kind(name)]
        if isinstance(target, str):
            module, _, attribute = target.partition(":")
            target = getattr(importlib.import_module(module), attribute)
        kind = target() if isinstance(target, type) else target
        kind.name = name
        _LOADED[name] = kind
    return _LOADED[name]


def register_kind(name: str, target: str | type | Any) -> None:
    """Register a kind at run time (a plugin, a test) under ``name``.

    Args:
        name: The kind's name (the ``kind`` setting, the ``--kind`` choice, the checkpoint's
            ``kind``).
        target: ``"module:Class"``, a `vmeb.learn.kinds.base.ModelKind` subclass, or an
            instance of one.

    Raises:
        VmebError: if the name is taken (`unregister_kind` first).
    """
    if name in KINDS:
        raise VmebError(f"model kind {name!r} is already registered")
    KINDS[name] = target
    _LOADED.pop(name, None)


def unregister_kind(name: str) -> None:
    """Remove a kind added by `register_kind` (unknown names are ignored)."""
    KINDS.pop(name, None)
    _LOADED.pop(name, None)
