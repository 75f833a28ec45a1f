"""examples/paper/learning_curve.py: retrain a recipe on each round of a pool campaign, report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vmeb import testing
from vmeb.active.config import load_active_config
from vmeb.active.loop import run_active_campaign
from vmeb.data.dataset import open_dataset
from vmeb.learn.checkpoints import load_checkpoint
from vmeb.learn.evaluate import evaluate_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "paper" / "learning_curve.py"


def _script():
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A 2-round random pool campaign over a counting-model dataset (g2: the test group)."""
    root = tmp_path_factory.mktemp("lc")
    rng = np.random.default_rng(5)
    samples = {f"s{i}": testing.random_alloy(3, rng) for i in range(6)}
    groups = {s: f"g{i % 3}" for i, s in enumerate(samples)}
    data = testing.make_dataset(root / "data", samples, groups=groups)
    config = load_active_config(None, {
        "pool_datasets": [str(data)], "test_dataset": str(data), "test_groups": ["g2"],
        "mode": "random", "initial_sites": 20, "batch_sites": 20, "members": 2, "max_rounds": 2,
        "train": {"epochs": 2},
    })  # fmt: skip
    run_active_campaign(config, root / "camp", progress=False)
    return root, data


def test_retrain_trains_on_each_rounds_hops_and_tests_the_unseen_group(campaign, tmp_path):
    root, data = campaign
    recipe = tmp_path / "lr.yaml"
    recipe.write_text("kind: lr\nr_c: 6.0\naugment: lattice\nval_per_group: 4\n")
    out = tmp_path / "lr"
    args = ["retrain", "--campaign", str(root / "camp"), "--recipe", str(recipe), "--name", "LR",
            "--test-dataset", str(data), "--test-groups", "g2", "--threads", "1",
            "-o", str(out)]  # fmt: skip
    assert _script().main(args) == 0
    table = pd.read_csv(out / "retrain.csv")
    curve = pd.read_csv(root / "camp" / "learning_curve.csv")
    assert table["round"].tolist() == [0, 1]
    assert table["hops"].tolist() == curve["hops"].tolist() == [160, 320]
    # the counting model is linear in the site occupancies: least squares learns it
    assert (table["test_mae"] < 0.02).all()
    # the same number from the independent evaluation path (`vmeb evaluate`'s)
    test = open_dataset(data)
    test.hops = test.with_groups(test.hops).query("group == 'g2'").drop(columns="group")
    report = evaluate_model(load_checkpoint(out / "round_01" / "model.pt"), test, progress=False)
    assert table["test_mae"].iloc[1] == pytest.approx(report.overall["mae"], rel=1e-4, abs=1e-6)
    assert table["test_mae_worst"].iloc[1] == pytest.approx(report.per_group["mae"].max(), rel=1e-4)

    assert _script().main(["report", "--campaigns", str(root / "camp"), "--retrains", str(out),
                           "-o", str(tmp_path / "report")]) == 0  # fmt: skip
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert set(summary["model"]) == {"LR", "selection ensemble"}
    assert len(summary) == 4 and (summary["seeds"] == 1).all()
    neb = summary.set_index(["model", "round"])["neb_cpu_hours"]
    assert neb["LR", 1] == pytest.approx(curve["cpu_seconds"].iloc[1] / 3600)
    assert (tmp_path / "report" / "learning_curve.png").stat().st_size > 1000
