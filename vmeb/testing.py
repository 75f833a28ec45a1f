"""Public test helpers: seeded small alloys, a closed-form model, a tiny dataset and CNN.

Used by vmeb's own tests and available to users testing code built on vmeb. Everything here is
small and seeded, so it runs in seconds on a laptop CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from vmeb.spectra.predict import predict_barriers

#: Read-only reference material beside the checkout (paper, potentials, DFT dataset).
SHARED = Path(os.environ.get("VMEB_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FPNNK_DIR = SHARED / "datasets" / "fpnnk-dft"
EAM_FILE = SHARED / "potentials" / "TaNbMo_EAM_Zhou04_Lin13" / "TaNbMo_Zhou04_Lin13.eam.alloy"
SNAP_DIR = SHARED / "potentials" / "NbMoTaW_SNAP_Li2020"

SPECIES = ("Ta", "Nb", "Mo")
A = 3.30  # lattice constant (Å)
COUNT_RADIUS = 3.0  # Å, radius of the counting model (between the 1st and 2nd shells: 2.86, 3.30)


def random_alloy(cells: int, rng: np.random.Generator, species=SPECIES, a: float = A) -> Atoms:
    """A random BCC alloy of 2 * cells^3 atoms."""
    atoms = bulk("Ta", "bcc", a=a, cubic=True).repeat((cells, cells, cells))
    atoms.set_chemical_symbols(rng.choice(list(species), size=len(atoms)))
    return atoms


class CountingModel:
    """A model with a closed form: barrier = 0.5 + 0.1 * (species-0 atoms within 3 Å of the
    moving atom, the moving atom itself included). Path dependent, so it checks which atom moves.
    """

    species = SPECIES
    r_c = 7.6

    def predict_environments(self, env, batch_size=256, device="cpu"):
        pos = env.positions.astype(np.float64)
        valid = env.species >= 0
        on_axis = valid & (np.abs(pos[..., 1]) < 1e-3) & (np.abs(pos[..., 2]) < 1e-3)
        on_axis &= pos[..., 0] > 0
        x = np.where(on_axis, pos[..., 0], np.inf)
        moving = pos[np.arange(len(env)), np.argmin(x, axis=1)]  # [H, 3]
        near = np.linalg.norm(pos - moving[:, None, :], axis=2) < COUNT_RADIUS
        return 0.5 + 0.1 * np.sum(near & valid & (env.species == 0), axis=1)


def brute_force_counting_barriers(atoms: Atoms) -> dict[tuple[int, int], float]:
    """(site, moving index) -> CountingModel barrier, from minimum-image distances."""
    dist = atoms.get_all_distances(mic=True)
    first = np.sqrt(3) / 2 * A
    is_ta = np.array(atoms.get_chemical_symbols()) == SPECIES[0]
    out = {}
    for i in range(len(atoms)):
        for j in np.nonzero(np.abs(dist[i] - first) < 0.05)[0]:
            near = (dist[j] < COUNT_RADIUS) & is_ta
            near[i] = False
            out[(i, int(j))] = 0.5 + 0.1 * int(near.sum())
    return out


def make_dataset(root: Path, samples: dict[str, Atoms], model=None) -> Path:
    """A vmeb dataset of all 8 hops of every site, barriers from ``model`` (CountingModel)."""
    from vmeb.data.dataset import DatasetHeader, append_hops, create_dataset, write_structure

    model = model or CountingModel()
    create_dataset(root, DatasetHeader(species=SPECIES, lattice={"type": "bcc", "a": A}))
    for sample_id, atoms in samples.items():
        write_structure(root, sample_id, atoms, group=sample_id)
        table = predict_barriers(model, atoms, progress=False)
        rows = [
            {
                "sample_id": sample_id,
                "vacancy_index": int(r.site),
                "moving_index": int(r.moving_index),
                "moving_species": r.moving_species,
                "barrier": float(r.barrier),
                "converged": True,
                "status": "ok",
                "source": "counting-model",
            }
            for r in table.itertuples()
        ]
        append_hops(root, rows)
    return root


def train_tiny_cnn(dataset: Path, out: Path, epochs: int = 1, seed: int = 0) -> Path:
    """A small real CNN checkpoint: 8^3 maps of 1.5 Å voxels, r_c 5 Å, 4 convs of 4 filters."""
    from vmeb.data.dataset import open_dataset
    from vmeb.learn.training import TrainConfig, train_model

    config = TrainConfig(
        kind="cnn",
        depth=1,
        filters=4,
        r_c=5.0,
        l_c=6.0,
        delta=1.5,
        augment="lattice",
        mirror=False,
        epochs=epochs,
        batch_size=64,
        seed=seed,
    )
    result = train_model([open_dataset(dataset)], config, out, progress=False)
    return result.model_path
