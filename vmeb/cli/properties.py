"""Pure-element reference properties of a potential: lattice constant, vacancy formation energy
and migration barrier (7-replica CI-NEB), beside reference values.

    vmeb properties --potential SPEC --elements Ta,Nb,Mo --cells 7 -o table.csv

With -o the table is also written as CSV (replacing an existing file).

SPEC: ``default`` (built-in Ta-Nb-Mo EAM), ``eam/alloy:FILE``, ``snap:COEFF,PARAM``, a LAMMPS
spec file (``lammps:SPEC.yaml``) or a calculator potential (``sevennet:7net-0``, ``chgnet:0.3.0``,
``ase:MODULE:FACTORY``; relaxed in ASE, NEB with the ase engine, on ``--device``).
"""

from __future__ import annotations

import argparse

from vmeb.cli import common


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vmeb properties``."""
    parser.add_argument("--potential", default="default", help=common.POTENTIAL_HELP)
    parser.add_argument(
        "--elements", default="Ta,Nb,Mo", help="comma-separated elements (default Ta,Nb,Mo)"
    )
    parser.add_argument(
        "--cells", type=common.int_at_least(3), default=7,
        help="conventional cells per edge, >= 3 (default 7: 686 atoms)",
    )  # fmt: skip
    parser.add_argument(
        "--engine", choices=("lammps", "ase"), default=None,
        help="NEB engine (default lammps; ase for a calculator potential)",
    )  # fmt: skip
    parser.add_argument(
        "--replicas", type=common.positive_int, default=7, help="NEB replicas (default 7)"
    )
    common.add_device(parser, default=None)
    common.add_output(parser, required=False, new=False)


def run(args: argparse.Namespace) -> int:
    """Compute the table, print it, and write the CSV atomically."""
    from pathlib import Path  # noqa: PLC0415

    from vmeb.errors import VmebError  # noqa: PLC0415
    from vmeb.files import atomic_output  # noqa: PLC0415
    from vmeb.lammps.loading import require_lammps  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.neb.properties import format_table, properties_table  # noqa: PLC0415
    from vmeb.neb.site import NEBConfig  # noqa: PLC0415

    potential = load_potential(args.potential, device=args.device)
    if potential.kind == "lammps":
        require_lammps("vmeb properties")
    elements = [e.strip() for e in args.elements.split(",") if e.strip()]
    if not elements:
        raise VmebError("--elements: give at least one element, e.g. Ta,Nb,Mo")
    output = Path(args.output) if args.output else None
    if output is not None and not output.parent.is_dir():
        raise VmebError(f"{output.parent}: output directory does not exist")
    if output is not None and output.is_dir():  # refused before the NEB work, not after it
        raise VmebError(f"{output}: is a directory; -o names the CSV file to write")
    potential.check_species(elements)
    engine = args.engine or ("lammps" if potential.kind == "lammps" else "ase")
    config = NEBConfig(n_replicas=args.replicas, engine=engine)
    table = properties_table(elements, potential, cells=args.cells, config=config)
    print(f"potential {potential.name} ({potential.pair_style}), {2 * args.cells**3}-atom cells")
    print(format_table(table))
    if output is not None:
        with atomic_output(output) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        print(f"wrote {output}")
    return 0
