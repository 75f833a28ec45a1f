"""The main job, end to end: samples -> NEB barriers -> compact CNN -> evaluation -> spectrum.

`run_pipeline` chains the stages of vmeb on one configuration (`PipelineConfig`; the built-in
default is the README's main job on the built-in Ta-Nb-Mo EAM):

1. ``samples``: random BCC Ta-Nb-Mo samples at the training and test compositions
   (`vmeb.lammps.lattice.random_alloy_for_potential`, lattice constants relaxed with the potential);
2. ``neb``: climbing-image NEB campaigns over random vacancy sites of the samples
   (`vmeb.neb.campaign.run_neb_campaign`) into two datasets, ``data/train`` and ``data/test``
   (the test compositions are never trained or validated on);
3. ``train``: the compact CNN on the training dataset (`vmeb.learn.training.train_model`);
4. ``evaluate``: the model on the held-out compositions: MAE, RMSE, R^2, parity plot and
   distributions (`vmeb.learn.evaluate`);
5. ``predict``: the barrier spectrum of a larger sample (2,000 atoms, equiatomic by default),
   per moving species, with the NEB barriers of the test composition as the reference
   (`vmeb.spectra.predict`);
6. ``summary``: ``summary.json``, the figures in ``figures/``, and a table (`summary_table`).

Every stage writes under the output directory ``OUT`` and records ``OUT/stages/<stage>.json``
when it has finished; running the pipeline again skips finished stages (the NEB campaigns and
the training also resume from inside when they were cut short). ``OUT/config.json`` keeps the
configuration; rerunning ``OUT`` with another configuration is an error.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmeb.config import check_bounds, config_from_mapping, read_config
from vmeb.errors import VmebError, file_error
from vmeb.files import atomic_output, read_json_record, staged_output, write_json

logger = logging.getLogger(__name__)

STAGES = ("samples", "neb", "train", "evaluate", "predict", "summary")

#: The compact CNN (as ``configs/dft_cnn_compact.yaml``): 8^3 SDMs of 1.5 Å voxels (l_c 6 Å),
#: 4 conv layers of 32 filters, lattice-aligned rotations and mirrors; trains on 2 CPU cores
#: in minutes.
COMPACT_CNN: dict[str, Any] = {
    "kind": "cnn",
    "depth": 1,
    "filters": 32,
    "r_c": 7.6,
    "l_c": 6.0,
    "delta": 1.5,
    "augment": "lattice",
    "mirror": True,
    "batch_size": 32,
    "epochs": 40,
    "lr": 1e-3,
    "lr_patience": 3,
    "patience": 8,
    "val_per_group": 16,
}


@dataclass(frozen=True)
class PipelineConfig:
    """The main job's settings; a YAML/JSON config file has these keys.

    Attributes:
        potential: Potential spec (`vmeb.lammps.potentials.load_potential`).
        train_compositions: Compositions of the training samples
            (`vmeb.structure.build.parse_composition`).
        test_compositions: Held-out compositions (NEB reference for evaluation only).
        cells: Conventional cells per edge of the NEB samples (2 cells^3 atoms).
        samples_per_composition: Random samples per composition.
        sites_per_sample: Random vacancy sites per sample (8 hops each); None = every atom.
        neb: `vmeb.neb.site.NEBConfig` fields that differ from the paper's defaults.
        train: `vmeb.learn.settings.TrainConfig` fields (default: `COMPACT_CNN`).
        predict_composition: Composition of the sample whose spectrum is predicted.
        predict_cells: Its conventional cells per edge (10: 2,000 atoms).
        lattice_constant: Lattice constant of every sample (Å); None relaxes it with the
            potential at each composition (`vmeb.lammps.session.lattice_constant`, cached).
        seed: Seed of samples, site draws and training.
        workers: Local NEB worker processes (default: cores / MPI ranks per NEB).
        threads: Torch CPU threads (default: all cores of this process).
    """

    potential: str = "default"
    train_compositions: tuple[str, ...] = (
        "Ta50Nb25Mo25",
        "Ta25Nb50Mo25",
        "Ta25Nb25Mo50",
        "Ta40Nb40Mo20",
        "Ta20Nb40Mo40",
    )
    test_compositions: tuple[str, ...] = ("TaNbMo",)
    cells: int = 4
    samples_per_composition: int = 1
    sites_per_sample: int | None = 10
    neb: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=lambda: dict(COMPACT_CNN))
    predict_composition: str = "TaNbMo"
    predict_cells: int = 10
    lattice_constant: float | None = None
    seed: int = 0
    workers: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("train_compositions", "test_compositions"):
            object.__setattr__(self, name, tuple(str(c) for c in getattr(self, name)))
        object.__setattr__(self, "neb", dict(self.neb))
        object.__setattr__(self, "train", dict(self.train))
        if not self.train_compositions or not self.test_compositions:
            raise VmebError("the pipeline needs at least one training and one test composition")
        if self.cells < 2 or self.predict_cells < 2 or self.samples_per_composition < 1:
            raise VmebError("cells and predict_cells must be >= 2, samples_per_composition >= 1")
        if self.sites_per_sample is not None and self.sites_per_sample < 1:
            raise VmebError("sites_per_sample must be positive (or null for every atom)")
        from vmeb.structure.build import composition_label, parse_composition  # noqa: PLC0415

        train = {composition_label(parse_composition(c)) for c in self.train_compositions}
        test = {composition_label(parse_composition(c)) for c in self.test_compositions}
        if train & test:
            raise VmebError(f"compositions {sorted(train & test)} are both training and test")
        parse_composition(self.predict_composition)
        self._check_numbers()
        self.neb_config()  # validate now, not after an hour of NEB
        self.train_config()

    def _check_numbers(self) -> None:
        """Refuse a lattice constant, seed, worker or thread count out of range (by name)."""
        if self.lattice_constant is not None:
            check_bounds(self, positive=("lattice_constant",))
        check_bounds(self, nonnegative=("seed",))
        for name in ("workers", "threads"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise VmebError(f"{name} = {value!r}: {name} must be a whole number >= 1 (or null)")

    def elements(self) -> tuple[str, ...]:
        """Every element of the training, test and predicted compositions."""
        from vmeb.structure.build import parse_composition  # noqa: PLC0415

        texts = (*self.train_compositions, *self.test_compositions, self.predict_composition)
        found = {s for text in texts for s, x in parse_composition(text).items() if x > 0}
        return tuple(sorted(found))

    @classmethod
    def quick(cls) -> PipelineConfig:
        """A tiny run of every stage for tests and smoke checks (about a minute on 2 cores)."""
        return cls(
            train_compositions=("Ta2Nb1Mo1", "Ta1Nb2Mo1"),
            test_compositions=("TaNbMo",),
            cells=3,
            sites_per_sample=1,
            neb={
                "n_replicas": 5,
                "ftol": 0.01,
                "max_steps": 200,
                "climb_steps": 400,
                "retry_replicas": [],
                "relax_ftol": 1e-3,
            },
            train={**COMPACT_CNN, "filters": 8, "epochs": 2, "batch_size": 4, "val_per_group": 2},
            predict_cells=3,
            lattice_constant=3.25,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: PipelineConfig | None = None):
        """A config from a mapping (a config file); keys not given keep ``base``'s values."""
        return config_from_mapping(cls, data, base=base or cls(), what="pipeline config")

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON-serialisable dict."""
        out = asdict(self)
        for name in ("train_compositions", "test_compositions"):
            out[name] = list(out[name])
        out["neb"], out["train"] = dict(self.neb), dict(self.train)
        return out

    def neb_config(self):
        """The `vmeb.neb.site.NEBConfig` of the campaigns."""
        from vmeb.neb.site import NEBConfig  # noqa: PLC0415

        return config_from_mapping(
            NEBConfig, dict(self.neb), "pipeline 'neb' settings", what="NEB settings"
        )

    def train_config(self):
        """The `vmeb.learn.settings.TrainConfig` of the model (held-out groups are separate
        data)."""
        from vmeb.learn.settings import TrainConfig  # noqa: PLC0415

        values = {**dict(self.train), "seed": self.train.get("seed", self.seed)}
        return config_from_mapping(
            TrainConfig, values, "pipeline 'train' settings", what="training config"
        )


def load_config(path: str | os.PathLike | None, quick: bool = False) -> PipelineConfig:
    """The pipeline config: the built-in default (or `PipelineConfig.quick`), updated by a
    YAML/JSON file whose keys are `PipelineConfig` fields.

    Raises:
        VmebError: naming the file, if it cannot be read or has unknown keys.
    """
    base = PipelineConfig.quick() if quick else PipelineConfig()
    if path is None:
        return base
    data = read_config(path, "pipeline config")
    return config_from_mapping(PipelineConfig, data, path, base=base, what="pipeline config")


# --------------------------------------------------------------------------------------------
# Output directory, stage records
# --------------------------------------------------------------------------------------------


def check_potential(config: PipelineConfig) -> None:
    """Refuse, before any output exists, a potential that cannot be loaded or lacks an element
    of the compositions (found only by the samples or NEB stage before)."""
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415

    try:
        potential = load_potential(config.potential)
    except VmebError as exc:
        raise VmebError(f"pipeline config: potential {config.potential!r}: {exc}") from None
    missing = [s for s in config.elements() if s not in potential.elements]
    if missing:
        raise VmebError(
            f"pipeline config: potential {config.potential!r} has no parameters for {missing} "
            f"of the compositions; it knows {list(potential.elements)}"
        )


def _open_output(out: Path, config: PipelineConfig) -> None:
    """Create ``out`` with its config, or check that an existing one used the same config.

    An output without any finished stage (a run refused or stopped in its first stage) holds
    nothing made with its config, so it takes the new one."""
    record = out / "config.json"
    wanted = json.loads(json.dumps(config.to_json()))
    existing = read_json_record(record)
    if (
        existing is not None
        and existing != wanted
        and not any(_stage_file(out, s).exists() for s in STAGES)
    ):
        logger.info("%s: no stage finished under the old config; taking the new one", out)
        write_json(record, wanted)
        return
    if existing is not None:
        if existing != wanted:
            changed = sorted(k for k in wanted if existing.get(k) != wanted[k])
            raise file_error(
                record,
                f"this output was made with another config (differs in {changed}); "
                "use a new output directory or the same config",
            )
        return
    if out.exists() and any(out.iterdir()):
        raise file_error(out, "exists and is not a vmeb run directory; choose another output")
    write_json(record, wanted)


def _stage_file(out: Path, stage: str) -> Path:
    return out / "stages" / f"{stage}.json"


def _run_stage(
    out: Path, stage: str, func: Callable[[], dict[str, Any]], timings: dict[str, float]
) -> dict[str, Any]:
    """Run a stage unless its record exists; return its record."""
    path = _stage_file(out, stage)
    if path.exists():
        logger.info("stage %s: done before, skipped", stage)
        record = read_json_record(path)
        timings[stage] = float(record.get("seconds", 0.0))
        return record
    logger.info("stage %s: running", stage)
    start = time.perf_counter()
    record = func()
    record["seconds"] = round(time.perf_counter() - start, 2)
    timings[stage] = record["seconds"]
    write_json(path, record)
    return record


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------


def _sample_specs(config: PipelineConfig) -> list[tuple[str, str, str, int]]:
    """(split, sample id, composition label, seed) of every NEB sample."""
    from vmeb.structure.build import composition_label, parse_composition  # noqa: PLC0415

    specs = []
    for split, compositions in (
        ("train", config.train_compositions),
        ("test", config.test_compositions),
    ):
        for k, text in enumerate(compositions):
            label = composition_label(parse_composition(text))
            for n in range(config.samples_per_composition):
                seed = config.seed * 1000 + 100 * (split == "test") + 10 * k + n
                specs.append((split, f"{label}_s{n}", label, seed))
    return specs


def stage_samples(out: Path, config: PipelineConfig) -> dict[str, Any]:
    """Build the NEB samples into ``OUT/samples/<split>/<id>.extxyz``."""
    from vmeb.lammps.lattice import random_alloy_for_potential  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.structure.build import composition_label, parse_composition  # noqa: PLC0415
    from vmeb.structure.io import write_structure_file  # noqa: PLC0415

    potential = load_potential(config.potential)
    by_label = {
        composition_label(parse_composition(text)): text
        for text in config.train_compositions + config.test_compositions
    }
    with staged_output(out / "samples", overwrite=True) as staging:
        record: dict[str, Any] = {"samples": []}
        for split, sample_id, label, seed in _sample_specs(config):
            atoms = random_alloy_for_potential(
                by_label[label],
                config.cells,
                a=config.lattice_constant,
                potential=potential,
                seed=seed,
            )
            atoms.info["group"] = label
            write_structure_file(staging / split / f"{sample_id}.extxyz", atoms)
            record["samples"].append(
                {
                    "split": split,
                    "id": sample_id,
                    "group": label,
                    "atoms": len(atoms),
                    "a": atoms.info["a"],
                }
            )
    return record


def _read_samples(out: Path, split: str) -> tuple[dict[str, Any], dict[str, str]]:
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    samples, groups = {}, {}
    for path in sorted((out / "samples" / split).glob("*.extxyz")):
        atoms = read_structure(path)
        samples[path.stem] = atoms
        groups[path.stem] = str(atoms.info.get("group") or atoms.get_chemical_formula())
    if not samples:
        raise file_error(out / "samples" / split, "no samples (delete OUT/stages/samples.json)")
    return samples, groups


def stage_neb(out: Path, config: PipelineConfig, progress: bool) -> dict[str, Any]:
    """NEB campaigns over the train and test samples into ``OUT/data/{train,test}``."""
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.neb.campaign import run_neb_campaign  # noqa: PLC0415

    potential = load_potential(config.potential)
    record: dict[str, Any] = {}
    for split in ("train", "test"):
        samples, groups = _read_samples(out, split)
        report = run_neb_campaign(
            samples,
            out / "data" / split,
            potential,
            config.neb_config(),
            sites=config.sites_per_sample,
            seed=config.seed,
            workers=config.workers,
            groups=groups,
            progress=progress,
        )
        record[split] = report.to_json()
    return record


def stage_train(out: Path, config: PipelineConfig, progress: bool) -> dict[str, Any]:
    """Train the model on ``OUT/data/train`` into ``OUT/model`` (resumes a cut-short run)."""
    from vmeb.data.dataset import open_dataset  # noqa: PLC0415
    from vmeb.learn.checkpoints import STATE_FILE  # noqa: PLC0415
    from vmeb.learn.training import train_model  # noqa: PLC0415

    model_dir = out / "model"
    resume = (model_dir / STATE_FILE).exists()
    result = train_model(
        [open_dataset(out / "data" / "train")],
        config.train_config(),
        model_dir,
        resume=resume,
        progress=progress,
    )
    return {
        "model": str(result.model_path),
        "best_epoch": result.best_epoch,
        "val_mae": result.val_mae,
        "epochs": len(result.history),
    }


def stage_evaluate(out: Path, model_path: Path, progress: bool) -> dict[str, Any]:
    """Evaluate the model on the held-out compositions into ``OUT/evaluate``."""
    from vmeb.data.dataset import open_dataset  # noqa: PLC0415
    from vmeb.learn.checkpoints import load_checkpoint  # noqa: PLC0415
    from vmeb.learn.evaluate import evaluate_model, write_report  # noqa: PLC0415

    trained = load_checkpoint(model_path)
    dataset = open_dataset(out / "data" / "test")
    report = evaluate_model(trained, dataset, progress=progress)
    meta = {"model": str(model_path), "dataset": str(dataset.root)}
    with staged_output(out / "evaluate", overwrite=True) as staging:
        write_report(report, staging, meta=meta)
    return report.to_json()


def stage_predict(
    out: Path, config: PipelineConfig, model_path: Path, progress: bool
) -> dict[str, Any]:
    """Predict every hop of a larger sample; its spectrum directory (and sample.extxyz) into
    ``OUT/predict`` (`vmeb.spectra.output.write_spectrum`)."""
    from vmeb.data.dataset import open_dataset  # noqa: PLC0415
    from vmeb.lammps.lattice import random_alloy_for_potential  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.learn.checkpoints import load_checkpoint  # noqa: PLC0415
    from vmeb.spectra.output import write_spectrum  # noqa: PLC0415
    from vmeb.spectra.predict import predict_barriers  # noqa: PLC0415

    trained = load_checkpoint(model_path)
    atoms = random_alloy_for_potential(
        config.predict_composition,
        config.predict_cells,
        a=config.lattice_constant,
        potential=load_potential(config.potential),
        seed=config.seed + 7,
    )
    start = time.perf_counter()
    table = predict_barriers(trained, atoms, progress=progress)
    seconds = time.perf_counter() - start
    written = write_spectrum(
        out / "predict",
        table,
        atoms,
        trained.species,
        meta={"model": str(model_path), "composition": config.predict_composition},
        structure="sample.extxyz",
        reference=open_dataset(out / "data" / "test").valid_hops(),
        title=f"{config.predict_composition}, {len(atoms)} atoms: CNN (curves) vs NEB test (bars)",
        overwrite=True,
    )
    return {
        "atoms": len(atoms),
        "hops": len(table),
        "seconds": round(seconds, 2),
        "barriers_per_second": len(table) / max(seconds, 1e-9),
        "spectrum": written.summary["spectra"],
    }


def stage_summary(out: Path, records: Mapping[str, Any], timings: Mapping[str, float]):
    """Collect the figures into ``OUT/figures`` and write ``OUT/summary.json``."""
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    copies = {
        "parity.png": out / "evaluate" / "parity.png",
        "distributions.png": out / "evaluate" / "distributions.png",
        "spectrum.png": out / "predict" / "spectrum.png",
    }
    for name, source in copies.items():
        if source.exists():
            with atomic_output(figures / name) as tmp:
                shutil.copyfile(source, tmp)
    neb = records["neb"]
    hops_total = sum(neb[s]["n_hops_ok"] + neb[s]["n_hops_failed"] for s in ("train", "test"))
    failed = sum(neb[s]["n_hops_failed"] for s in ("train", "test"))
    summary = {
        "neb": {
            "hops": hops_total,
            "failed": failed,
            "failed_fraction": failed / max(hops_total, 1),
            "train": neb["train"],
            "test": neb["test"],
        },
        "train": records["train"],
        "evaluate": {k: records["evaluate"][k] for k in ("overall", "per_group", "per_species")},
        "predict": records["predict"],
        "seconds": dict(timings),
        "figures": sorted(str(p.relative_to(out)) for p in figures.glob("*.png")),
    }
    write_json(out / "summary.json", summary)
    return summary


# --------------------------------------------------------------------------------------------
# Driver and table
# --------------------------------------------------------------------------------------------


def run_pipeline(
    out: str | os.PathLike, config: PipelineConfig | None = None, progress: bool = True
) -> dict[str, Any]:
    """Run (or resume) the main job into ``out``.

    Args:
        out: Output directory (created; an existing run directory resumes).
        config: The settings (default: the built-in default, `PipelineConfig()`).
        progress: Show progress bars.

    Returns:
        The summary (also in ``out/summary.json``).
    """
    import torch  # noqa: PLC0415

    config = config or PipelineConfig()
    out = Path(out)
    check_potential(config)
    _open_output(out, config)
    threads = config.threads or (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    torch.set_num_threads(max(1, int(threads or 1)))
    timings: dict[str, float] = {}
    records: dict[str, Any] = {}
    records["samples"] = _run_stage(out, "samples", lambda: stage_samples(out, config), timings)
    records["neb"] = _run_stage(out, "neb", lambda: stage_neb(out, config, progress), timings)
    records["train"] = _run_stage(out, "train", lambda: stage_train(out, config, progress), timings)
    model_path = Path(records["train"]["model"])
    records["evaluate"] = _run_stage(
        out, "evaluate", lambda: stage_evaluate(out, model_path, progress), timings
    )
    records["predict"] = _run_stage(
        out, "predict", lambda: stage_predict(out, config, model_path, progress), timings
    )
    summary_path = _stage_file(out, "summary")
    summary_path.unlink(missing_ok=True)  # always refresh: it collects the other stages
    return _run_stage(out, "summary", lambda: stage_summary(out, records, timings), timings)


def summary_table(summary: Mapping[str, Any]) -> str:
    """A plain-text table of a pipeline summary: per moving species, NEB reference vs CNN."""
    per_species = {r["moving_species"]: r for r in summary["evaluate"]["per_species"]}
    overall = summary["evaluate"]["overall"]
    lines = [
        f"NEB: {summary['neb']['hops']} hops, {summary['neb']['failed']} failed "
        f"({100 * summary['neb']['failed_fraction']:.1f}%); "
        f"CNN best epoch {summary['train']['best_epoch']}, "
        f"validation MAE {_fmt(summary['train']['val_mae'])} eV",
        f"held-out test: MAE {_fmt(overall.get('mae'))} eV, R^2 {_fmt(overall.get('r2'))} "
        f"({overall.get('count', 0)} hops)",
        "",
        f"{'moving':<7}{'test hops':>10}{'NEB mean':>10}{'CNN MAE':>9}"
        f"{'pred. hops':>12}{'pred. mean':>11}{'pred. std':>10}",
    ]
    for row in summary["predict"]["spectrum"]:
        symbol = row["moving_species"]
        test = overall if symbol == "all" else per_species.get(symbol, {})
        lines.append(
            f"{symbol:<7}{test.get('count', 0):>10}{_fmt(test.get('mean_true')):>10}"
            f"{_fmt(test.get('mae')):>9}{row['count']:>12}{_fmt(row['mean']):>11}"
            f"{_fmt(row['std']):>10}"
        )
    lines.append(
        f"(energies in eV; predicted spectrum of the {summary['predict']['atoms']}-atom sample)"
    )
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "-" if value is None or not np.isfinite(float(value)) else f"{float(value):.3f}"
