"""Deep ensembles: statistics against numpy, calibration on known Gaussian answers, a tiny
2-member ensemble that trains, round-trips and predicts, and the ``vmeb ensemble`` CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.learn.ensembles import (
    ENSEMBLE_FILE,
    GAUSSIAN_WITHIN_1,
    GAUSSIAN_WITHIN_2,
    bootstrap_member,
    calibration_figure,
    calibration_report,
    combine_predictions,
    load_ensemble,
    member_dir,
    operation_predictions,
    predict_dataset,
    train_ensemble,
)
from vmeb.learn.predictors import set_precision
from vmeb.spectra.predict import predict_barriers_with_uncertainty
from vmeb.testing import TINY_CNN, make_dataset, random_alloy

SPECIES = ("Ta", "Nb", "Mo")
A = 3.30  # Å
#: Closed-form "true" barriers of the synthetic data: by moving species (eV).
BASE = {"Ta": 0.9, "Nb": 0.7, "Mo": 1.3}
#: Tolerance of a fraction estimated from N = 40,000 draws (binomial sd <= 0.0025).
FRACTION_TOL = 0.012


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Enumerator:
    """Stands in for a model to enumerate hops (barrier from the moving species + Ta count)."""

    species = SPECIES
    r_c = 4.5

    def predict_environments(self, env, batch_size=256, device="cpu"):
        near = (np.linalg.norm(env.positions, axis=2) < 3.0) & (env.species == 0)
        return 0.05 * near.sum(axis=1)


def _closed_form_dataset(root: Path, seed: int = 0, samples: int = 2, cells: int = 3) -> Path:
    """A dataset whose barriers are BASE[moving species] + 0.05 * (Ta near the vacancy)."""
    rng = np.random.default_rng(seed)
    structures = {f"s{k}": random_alloy(cells, rng) for k in range(samples)}
    groups = {f"s{k}": f"g{k}" for k in range(samples)}
    return make_dataset(
        root, structures, _Enumerator(), groups=groups, offset=BASE, source="closed-form"
    )


@pytest.fixture(scope="module")
def tiny_ensemble(tmp_path_factory):
    """(dataset, ensemble dir, result) of a 2-member tiny-CNN ensemble."""
    import torch

    from vmeb.data.dataset import open_dataset
    from vmeb.learn.settings import TrainConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread avoids contention on shared cores
    try:
        root = tmp_path_factory.mktemp("ens")
        dataset = _closed_form_dataset(root / "data")
        config = TrainConfig(**TINY_CNN, seed=3, val_per_group=40)
        result = train_ensemble([open_dataset(dataset)], config, root / "ens", 2, progress=False)
    finally:
        torch.set_num_threads(threads)
    return dataset, root / "ens", result


def test_combine_predictions_equals_numpy():
    rng = np.random.default_rng(0)
    per_op = rng.normal(1.0, 0.1, size=(4, 16, 50))
    got = combine_predictions(per_op)
    members = per_op.mean(axis=1)
    np.testing.assert_allclose(got.members, members)
    np.testing.assert_allclose(got.mean, members.mean(axis=0))
    np.testing.assert_allclose(got.epistemic_std, members.std(axis=0, ddof=0))
    angle = np.sqrt(np.mean([per_op[k].var(axis=0) for k in range(4)], axis=0))
    np.testing.assert_allclose(got.angle_std, angle)
    np.testing.assert_allclose(got.total_std, np.hypot(members.std(axis=0), angle))


def test_calibration_on_gaussian_errors_gives_known_fractions():
    rng = np.random.default_rng(1)
    n = 40_000
    sigma = rng.uniform(0.02, 0.3, n)
    true = rng.uniform(0.5, 2.0, n)
    predicted = true + rng.normal(0.0, sigma)
    report = calibration_report(true, predicted, sigma)
    assert GAUSSIAN_WITHIN_1 == pytest.approx(0.682689, abs=1e-6)
    assert GAUSSIAN_WITHIN_2 == pytest.approx(0.954500, abs=1e-6)
    assert report.within_1sigma == pytest.approx(0.6827, abs=FRACTION_TOL)
    assert report.within_2sigma == pytest.approx(0.9545, abs=FRACTION_TOL)
    assert report.sigma_scale == pytest.approx(1.0, abs=0.02)
    assert report.spearman > 0.4 and report.spearman_p < 1e-12
    # reliability diagram: the RMSE of each sigma bin follows its RMS sigma
    np.testing.assert_allclose(report.bins["rmse"], report.bins["rms_sigma"], rtol=0.06)
    assert report.bins["count"].sum() == n
    # sigmas stated at half their true size: within 1 stated sigma = P(|z| <= 0.5) = 0.3829
    half = calibration_report(true, predicted, sigma / 2)
    assert half.within_1sigma == pytest.approx(math.erf(0.5 / math.sqrt(2)), abs=FRACTION_TOL)
    assert half.sigma_scale == pytest.approx(2.0, abs=0.04)
    # sigma unrelated to the errors: no rank correlation
    shuffled = calibration_report(true, predicted, rng.permutation(sigma))
    assert abs(shuffled.spearman) < 0.02
    calibration_figure(true[:500], predicted[:500], sigma[:500], title="synthetic")


def test_calibration_rejects_bad_input():
    with pytest.raises(VmebError, match="lengths differ"):
        calibration_report([1.0, 2.0], [1.0], [0.1, 0.1])
    with pytest.raises(VmebError, match="not > 0"):
        calibration_report([1.0, 2.0], [1.0, 2.0], [0.1, 0.0])


def test_bootstrap_member_keeps_validation_apart():
    from vmeb.learn.environment import LocalEnvironments
    from vmeb.learn.hops import HopData, split_hops
    from vmeb.learn.settings import TrainConfig

    n = 300
    groups = np.repeat(["a", "b", "c"], 100)
    env = LocalEnvironments(
        positions=np.zeros((n, 2, 3), np.float32),
        species=np.zeros((n, 2), np.int64),
        atom_index=np.tile(np.arange(n)[:, None], (1, 2)),  # hop identity travels with the data
    )
    data = HopData(env, np.arange(n, dtype=float), groups, SPECIES)
    config = TrainConfig(**TINY_CNN, seed=5, val_per_group=10, test_groups=("c",))
    split = split_hops(groups, config)
    member, member_config = bootstrap_member(data, config, np.random.default_rng(0))
    again = split_hops(member.groups, member_config)
    hop_id = member.environments.atom_index[:, 0]
    np.testing.assert_array_equal(np.sort(hop_id[again["val"]]), split["val"])
    np.testing.assert_array_equal(np.sort(hop_id[again["test"]]), split["test"])
    train_ids = hop_id[again["train"]]
    assert len(train_ids) == len(split["train"])
    assert set(train_ids) <= set(split["train"].tolist())
    assert len(set(train_ids)) < len(train_ids)  # drawn with replacement
    for g in ("a", "b"):  # resampled within each group, group sizes kept
        assert np.sum(groups[train_ids] == g) == np.sum(groups[split["train"]] == g)
    np.testing.assert_array_equal(member.barriers, hop_id.astype(float))


def test_tiny_ensemble_trains_and_round_trips(tiny_ensemble):
    from vmeb.data.dataset import open_dataset
    from vmeb.learn.checkpoints import load_checkpoint
    from vmeb.learn.environment import hop_environments

    dataset_path, root, result = tiny_ensemble
    header = json.loads((root / ENSEMBLE_FILE).read_text())
    assert [m["seed"] for m in header["members"]] == [3, 4]
    assert header["species"] == list(SPECIES)
    assert all(np.isfinite(result.val_mae))
    ensemble = load_ensemble(root)
    assert len(ensemble.members) == 2 and ensemble.species == SPECIES

    dataset = open_dataset(dataset_path)
    hops = dataset.valid_hops().iloc[:40]
    atoms = dataset.structure("s0")
    env = hop_environments(atoms, hops.vacancy_index, hops.moving_index, SPECIES, r_c=4.5)
    prediction = ensemble.predict_uncertainty(env)
    singles = np.stack(
        [
            load_checkpoint(member_dir(root, k) / "model.pt").predict_environments(env)
            for k in range(2)
        ]
    )
    np.testing.assert_allclose(prediction.members, singles, atol=1e-6)
    np.testing.assert_allclose(prediction.mean, singles.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(prediction.epistemic_std, singles.std(axis=0), atol=1e-6)
    assert np.ptp(singles[0] - singles[1]) > 1e-4  # the seeds made different members

    per_op = operation_predictions(ensemble.members[0], env)
    assert per_op.shape == (16, len(env))  # 8 angles x mirror
    np.testing.assert_allclose(per_op.mean(axis=0), singles[0], atol=1e-6)
    # the spread is taken at the model's prediction precision, as its barriers are
    member = set_precision(load_checkpoint(member_dir(root, 0) / "model.pt"), "bf16")
    in_bf16 = operation_predictions(member, env).mean(axis=0)
    np.testing.assert_allclose(in_bf16, member.predict_environments(env), atol=1e-6)
    assert np.abs(in_bf16 - singles[0]).max() > 1e-5  # bf16 arithmetic, not fp32
    np.testing.assert_allclose(
        prediction.angle_std,
        np.sqrt(np.mean([operation_predictions(m, env).var(axis=0) for m in ensemble.members], 0)),
        atol=1e-6,
    )
    assert prediction.angle_std.max() > 0

    table = predict_barriers_with_uncertainty(ensemble, atoms, [0, 7, 20], progress=False)
    direct = ensemble.predict_uncertainty(
        hop_environments(atoms, table.site, table.moving_index, SPECIES, r_c=4.5)
    )
    np.testing.assert_allclose(table.barrier, direct.mean, atol=1e-6)
    np.testing.assert_allclose(table.barrier_std, direct.epistemic_std, atol=1e-6)
    np.testing.assert_allclose(table.total_std, direct.total_std, atol=1e-6)

    scored = predict_dataset(ensemble, dataset)
    assert len(scored) == len(dataset.valid_hops())
    sel = (scored.sample_id == "s0").to_numpy()
    rows = scored[sel].iloc[:40]
    np.testing.assert_allclose(rows.predicted, prediction.mean, atol=1e-6)
    np.testing.assert_allclose(scored.error, scored.predicted - scored.barrier)


def test_resume_keeps_finished_members(tiny_ensemble, tmp_path):
    from vmeb.data.dataset import open_dataset
    from vmeb.learn.settings import TrainConfig

    dataset_path, root, _ = tiny_ensemble
    config = TrainConfig(**TINY_CNN, seed=3, val_per_group=40)
    with pytest.raises(VmebError, match="already holds an ensemble"):
        train_ensemble([open_dataset(dataset_path)], config, root, 2, progress=False)
    before = (member_dir(root, 0) / "model.pt").read_bytes()
    again = train_ensemble(
        [open_dataset(dataset_path)], config, root, 2, resume=True, progress=False
    )
    assert (member_dir(root, 0) / "model.pt").read_bytes() == before
    assert len(again.model_paths) == 2
    with pytest.raises(VmebError, match="at least 2"):
        train_ensemble([open_dataset(dataset_path)], config, tmp_path / "one", 1)


def test_load_ensemble_rejects_bad_directories(tiny_ensemble, tmp_path):
    with pytest.raises(VmebError, match="not an ensemble directory"):
        load_ensemble(tmp_path)
    (tmp_path / ENSEMBLE_FILE).write_text("{not json")
    with pytest.raises(VmebError, match="unreadable"):
        load_ensemble(tmp_path)
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps({"format": "other"}))
    with pytest.raises(VmebError, match="not a vmeb-ensemble"):
        load_ensemble(tmp_path)
    header = json.loads((tiny_ensemble[1] / ENSEMBLE_FILE).read_text())
    (tmp_path / ENSEMBLE_FILE).write_text(json.dumps(header))
    with pytest.raises(VmebError, match="member checkpoint missing"):
        load_ensemble(tmp_path)


def test_cli_ensemble_train_no_progress_hides_every_bar(tmp_path, capsys):
    """The 'environments' bar of the shared hop environments was shown despite --no-progress."""
    dataset = _closed_form_dataset(tmp_path / "data")
    argv = ["ensemble", "train", str(dataset), "--members", "2", "--kind", "lr", "--r-c", "4.5"]
    assert main([*argv, "-o", str(tmp_path / "ens"), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "environments" not in err and "it/s" not in err, err


def test_cli_ensemble_train_predict_calibrate(tiny_ensemble, tmp_path, capsys):
    import torch

    from vmeb.structure.io import write_structure_file

    dataset, _, _ = tiny_ensemble
    torch.set_num_threads(1)
    out = tmp_path / "ens"
    flags = [
        "--kind",
        "cnn",
        "--depth",
        "1",
        "--filters",
        "4",
        "--r-c",
        "4.5",
        "--l-c",
        "5.0",
        "--delta",
        "1.25",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--val-per-group",
        "40",
    ]
    status = main(
        [
            "ensemble",
            "train",
            str(dataset),
            "--members",
            "2",
            "--bootstrap",
            "-o",
            str(out),
            "--no-progress",
            *flags,
        ]
    )
    assert status == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert {line.get("member") for line in lines[:-1]} == {0, 1}
    assert lines[-1]["members"] == 2
    assert json.loads((out / ENSEMBLE_FILE).read_text())["bootstrap"] is True

    structure = tmp_path / "s.extxyz"
    write_structure_file(structure, random_alloy(2, np.random.default_rng(9)))
    assert (
        main(
            [
                "ensemble",
                "predict",
                str(out),
                str(structure),
                "-o",
                str(tmp_path / "p"),
                "--no-progress",
            ]
        )
        == 0
    )
    hops = pd.read_csv(tmp_path / "p" / "hops.csv")
    assert len(hops) == 8 * 16
    assert {"barrier", "barrier_std", "angle_std", "total_std"} <= set(hops.columns)
    np.testing.assert_allclose(
        hops.total_std, np.hypot(hops.barrier_std, hops.angle_std), atol=1e-6
    )
    assert (tmp_path / "p" / "spectrum.png").is_file()

    assert (
        main(
            [
                "ensemble",
                "calibrate",
                str(out),
                str(dataset),
                "-o",
                str(tmp_path / "c"),
                "--no-progress",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "c" / "calibration.json").read_text())
    table = pd.read_csv(tmp_path / "c" / "predictions.csv")
    error = np.abs(table.predicted - table.barrier)
    assert report["within_1sigma"] == pytest.approx(np.mean(error <= table.total_std))
    assert report["n"] == len(table) == 2 * 54 * 8
    assert (tmp_path / "c" / "calibration.png").is_file()
    capsys.readouterr()

    assert main(["ensemble", "calibrate", str(out), str(dataset), "-o", str(tmp_path / "c")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(["ensemble", "predict", str(tmp_path), str(structure), "-o", str(tmp_path / "q")]) == 2
    )
    err = capsys.readouterr().err
    assert "not an ensemble directory" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "q").exists()


def test_mixed_ensemble_assembles_ships_and_evaluates(tiny_ensemble, tmp_path):
    """A CNN member and an NN member trained apart: one ensemble whose barrier is their mean,
    loadable by `load_model` from its folder and, once shipped, by name."""
    from vmeb.data.dataset import open_dataset
    from vmeb.learn import pretrained
    from vmeb.learn.checkpoints import load_checkpoint
    from vmeb.learn.ensembles import assemble_ensemble
    from vmeb.learn.evaluate import evaluate_model
    from vmeb.learn.predictors import load_model
    from vmeb.learn.settings import TrainConfig
    from vmeb.learn.training import train_model

    dataset_path, root, _ = tiny_ensemble
    dataset = open_dataset(dataset_path)
    nn_config = TrainConfig(kind="nn", r_c=4.5, augment="lattice", epochs=2, batch_size=32,
                            val_per_group=40, seed=1)  # fmt: skip
    nn_path = train_model([dataset], nn_config, tmp_path / "nn", progress=False).model_path
    cnn_path = member_dir(root, 0) / "model.pt"
    mixed = assemble_ensemble(tmp_path / "mixed", [cnn_path, nn_path])
    with pytest.raises(VmebError, match="already exists"):
        assemble_ensemble(mixed, [cnn_path])
    header = json.loads((mixed / ENSEMBLE_FILE).read_text())
    assert [m["kind"] for m in header["members"]] == ["cnn", "nn"]
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    assert main(["ensemble", "assemble", str(nn_path), str(bogus), "-o", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "b").exists()  # nothing half-written
    cli = tmp_path / "cli"
    assert main(["ensemble", "assemble", str(cnn_path), str(nn_path), "-o", str(cli)]) == 0
    assert json.loads((cli / ENSEMBLE_FILE).read_text())["members"] == header["members"]

    ensemble = load_model(mixed)
    singles = [load_checkpoint(p) for p in (cnn_path, nn_path)]
    assert ensemble.lattice_range == singles[0].lattice_range  # same training samples
    assert ensemble.composition_range == singles[0].composition_range is not None
    first = dict(singles[0].composition_range)
    shifted = {s: (lo - 0.2, hi - 0.1) for s, (lo, hi) in first.items()}
    ensemble.members[1].composition_range = shifted
    assert ensemble.composition_range == {s: (lo - 0.2, hi) for s, (lo, hi) in first.items()}
    ensemble.members[1].composition_range = None  # an older member: not checked
    assert ensemble.composition_range is None
    ensemble.members[1].composition_range = first
    report = evaluate_model(ensemble, dataset, progress=False)
    alone = [evaluate_model(s, dataset, progress=False).hops["predicted"] for s in singles]
    np.testing.assert_allclose(report.hops["predicted"], (alone[0] + alone[1]) / 2, atol=1e-6)

    sample = tmp_path / "s0.extxyz"
    dataset.structure("s0").write(sample)
    out = tmp_path / "spectrum"
    assert main(["predict", str(mixed), str(sample), "-o", str(out), "--no-progress"]) == 0
    table = pd.read_csv(out / "hops.csv")
    s0 = report.hops[report.hops.sample_id == "s0"]
    merged = table.merge(s0, left_on=["site", "moving_index"],
                         right_on=["vacancy_index", "moving_index"])  # fmt: skip
    assert len(merged) == len(s0) > 0
    np.testing.assert_allclose(merged["barrier_x"], merged["predicted"], atol=1e-5)

    card = {key: "x" for key in pretrained.CARD_FIELDS} | {"checkpoint": "ensemble"}
    shipped = pretrained.write_pretrained("mix", mixed, card, "# mix\n", root=tmp_path / "pkg")
    assert sorted(p.name for p in (shipped / "ensemble").rglob("*") if p.is_file()) == [
        "ensemble.json", "model.pt", "model.pt",
    ]  # fmt: skip
    path = pretrained.pretrained_path("mix", root=tmp_path / "pkg")
    again = load_model(path)
    np.testing.assert_allclose(
        evaluate_model(again, dataset, progress=False).hops["predicted"],
        report.hops["predicted"],
        atol=1e-9,
    )
