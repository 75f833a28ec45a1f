"""Docs that cannot rot: every ```python snippet of ``docs/*.md`` and ``README.md`` runs, and
``docs/architecture.md`` names every module of the package.

Each snippet runs on its own, in a fresh temporary working directory that holds the files the
docs refer to by their usual names: ``data/`` (a small barrier dataset of two 54-atom samples)
and ``model/model.pt`` (a tiny CNN trained on it), copies of the session's `tiny_setup`.
Snippets define everything else themselves, as a reader copying them would.

A snippet that cannot run here is excluded by a comment on the line before its fence,
``<!-- no-run: the reason -->``; the exclusions are listed by `test_snippet_exclusions_are_few`
(at most `MAX_EXCLUDED`). A snippet importing a third-party module that is not installed is
skipped with the module's name (a missing ``vmeb`` module or name fails).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

import vmeb

ROOT = Path(vmeb.__file__).resolve().parents[1]
PACKAGE = ROOT / "vmeb"
DOCS = (*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md")
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: Most snippets allowed to be excluded (each with its reason in the markdown).
MAX_EXCLUDED = 4

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_NO_RUN = re.compile(r"<!--\s*no-run:\s*(.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Snippet:
    """One ```python block: its file, the line of its first code line, code, exclusion reason."""

    path: Path
    line: int
    code: str
    no_run: str | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def extract_snippets(path: Path) -> list[Snippet]:
    """The ```python blocks of a markdown file, with their ``<!-- no-run: ... -->`` reasons."""
    text = path.read_text(encoding="utf-8")
    snippets = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        reason = _NO_RUN.search(before)
        line = text.count("\n", 0, match.start(1)) + 1
        snippets.append(Snippet(path, line, match.group(1), reason.group(1) if reason else None))
    return snippets


SNIPPETS = [s for path in DOCS if path.is_file() for s in extract_snippets(path)]
RUNNABLE = [s for s in SNIPPETS if s.no_run is None]


def test_snippets_are_found():
    assert len(RUNNABLE) >= 8, [s.name for s in SNIPPETS]
    # Python under another fence tag would escape the runs
    other = [
        f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in DOCS
        if path.is_file()
        for text in [path.read_text(encoding="utf-8")]
        for m in re.finditer(r"^```(py|pycon|python3|ipython|py3)\b", text, re.MULTILINE)
    ]
    assert not other, f"use ```python for Python snippets: {other}"


def test_snippet_exclusions_are_few():
    excluded = [f"{s.name}: {s.no_run}" for s in SNIPPETS if s.no_run is not None]
    print(f"{len(RUNNABLE)} docs snippets run, {len(excluded)} excluded:", *excluded, sep="\n")
    assert len(excluded) <= MAX_EXCLUDED, "\n".join(excluded)


@pytest.fixture
def docs_workdir(tmp_path, monkeypatch, tiny_setup):
    """A fresh working directory with ``data/`` and ``model/`` (copies of `tiny_setup`)."""
    dataset, model, _ = tiny_setup
    shutil.copytree(dataset, tmp_path / "data")
    shutil.copytree(Path(model).parent, tmp_path / "model")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("snippet", RUNNABLE, ids=lambda s: s.name)
def test_docs_snippet_runs(snippet, docs_workdir):
    # line numbers of tracebacks are the markdown file's
    code = compile("\n" * (snippet.line - 1) + snippet.code, str(snippet.path), "exec")
    try:
        exec(code, {"__name__": "__docs__"})  # noqa: S102 - the docs' own code
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "vmeb":
            raise
        pytest.skip(f"{snippet.name} needs {exc.name}, which is not installed")


def _package_modules() -> list[str]:
    """Every module of the package as a dotted name (``vmeb.learn.training``), packages too."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            continue
        names.append(".".join(parts))
    return names


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of each ``###`` section."""
    parts = re.split(r"^### (.+)$", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def _tabled_modules(text: str) -> set[str]:
    """Modules listed in the package tables: each ``file.py`` in a row's first cell, under a
    ``###`` heading naming the package (``### `vmeb.learn` ``, ``### Foundation (`vmeb/`)``)."""
    found = set()
    for heading, body in _sections(text):
        package = re.search(r"`(vmeb(?:\.\w+)*)/?`", heading)
        if package is None:
            continue
        for cell in re.findall(r"^\|([^|\n]*)\|", body, re.MULTILINE):
            for file in re.findall(r"`([\w/]+)\.py`", cell):
                found.add(f"{package.group(1)}.{file.replace('/', '.')}")
    return found


def _named(module: str, text: str, tabled: set[str]) -> bool:
    """Whether ``text`` names ``module`` dotted, as a path, or in its package's table."""
    dotted = re.escape(module)
    path = re.escape(module.replace(".", "/") + ".py")
    pattern = rf"(?<![\w.]){dotted}(?!\w)|(?<![\w/]){path}"
    return module in tabled or re.search(pattern, text) is not None


def test_architecture_names_every_module():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    tabled = _tabled_modules(text)
    missing = [m for m in _package_modules() if not _named(m, text, tabled)]
    assert not missing, "docs/architecture.md does not name:\n" + "\n".join(missing)
