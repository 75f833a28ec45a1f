"""Whole-process `vmeb predict` on big samples: wall time, barriers/s and peak memory per model.

Builds ``vmeb build --composition TaNbMo --cells N`` samples (default 50 and 80 cells: 250,000 and
1,024,000 atoms) once into a work directory, then runs ``vmeb predict MODEL SAMPLE -o OUT`` as a
child process for every model and sample: the time includes Python start-up, reading the
structure, the lattice fit, the prediction and writing hops.csv, spectrum and histograms. Peak
memory is the child's maximum resident set (``getrusage(RUSAGE_CHILDREN)`` of a fresh parent per
run, so each figure is that run's own).

Usage::

    python benchmarks/bench_predict_cli.py --models tanbmo-eam OLD.pt --cells 50 80 \
        [--threads 2] [--work runs/bench_predict]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

#: The README's sample: equiatomic TaNbMo, lattice constant relaxed with the built-in EAM.
COMPOSITION = "TaNbMo"


#: Runs a command and prints its peak RSS (kB): a fresh parent per run, so the maximum over the
#: parent's children is that run's alone.
_PROBE = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _run_child(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a command (fails loudly)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], check=True, capture_output=True,
                         text=True)  # fmt: skip
    wall = time.perf_counter() - start
    return wall, int(out.stdout.split()[-1]) / 1024.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tanbmo-eam"])
    parser.add_argument("--cells", nargs="+", type=int, default=[50, 80])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("runs/bench_predict"))
    args = parser.parse_args(argv)
    vmeb = [sys.executable, "-m", "vmeb.cli.main"]
    args.work.mkdir(parents=True, exist_ok=True)
    print("| model | atoms | barriers | wall (s), whole process | barriers/s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for cells in args.cells:
        sample = args.work / f"TaNbMo_{cells}.extxyz"
        if not sample.exists():
            subprocess.run(
                [*vmeb, "build", "--composition", COMPOSITION, "--cells", str(cells), "--seed",
                 "1", "-o", str(sample), "--no-progress"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        atoms = 2 * cells**3
        for model in args.models:
            out = args.work / f"predict_{Path(model).stem}_{cells}"
            shutil.rmtree(out, ignore_errors=True)
            command = [*vmeb, "predict", model, str(sample), "-o", str(out), "--threads",
                       str(args.threads), "--no-progress"]  # fmt: skip
            wall, peak = _run_child(command)
            print(f"| {model} | {atoms:,} | {8 * atoms:,} | {wall:.1f} | {8 * atoms / wall:,.0f} "
                  f"| {peak:,.0f} |", flush=True)  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
