"""CNN inference rate: barriers per second of the paper's 12-layer CNN and the compact CNN.

Figures printed (one line each):

* forward only (SDMs already made): SDMs/s through the network, batch of B maps;
* SDM generation + forward: SDMs/s from hop environments (`vmeb.learn.sdm.encode_sdm` + network);
* per barrier: a deterministic barrier averages the network over the inference operations of the
  model's augmentation (16 for the paper's random rotations with mirrors: `INFERENCE_ANGLES` x 2),
  so barriers/s = SDMs/s / operations; measured through `TrainedModel.predict_environments`;
* end to end: `vmeb.spectra.predict.predict_barriers` (neighbours, environments, SDMs, network) on
  a random
  2 * n^3-atom sample with the compact model, barriers/s.

CPU with 1 and 2 threads; CUDA too when available. Untrained weights (timing does not depend on
them). Usage::

    python benchmarks/bench_inference.py [--quick] [--cells 30] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ase.build import bulk

from vmeb.learn.checkpoints import TrainedModel
from vmeb.learn.environment import hop_environments
from vmeb.learn.models import build_model
from vmeb.learn.sdm import encode_sdm
from vmeb.learn.settings import TrainConfig
from vmeb.spectra.predict import predict_barriers
from vmeb.structure.neighbours import first_neighbours, ghosted_cell

SPECIES = ("Ta", "Nb", "Mo")
A = 3.30

#: name -> training configuration of the timed model
MODELS = {
    "paper 12-layer (32^3, 60 filters)": TrainConfig(kind="cnn", depth=3, filters=60),
    "compact 4-layer (16^3, 16 filters)": TrainConfig(kind="cnn", depth=1, filters=16, delta=1.0),
}


def trained_model(config: TrainConfig, device: str) -> TrainedModel:
    """An untrained network wrapped as a `TrainedModel` (eval mode)."""
    model = build_model(config.model_config(), len(SPECIES), config.sdm_config().grid_size)
    model.eval().to(device)
    record = {
        "model": config.model_config().to_dict(),
        "sdm": config.sdm_config().to_dict(),
        "train": config.to_dict(),
        "template": None,
    }
    return TrainedModel(model=model, kind="cnn", species=SPECIES, config=record)


def random_alloy(cells: int, seed: int = 0):
    atoms = bulk("Ta", "bcc", a=A, cubic=True).repeat((cells, cells, cells))
    rng = np.random.default_rng(seed)
    atoms.set_chemical_symbols(rng.choice(list(SPECIES), size=len(atoms)))
    return atoms


def sample_environments(hops: int, r_c: float):
    atoms = random_alloy(6)
    sites = np.arange(hops // 8 + 1)
    ghosts = ghosted_cell(atoms, r_c)
    neighbours, _ = first_neighbours(atoms, sites, 8, ghosts=ghosts)
    env = hop_environments(atoms, np.repeat(sites, 8), neighbours.reshape(-1), SPECIES, r_c, ghosts)
    return env.take(np.arange(hops))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rate(fn, count: int, device: str, repeats: int) -> float:
    fn()  # warm-up
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return count / best


@torch.no_grad()
def bench_model(name: str, config: TrainConfig, device: str, batch: int, repeats: int) -> None:
    trained = trained_model(config, device)
    env = sample_environments(batch, config.r_c)
    sdm_config = config.sdm_config()
    positions = torch.as_tensor(env.positions, device=device)
    species = torch.as_tensor(env.species, device=device)
    maps = encode_sdm(positions, species, len(SPECIES), sdm_config)
    forward = rate(lambda: trained.model(maps), batch, device, repeats)
    both = rate(
        lambda: trained.model(encode_sdm(positions, species, len(SPECIES), sdm_config)),
        batch,
        device,
        repeats,
    )
    per_barrier = rate(
        lambda: trained.predict_environments(env, batch_size=batch, device=device),
        batch,
        device,
        repeats,
    )
    threads = torch.get_num_threads() if device == "cpu" else "-"
    print(
        f"{name:36s} {device:5s} threads={threads} batch={batch}: forward {forward:10.1f} SDM/s, "
        f"SDM+forward {both:10.1f} SDM/s, barriers (16-op average, SDMs included) "
        f"{per_barrier:9.2f} /s"
    )


def bench_end_to_end(cells: int, device: str, sites: int | None) -> None:
    config = MODELS["compact 4-layer (16^3, 16 filters)"]
    trained = trained_model(config, device)
    atoms = random_alloy(cells, seed=1)
    chosen = None if sites is None else np.arange(sites)
    start = time.perf_counter()
    table = predict_barriers(trained, atoms, chosen, batch_size=512, device=device, progress=False)
    elapsed = time.perf_counter() - start
    threads = torch.get_num_threads() if device == "cpu" else "-"
    print(
        f"end-to-end predict, compact model, {len(atoms)} atoms, {len(table)} barriers, "
        f"{device} threads={threads}: {len(table) / elapsed:.1f} barriers/s ({elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches, one repeat")
    parser.add_argument("--cells", type=int, default=30, help="n of the 2 n^3-atom sample")
    parser.add_argument(
        "--sites", type=int, default=None, help="end-to-end on this many sites only (CPU)"
    )
    parser.add_argument("--device", default=None, help="only this device (cpu or cuda)")
    args = parser.parse_args()
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] * torch.cuda.is_available())
    repeats = 1 if args.quick else 3
    print(f"torch {torch.__version__}")
    for device in devices:
        for threads in (1, 2) if device == "cpu" else (None,):
            if threads:
                torch.set_num_threads(threads)
            for name, config in MODELS.items():
                if device == "cpu":
                    batch = 4 if (args.quick or config.depth == 3) else 64
                else:
                    batch = 256 if config.depth == 3 else 2048
                bench_model(name, config, device, batch, repeats)
        if device == "cpu":
            torch.set_num_threads(2)
        bench_end_to_end(args.cells, device, args.sites if device == "cpu" else None)


if __name__ == "__main__":
    main()
