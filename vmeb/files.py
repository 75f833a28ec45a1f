"""Files: the cache folder and outputs that appear whole."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The vmeb cache folder: ``$VMEB_CACHE`` or ``~/.cache/vmeb`` (created on demand)."""
    root = os.environ.get("VMEB_CACHE")
    path = Path(root) if root else Path.home() / ".cache" / "vmeb"
    path.mkdir(parents=True, exist_ok=True)
    return path
