"""Throughput of the SDM encoder: SDMs per second, vectorised vs direct vs the paper.

Environments are real hops: 8 hops of each of 128 vacancy sites of a 2,000-atom random
equiatomic Ta-Nb-Mo BCC sample (a = 3.30 Å, r_c = 7.6 Å: 112 atoms per hop, 3 channels). For
each grid (the paper's 32^3 and the compact 16^3), thread count and batch size the script prints
the best of several timed runs of `vmeb.sdm.encode_sdm` with fresh random angles, the
direct per-voxel evaluation of Eq. 1 (numpy, one atom at a time), and the paper's figure
(4,000 SDMs in about 7 minutes on one core: 9.5 SDMs/s). CUDA is timed too when available.

    python benchmarks/bench_sdm.py            # full table
    python benchmarks/bench_sdm.py --quick    # fewer batch sizes and repeats
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np
import torch
from ase.build import bulk

from vmeb.environment import hop_environments
from vmeb.neighbours import first_neighbours
from vmeb.sdm import SDMConfig, encode_sdm

PAPER_SDMS_PER_S = 4000 / (7 * 60)  # Supplementary: ~7 min for 4,000 SDMs on one core
TARGET_CPU = 5000.0
GRIDS = {"32^3 (paper)": SDMConfig(7.6, 8.0, 0.5), "16^3 (compact)": SDMConfig(7.6, 8.0, 1.0)}
SPECIES = ("Ta", "Nb", "Mo")


def environments(seed: int = 0):
    """Hop environments of 128 random sites of a 2,000-atom Ta-Nb-Mo sample."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Ta", "bcc", a=3.30, cubic=True).repeat(10)
    atoms.set_chemical_symbols(rng.choice(SPECIES, len(atoms)).tolist())
    sites = rng.choice(len(atoms), 128, replace=False)
    ids, _ = first_neighbours(atoms, sites)
    start = time.perf_counter()
    env = hop_environments(atoms, np.repeat(sites, 8), ids.reshape(-1), SPECIES)
    elapsed = time.perf_counter() - start
    return env, len(env) / elapsed


def direct_sdm(positions: np.ndarray, species: np.ndarray, config: SDMConfig) -> np.ndarray:
    """Eq. 1 evaluated voxel by voxel for one hop (numpy over the grid, a loop over atoms)."""
    centres = config.centres()
    zz, yy, xx = np.meshgrid(centres, centres, centres, indexing="ij")
    out = np.zeros((len(SPECIES),) + xx.shape)
    for (x, y, z), channel in zip(positions, species, strict=True):
        if channel < 0 or x * x + y * y + z * z >= config.r_c**2:
            continue
        out[channel] += np.exp(
            -((x - xx) ** 2 + (y - yy) ** 2 + (z - zz) ** 2) / (2 * config.delta**2)
        )
    return out


def best_rate(function, items: int, repeats: int, min_time: float = 0.5) -> float:
    """Items per second of the fastest of ``repeats`` runs (after a warm-up run)."""
    function()
    best = math.inf
    spent = 0.0
    runs = 0
    while runs < repeats or spent < min_time:
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        runs += 1
        if runs >= 50:
            break
    return items / best


def time_encoder(env, config, batch, device, generator, repeats):
    index = torch.arange(batch) % len(env)
    positions = torch.as_tensor(env.positions)[index].to(device)
    species = torch.as_tensor(env.species)[index].to(device)

    def run():
        angles = 2 * math.pi * torch.rand(batch, generator=generator).to(device)
        encode_sdm(positions, species, len(SPECIES), config, angles)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return best_rate(run, batch, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    args = parser.parse_args()
    batches = args.batches or ([64, 256, 1024] if args.quick else [64, 128, 256, 512, 1024])
    repeats = 2 if args.quick else 5

    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    env, env_rate = environments()
    counts = env.counts
    print(
        f"environments: {len(env)} hops, {counts.min()}-{counts.max()} atoms each; "
        f"built at {env_rate:,.0f} hops/s (numpy, neighbour search included)"
    )
    generator = torch.Generator().manual_seed(0)

    print(
        f"\n{'grid':<16} {'device':<8} {'threads':>7} {'batch':>6} {'SDMs/s':>10} "
        f"{'x paper':>8} {'x direct':>9}"
    )
    for name, config in GRIDS.items():
        sample = env.positions[0].astype(float), env.species[0]
        direct = best_rate(lambda s=sample, c=config: direct_sdm(s[0], s[1], c), 1, 2, 0.2)
        print(
            f"{name:<16} {'numpy':<8} {1:>7} {1:>6} {direct:>10,.1f} "
            f"{direct / PAPER_SDMS_PER_S:>8.1f} {1.0:>9.1f}   direct Eq. 1"
        )
        print(f"{name:<16} {'paper':<8} {1:>7} {'':>6} {PAPER_SDMS_PER_S:>10,.1f} {1.0:>8.1f}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for batch in batches:
                rate = time_encoder(env, config, batch, torch.device("cpu"), generator, repeats)
                print(
                    f"{name:<16} {'cpu':<8} {threads:>7} {batch:>6} {rate:>10,.0f} "
                    f"{rate / PAPER_SDMS_PER_S:>8.0f} {rate / direct:>9.0f}"
                )
        if torch.cuda.is_available():
            device = torch.device("cuda")
            for batch in [*batches, 4096, 16384]:
                rate = time_encoder(env, config, batch, device, generator, repeats)
                print(
                    f"{name:<16} {'cuda':<8} {'':>7} {batch:>6} {rate:>10,.0f} "
                    f"{rate / PAPER_SDMS_PER_S:>8.0f} {rate / direct:>9.0f}"
                )
    print(
        f"\ntarget: >= {TARGET_CPU:,.0f} SDMs/s (32^3, 3 channels) on 2 CPU cores; "
        f"paper {PAPER_SDMS_PER_S:.1f} SDMs/s on one core"
    )


if __name__ == "__main__":
    main()
