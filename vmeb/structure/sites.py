"""Vacancy-site lists given by the user: text files of atom indices."""

from __future__ import annotations

import os
from pathlib import Path

from vmeb.errors import file_error


def read_sites_file(path: str | os.PathLike) -> list[int]:
    """Atom indices (0-based) of a sites file: whitespace or comma separated, ``#`` comments.

    Raises:
        VmebError: naming the file (and line) if it is missing, holds a non-integer or a
            negative index, or no index at all.
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "no such sites file")
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise file_error(path, f"not a text file of site indices ({exc.reason})") from None
    sites = []
    for number, line in enumerate(text.splitlines(), start=1):
        for token in line.split("#", 1)[0].replace(",", " ").split():
            try:
                value = int(token)
            except ValueError:
                raise file_error(path, f"line {number}: {token!r} is not an integer") from None
            if value < 0:
                raise file_error(path, f"line {number}: site index {value} is negative")
            sites.append(value)
    if not sites:
        raise file_error(path, "no site indices")
    return sites
