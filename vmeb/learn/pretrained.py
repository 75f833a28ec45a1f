"""Pretrained models shipped with the package (``vmeb/pretrained/<name>/``).

Each shipped model is a folder holding its checkpoint and a model card: ``card.json``
(machine-readable: species, lattice and composition ranges, training data and citation,
recipe, cross-validated MAE per composition, the command that trained it) and ``card.md`` (the
same for people).
`load_checkpoint` (`vmeb.learn.checkpoints`) accepts a shipped model's name wherever it accepts a
checkpoint path, through `resolve_checkpoint`; a real file or folder of that name wins.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_write_text

#: Folder of the shipped models inside the installed package.
PRETRAINED_ROOT = Path(__file__).resolve().parents[1] / "pretrained"
CARD_JSON = "card.json"
CARD_MD = "card.md"
#: Fields every card.json holds.
CARD_FIELDS = (
    "name",
    "checkpoint",
    "kind",
    "species",
    "lattice_constant_range",
    "composition_range",
    "training_data",
    "citation",
    "recipe",
    "cv",
    "command",
)


def write_pretrained(
    name: str,
    checkpoint: str | os.PathLike,
    card: Mapping[str, Any],
    card_md: str,
    root: Path = PRETRAINED_ROOT,
) -> Path:
    """Ship a model: copy its checkpoint and write its cards into ``root/name``.

    Args:
        name: The shipped model's name (its folder).
        checkpoint: The trained checkpoint, or an ensemble directory (its ``ensemble.json``
            and member checkpoints), copied to the card's ``checkpoint`` name.
        card: The machine-readable card; must hold every `CARD_FIELDS` key.
        card_md: The card for people.
        root: Folder of the shipped models.

    Returns:
        The model's folder; its files are readable by everyone (package data).
    """
    missing = [key for key in CARD_FIELDS if key not in card]
    if missing:
        raise VmebError(f"model card of {name!r} lacks fields {missing}")
    target = root / name
    target.mkdir(parents=True, exist_ok=True)
    if Path(checkpoint).is_dir():
        _copy_ensemble(Path(checkpoint), target / str(card["checkpoint"]))
    else:
        shutil.copyfile(checkpoint, target / str(card["checkpoint"]))
    atomic_write_text(target / CARD_JSON, json.dumps(dict(card), indent=2) + "\n")
    atomic_write_text(target / CARD_MD, card_md)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def composition_range_text(span: Mapping[str, Any] | None) -> str:
    """The card sentence on a model's training compositions.

    Args:
        span: ``{symbol: (x_min, x_max)}`` atomic fractions of the training samples (a
            checkpoint's ``composition_range``), or None when not recorded.

    Returns:
        One paragraph of markdown (ends with a newline).
    """
    if not span:
        return "Training compositions: not recorded in this checkpoint.\n"
    ranges = ", ".join(f"{s} {float(lo):.2f}-{float(hi):.2f}" for s, (lo, hi) in span.items())
    return (
        f"Training compositions (atomic fraction per element): {ranges}. A structure with an "
        "element more than 10 at.% outside its range gets a warning: the model then extrapolates "
        "in composition.\n"
    )


def _copy_ensemble(source: Path, target: Path) -> None:
    """Copy an ensemble directory's header and member checkpoints (not their training logs)."""
    header = json.loads((source / "ensemble.json").read_text())
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for member in header["members"]:
        (target / member["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / member["path"], target / member["path"])
    shutil.copyfile(source / "ensemble.json", target / "ensemble.json")


def list_pretrained(root: Path = PRETRAINED_ROOT) -> list[str]:
    """Names of the shipped models (folders holding a card.json), sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CARD_JSON).is_file())


def pretrained_card(name: str, root: Path = PRETRAINED_ROOT) -> dict[str, Any]:
    """The machine-readable card of a shipped model.

    Raises:
        VmebError: if no model of that name is shipped, or its card lacks a field.
    """
    names = list_pretrained(root)
    if name not in names:
        raise VmebError(f"no shipped model named {name!r} (shipped: {names})")
    path = root / name / CARD_JSON
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise file_error(path, f"unreadable model card ({exc})") from exc
    missing = [k for k in CARD_FIELDS if k not in card]
    if missing:
        raise file_error(path, f"model card lacks {missing}")
    return card


def pretrained_card_text(name: str, root: Path = PRETRAINED_ROOT) -> str:
    """The human-readable card (card.md) of a shipped model."""
    pretrained_card(name, root)
    path = root / name / CARD_MD
    if not path.is_file():
        raise file_error(path, "shipped model has no card.md")
    return path.read_text()


def pretrained_path(name: str, root: Path = PRETRAINED_ROOT) -> Path:
    """The checkpoint file (or ensemble directory) of a shipped model."""
    card = pretrained_card(name, root)
    path = root / name / card["checkpoint"]
    if not (path.is_file() or (path / "ensemble.json").is_file()):
        raise file_error(path, f"checkpoint of shipped model {name!r} missing from the package")
    return path


def is_pretrained_name(value: str | os.PathLike) -> bool:
    """Whether ``value`` names a shipped model and no file or folder of that name exists."""
    return not Path(value).exists() and str(value) in list_pretrained()


def resolve_checkpoint(value: str | os.PathLike) -> Path:
    """A checkpoint path, or the checkpoint of the shipped model of that name.

    A path that exists is returned as is (a real path wins over a name); a shipped model's
    name gives its packaged checkpoint; anything else is returned as a path, for the caller's
    "no such file" error.
    """
    if is_pretrained_name(value):
        return pretrained_path(str(value))
    return Path(value)
