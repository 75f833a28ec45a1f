"""NEB barrier campaign over vacancy sites of samples, written to a barrier dataset.

Each sample file (extxyz, LAMMPS data, POSCAR) becomes a sample of the dataset, its id the file
name without extension. One task per vacancy site computes its 8 first-neighbour hops by
climbing-image NEB; each task's rows are appended as soon as it finishes. Run the same command
again on the same dataset to resume a stopped campaign: finished sites are skipped.

Examples:
    vmeb neb samples/*.extxyz -o data/eam --random-sites 20 --seed 1
    vmeb neb sample.extxyz -o data/chosen --sites 0,17,250       (the same sites in every sample)
    vmeb neb sample.extxyz -o data/chosen --sites-file sites.txt
    vmeb neb big.extxyz -o data/big --scheduler tcp://10.0.0.5:8786

--config FILE: YAML/JSON mapping of vmeb.neb.site.NEBConfig fields; --replicas and --engine
override it.

--potential: any spec of vmeb.lammps.potentials.load_potential; a calculator potential
(sevennet:7net-0, chgnet:0.3.0, ase:MODULE:FACTORY) runs the ase engine, on --device.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vmeb.cli import common
from vmeb.errors import VmebError


def _config_file(path: Path | None, allowed: set[str]) -> dict:
    """Settings from a YAML/JSON mapping file whose keys are in ``allowed``."""
    if path is None:
        return {}
    from vmeb.config import check_keys, read_config  # noqa: PLC0415

    data = read_config(path, "NEB settings")
    check_keys(data, allowed, path, "NEB settings")
    return data


#: Dask address schemes accepted by ``--scheduler`` (none given means tcp).
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def scheduler_address(text: str) -> str:
    """A Dask scheduler address ``[SCHEME://]HOST:PORT`` (checked here; reached in `run`)."""
    scheme, sep, rest = text.strip().rpartition("://")
    host, colon, port = rest.rpartition(":")
    ok = (not sep or scheme in SCHEDULER_SCHEMES) and bool(colon) and bool(host.strip("[]"))
    if not (ok and port.isdigit() and 0 < int(port) < 65536) or any(c.isspace() for c in host):
        raise argparse.ArgumentTypeError(
            f"{text!r}: not a Dask scheduler address (tcp://HOST:PORT, port 1..65535)"
        )
    return text.strip() if sep else f"tcp://{text.strip()}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``vmeb neb`` arguments."""
    parser.add_argument(
        "samples", nargs="+", type=common.existing_file, help="perfect sample structure files"
    )
    common.add_output(parser, new=False)
    parser.add_argument("--potential", default="default", help=common.POTENTIAL_HELP)
    common.add_device(parser, default=None)
    common.add_sites(parser, random=True, legacy_count=True)
    parser.add_argument(
        "--seed", type=common.nonnegative_int, default=0, help="seed of the random site draw"
    )
    parser.add_argument(
        "--replicas", type=common.positive_int, default=None, help="NEB replicas (default 7)"
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "inproc", "lammps", "pool", "ase"),
        default=None,
        help="NEB engine (default auto: inproc, one serial NEB per core, for EAM cells under "
        "1,000 atoms; lammps, MPI ranks per replica, otherwise)",
    )
    common.add_config(parser, legacy=("--neb-config",))
    parser.add_argument(
        "--workers", type=common.positive_int, default=None,
        help="local worker processes (default: cores / cores per NEB: one per core for inproc)",
    )  # fmt: skip
    parser.add_argument(
        "--scheduler",
        type=scheduler_address,
        default=None,
        help="Dask scheduler address, e.g. tcp://host:8786 (refused unless it answers in 5 s)",
    )
    parser.add_argument(
        "--retries", type=common.nonnegative_int, default=0,
        help="extra attempts for a task that raises",
    )  # fmt: skip
    common.add_species(parser)
    parser.add_argument(
        "--max-sites", type=common.positive_int, default=None,
        help="stop after N sites (resume later)",
    )  # fmt: skip
    common.add_no_progress(parser)


def run(args: argparse.Namespace) -> int:
    """Run the campaign and print its summary line."""
    import json  # noqa: PLC0415

    from vmeb.config import config_from_mapping  # noqa: PLC0415
    from vmeb.lammps.loading import require_lammps  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.neb.campaign import connect_scheduler, run_neb_campaign  # noqa: PLC0415
    from vmeb.neb.site import NEBConfig  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    potential = load_potential(args.potential, device=args.device)
    if potential.kind == "lammps":
        require_lammps("vmeb neb")
    species = list(args.species) if args.species else None
    samples = {}
    for path in args.samples:
        sample_id = path.name.split(".")[0]
        if sample_id in samples:
            raise VmebError(f"{path}: sample id {sample_id!r} used by two files; rename one")
        samples[sample_id] = read_structure(path, species=species)
    options = _config_file(args.config, set(NEBConfig.__dataclass_fields__))
    if args.replicas is not None:
        options["n_replicas"] = args.replicas
    if args.engine is not None:
        options["engine"] = args.engine
    config = config_from_mapping(
        NEBConfig, options, args.config or "command line", what="NEB settings"
    )
    client = connect_scheduler(args.scheduler) if args.scheduler else None  # before any output
    try:
        report = run_neb_campaign(
            samples,
            args.output,
            potential,
            config,
            sites=common.sites_argument(args),
            seed=args.seed,
            workers=args.workers,
            scheduler=client,
            retries=args.retries,
            progress=not args.no_progress,
            max_sites=args.max_sites,
        )
    finally:
        if client is not None:
            client.close()
    print(json.dumps(report.to_json()))
    return 0
