"""Two probes of a lattice-field model (`docs/lattice_field.md`) on a NEB dataset.

1. The vacancy's own species: every hop's window is predicted with the vacancy site holding
   each species in turn; prints the mean distance of a prediction from its mean over the
   species, and the mean and largest spread.
2. The point-group images: the MAE of each of the six images alone against that of their
   average.

::

    python examples/paper/field_probes.py --model tanbmo-eam --dataset runs/big7/neb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from vmeb.data.dataset import open_dataset
from vmeb.learn.batches import ModelInputs
from vmeb.learn.field import structure_windows, window_barriers, window_centre
from vmeb.learn.forward import operation_outputs
from vmeb.learn.inference import model_window
from vmeb.learn.predictors import load_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tanbmo-eam", help="lattice-field checkpoint or name")
    parser.add_argument("--dataset", type=Path, required=True, help="NEB barrier dataset")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    trained = load_model(args.model)
    half = model_window(trained)
    if half <= 0:
        parser.error(f"{args.model} is not a lattice-field model")
    dataset = open_dataset(args.dataset)
    windows, barriers = [], []
    for _, atoms, rows in dataset.iter_samples():
        vacancy, moving = rows["vacancy_index"].to_numpy(), rows["moving_index"].to_numpy()
        windows.append(structure_windows(atoms, trained.species, vacancy, moving, half))
        barriers.append(rows["barrier"].to_numpy())
    windows, truth = np.concatenate(windows), np.concatenate(barriers)

    filled = []
    for species in range(len(trained.species)):
        probe = windows.copy()
        probe[:, window_centre(half)] = species
        filled.append(window_barriers(trained, probe))
    filled = np.array(filled)
    spread = filled.max(axis=0) - filled.min(axis=0)
    print(f"{len(windows)} hops; vacancy species: mean |prediction - mean over species| "
          f"{np.abs(filled - filled.mean(axis=0)).mean():.4f} eV, mean spread "
          f"{spread.mean():.4f}, largest {spread.max():.4f}")  # fmt: skip

    inputs = ModelInputs(kind=trained.kind, windows=torch.as_tensor(windows))
    images = operation_outputs(trained.model, inputs, np.arange(len(windows)),
                               len(trained.species), trained.train_config, 256, "cpu")  # fmt: skip
    single = ", ".join(f"{np.abs(o - truth).mean():.4f}" for o in images)
    average = np.abs(images.mean(0) - truth).mean()
    print(f"MAE of the average of the {len(images)} images {average:.4f} eV; "
          f"each image alone: {single}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
