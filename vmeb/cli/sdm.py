"""Write the spatial density map of one hop and render it (paper Fig. 1d).

From a dataset sample or from any structure file (extxyz, LAMMPS data or dump, POSCAR):
    vmeb sdm DATASET --sample ID --vacancy I --moving J -o hop_sdm.npy [--png hop_sdm.png]
    vmeb sdm STRUCTURE --vacancy I --moving J [--species Ta Nb Mo] -o hop_sdm.npy

I is the atom removed to make the vacancy, J the first neighbour that jumps into it (0-based).
The .npy file holds a float32 array [C, G, G, G], layout [channel, z, y, x], channels in the
dataset's species order (or --species, or the elements by atomic number). The
picture shows one 3D panel per channel with the voxels above --threshold (0.2 as in the paper).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb sdm``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("input", type=Path, help="dataset directory or structure file")
    parser.add_argument("--sample", default=None, help="sample id (when INPUT is a dataset)")
    parser.add_argument("--vacancy", type=int, required=True, help="vacancy site atom index I")
    parser.add_argument("--moving", type=int, required=True, help="moving atom index J")
    parser.add_argument(
        "--species",
        nargs="+",
        default=None,
        help="channel order (and the element of each LAMMPS atom type, type 1 first)",
    )
    parser.add_argument("--format", default=None, help="structure format (default: from the name)")
    parser.add_argument(
        "--angle", type=float, default=0.0, help="rotation about the hop axis x, in degrees"
    )
    parser.add_argument("--r-c", type=float, default=7.6, help="environment radius (Å)")
    parser.add_argument("--l-c", type=float, default=8.0, help="half edge of the map (Å)")
    parser.add_argument("--delta", type=float, default=0.5, help="Gaussian width = voxel (Å)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output .npy file")
    parser.add_argument("--png", type=Path, default=None, help="also render the map to this PNG")
    parser.add_argument(
        "--threshold", type=float, default=0.2, help="voxels drawn above this intensity"
    )


def _load(args: argparse.Namespace):
    """The structure and species order named by the arguments."""
    from vmeb.data.dataset import HEADER_FILE, open_dataset  # noqa: PLC0415
    from vmeb.errors import VmebError, file_error  # noqa: PLC0415
    from vmeb.species import SpeciesTable  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    if args.input.is_dir():
        if not (args.input / HEADER_FILE).exists():
            raise file_error(args.input, f"not a vmeb dataset (no {HEADER_FILE})")
        if args.sample is None:
            raise VmebError(f"{args.input}: a dataset needs --sample ID")
        dataset = open_dataset(args.input)
        if args.sample not in dataset.sample_ids():
            raise file_error(args.input, f"no sample {args.sample!r} in the dataset")
        return dataset.structure(args.sample), tuple(args.species or dataset.species)
    if args.sample is not None:
        raise VmebError(f"{args.input}: --sample is for a dataset directory, not a file")
    atoms = read_structure(args.input, args.format, args.species)
    return atoms, SpeciesTable.for_symbols(atoms.get_chemical_symbols(), args.species).symbols


def _save_npy(path: Path, array) -> None:
    import numpy as np  # noqa: PLC0415

    from vmeb.files import atomic_output  # noqa: PLC0415

    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def render_sdm(sdm, species, centres, path: Path, threshold: float = 0.2, title: str = "") -> None:
    """Draw one 3D panel per channel with the voxels above ``threshold`` (paper Fig. 1d).

    Args:
        sdm: [C, G, G, G] map, layout [channel, z, y, x].
        species: C element symbols.
        centres: [G] voxel centre coordinates (Å).
        path: PNG to write (atomically).
        threshold: Smallest intensity drawn.
        title: Figure title.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from vmeb.files import save_figure  # noqa: PLC0415

    colours = ["tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:olive"]
    channels = len(species)
    fig = plt.figure(figsize=(4.2 * channels, 4.4))
    peak = max(float(sdm.max()), threshold)
    for c, symbol in enumerate(species):
        ax = fig.add_subplot(1, channels, c + 1, projection="3d")
        iz, iy, ix = np.nonzero(sdm[c] > threshold)
        values = sdm[c][iz, iy, ix]
        rgba = np.zeros((len(values), 4))
        rgba[:, :3] = matplotlib.colors.to_rgb(colours[c % len(colours)])
        rgba[:, 3] = np.clip(0.35 + 0.65 * (values - threshold) / (peak - threshold + 1e-12), 0, 1)
        ax.scatter(centres[ix], centres[iy], centres[iz], c=rgba, marker="s", s=14, linewidths=0)
        ax.scatter([0], [0], [0], color="red", s=30, label="vacancy")
        limit = float(centres[-1]) + 0.5 * float(centres[1] - centres[0])
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-limit, limit)
        ax.set_xlabel("x (Å)")
        ax.set_ylabel("y (Å)")
        ax.set_zlabel("z (Å)")
        ax.set_title(f"{symbol}: {len(values)} voxels > {threshold:g}")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    save_figure(fig, path, dpi=110)


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb sdm``."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from vmeb.errors import VmebError, file_error  # noqa: PLC0415
    from vmeb.learn.environment import hop_environments  # noqa: PLC0415
    from vmeb.learn.sdm import SDMConfig, encode_sdm  # noqa: PLC0415

    if args.output.suffix != ".npy":
        raise VmebError(f"{args.output}: the map is written as a .npy file")
    config = SDMConfig(r_c=args.r_c, l_c=args.l_c, delta=args.delta)
    atoms, species = _load(args)
    try:
        env = hop_environments(atoms, [args.vacancy], [args.moving], species, r_c=config.r_c)
    except VmebError as exc:
        where = f"{args.input} sample {args.sample}" if args.sample else args.input
        raise file_error(where, str(exc)) from None
    angle = torch.tensor([math.radians(args.angle)], dtype=torch.float64)
    sdm = encode_sdm(
        torch.from_numpy(env.positions.astype(np.float64)),
        torch.from_numpy(env.species),
        len(species),
        config,
        angle,
    )[0]
    array = sdm.to(torch.float32).numpy()
    _save_npy(args.output, array)
    counts = ", ".join(f"{s} {int((env.species[0] == k).sum())}" for k, s in enumerate(species))
    print(f"wrote {args.output}: float32 {list(array.shape)} [channel, z, y, x]; atoms {counts}")
    if args.png is not None:
        title = f"vacancy {args.vacancy} -> moving {args.moving} ({atoms[args.moving].symbol})"
        render_sdm(array, species, config.centres(), args.png, args.threshold, title)
        print(f"wrote {args.png}")
    return 0
