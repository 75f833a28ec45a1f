"""Campaign settings: bad values are refused in one line before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vmeb import testing
from vmeb.active.config import ActiveConfig, check_resumable, load_active_config
from vmeb.cli.main import main
from vmeb.errors import VmebError

GOOD = {"compositions": ["Ta0.5Nb0.5"], "cells": 3, "a": 3.3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "greedy"}, "mode 'greedy': choose one of ['active', 'random']"),
        ({"members": 1}, "members = 1: an ensemble needs at least 2"),
        ({"batch_sites": 0}, "batch_sites = 0: batch_sites must be finite and > 0"),
        ({"hop_seconds": float("nan")}, "hop_seconds must be finite and > 0"),
        ({"batch_growth": 0.5}, "batch_growth = 0.5: must be a number >= 1"),
        ({"score": "median"}, "score 'median': choose one of ['max', 'mean']"),
        ({"cells": "three"}, "cells: expected an integer, got 'three'"),
        ({"colour": "red"}, "unknown campaign config keys ['colour']"),
        ({"compositions": [], "elements": ["Ta", "Nb"]}, "needs grid_step or composition_draws"),
        ({"compositions": [], "elements": ["Ta", "Nb"], "grid_step": 0.5,
          "bounds": {"Ta": [0.6, 0.2]}}, "bounds of Ta: need 0 <= min <= max <= 1"),
        ({"compositions": [], "elements": ["Ta"], "grid_step": 0.5,
          "bounds": {"W": [0, 1]}}, "bounds: W is not one of elements ['Ta']"),
        ({"compositions": []}, "no candidate pool: give elements, compositions or pool_datasets"),
        ({"pool_datasets": ["nowhere"]}, "give pool_datasets or a composition domain, not both"),
        ({"compositions": [], "pool_datasets": ["nowhere"]}, "nowhere: no such file or folder"),
        ({"test_index": "index.csv"}, "index.csv: no such file or folder"),
        ({"neb": [1, 2]}, "neb must be a mapping"),
    ],
)  # fmt: skip
def test_bad_config_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, change, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**GOOD, **change}))
    assert main(["campaign", "--config", "c.yaml", "-o", "out", "--no-progress"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("vmeb: error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "mode": "active", "seed": 1}))
    config = load_active_config(path, {"mode": "random", "seed": None, "max_rounds": 9})
    assert (config.mode, config.seed, config.max_rounds) == ("random", 1, 9)
    assert config.compositions == ("Ta0.5Nb0.5",)


def test_resume_refuses_other_settings_but_allows_new_budgets(tmp_path):
    saved = ActiveConfig(**GOOD).to_dict()
    check_resumable(saved, ActiveConfig(**GOOD, max_rounds=20, hop_budget=500), tmp_path)
    with pytest.raises(VmebError, match=r"other settings \['batch_sites', 'seed'\]"):
        check_resumable(saved, ActiveConfig(**GOOD, seed=3, batch_sites=2), tmp_path)
    # a setting only the saved config has (another vmeb version) is named, not a KeyError
    with pytest.raises(VmebError, match=r"other settings \['retired_setting'\]"):
        check_resumable({**saved, "retired_setting": 1}, ActiveConfig(**GOOD), tmp_path)


def test_resume_reads_a_setting_added_since_as_its_default(tmp_path):
    """A campaign saved before batch_growth existed continues with the default, not another."""
    saved = ActiveConfig(**GOOD).to_dict()
    del saved["batch_growth"]
    check_resumable(saved, ActiveConfig(**GOOD), tmp_path)
    with pytest.raises(VmebError, match=r"other settings \['batch_growth'\]"):
        check_resumable(saved, ActiveConfig(**GOOD, batch_growth=2.0), tmp_path)


def test_help_documents_the_loop(capsys):
    assert main(["campaign", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("select", "label", "train", "evaluate", "score", "learning_curve.csv",
                 "--scheduler", "--mode {active,random}", "Example config"):  # fmt: skip
        assert word in text, word


def test_example_configs_load(monkeypatch):
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    config = load_active_config("configs/active_tanbmo.yaml")
    assert (config.elements, config.grid_step, config.hop_budget) == (("Ta", "Nb", "Mo"), 0.25, 600)
    if not testing.TANBMO_DIR.is_dir():
        pytest.skip(f"shared dataset {testing.TANBMO_DIR} absent")
    pool = load_active_config("configs/active_pool_tanbmo.yaml")
    assert pool.pool_mode and pool.test_index.endswith("index.csv")


def test_unreachable_scheduler_is_refused_before_output(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(GOOD))
    argv = ["campaign", "--config", "c.yaml", "-o", "out", "--scheduler", "tcp://127.0.0.1:1"]
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot reach Dask scheduler 'tcp://127.0.0.1:1'" in lines[0]
    assert not (tmp_path / "out").exists()
