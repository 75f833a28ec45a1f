"""Training: loss decreases, bit-exact checkpoints, resume, LR vs scikit-learn, CLI, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression

from vmeb.cli.main import main as vmeb_main
from vmeb.data.dataset import (
    DatasetHeader,
    append_hops,
    create_dataset,
    open_dataset,
    write_structure,
)
from vmeb.errors import VmebError
from vmeb.learn import training
from vmeb.learn.checkpoints import (
    METRICS_FILE,
    MODEL_FILE,
    STATE_FILE,
    load_checkpoint,
    read_checkpoint,
)
from vmeb.learn.descriptors import onehot_descriptors, site_template
from vmeb.learn.hops import load_hops, split_hops
from vmeb.learn.settings import TrainConfig
from vmeb.learn.training import train_model
from vmeb.structure.neighbours import first_neighbours
from vmeb.testing import random_alloy

SPECIES = ("Ta", "Nb", "Mo")
#: Tiny CNN: 8^3 maps of 1 Å voxels, 4 conv layers of 4 filters.
TINY_CNN = dict(
    kind="cnn",
    depth=1,
    filters=4,
    r_c=4.0,
    l_c=4.0,
    delta=1.0,
    batch_size=16,
    val_per_group=10,
    test_groups=("C",),
    lr_patience=2,
    patience=5,
)


def _synthetic_barrier(atoms, vac, mov) -> np.ndarray:
    """A smooth made-up barrier: moving species plus the Mo count in the vacancy's first shell."""
    symbols = np.array(atoms.get_chemical_symbols())
    neighbours, _ = first_neighbours(atoms, vac, 8)
    mo_shell = (symbols[neighbours] == "Mo").sum(axis=1)
    base = {"Ta": 1.0, "Nb": 0.7, "Mo": 1.3}
    return np.array([base[s] for s in symbols[mov]]) + 0.05 * mo_shell


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """Three 54-atom random Ta-Nb-Mo samples (groups A, B, C), 8 hops of 12 sites each."""
    root = tmp_path_factory.mktemp("data") / "tiny"
    create_dataset(root, DatasetHeader(species=SPECIES))
    rng = np.random.default_rng(11)
    for sample, group in enumerate("ABC"):
        atoms = random_alloy(3, rng, SPECIES, a=3.3)
        sample_id = f"s{sample}"
        write_structure(root, sample_id, atoms, group=group)
        sites = np.arange(12)
        neighbours, _ = first_neighbours(atoms, sites, 8)
        vac, mov = np.repeat(sites, 8), neighbours.reshape(-1)
        barrier = _synthetic_barrier(atoms, vac, mov)
        symbols = atoms.get_chemical_symbols()
        append_hops(
            root,
            [
                dict(
                    sample_id=sample_id,
                    vacancy_index=int(v),
                    moving_index=int(m),
                    moving_species=symbols[m],
                    barrier=float(b),
                    converged=True,
                    status="ok",
                    source="synthetic",
                )
                for v, m, b in zip(vac, mov, barrier, strict=True)
            ],
        )
    return open_dataset(root)


@pytest.fixture(scope="module")
def tiny_hops(tiny_dataset):
    return load_hops([tiny_dataset], r_c=4.0)


