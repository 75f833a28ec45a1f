"""The CSRO loop on a laptop: order a sample, NEB on its sites, evaluate a model per CSRO state.

The paper's Fig. 4 protocol (equiatomic TaNbMo, hybrid MC/MD at 300 K, 800 vacancy sites x 8 hops
per CSRO state, the CNN's error per state) at CPU size. Every stage is a ``vmeb`` command, printed
before it runs, so the same commands scale up on a cluster (docs/csro.md):

1. ``vmeb build``    a random equiatomic TaNbMo sample (lattice constant relaxed with the potential)
2. ``vmeb order``    hybrid MC/MD; snapshots at the chosen MD steps (groups ``TaNbMo_md<step>``)
3. ``vmeb analyse``  delta, Warren-Cowley alpha and g(r) of the snapshots
4. ``vmeb neb``      NEB barriers of ``--random-sites N`` vacancy sites of every snapshot -> a
                     test dataset whose groups are the CSRO states
5. a model: ``--model`` given, or trained here with ``vmeb build`` + ``vmeb neb`` + ``vmeb train``
   on random solid solutions only (as in the paper: trained on random, tested on CSRO)
6. ``vmeb evaluate`` the model on the CSRO dataset: error per CSRO state
7. ``vmeb analyse --model`` predicted barrier mean, std and distributions per moving species
   versus MD step (Supp. Figs. 5-6)

Run (about half an hour on 2 cores with the defaults; each stage is skipped if its output
exists, so a stopped run resumes)::

    python examples/csro_loop.py -o csro_loop
    python examples/csro_loop.py -o csro_loop --model trained/model.pt --sites 20

``csro_loop/summary.json`` collects the figures: inherent energy and max |alpha| per snapshot, NEB
hops per state and the model's MAE per CSRO state.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from vmeb.cli.main import main as vmeb

logger = logging.getLogger("csro_loop")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("csro_loop"), help="work directory")
    parser.add_argument("--potential", default="default", help="potential spec (vmeb neb)")
    parser.add_argument("--cells", type=int, default=5, help="BCC cells per edge (2 cells^3 atoms)")
    parser.add_argument("--steps", type=int, default=6000, help="hybrid MC/MD steps")
    parser.add_argument("--snapshots", default="0,2000,6000", help="MD steps kept as CSRO states")
    parser.add_argument("--sites", type=int, default=3, help="NEB vacancy sites per CSRO state")
    parser.add_argument("--model", type=Path, default=None, help="trained model (else train one)")
    parser.add_argument("--train-samples", type=int, default=3, help="random samples to train on")
    parser.add_argument("--train-sites", type=int, default=6, help="NEB sites per training sample")
    parser.add_argument(
        "--kind", choices=("cnn", "nn", "lr"), default="lr",
        help="model kind (default lr: at this data size a few-epoch CNN does not learn yet)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, default=6, help="training epochs")
    parser.add_argument(
        "--spectra-sites", type=int, default=100, help="sites per state for predicted spectra"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of samples, MC/MD and sites")
    return parser.parse_args(argv)


def step(argv: list[str], output: Path, timings: dict[str, float], name: str) -> None:
    """Run one ``vmeb`` command unless its output exists; record its wall time."""
    if output.exists():
        print(f"[skip] {name}: {output} exists")
        return
    print("$ vmeb " + " ".join(argv), flush=True)
    start = time.perf_counter()
    status = vmeb(argv)
    timings[name] = round(time.perf_counter() - start, 1)
    if status != 0:
        sys.exit(f"{name} failed (exit {status})")


def train_model(args: argparse.Namespace, timings: dict[str, float]) -> Path:
    """A model trained on NEB barriers of random equiatomic samples only."""
    samples = []
    for i in range(args.train_samples):
        path = args.out / "train_samples" / f"random{i}.extxyz"
        path.parent.mkdir(parents=True, exist_ok=True)
        step(
            ["build", "--composition", "TaNbMo", "--cells", str(args.cells), "--seed",
             str(100 + args.seed + i), "--potential", args.potential, "-o", str(path)],
            path, timings, f"build random{i}",
        )  # fmt: skip
        samples.append(str(path))
    dataset = args.out / "train_dataset"
    if not (dataset / ".complete").exists():
        step(
            ["neb", *samples, "-o", str(dataset), "--random-sites", str(args.train_sites),
             "--seed", str(args.seed), "--potential", args.potential, "--no-progress"],
            dataset / ".complete", timings, "neb train",
        )  # fmt: skip
        (dataset / ".complete").touch()
    model_dir = args.out / "model"
    step(
        ["train", str(dataset), "-o", str(model_dir), "--kind", args.kind, "--epochs",
         str(args.epochs), "--val-per-group", "16", "--depth", "1", "--filters", "16",
         "--threads", "2", "--no-progress", "--seed", str(args.seed)],
        model_dir / "model.pt", timings, "train",
    )  # fmt: skip
    return model_dir / "model.pt"


def summarise(args: argparse.Namespace, model: Path, timings: dict[str, float]) -> dict:
    """Figures of the run: order per snapshot, hops per state, model error per state."""
    trajectory = pd.read_csv(args.out / "order" / "trajectory.csv")
    sro = pd.read_csv(args.out / "analysis" / "sro.csv")
    hops = pd.read_csv(args.out / "csro_dataset" / "hops.csv")
    per_group = pd.read_csv(args.out / "evaluation" / "metrics_per_group.csv")
    overall = json.loads((args.out / "evaluation" / "report.json").read_text()).get("overall")
    states = []
    for structure, rows in sro.groupby("structure", sort=False):
        first = rows[rows["shell"] == 1]
        states.append(
            {
                "state": structure,
                "md_step": int(rows["md_step"].iloc[0]),
                "max_abs_alpha_1": float(first["alpha"].abs().max()),
                "max_significance_1": float(first["significance"].max()),
                "hops_ok": int(((hops["sample_id"] == structure) & (hops["status"] == "ok")).sum()),
                "hops_failed": int(
                    ((hops["sample_id"] == structure) & (hops["status"] != "ok")).sum()
                ),
            }
        )
    return {
        "command": "python examples/csro_loop.py " + " ".join(sys.argv[1:]),
        "model": str(model),
        "inherent_energy_per_atom": dict(
            zip(
                trajectory["md_step"].tolist(),
                trajectory["inherent_energy_per_atom"].tolist(),
                strict=True,
            )
        ),
        "states": states,
        "model_error_overall": overall,
        "model_error_per_state": per_group.to_dict(orient="records"),
        "wall_seconds": timings,
    }


def run(args: argparse.Namespace) -> dict:
    """All stages; returns the summary written to ``OUT/summary.json``."""
    timings: dict[str, float] = {}
    args.out.mkdir(parents=True, exist_ok=True)
    sample = args.out / "sample.extxyz"
    step(
        ["build", "--composition", "TaNbMo", "--cells", str(args.cells), "--seed", str(args.seed),
         "--potential", args.potential, "-o", str(sample)],
        sample, timings, "build",
    )  # fmt: skip
    order = args.out / "order"
    step(
        ["order", str(sample), "--potential", args.potential, "--steps", str(args.steps),
         "--snapshots", args.snapshots, "--record-every", "500", "--seed", str(args.seed),
         "-o", str(order)],
        order, timings, "order",
    )  # fmt: skip
    snapshots = sorted(str(p) for p in (order / "snapshots").glob("*.extxyz"))
    step(["analyse", *snapshots, "-o", str(args.out / "analysis")],
         args.out / "analysis", timings, "analyse")  # fmt: skip
    dataset = args.out / "csro_dataset"
    if not (dataset / ".complete").exists():
        step(
            ["neb", *snapshots, "-o", str(dataset), "--random-sites", str(args.sites), "--seed",
             str(args.seed), "--potential", args.potential, "--no-progress"],
            dataset / ".complete", timings, "neb csro",
        )  # fmt: skip
        (dataset / ".complete").touch()
    model = args.model or train_model(args, timings)
    step(["evaluate", str(model), str(dataset), "-o", str(args.out / "evaluation"),
          "--no-progress"], args.out / "evaluation", timings, "evaluate")  # fmt: skip
    step(["analyse", *snapshots, "--model", str(model), "--random-sites", str(args.spectra_sites),
          "--seed", str(args.seed), "-o", str(args.out / "spectra")],
         args.out / "spectra", timings, "spectra")  # fmt: skip
    summary = summarise(args, model, timings)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    result = run(parse_args())
    print(json.dumps({k: result[k] for k in ("states", "wall_seconds")}, indent=2))
