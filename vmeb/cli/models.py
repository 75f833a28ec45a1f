"""List the pretrained models shipped with vmeb, or show one model's card.

``vmeb models`` prints one line per shipped model (name, kind, species, lattice range,
cross-validated MAE); ``vmeb models NAME`` prints the full model card. A shipped model's name is
accepted wherever a checkpoint path is (``vmeb evaluate NAME DATASET``, ``vmeb predict NAME ...``).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb models``."""
    parser.add_argument("name", nargs="?", default=None, help="show this model's full card")
    parser.add_argument("--json", action="store_true", help="print card.json instead of card.md")


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb models``."""
    from vmeb.learn.pretrained import (
        list_pretrained,
        pretrained_card,
        pretrained_card_text,
        pretrained_path,
    )

    if args.name is not None:
        if args.json:
            sys.stdout.write(json.dumps(pretrained_card(args.name), indent=2) + "\n")
        else:
            sys.stdout.write(pretrained_card_text(args.name))
            sys.stdout.write(f"\ncheckpoint: {pretrained_path(args.name)}\n")
        return 0
    names = list_pretrained()
    if not names:
        sys.stdout.write("no shipped models in this installation\n")
        return 0
    w = max(16, *(len(n) for n in names))
    header = f"{'name':<{w}} {'kind':<8} {'species':<16} {'a (Å)':<11} {'CV MAE (eV)':<12} data"
    lines = [header, "-" * len(header)]
    for name in names:
        card = pretrained_card(name)
        low, high = card["lattice_constant_range"]
        lines.append(
            f"{name:<{w}} {card['kind']:<8} {'-'.join(card['species']):<16} "
            f"{low:.2f}-{high:.2f}  {card['cv']['mean_mae']:<12.4f} {card['training_data']['name']}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