def test_split_by_groups(tiny_hops):
    split = split_hops(tiny_hops.groups, TrainConfig(val_per_group=10, test_groups=("C",)))
    assert set(tiny_hops.groups[split["test"]]) == {"C"}
    assert len(split["test"]) == 96
    assert len(split["val"]) == 2 * min(10, 96 // 5)
    assert not set(split["train"]) & set(split["val"])
    split = split_hops(tiny_hops.groups, TrainConfig(val_groups=("B",), test_groups=("C",)))
    assert set(tiny_hops.groups[split["val"]]) == {"B"}
    with pytest.raises(VmebError, match="not in the data"):
        split_hops(tiny_hops.groups, TrainConfig(test_groups=("Z",)))


def test_cnn_trains_and_checkpoint_round_trips(tiny_dataset, tiny_hops, tmp_path):
    config = TrainConfig(epochs=4, augment="lattice", **TINY_CNN)
    result = train_model([tiny_dataset], config, tmp_path, data=tiny_hops, progress=False)
    history = [json.loads(line) for line in (tmp_path / METRICS_FILE).read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["train_mae"] < history[0]["train_mae"]
    spread = np.abs(tiny_hops.barriers - tiny_hops.barriers.mean()).mean()
    assert result.val_mae < spread  # better than predicting the mean

    raw = torch.load(tmp_path / MODEL_FILE, map_location="cpu", weights_only=True)
    trained = load_checkpoint(tmp_path / MODEL_FILE)
    assert trained.kind == "cnn" and trained.species == SPECIES
    assert not trained.model.training
    state = trained.model.state_dict()
    assert set(state) == set(raw["state_dict"])
    assert all(torch.equal(state[k], raw["state_dict"][k]) for k in state)
    # the reloaded model reproduces the test MAE measured at the end of training
    test = np.isin(tiny_hops.groups, ["C"])
    pred = trained.predict_environments(tiny_hops.environments.take(test))
    mae = np.abs(pred - tiny_hops.barriers[test]).mean()
    assert mae == pytest.approx(result.test["mae"], abs=1e-6)
    again = load_checkpoint(tmp_path / MODEL_FILE).predict_environments(
        tiny_hops.environments.take(test)
    )
    np.testing.assert_array_equal(pred, again)


def test_resume_continues_from_saved_epoch(tiny_dataset, tiny_hops, tmp_path):
    straight = train_model(
        [tiny_dataset],
        TrainConfig(epochs=3, **TINY_CNN),
        tmp_path / "a",
        data=tiny_hops,
        progress=False,
    )
    train_model(
        [tiny_dataset],
        TrainConfig(epochs=2, **TINY_CNN),
        tmp_path / "b",
        data=tiny_hops,
        progress=False,
    )
    assert read_checkpoint(tmp_path / "b" / STATE_FILE)["progress"]["epoch"] == 2
    resumed = train_model(
        [tiny_dataset],
        TrainConfig(epochs=3, **TINY_CNN),
        tmp_path / "b",
        data=tiny_hops,
        resume=True,
        progress=False,
    )
    lines = (tmp_path / "b" / METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    # an interrupted run continues exactly where it stopped: same numbers as the straight run
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["train_mae"] == pytest.approx(b["train_mae"], rel=1e-6)
        assert a["val_mae"] == pytest.approx(b["val_mae"], rel=1e-6)
    with pytest.raises(VmebError, match="config differs"):
        train_model(
            [tiny_dataset],
            TrainConfig(epochs=4, **{**TINY_CNN, "filters": 5}),
            tmp_path / "b",
            data=tiny_hops,
            resume=True,
            progress=False,
        )


def test_lr_matches_sklearn(tiny_dataset, tiny_hops, tmp_path):
    config = TrainConfig(
        kind="lr",
        r_c=4.0,
        l_c=4.0,
        augment="none",
        template_cutoff=1.25,
        val_per_group=10,
        test_groups=("C",),
    )
    result = train_model([tiny_dataset], config, tmp_path, data=tiny_hops, progress=False)
    split = split_hops(tiny_hops.groups, config)
    env = tiny_hops.environments
    x = onehot_descriptors(env.positions, env.species, 3, site_template(1.25)).astype(np.float64)
    reference = LinearRegression().fit(x[split["train"]], tiny_hops.barriers[split["train"]])
    expected = reference.predict(x[split["test"]])
    trained = load_checkpoint(tmp_path / MODEL_FILE)
    ours = trained.predict_environments(env.take(split["test"]))
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert result.test["mae"] == pytest.approx(
        np.abs(expected - tiny_hops.barriers[split["test"]]).mean(), abs=1e-5
    )
    # the synthetic barrier is linear in first-shell one-hots: LR recovers it
    assert result.test["mae"] < 1e-3


def test_nn_trains(tiny_dataset, tiny_hops, tmp_path):
    config = TrainConfig(
        kind="nn",
        r_c=4.0,
        augment="lattice",
        template_cutoff=1.25,
        epochs=3,
        batch_size=16,
        val_per_group=10,
        test_groups=("C",),
    )
    result = train_model([tiny_dataset], config, tmp_path, data=tiny_hops, progress=False)
    assert result.history[-1]["train_mae"] < result.history[0]["train_mae"]
    trained = load_checkpoint(tmp_path / MODEL_FILE)
    assert trained.kind == "nn" and trained.template().n_sites == 14


def test_non_finite_steps_are_skipped_not_applied(
    tiny_dataset, tiny_hops, tmp_path, monkeypatch, caplog
):
    """A step whose loss is NaN (as bf16 kernels occasionally give) must not reach the weights;
    a run where every step is non-finite stops with a clear error instead of saving NaNs."""
    config = TrainConfig(kind="nn", r_c=4.0, augment="lattice", template_cutoff=1.25, epochs=2,
                         batch_size=16, val_per_group=10, test_groups=("C",))  # fmt: skip
    real = torch.nn.functional.l1_loss
    calls = {"n": 0}

    def every_third_nan(out, target):
        calls["n"] += 1
        loss = real(out, target)
        return loss * float("nan") if calls["n"] % 3 == 0 else loss

    monkeypatch.setattr(torch.nn.functional, "l1_loss", every_third_nan)
    result = train_model([tiny_dataset], config, tmp_path / "some", data=tiny_hops, progress=False)
    assert "steps skipped (non-finite loss" in caplog.text
    assert np.isfinite(result.val_mae) and np.isfinite(result.history[-1]["train_mae"])
    trained = load_checkpoint(tmp_path / "some" / MODEL_FILE)
    assert all(torch.isfinite(p).all() for p in trained.model.parameters())

    monkeypatch.setattr(torch.nn.functional, "l1_loss", lambda o, t: real(o, t) * float("nan"))
    with pytest.raises(VmebError, match="every training step gave a non-finite loss"):
        train_model([tiny_dataset], config, tmp_path / "all", data=tiny_hops, progress=False)


def test_corrupted_and_mismatched_checkpoints(tiny_dataset, tiny_hops, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(VmebError, match="bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(VmebError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    config = TrainConfig(epochs=1, **TINY_CNN)
    train_model([tiny_dataset], config, tmp_path / "run", data=tiny_hops, progress=False)
    record = torch.load(tmp_path / "run" / MODEL_FILE, weights_only=True)
    record["config"]["train"]["filters"] = 6
    torch.save(record, tmp_path / "mismatch.pt")
    with pytest.raises(VmebError, match="mismatch.pt: checkpoint does not match"):
        load_checkpoint(tmp_path / "mismatch.pt")


@pytest.mark.parametrize(
    ("line", "shown"),
    [("seed: -1", "seed = -1"), ("val_per_group: -1", "val_per_group = -1"),
     ("weight_decay: -1", "weight_decay = -1.0"), ("min_lr: .inf", "min_lr = inf"),
     ("ridge: -0.5", "ridge = -0.5"), ("lr: .inf", "lr = inf"),
     ("template_cutoff: -1", "template_cutoff = -1.0")],
)  # fmt: skip
def test_cli_config_file_bad_numbers_are_one_line(tiny_dataset, tmp_path, capsys, line, shown):
    """The flags refuse these values; a --config file used to pass them to the training (a
    traceback from numpy or torch after OUTPUT/config.yaml was written, or a run on them)."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(line + "\n")
    out = tmp_path / "run"
    argv = ["train", str(tiny_dataset.root), "-o", str(out), "--config", str(cfg)]
    assert vmeb_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cfg.yaml: " + shown in err[0], err
    assert not out.exists()


def test_cli_unknown_group_leaves_no_output(tiny_dataset, tmp_path, capsys):
    """A test group not in the data is found after OUTPUT/config.yaml is written; it stayed.
    The message named neither the setting nor the groups there are."""
    out = tmp_path / "run"
    argv = ["train", str(tiny_dataset.root), "-o", str(out), "--test-groups", "Z"]
    assert vmeb_main([*argv, "--kind", "lr", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert (
        "test_groups (--test-groups): group 'Z' not in the data; its groups are: A, B, C"
        in (err[0])
    )
    assert not out.exists()
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("kind: lr\nval_groups: [A, Y]\n")
    assert vmeb_main(["train", str(tiny_dataset.root), "-o", str(out), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        "val_groups (--val-groups): group 'Y' not in the data; its groups are: A, B, C" in (err[-1])
    )
    assert not out.exists()


def test_unknown_group_refused_before_any_environment(tiny_dataset, tmp_path, monkeypatch):
    """The environments take minutes on a large dataset; a mistyped group must not wait."""

    def no_environments(*args, **kwargs):
        raise AssertionError("environments computed before the group check")

    monkeypatch.setattr(training, "load_with_auxiliary", no_environments)
    config = TrainConfig(kind="lr", test_groups=("Z",))
    with pytest.raises(VmebError, match=r"group 'Z' not in the data; its groups are: A, B, C"):
        train_model([tiny_dataset], config, tmp_path / "run", progress=False)


def test_unknown_group_lists_at_most_twenty_groups():
    groups = np.array([f"g{k:02d}" for k in range(30)])
    with pytest.raises(VmebError) as caught:
        split_hops(groups, TrainConfig(test_groups=("Z",)))
    message = str(caught.value)
    assert message.endswith("g18, g19, ... (30 groups in all)") and "g20" not in message


def test_cli_no_progress_hides_every_bar(tiny_dataset, tmp_path, capsys):
    """The 'environments' bar of the hop environments was shown despite --no-progress."""
    out = tmp_path / "run"
    argv = ["train", str(tiny_dataset.root), "-o", str(out), "--kind", "lr", "--no-progress"]
    assert vmeb_main(argv) == 0
    err = capsys.readouterr().err
    assert "environments" not in err and "it/s" not in err, err


def test_cli_config_file_and_flags(tiny_dataset, tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "kind: cnn\ndepth: 1\nfilters: 4\nr_c: 4.0\nl_c: 4.0\ndelta: 1.0\nepochs: 5\n"
        "batch-size: 16\nval_per_group: 10\ntest_groups: [C]\n"
    )
    out = tmp_path / "run"
    status = vmeb_main(
        [
            "train",
            str(tiny_dataset.root),
            "-o",
            str(out),
            "--config",
            str(cfg),
            "--epochs",
            "1",
            "--threads",
            "1",
        ]
    )
    assert status == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0]["epoch"] == 1 and len(lines) == 2  # epochs flag beat the file's 5
    assert "test_mae" in lines[-1]
    assert load_checkpoint(out / MODEL_FILE).config["train"]["filters"] == 4
    # a second run into the same directory without --resume is refused; bad keys are one line
    assert vmeb_main(["train", str(tiny_dataset.root), "-o", str(out)]) == 2
    cfg.write_text("kind: cnn\nfliters: 3\n")
    assert (
        vmeb_main(
            ["train", str(tiny_dataset.root), "-o", str(tmp_path / "x"), "--config", str(cfg)]
        )
        == 2
    )
    assert "fliters" in capsys.readouterr().err


@pytest.mark.parametrize("change", [["--kind", "mlp"], ["--seed", "5"]], ids=["kind", "seed"])
def test_cli_refused_resume_writes_nothing(tiny_dataset, tmp_path, capsys, change):
    """A resume with another setting was refused only after config.yaml had been rewritten."""
    out = tmp_path / "run"
    argv = ["train", str(tiny_dataset.root), "-o", str(out), "--kind", "nn", "--r-c", "4.0",
            "--epochs", "1", "--val-per-group", "10", "--no-progress"]  # fmt: skip
    assert vmeb_main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert vmeb_main([*argv, "--resume", *change]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot resume: config differs in" in err[0], err
    assert change[0].lstrip("-") in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert vmeb_main([*argv, "--resume", "--epochs", "2"]) == 0  # only epochs may grow
    assert "epochs: 2" in (out / "config.yaml").read_text()
