"""Flags shared by the ``vmeb`` subcommands and the validated argument types behind them.

Every subcommand registers its shared flags here, so they read the same everywhere:

- ``-o/--output PATH`` (hidden deprecated alias ``--out``),
- ``--species Ta,Nb,Mo`` (comma separated; where space separated names were accepted before,
  they still are, with a deprecation warning),
- ``--sites 0,5,17`` (explicit vacancy-site indices), ``--sites-file FILE`` and, where sites are
  drawn, ``--random-sites N``,
- ``--device``, ``--threads``, ``--batch-size`` (model training, evaluation, prediction),
  ``--no-progress`` (long work with progress bars) and ``--config FILE``.

The ``type=`` functions turn a bad value into argparse's one-line error naming the flag and the
value (exit status 2), before any work starts or any output is written. Deprecated spellings are
noted on the namespace (``_deprecations``) and logged by `vmeb.cli.main` once logging is set up.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import tempfile
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

SUPPRESS = argparse.SUPPRESS

#: Help texts of the shared flags: one text per flag, identical in every subcommand.
HELP = {
    "output": "output path (what is written there: see the description above)",
    "species": "element symbols, comma separated (channel/species order; element of each "
    "LAMMPS atom type, type 1 first)",
    "sites": "vacancy sites: atom indices (0-based), comma separated",
    "sites_file": "text file of vacancy-site indices (0-based; whitespace or commas; '#' comments)",
    "random_sites": "draw N vacancy sites at random (per structure, from --seed)",
    "device": "torch device: cpu, cuda, cuda:1 ... (refused when not available)",
    "threads": "torch CPU threads (default: torch's choice)",
    "batch_size": "hops per model batch (inference default 256; training default: by depth)",
    "no_progress": "hide progress bars",
    "precision": "arithmetic of CNN predictions (default: the checkpoint's, auto: bf16 where the "
    "CPU or GPU has bf16 units, else fp32); fp32 gives the same barriers on every machine",
    "config": "YAML/JSON file of settings (keys: see the description); flags given on the "
    "command line override it",
}

#: How the flags with a fixed syntax appear in usage and help lines.
METAVARS = {
    "output": "PATH",
    "species": "Ta,Nb,Mo",
    "sites": "I,J,...",
    "sites_file": "FILE",
    "random_sites": "N",
    "device": "DEVICE",
    "threads": "N",
    "batch_size": "N",
    "config": "FILE",
}


# ----------------------------------------------------------------------------- value types


def _number(text: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{what} expected, got {text!r}") from None
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts and sizes where zero is meaningless)."""
    value = _number(text, int, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (>= 1), got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (indices, seeds, counts where zero means none)."""
    value = _number(text, int, "a non-negative integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (>= 0), got {text!r}")
    return value


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A type for integers >= ``minimum``."""

    def parse(text: str) -> int:
        value = _number(text, int, "an integer")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"int_at_least_{minimum}"
    return parse


def _finite(text: str) -> float:
    value = _number(text, float, "a number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (angles, signed offsets)."""
    return _finite(text)


def positive_float(text: str) -> float:
    """A finite number > 0 (temperatures in K, cutoffs and lattice constants in Å, rates)."""
    value = _finite(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (thresholds, penalties)."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A fraction in [0, 1]."""
    value = _finite(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1], got {text!r}")
    return value


def site_indices(text: str) -> tuple[int, ...]:
    """``"0,5,17"`` -> (0, 5, 17): non-negative atom indices, comma separated."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens:
        raise argparse.ArgumentTypeError(f"comma-separated atom indices expected, got {text!r}")
    values = []
    for token in tokens:
        try:
            value = int(token)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"comma-separated atom indices expected, got {text!r}"
            ) from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"atom indices must be >= 0, got {text!r}")
        values.append(value)
    return tuple(values)


def species_list(text: str) -> tuple[str, ...]:
    """``"Ta,Nb,Mo"`` -> ('Ta', 'Nb', 'Mo')."""
    symbols = tuple(s.strip() for s in text.split(",") if s.strip())
    if not symbols:
        raise argparse.ArgumentTypeError(f"element symbols expected (e.g. Ta,Nb,Mo), got {text!r}")
    from ase.data import atomic_numbers  # noqa: PLC0415 - only when the flag is given

    bad = [s for s in symbols if s not in atomic_numbers or s == "X"]
    if bad:
        raise argparse.ArgumentTypeError(f"not element symbols: {', '.join(map(repr, bad))}")
    repeated = sorted({s for s in symbols if symbols.count(s) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(
            f"each element once, got {', '.join(map(repr, repeated))} more than once in {text!r}"
        )
    return symbols


def existing_file(text: str) -> Path:
    """A path that names an existing file."""
    path = Path(text)
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return path


def existing_dir(text: str) -> Path:
    """A path that names an existing directory."""
    path = Path(text)
    if not path.is_dir():
        problem = "is a file, not a directory" if path.exists() else "no such directory"
        raise argparse.ArgumentTypeError(f"{text}: {problem}")
    return path


def existing_path(text: str) -> Path:
    """A path that names an existing file or directory."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    return path


def _check_writable(path: Path) -> None:
    """Raise when ``path`` could not be created: its nearest existing ancestor must be a
    writable directory."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: cannot be created ({parent} is not a directory)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path}: cannot be created ({parent} is not writable)")
    try:  # root passes os.access everywhere; a real probe also catches /proc, read-only mounts
        with tempfile.TemporaryFile(dir=parent, prefix=".vmeb-probe."):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise argparse.ArgumentTypeError(
            f"{path}: cannot be created ({parent}: {reason})"
        ) from None


def output_path(text: str) -> Path:
    """An output that may exist (resumed or overwritten) and whose place is writable."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an output path is needed, got ''")
    path = Path(text)
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text}: exists and is not writable")
    _check_writable(path)
    return path


def new_output_path(text: str) -> Path:
    """An output that must not exist yet, in a writable place."""
    path = output_path(text)
    if path.exists() or path.is_symlink():
        raise argparse.ArgumentTypeError(
            f"{text}: already exists (choose another output or remove it)"
        )
    return path


#: Help of ``--potential`` (`vmeb.lammps.potentials.load_potential` specs).
POTENTIAL_HELP = (
    "potential spec: default, eam/alloy:FILE, snap:COEFF,PARAM, lammps:SPEC.yaml (any LAMMPS "
    "pair style), sevennet:7net-0, chgnet:0.3.0 or ase:MODULE:FACTORY[:KWARGS] (docs/potentials.md)"
)


def device(text: str) -> str:
    """A torch device that exists on this machine (``cpu`` needs no check)."""
    if text == "cpu":
        return text
    from vmeb.errors import VmebError  # noqa: PLC0415
    from vmeb.learn.predictors import check_device  # noqa: PLC0415

    try:
        return check_device(text)
    except VmebError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ----------------------------------------------------------------------------- deprecations


def note_deprecated(namespace: argparse.Namespace, message: str) -> None:
    """Record a deprecation warning on ``namespace``; `vmeb.cli.main` logs it."""
    notes = getattr(namespace, "_deprecations", None)
    if notes is None:
        notes = []
        namespace._deprecations = notes
    if message not in notes:
        notes.append(message)


class DeprecatedAlias(argparse.Action):
    """A hidden old flag name that stores into the new flag's destination and notes it."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        note_deprecated(namespace, f"{option_string} is deprecated; use {self.new}")
        setattr(namespace, self.dest, values)


class _JoinedList(argparse.Action):
    """Tokens of a list flag: comma separated in one token (space separated is deprecated)."""

    def __init__(self, option_strings, dest, parse: Callable[[str], tuple] = tuple, **kwargs):
        self.parse = parse
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        tokens = values if isinstance(values, list) else [values]
        if len(tokens) > 1:
            note_deprecated(
                namespace,
                f"space-separated {option_string} values are deprecated; separate them with "
                f"commas: {option_string} {','.join(tokens)}",
            )
        try:
            parsed = self.parse(",".join(tokens))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, parsed)


class _LegacySites(argparse.Action):
    """``--sites`` where it used to be a count: a bare integer (no comma) keeps the old meaning
    (N random sites; ``all`` = every site) for one release, with a deprecation warning."""

    def __call__(self, parser, namespace, values, option_string=None):
        text = values.strip()
        if text == "all":
            note_deprecated(namespace, "--sites all is deprecated; omit --sites (every site is "
                            "the default)")  # fmt: skip
            return
        if text.isdigit():
            note_deprecated(
                namespace,
                f"--sites {text} as a count of random sites is deprecated; use --random-sites "
                f"{text} (for the single site {text}, write --sites {text},)",
            )
            try:
                namespace.random_sites = positive_int(text)
            except argparse.ArgumentTypeError:
                raise argparse.ArgumentError(
                    self,
                    f"a bare integer is still read as a count of random sites (deprecated), and "
                    f"{text!r} is no count; for the single site {text}, write --sites {text},",
                ) from None
            return
        try:
            setattr(namespace, self.dest, site_indices(text))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


# ----------------------------------------------------------------------------- shared flags


def add_output(
    parser: argparse.ArgumentParser, *, required: bool = True, new: bool = True, default=None
) -> None:
    """``-o/--output PATH`` (and the hidden deprecated ``--out``).

    Args:
        parser: The subcommand parser.
        required: Whether the output must be given.
        new: Refuse an existing output (commands that resume take ``new=False``).
        default: Default path when not required.
    """
    kind = new_output_path if new else output_path
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "-o", "--output", type=kind, default=default, metavar=METAVARS["output"],
        help=HELP["output"],
    )  # fmt: skip
    group.add_argument(
        "--out", dest="output", type=kind, action=DeprecatedAlias, new="-o/--output",
        help=SUPPRESS,
    )  # fmt: skip


def add_species(parser: argparse.ArgumentParser, *, legacy_spaces: bool = False) -> None:
    """``--species Ta,Nb,Mo``; ``legacy_spaces`` also accepts the old ``--species Ta Nb Mo``."""
    parser.add_argument(
        "--species",
        nargs="+" if legacy_spaces else None,
        action=_JoinedList,
        parse=species_list,
        default=None,
        metavar=METAVARS["species"],
        help=HELP["species"],
    )


def add_sites(
    parser: argparse.ArgumentParser,
    *,
    random: bool = False,
    legacy_spaces: bool = False,
    legacy_count: bool = False,
) -> None:
    """``--sites I,J,...`` | ``--sites-file FILE`` [| ``--random-sites N``], mutually exclusive.

    Args:
        parser: The subcommand parser.
        random: Also offer ``--random-sites N``.
        legacy_spaces: Accept the old space-separated ``--sites 1 2 3`` (deprecated).
        legacy_count: ``--sites N`` used to be a count here: keep that meaning for a bare
            integer (deprecated).
    """
    group = parser.add_mutually_exclusive_group()
    if legacy_count:
        group.add_argument(
            "--sites", action=_LegacySites, default=None, metavar=METAVARS["sites"],
            help=HELP["sites"],
        )  # fmt: skip
    else:
        group.add_argument(
            "--sites", nargs="+" if legacy_spaces else None, action=_JoinedList,
            parse=site_indices, default=None, metavar=METAVARS["sites"], help=HELP["sites"],
        )  # fmt: skip
    group.add_argument(
        "--sites-file", type=existing_file, default=None, metavar=METAVARS["sites_file"],
        help=HELP["sites_file"],
    )  # fmt: skip
    if random:
        group.add_argument(
            "--random-sites", type=positive_int, default=None, metavar=METAVARS["random_sites"],
            help=HELP["random_sites"],
        )  # fmt: skip


def add_device(parser: argparse.ArgumentParser, default: Any = "cpu") -> None:
    """``--device DEVICE`` (checked against this machine)."""
    parser.add_argument(
        "--device", type=device, default=default, metavar=METAVARS["device"], help=HELP["device"]
    )


def add_threads(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` (torch CPU threads; `vmeb.cli.main` applies it)."""
    parser.add_argument(
        "--threads", type=positive_int, default=None, metavar=METAVARS["threads"],
        help=HELP["threads"],
    )  # fmt: skip


def add_batch_size(parser: argparse.ArgumentParser, default: Any = 256) -> None:
    """``--batch-size N`` (hops per model batch)."""
    parser.add_argument(
        "--batch-size", type=positive_int, default=default, metavar=METAVARS["batch_size"],
        help=HELP["batch_size"],
    )  # fmt: skip


def add_no_progress(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``."""
    parser.add_argument("--no-progress", action="store_true", help=HELP["no_progress"])


def add_config(parser: argparse.ArgumentParser, *, legacy: Sequence[str] = ()) -> None:
    """``--config FILE`` (plus hidden deprecated names in ``legacy``)."""
    parser.add_argument(
        "--config", type=existing_file, default=None, metavar=METAVARS["config"],
        help=HELP["config"],
    )  # fmt: skip
    for name in legacy:
        parser.add_argument(
            name, dest="config", type=existing_file, action=DeprecatedAlias, new="--config",
            help=SUPPRESS,
        )  # fmt: skip


#: ``--precision`` choices: `vmeb.learn.precision.PRECISIONS` (not imported: torch stays unloaded).
PRECISION_CHOICES = ("auto", "fp32", "bf16")


def add_precision(parser: argparse.ArgumentParser) -> None:
    """``--precision {auto,fp32,bf16}`` of prediction (training has its own, a config field)."""
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default=None, help=HELP["precision"]
    )


def add_model_work(
    parser: argparse.ArgumentParser,
    *,
    batch_size: Any = 256,
    device_default: Any = "cpu",
    precision: bool = True,
) -> None:
    """The flags of every command that runs a model: device, threads, batch size, progress and
    (``precision``: commands that predict with a trained model) the prediction precision."""
    add_device(parser, device_default)
    add_threads(parser)
    add_batch_size(parser, batch_size)
    add_no_progress(parser)
    if precision:
        add_precision(parser)


def sites_argument(args: argparse.Namespace) -> Any:
    """The sites a command was asked for: indices, the indices of --sites-file, N random
    (``int``) or None (every site)."""
    from vmeb.structure.sites import read_sites_file  # noqa: PLC0415

    if getattr(args, "sites_file", None) is not None:
        return read_sites_file(args.sites_file)
    if getattr(args, "sites", None) is not None:
        return list(args.sites)
    return getattr(args, "random_sites", None)


# ----------------------------------------------------------------------------- help layout


#: Tokens that are values, not options: negative numbers in any float spelling (``-3``,
#: ``-0.5``, ``-.5``, ``-1e3``, ``-inf``, ``-nan``) and comma lists starting with one (``-1,2``).
#: argparse's own pattern knows only ``-3`` and ``-0.5``; it took ``--a -1e3`` for a missing
#: value followed by an unknown option. Every flag's type then refuses a value out of its range.
NEGATIVE_NUMBER = re.compile(
    r"^-(?:(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|inf(?:inity)?|nan)(?:,.*)?$", re.IGNORECASE
)


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, like a `VmebError`:
    ``vmeb: error: argument --flag: <problem> (see vmeb CMD --help)``, exit status 2.

    A negative number (`NEGATIVE_NUMBER`) is always read as a flag's value, so that the flag's
    type accepts it (``--angle -1e-3``) or names its range (``--a -3.2``), never "expected one
    argument". Subcommand parsers are of this class too (argparse makes them of the parent's).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def error(self, message: str):  # noqa: D102 - argparse API
        import sys  # noqa: PLC0415

        sys.stderr.write(f"vmeb: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' own line breaks; shows list flags in their one syntax
    (``--species Ta,Nb,Mo``) even where the deprecated space-separated form is accepted."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if isinstance(action, _JoinedList | _LegacySites) and isinstance(action.metavar, str):
            return action.metavar
        return super()._format_args(action, default_metavar)


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The direct subcommand parsers of ``parser`` by name."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            found.update(action.choices)
    return found


def leaf_parsers(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every parser that runs a command (no further subcommands), keyed by its command words."""
    children = subparsers(parser)
    if not children:
        return {prefix: parser}
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for name, child in children.items():
        found.update(leaf_parsers(child, (*prefix, name)))
    return found


def set_formatter(parser: argparse.ArgumentParser) -> None:
    """Use `HelpFormatter` in ``parser`` and all its nested subcommand parsers."""
    parser.formatter_class = HelpFormatter
    for child in subparsers(parser).values():
        set_formatter(child)


# ----------------------------------------------------------------------------- training flags


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """``kind`` that also takes ``none``/``auto`` (-> None: the library's default)."""

    def parse(text: str) -> Any:
        return None if text.strip().lower() in ("none", "auto", "") else kind(text)

    parse.__name__ = f"optional_{getattr(kind, '__name__', 'value')}"
    return parse


#: The value checks a `vmeb.learn.settings.TrainConfig` field's metadata names (``value``).
SETTING_VALUES: dict[str, Callable[[str], Any]] = {
    "positive_int": positive_int,
    "nonnegative_int": nonnegative_int,
    "int_at_least_1": int_at_least(1),
    "positive_float": positive_float,
    "nonnegative_float": nonnegative_float,
}


def _setting_flag(spec: dataclasses.Field, hint: Any, text: str) -> dict[str, Any]:
    """The ``add_argument`` keywords of one `TrainConfig` field (absent unless given)."""
    meta = spec.metadata
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    flag: dict[str, Any] = {"default": SUPPRESS, "help": text.replace("%", "%%")}
    if typing.get_origin(hint) is tuple:
        flag["nargs"] = meta.get("nargs", "+")
        hint = typing.get_args(hint)[0]
    value = SETTING_VALUES[meta["value"]] if "value" in meta else None
    if hint is bool:
        value = _bool
    if value is not None:
        flag["type"] = _optional(value) if optional else value
    if "choices" in meta:
        choices = meta["choices"]
        flag["choices"] = tuple(choices() if callable(choices) else choices)
    if "metavar" in meta:
        flag["metavar"] = meta["metavar"]
    return flag


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``vmeb train`` flags, shared by ``vmeb ensemble train``: one per
    `vmeb.learn.settings.TrainConfig` field, made from the dataclass (name from the field, value
    type from its annotation and metadata, help from its docstring: `setting_docs`). Fields not
    given stay absent (the config file or the library's default applies); ``batch_size`` and
    ``device`` are the shared flags of every command that runs a model."""
    from vmeb.learn.settings import TrainConfig, setting_docs  # noqa: PLC0415 - torch-free

    parser.add_argument("datasets", nargs="+", metavar="DATASET", help="barrier dataset dirs")
    add_output(parser, new=False)
    add_config(parser)
    parser.add_argument("--resume", action="store_true", help="continue OUTPUT/checkpoint.pt")
    add_model_work(parser, batch_size=SUPPRESS, device_default=SUPPRESS, precision=False)
    batch = next(a for a in parser._actions if a.dest == "batch_size")  # noqa: SLF001
    batch.type = _optional(positive_int)  # "auto": the kind's default for the architecture
    add = parser.add_argument_group("training configuration (defaults in vmeb.learn.settings)")
    docs, hints = setting_docs(TrainConfig), typing.get_type_hints(TrainConfig)
    for spec in dataclasses.fields(TrainConfig):
        if not spec.metadata.get("shared"):
            flag = _setting_flag(spec, hints[spec.name], docs[spec.name])
            add.add_argument("--" + spec.name.replace("_", "-"), **flag)


def add_sample_arguments(parser: argparse.ArgumentParser, cells: int) -> None:
    """The compositions and samples of a map (``vmeb map``, ``vmeb diffusion-map``)."""
    parser.add_argument("--elements", required=True, help="elements, e.g. Ta,Nb,Mo")
    grid = parser.add_mutually_exclusive_group(required=True)
    grid.add_argument(
        "--divisions", type=positive_int, help="simplex grid steps per unit (10: 10 at.%%)"
    )
    grid.add_argument(
        "--line", help="line scan ELEMENT:START..STOP[:STEP] in at.%%, e.g. Mo:34..99"
    )
    parser.add_argument(
        "--balance", default=None, help="ratio of the other elements on a line, e.g. Ta:1,Nb:1"
    )
    parser.add_argument(
        "--cells", type=positive_int, default=cells, help="smallest sample edge (cells)"
    )
    parser.add_argument(
        "--min-per-species", type=nonnegative_int, default=0,
        help="atoms of every element present (5000)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=nonnegative_int, default=0, help="seed of placements and sites"
    )
    parser.add_argument(
        "--lattice",
        choices=("vegard", "relax"),
        default="vegard",
        help="Vegard's law from relaxed pure elements, or a relaxation per composition",
    )
    parser.add_argument("--lattice-constant", type=positive_float, default=None, help="fixed a (Å)")
    parser.add_argument(
        "--pure-lattice", default=None, help="pure-element a for Vegard, e.g. Ta:3.303,Nb:3.307"
    )
    parser.add_argument(
        "--potential", default=None, help="potential spec for relaxations (built-in EAM)"
    )


def compositions_of(args: argparse.Namespace) -> tuple[list[str], list[dict], str | None]:
    """(elements, compositions, scanned element or None) of the sample arguments."""
    from vmeb.errors import VmebError
    from vmeb.spectra.maps import map_compositions
    from vmeb.structure.build import parse_elements

    if args.balance is not None and args.line is None:
        raise VmebError("--balance is for a line scan (--line), not --divisions")
    elements = parse_elements(args.elements)
    compositions, line_element = map_compositions(
        elements, divisions=args.divisions, line=args.line, balance=args.balance
    )
    return elements, compositions, line_element


def map_config_of(args: argparse.Namespace, max_sites: int | None = None, chunk_sites: int = 2048):
    """The `vmeb.spectra.maps.MapConfig` of the sample arguments (LAMMPS checked if needed)."""
    from vmeb.spectra.maps import MapConfig, needs_potential, parse_pure_lattice
    from vmeb.structure.build import parse_elements

    config = MapConfig(
        cells=args.cells,
        min_per_species=args.min_per_species,
        seed=args.seed,
        lattice=args.lattice,
        lattice_constant=args.lattice_constant,
        pure_lattice=parse_pure_lattice(args.pure_lattice) if args.pure_lattice else (),
        potential=args.potential,
        max_sites=max_sites,
        chunk_sites=chunk_sites,
        batch_size=args.batch_size,
        device=args.device,
    )
    if needs_potential(parse_elements(args.elements), config):
        from vmeb.lammps.loading import require_lammps

        require_lammps(f"vmeb {args.command} without --lattice-constant (or --pure-lattice for "
                       "every element)")  # fmt: skip
    return config
