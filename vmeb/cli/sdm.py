"""Write the spatial density map of one hop and render it (paper Fig. 1d).

From a dataset sample or from any structure file (extxyz, LAMMPS data or dump, POSCAR):
    vmeb sdm DATASET --sample ID --vacancy I --moving J -o hop_sdm.npy [--png hop_sdm.png]
    vmeb sdm STRUCTURE --vacancy I --moving J [--species Ta,Nb,Mo] -o hop_sdm.npy

I is the atom removed to make the vacancy, J the first neighbour that jumps into it (0-based).
The .npy file holds a float32 array [C, G, G, G], layout [channel, z, y, x], channels in the
dataset's species order (or --species, or the elements by atomic number). The
picture shows one 3D panel per channel with the voxels above --threshold (0.2 as in the paper).
"""

from __future__ import annotations

import argparse

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``vmeb sdm``."""
    parser.add_argument(
        "input", type=common.existing_path, help="dataset directory or structure file"
    )
    parser.add_argument("--sample", default=None, help="sample id (when INPUT is a dataset)")
    parser.add_argument(
        "--vacancy", type=common.nonnegative_int, required=True, help="vacancy site atom index I"
    )
    parser.add_argument(
        "--moving", type=common.nonnegative_int, required=True, help="moving atom index J"
    )
    common.add_species(parser, legacy_spaces=True)
    parser.add_argument("--format", default=None, help="structure format (default: from the name)")
    parser.add_argument(
        "--angle", type=common.finite_float, default=0.0,
        help="rotation about the hop axis x, in degrees",
    )  # fmt: skip
    parser.add_argument(
        "--r-c", type=common.positive_float, default=7.6, help="environment radius (Å)"
    )
    parser.add_argument(
        "--l-c", type=common.positive_float, default=8.0, help="half edge of the map (Å)"
    )
    parser.add_argument(
        "--delta", type=common.positive_float, default=0.5, help="Gaussian width = voxel (Å)"
    )
    common.add_output(parser, new=False)
    parser.add_argument(
        "--png", type=common.output_path, default=None, help="also render the map to this PNG"
    )
    parser.add_argument(
        "--threshold", type=common.nonnegative_float, default=0.2,
        help="voxels drawn above this intensity",
    )  # fmt: skip


def _load(args: argparse.Namespace):
    """The structure and species order named by the arguments."""
    from vmeb.data.dataset import HEADER_FILE, open_dataset  # noqa: PLC0415
    from vmeb.errors import VmebError, file_error  # noqa: PLC0415
    from vmeb.species import SpeciesTable  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    species = list(args.species) if args.species else None
    if args.input.is_dir():
        if not (args.input / HEADER_FILE).exists():
            raise file_error(args.input, f"not a vmeb dataset (no {HEADER_FILE})")
        if args.sample is None:
            raise VmebError(f"{args.input}: a dataset needs --sample ID")
        dataset = open_dataset(args.input)
        if args.sample not in dataset.sample_ids():
            raise file_error(args.input, f"no sample {args.sample!r} in the dataset")
        return dataset.structure(args.sample), tuple(species or dataset.species)
    if args.sample is not None:
        raise VmebError(f"{args.input}: --sample is for a dataset directory, not a file")
    atoms = read_structure(args.input, args.format, species)
    return atoms, SpeciesTable.for_symbols(atoms.get_chemical_symbols(), species).symbols


def run(args: argparse.Namespace) -> int:
    """Run ``vmeb sdm``."""
    from vmeb.errors import VmebError, file_error  # noqa: PLC0415
    from vmeb.learn.hop_sdm import hop_sdm, save_npy  # noqa: PLC0415
    from vmeb.learn.sdm import SDMConfig  # noqa: PLC0415
    from vmeb.plots.sdm import render_sdm  # noqa: PLC0415

    if args.output.suffix != ".npy":
        raise VmebError(f"{args.output}: the map is written as a .npy file")
    if args.png is not None and args.png.is_dir():  # refused before the map is written
        raise VmebError(f"{args.png}: is a directory; --png names the picture file to write")
    config = SDMConfig(r_c=args.r_c, l_c=args.l_c, delta=args.delta)
    atoms, species = _load(args)
    try:
        array, counts = hop_sdm(atoms, args.vacancy, args.moving, species, config, args.angle)
    except VmebError as exc:
        where = f"{args.input} sample {args.sample}" if args.sample else args.input
        raise file_error(where, str(exc)) from None
    save_npy(args.output, array)
    described = ", ".join(f"{s} {n}" for s, n in counts.items())
    print(f"wrote {args.output}: float32 {list(array.shape)} [channel, z, y, x]; atoms {described}")
    if args.png is not None:
        title = f"vacancy {args.vacancy} -> moving {args.moving} ({atoms[args.moving].symbol})"
        render_sdm(array, species, config.centres(), args.png, args.threshold, title)
        print(f"wrote {args.png}")
    return 0
