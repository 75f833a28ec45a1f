"""``vmeb models``: the table of shipped models and one model's card."""

from __future__ import annotations

import json

from vmeb.cli.main import main
from vmeb.learn.pretrained import pretrained_card


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "kind", "species"]
    row = next(line for line in lines if line.startswith("nbmotawv-dft"))
    card = pretrained_card("nbmotawv-dft")
    assert card["kind"] in row.split()
    assert f"{card['cv']['mean_mae']:.4f}" in row
    assert "-".join(card["species"]) in row
    column = lines[0].index("kind")  # columns stay aligned for the longest name
    for line in lines[2:]:
        kind = pretrained_card(line.split()[0])["kind"]
        assert line[column : column + len(kind) + 1] == kind + " ", line


def test_models_card(capsys):
    assert main(["models", "nbmotawv-dft"]) == 0
    out = capsys.readouterr().out
    assert "Nat. Commun. 15, 3879 (2024)" in out
    assert f"nbmotawv-dft/{pretrained_card('nbmotawv-dft')['checkpoint']}" in out
    assert main(["models", "nbmotawv-dft", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "nbmotawv-dft"


def test_models_unknown_name(capsys):
    assert main(["models", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "no shipped model named 'no-such-model'" in err and "nbmotawv-dft" in err
