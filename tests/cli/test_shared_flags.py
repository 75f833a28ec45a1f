"""Every subcommand shows the shared flags in one form, and has the ones its work needs."""

from __future__ import annotations

import argparse
import re

import pytest

from vmeb.cli import common
from vmeb.cli.main import COMMANDS, build_parser
from vmeb.testing import MINIMAL_ARGS

#: Shared flags by their first option string.
SHARED = ("-o", "--species", "--sites", "--sites-file", "--random-sites", "--device", "--threads",
          "--batch-size", "--no-progress", "--config")  # fmt: skip

MODEL_WORK = ("--device", "--threads", "--batch-size", "--no-progress")
#: Which commands must have which shared flags.
REQUIRED = {
    ("run",): ("-o", "--config", "--device", "--threads", "--no-progress"),
    ("build",): ("-o", "--no-progress"),
    ("neb",): ("-o", "--sites", "--sites-file", "--random-sites", "--species", "--config",
               "--no-progress"),
    ("import", "fpnnk"): ("-o", "--species"),
    ("import", "csv"): ("-o", "--species"),
    ("sdm",): ("-o", "--species"),
    ("train",): ("-o", "--config", *MODEL_WORK),
    ("evaluate",): ("-o", *MODEL_WORK),
    ("predict",): ("-o", "--sites", "--sites-file", "--species", *MODEL_WORK),
    ("order",): ("-o", "--species"),
    ("analyse",): ("-o", "--sites", "--sites-file", "--random-sites", "--species", *MODEL_WORK),
    ("properties",): ("-o",),
    ("kmc",): ("-o", "--species", *MODEL_WORK),
    ("map",): ("-o", "--random-sites", *MODEL_WORK),
    ("ensemble", "train"): ("-o", "--config", *MODEL_WORK),
    ("ensemble", "predict"): ("-o", "--sites", "--sites-file", "--species", *MODEL_WORK),
    ("ensemble", "calibrate"): ("-o", *MODEL_WORK),
    ("ensemble", "assemble"): ("-o",),
}  # fmt: skip


def _reference_blocks() -> dict[str, str]:
    """The help entry of each shared flag as `vmeb.cli.common` defines it."""
    ref = argparse.ArgumentParser(prog="ref", formatter_class=common.HelpFormatter)
    common.add_output(ref, new=False)
    common.add_species(ref)
    common.add_sites(ref, random=True)
    common.add_model_work(ref)
    common.add_config(ref)
    return _blocks(ref.format_help())


def _blocks(text: str) -> dict[str, str]:
    """Option help entries of a --help text by first option string, whitespace collapsed."""
    blocks: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (-{1,2}[\w-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line
        else:
            current = None
    return {k: " ".join(v.split()) for k, v in blocks.items()}


def test_every_registered_command_is_covered(leaves):
    registered = {name for name, _, _ in COMMANDS}
    assert {words[0] for words in leaves} == registered
    for words in leaves:
        if words[0] in {w[0] for w in MINIMAL_ARGS}:
            assert words in MINIMAL_ARGS, f"{words}: add its minimal arguments to conftest.py"


def _all_leaves():
    return list(common.leaf_parsers(build_parser()))


@pytest.mark.parametrize("words", _all_leaves(), ids=" ".join)
def test_shared_flags_have_one_form(leaves, words, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    reference = _reference_blocks()
    assert set(SHARED) <= set(reference)
    shown = _blocks(leaves[words].format_help())
    present = [flag for flag in SHARED if flag in shown]
    for flag in present:
        assert shown[flag] == reference[flag], f"vmeb {' '.join(words)} {flag}"
    missing = [flag for flag in REQUIRED.get(words, ()) if flag not in shown]
    assert not missing, f"vmeb {' '.join(words)} lacks {missing}"


@pytest.mark.parametrize("words", _all_leaves(), ids=" ".join)
def test_deprecated_names_are_hidden(leaves, words):
    text = leaves[words].format_help()
    for old in ("--out ", "--neb-config", "--max-sites ", "[SPECIES ...]", "[INDEX ...]"):
        if old == "--max-sites " and words == ("neb",):
            continue  # neb's --max-sites (stop after N sites) is its own flag
        assert old not in text, f"vmeb {' '.join(words)} shows {old!r}"


@pytest.mark.parametrize("words", _all_leaves(), ids=" ".join)
def test_numeric_options_are_validated(leaves, words):
    """No option takes a bare int or float: every number goes through a checked type."""
    for action in leaves[words]._actions:
        assert action.type not in (int, float), f"vmeb {' '.join(words)} {action.dest}"


def _cli_imports(source: str) -> set[str]:
    """The vmeb.cli modules a source text imports."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vmeb.cli"):
            if node.module == "vmeb.cli":
                found |= {f"vmeb.cli.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("vmeb.cli")}
    return found


def test_cli_modules_import_only_common_and_main():
    """CLI modules parse, call the library and print: none imports another CLI module."""
    from pathlib import Path

    import vmeb.cli

    assert _cli_imports("from vmeb.cli import train\nimport vmeb.cli.predict") == {
        "vmeb.cli.train",
        "vmeb.cli.predict",
    }
    allowed = {"vmeb.cli.common", "vmeb.cli.main"}
    for path in sorted(Path(vmeb.cli.__file__).parent.glob("*.py")):
        if path.stem not in ("common", "main", "__init__"):
            assert _cli_imports(path.read_text()) <= allowed, path.name


#: ``vmeb train`` flags that are not training settings.
RUN_FLAGS = {"help", "datasets", "output", "config", "resume", "threads", "no_progress"}


def test_train_has_a_flag_for_every_training_setting():
    """The flags are made from `TrainConfig`: one per field and no other, help from its docs."""
    import dataclasses

    from vmeb.learn.kinds import KINDS
    from vmeb.learn.settings import ELEMENT_FEATURE_CHOICES, TrainConfig, setting_docs
    from vmeb.species import ELEMENT_FEATURES

    parser = argparse.ArgumentParser()
    common.add_training_arguments(parser)
    actions = {action.dest: action for action in parser._actions}  # noqa: SLF001
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields == set(actions) - RUN_FLAGS
    docs = setting_docs(TrainConfig)
    assert set(docs) == fields
    for name in fields - {"batch_size", "device"}:  # those two have the shared help texts
        assert actions[name].help == docs[name].replace("%", "%%"), name
        assert actions[name].option_strings == ["--" + name.replace("_", "-")]
    assert tuple(actions["kind"].choices) == tuple(KINDS)
    assert ELEMENT_FEATURE_CHOICES == tuple(ELEMENT_FEATURES)
    args = parser.parse_args(["d", "-o", "x", "--kind", "latcnn", "--linear", "true",
                              "--precision", "fp32", "--weight-decay", "1e-5"])  # fmt: skip
    assert (args.kind, args.linear, args.precision, args.weight_decay) == (
        "latcnn", True, "fp32", 1e-5,
    )  # fmt: skip
    args = parser.parse_args(["d", "-o", "x", "--element-features", "vec", "period"])
    assert TrainConfig(element_features=args.element_features, kind="latcnn").element_features == (
        "vec", "period",
    )  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["d", "-o", "x", "--element-features", "charge"])
