"""Million-atom barrier spectrum: wall time, rate and memory of `predict_barriers` (issue 11).

Builds an equiatomic TaNbMo random BCC sample of ``cells``^3 conventional cells (80 cells:
1,024,000 atoms, 8,192,000 hops), predicts the 8 barriers of every site with a checkpoint on the
on-lattice fast path, and prints:

* wall time, CPU time, barriers/s and maps/s (a CNN barrier averages the network over the
  model's inference operations, e.g. 6 for ``augment="lattice"`` with the mirror, so
  maps/s = operations x barriers/s), peak RSS (``resource.getrusage``);
* the exact (Eq. 1, per-hop environments) path on a subset of sites: its rate, the speed ratio
  and the largest barrier difference between the paths on that subset;
* the per-moving-species means of the big sample against a 2,000-atom sample of the same
  composition (acceptance: within 0.01 eV).

Usage::

    python benchmarks/bench_spectrum.py MODEL [--cells 20] [--threads 2]
        [--exact-sites 256] [--reference-cells 10] [--a 3.2427] [--batch-size 1024]
        [--precision auto|fp32|bf16]
"""

from __future__ import annotations

import argparse
import logging
import resource
import time

import numpy as np
import torch

from vmeb.learn.lattice import inference_image_count
from vmeb.learn.precision import PRECISIONS, resolve_precision
from vmeb.learn.predictors import load_model
from vmeb.spectra.predict import predict_barriers, spectrum_statistics
from vmeb.structure.build import build_random_alloy

#: Lattice constant (Å) of equiatomic TaNbMo with the default EAM potential (main job run).
A_TANBMO = 3.242744740098233


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(trained, atoms, sites=None, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    table = predict_barriers(trained, atoms, sites, progress=False, **kwargs)
    return table, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="model checkpoint, ensemble folder or shipped name")
    parser.add_argument("--cells", type=int, default=20, help="cells per edge (80: 1,024,000)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--exact-sites", type=int, default=256, help="sites on the exact path")
    parser.add_argument("--reference-cells", type=int, default=10, help="2,000-atom reference")
    parser.add_argument("--a", type=float, default=A_TANBMO, help="lattice constant (Å)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--chunk-sites", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="override the checkpoint's precision (auto: bf16 where the CPU has bf16 units)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    trained = load_model(args.checkpoint, precision=args.precision)
    members = getattr(trained, "members", [trained])  # an ensemble averages its members
    n_ops = sum(inference_image_count(m) for m in members)
    precisions = sorted(
        {resolve_precision(m.train_config.precision, "cpu", inference=True) for m in members}
    )
    atoms = build_random_alloy("TaNbMo", args.cells, args.a, seed=args.seed)
    print(
        f"sample: {len(atoms):,} atoms, {8 * len(atoms):,} hops; model {trained.kind} "
        f"({len(members)} network(s)), {n_ops} inference operation(s) per barrier; "
        f"{args.threads} thread(s); prediction precision {'/'.join(precisions)}"
    )
    rss_before = _peak_rss_mb()

    table, wall, cpu = _timed(
        trained, atoms, batch_size=args.batch_size, chunk_sites=args.chunk_sites
    )
    rate = len(table) / wall
    print(
        f"fast ({table.attrs['path']} path): {len(table):,} barriers in {wall:.1f} s wall "
        f"({cpu:.1f} s CPU): {rate:,.0f} barriers/s, {n_ops * rate:,.0f} maps/s; "
        f"peak RSS {_peak_rss_mb():.0f} MB (before prediction {rss_before:.0f} MB)"
    )
    full = 8 * 2 * 80**3
    print(f"extrapolated to 80 cells ({full:,} barriers): {full / rate / 60:.1f} min wall")

    rng = np.random.default_rng(args.seed)
    subset = np.sort(rng.choice(len(atoms), size=min(args.exact_sites, len(atoms)), replace=False))
    exact, wall_e, cpu_e = _timed(trained, atoms, subset, path="exact", batch_size=256)
    fast_rows = table.set_index(["site", "moving_index"]).loc[
        list(zip(exact["site"], exact["moving_index"], strict=True)), "barrier"
    ]
    diff = float(np.abs(fast_rows.to_numpy() - exact["barrier"].to_numpy()).max())
    rate_e = len(exact) / wall_e
    print(
        f"exact path: {len(exact):,} barriers in {wall_e:.1f} s wall ({cpu_e:.1f} s CPU): "
        f"{rate_e:,.0f} barriers/s; fast/exact speed {rate / rate_e:.1f}x (wall), "
        f"{(cpu_e / len(exact)) / (cpu / len(table)):.1f}x (CPU); max |fast - exact| "
        f"{diff:.2e} eV"
    )

    reference_atoms = build_random_alloy("TaNbMo", args.reference_cells, args.a, seed=1)
    reference, _, _ = _timed(trained, reference_atoms, batch_size=args.batch_size)
    stats = spectrum_statistics(table, trained.species).set_index("moving_species")
    ref_stats = spectrum_statistics(reference, trained.species).set_index("moving_species")
    print(f"per-species mean barrier (eV): {len(atoms):,} atoms vs {len(reference_atoms):,}")
    present = [s for s in trained.species if stats.loc[s, "count"] > 0]  # model may know more
    for species in [*present, "all"]:
        big, small = stats.loc[species, "mean"], ref_stats.loc[species, "mean"]
        print(f"  {species:>4}: {big:.4f} vs {small:.4f} (difference {big - small:+.4f})")
    print(f"peak RSS {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
