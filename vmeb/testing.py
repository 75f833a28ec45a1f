"""Public test helpers: seeded small alloys, closed-form models, a tiny dataset and CNN, and the
direct (voxel by voxel) evaluation of the SDM equation.

Used by vmeb's own tests and available to users testing code built on vmeb. Everything here is
small and seeded, so it runs in seconds on a laptop CPU. Nothing here needs the shared reference
data: the built-in EAM (`vmeb.lammps.potentials.default_potential`) is generated from the
published tables, and the datasets are made by closed-form models.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk

from vmeb.spectra.predict import predict_barriers
from vmeb.structure.build import bcc_supercell, composition_counts

#: Read-only reference material beside the checkout (paper, potentials, DFT dataset).
SHARED = Path(os.environ.get("VMEB_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FPNNK_DIR = SHARED / "datasets" / "fpnnk-dft"
TANBMO_DIR = SHARED / "datasets" / "tanbmo-eam-250"
EAM_FILE = SHARED / "potentials" / "TaNbMo_EAM_Zhou04_Lin13" / "TaNbMo_Zhou04_Lin13.eam.alloy"
SNAP_DIR = SHARED / "potentials" / "NbMoTaW_SNAP_Li2020"

SPECIES = ("Ta", "Nb", "Mo")
A = 3.30  # lattice constant (Å)
COUNT_RADIUS = 3.0  # Å, radius of the counting model (between the 1st and 2nd shells: 2.86, 3.30)
#: Tiny CNN configuration (`vmeb.learn.settings.TrainConfig` keywords) that trains in seconds on
#: 2 cores: 8^3 maps of 1.25 Å voxels, r_c 4.5 Å, one block of 4 conv layers of 4 filters.
TINY_CNN = dict(
    kind="cnn", depth=1, filters=4, r_c=4.5, l_c=5.0, delta=1.25, epochs=2, batch_size=32
)


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def random_alloy(
    cells: int,
    rng: np.random.Generator | int,
    species: Sequence[str] = SPECIES,
    a: float = A,
    jitter: float = 0.0,
) -> Atoms:
    """A BCC alloy of 2 * cells^3 atoms, each site's species drawn independently.

    Args:
        cells: Conventional cubic cells per edge.
        rng: Generator (or seed) of the occupation, then of the displacements.
        species: Elements drawn with equal probability (the draw maps index k to species[k]).
        a: Lattice constant (Å).
        jitter: Standard deviation of Gaussian displacements (Å); 0 keeps the ideal lattice.
    """
    rng = _generator(rng)
    atoms = bulk("Ta", "bcc", a=a, cubic=True).repeat((cells, cells, cells))
    atoms.set_chemical_symbols(rng.choice(list(species), size=len(atoms)))
    if jitter:
        atoms.positions += rng.normal(scale=jitter, size=atoms.positions.shape)
    return atoms


def equiatomic_alloy(
    cells: int,
    a: float,
    seed: int,
    species: Sequence[str] = SPECIES,
    rattle: float = 0.0,
) -> Atoms:
    """A BCC alloy with exact equiatomic counts placed at random (`bcc_supercell`).

    Counts come from `composition_counts` (the left-over atoms go to the species listed first).

    Args:
        cells: Conventional cubic cells per edge (2 * cells^3 atoms).
        a: Lattice constant (Å).
        seed: Seed of the placement, then of the displacements.
        species: Elements in equal parts.
        rattle: Standard deviation of Gaussian displacements (Å); 0 keeps the ideal lattice.
    """
    rng = np.random.default_rng(seed)
    counts = composition_counts(dict.fromkeys(species, 1), 2 * cells**3)
    atoms = bcc_supercell(counts, cells, a, rng)
    if rattle:
        atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
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


def make_dataset(
    root: Path,
    samples: Mapping[str, Atoms],
    model=None,
    *,
    groups: Mapping[str, str] | None = None,
    offset: Mapping[str, float] | None = None,
    source: str = "counting-model",
) -> Path:
    """A vmeb dataset of all 8 hops of every site, barriers from a closed-form model.

    Args:
        root: Dataset folder (created).
        samples: Sample id -> structure, in the order written.
        model: Anything with ``species``, ``r_c`` and ``predict_environments`` (default
            `CountingModel`).
        groups: Sample id -> group (default: the sample id).
        offset: Moving species -> barrier added to the model's (eV), e.g. a per-species base.
        source: The hops' ``source`` column.
    """
    from vmeb.data.dataset import DatasetHeader, append_hops, create_dataset, write_structure

    model = model or CountingModel()
    create_dataset(root, DatasetHeader(species=SPECIES, lattice={"type": "bcc", "a": A}))
    for sample_id, atoms in samples.items():
        write_structure(root, sample_id, atoms, group=(groups or {}).get(sample_id, sample_id))
        table = predict_barriers(model, atoms, progress=False)
        rows = [
            {
                "sample_id": sample_id,
                "vacancy_index": int(r.site),
                "moving_index": int(r.moving_index),
                "moving_species": r.moving_species,
                "barrier": (offset or {}).get(r.moving_species, 0.0) + float(r.barrier),
                "converged": True,
                "status": "ok",
                "source": source,
            }
            for r in table.itertuples()
        ]
        append_hops(root, rows)
    return root


def train_tiny_cnn(dataset: Path, out: Path, epochs: int = 1, seed: int = 0) -> Path:
    """A small real CNN checkpoint: 8^3 maps of 1.5 Å voxels, r_c 5 Å, 4 convs of 4 filters."""
    from vmeb.data.dataset import open_dataset
    from vmeb.learn.settings import TrainConfig
    from vmeb.learn.training import train_model

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


def tiny_setup(root: Path) -> tuple[Path, Path, Atoms]:
    """(dataset, checkpoint, sample): two 54-atom counting-model samples and a tiny CNN on them."""
    rng = np.random.default_rng(7)
    samples = {"s0": random_alloy(3, rng), "s1": random_alloy(3, rng)}
    dataset = make_dataset(Path(root) / "data", samples)
    model = train_tiny_cnn(dataset, Path(root) / "model")
    return dataset, model, samples["s0"]


def direct_sdm(positions, species, n_species, config, angles=None) -> np.ndarray:
    """Paper Eq. 1 voxel by voxel: loops over atoms, an explicit rotation, no separability.

    An independent reference for `vmeb.learn.sdm.encode_sdm` (and faster encoders).

    Args:
        positions: [B, M, 3] hop-frame positions (Å).
        species: [B, M] channel of each atom, -1 for padding.
        n_species: C.
        config: `vmeb.learn.sdm.SDMConfig` (r_c, l_c, delta, grid_size).
        angles: [B] rotations about x (radians) applied first, or None.

    Returns:
        [B, C, G, G, G] float64 maps, layout ``[b, channel, z, y, x]``.
    """
    centres = -config.l_c + config.delta / 2 + config.delta * np.arange(config.grid_size)
    zz, yy, xx = np.meshgrid(centres, centres, centres, indexing="ij")
    out = np.zeros((len(positions), n_species) + xx.shape)
    for b in range(len(positions)):
        for j in range(positions.shape[1]):
            if species[b, j] < 0:
                continue
            x, y, z = positions[b, j]
            if angles is not None:
                c, s = math.cos(angles[b]), math.sin(angles[b])
                y, z = c * y - s * z, s * y + c * z
            if x * x + y * y + z * z >= config.r_c**2:
                continue
            r2 = (x - xx) ** 2 + (y - yy) ** 2 + (z - zz) ** 2
            out[b, species[b, j]] += np.exp(-r2 / (2 * config.delta**2))
    return out


def cli_error_line(stderr, prefix: str = "vmeb: error: ") -> str:
    """The one line a failed ``vmeb`` command wrote to stderr.

    Args:
        stderr: The text, or a pytest ``capsys``/``capfd`` fixture (its captured stderr is read).
        prefix: How the line must start.

    Raises:
        AssertionError: if stderr holds not exactly one line, or it does not start with
            ``prefix``.
    """
    text = stderr if isinstance(stderr, str) else stderr.readouterr().err
    lines = text.strip().splitlines()
    if len(lines) != 1:
        raise AssertionError(f"expected one error line, got {lines}")
    if not lines[0].startswith(prefix):
        raise AssertionError(f"error line does not start with {prefix!r}: {lines[0]}")
    return lines[0]


#: Arguments that make each subcommand parse (files named here are created by `cli_files`);
#: OUTPUT is replaced by a fresh path that does not exist. Commands that take no output omit it.
MINIMAL_ARGS: dict[tuple[str, ...], list[str]] = {
    ("run",): ["-o", "OUTPUT"],
    ("build",): ["--composition", "TaNbMo", "--cells", "2", "-o", "OUTPUT"],
    ("neb",): ["sample.extxyz", "-o", "OUTPUT"],
    ("import", "fpnnk"): ["folder", "-o", "OUTPUT"],
    ("import", "csv"): ["sample.extxyz", "barriers.csv", "-o", "OUTPUT"],
    ("sdm",): ["sample.extxyz", "--vacancy", "0", "--moving", "1", "-o", "OUTPUT"],
    ("train",): ["dataset", "-o", "OUTPUT"],
    ("evaluate",): ["model.pt", "dataset", "-o", "OUTPUT"],
    ("predict",): ["model.pt", "sample.extxyz", "-o", "OUTPUT"],
    ("order",): ["sample.extxyz", "-o", "OUTPUT"],
    ("analyse",): ["sample.extxyz", "-o", "OUTPUT"],
    ("properties",): ["-o", "OUTPUT"],
    ("kmc",): [
        "model.pt", "sample.extxyz", "--temperature", "1000", "--steps", "3", "-o", "OUTPUT"
    ],
    ("map",): ["model.pt", "--elements", "Ta,Nb,Mo", "--divisions", "2", "-o", "OUTPUT"],
    ("ensemble", "train"): ["dataset", "-o", "OUTPUT"],
    ("ensemble", "predict"): ["ensemble", "sample.extxyz", "-o", "OUTPUT"],
    ("ensemble", "calibrate"): ["ensemble", "dataset", "-o", "OUTPUT"],
    ("ensemble", "assemble"): ["model.pt", "-o", "OUTPUT"],
}  # fmt: skip


def argv_for(command: tuple[str, ...], output: Path, extra: list[str] = ()) -> list[str]:
    """``command`` with its minimal arguments, OUTPUT replaced, then ``extra``; an option in
    ``extra`` replaces the same option (and its value) of the minimal arguments."""
    base = [str(output) if a == "OUTPUT" else a for a in MINIMAL_ARGS[command]]
    for option in [e.split("=", 1)[0] for e in extra if e.startswith("-")]:
        if option in base:
            i = base.index(option)
            del base[i : i + 2]
    return [*command, *base, *extra]


#: Spec of the built-in EAM as an ASE calculator (`eam_lammpslib`): the calculator-potential
#: route (ASE relaxations, the ``ase`` NEB engine) on the energy surface of ``default``.
EAM_CALCULATOR_SPEC = "ase:vmeb.testing:eam_lammpslib"


def eam_lammpslib(species: Sequence[str]):
    """The built-in Ta-Nb-Mo EAM as an ASE ``LAMMPSlib`` calculator (types in ``species`` order).

    A factory for ``ase:`` specs (`EAM_CALCULATOR_SPEC`): a calculator potential whose barriers
    must equal those of the LAMMPS route with ``default``, the reference for the ASE route.
    """
    from vmeb.lammps.potentials import default_potential  # noqa: PLC0415
    from vmeb.neb.engines.ase import lammpslib_calculator  # noqa: PLC0415

    return lammpslib_calculator(default_potential(), species)


def sequential_batch(calc, images: Sequence[Atoms]) -> tuple[np.ndarray, np.ndarray]:
    """A ``batch`` function for calculator potentials that evaluates one image after another
    (energies [R] eV, forces [R, N, 3] eV/Å): the batching machinery with any calculator."""
    energies, forces = [], []
    for atoms in images:
        image = atoms.copy()
        image.calc = calc
        energies.append(image.get_potential_energy())
        forces.append(image.get_forces())
    return np.array(energies), np.array(forces)


def tiny_field_record(
    seed: int, depth: int = 1, mean: float = 0.9, std: float = 0.1, constant: bool = False
) -> dict:
    """Checkpoint record of a small untrained lattice-window model (kind ``latfield``, 4
    filters, a hidden layer of 8, fp32, species `SPECIES`): kinetic Monte Carlo and map tests.

    Args:
        seed: Torch seed of the initial weights.
        depth: Lattice convolution layers (the window half-width in cells).
        mean: Target normalisation mean (eV).
        std: Target normalisation standard deviation (eV).
        constant: Every weight zero, so every barrier is ``mean`` whatever the environment.
    """
    import torch  # noqa: PLC0415

    from vmeb.learn.checkpoints import model_record  # noqa: PLC0415
    from vmeb.learn.field_model import LatticeFieldNet  # noqa: PLC0415
    from vmeb.learn.models import LatticeModel  # noqa: PLC0415
    from vmeb.learn.settings import TrainConfig  # noqa: PLC0415

    torch.manual_seed(seed)
    model = LatticeModel(LatticeFieldNet(len(SPECIES), depth, 4, (8,)))
    if constant:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.zero_()
    model.set_target_normalisation(mean, std)
    config = TrainConfig(kind="latfield", depth=depth, filters=4, hidden=(8,), precision="fp32")
    return model_record(model, config, tuple(SPECIES), None)
