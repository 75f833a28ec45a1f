"""LAMMPS on an ASE `Atoms`: sessions, energies, forces, relaxations, lattice constants.

Every in-process LAMMPS run of vmeb starts from `lammps_session`, which sets up ``units metal``,
``atom_style atomic``, a fully periodic box equal to the cell of the `Atoms` and the potential's
commands for a species order (LAMMPS type 1 = ``species[0]``).

Frames: LAMMPS wants a restricted triclinic box (a along x, b in the xy plane). An ASE cell is
rotated into that form by the orthogonal matrix ``R`` of `ase.calculators.lammps.Prism`
(``lammps = ase @ R``); everything read back (positions, cell, forces) is rotated back with
``R.T``, so ASE's orientation is kept. For the diagonal cells vmeb builds, ``R`` is the identity.
Atoms outside the cell are wrapped by LAMMPS, which keeps image flags; `read_positions` unwraps
with them, so positions come back continuous with the ones that went in.

`potential_energy`, `forces` and `relax` also take a calculator potential (an ASE calculator,
`vmeb.lammps.calculators`): they hand it to `vmeb.lammps.calcrun`, which does the same in ASE.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.calculators.lammps.coordinatetransform import Prism

from vmeb.errors import VmebError
from vmeb.lammps import calcrun
from vmeb.lammps.base import CALCULATOR_KIND, require_lammps_potential
from vmeb.lammps.loading import new_lammps
from vmeb.lammps.potentials import AnyPotential, Potential, load_potential
from vmeb.lammps.volume import secant_volume_steps
from vmeb.species import SpeciesTable, default_order

logger = logging.getLogger(__name__)

#: Serialises in-process LAMMPS sessions across threads (see `lammps_session`).
_SESSION_LOCK = threading.RLock()
#: Box relaxation modes of `relax` (LAMMPS ``fix box/relax`` couplings).
BOX_MODES = ("iso", "aniso", "tri")


@dataclass(frozen=True)
class _SessionFrame:
    """What `read_positions` needs to map a session back to ASE.

    Attributes:
        species: Element of each LAMMPS type, type 1 first.
        rotation: [3, 3] matrix ``R`` with ``lammps = ase @ R``.
    """

    species: tuple[str, ...]
    rotation: np.ndarray


def species_of(atoms: Atoms, potential: AnyPotential | str | None = None) -> tuple[str, ...]:
    """The LAMMPS type order for a structure: the elements present in it.

    Args:
        atoms: The structure.
        potential: If given, the elements are ordered as in ``potential.elements`` (elements
            the potential lacks raise); otherwise by atomic number (`default_order`).

    Returns:
        Element symbols, type 1 first.
    """
    symbols = atoms.get_chemical_symbols()
    if potential is None:
        return default_order(symbols)
    potential = load_potential(potential)
    potential.check_species(default_order(symbols))
    return default_order(symbols, potential.elements)


def _lammps_box(lmp) -> tuple[np.ndarray, np.ndarray]:
    """Origin [3] and cell rows [3, 3] (Å) of the current LAMMPS box, LAMMPS frame."""
    boxlo, boxhi, xy, yz, xz, _periodic, _changed = lmp.extract_box()
    lo, hi = np.array(boxlo, dtype=float), np.array(boxhi, dtype=float)
    length = hi - lo
    cell = np.array([[length[0], 0.0, 0.0], [xy, length[1], 0.0], [xz, yz, length[2]]])
    return lo, cell


def _encode_images(lmp, image: np.ndarray) -> np.ndarray:
    """LAMMPS's packed image flags of [N, 3] integer images (as ``lammps_encode_image_flags``)."""
    import ctypes  # noqa: PLC0415

    bits = 10 if ctypes.sizeof(lmp.c_imageint) == 4 else 21
    half, mask = 1 << (bits - 1), (1 << bits) - 1
    if len(image) and np.abs(image).max() >= half:
        raise VmebError("atoms lie too many periodic images away from the cell; wrap them first")
    shifted = (image + half) & mask
    return shifted[:, 0] | (shifted[:, 1] << bits) | (shifted[:, 2] << (2 * bits))


def _gather(lmp, name: str, dtype: int, count: int, n_atoms: int) -> np.ndarray:
    """A per-atom property of all atoms ordered by atom ID, [N, count]."""
    data = lmp.gather_atoms(name, dtype, count)
    array = np.ctypeslib.as_array(data)
    return np.array(array[: n_atoms * count]).reshape(n_atoms, count)


@contextlib.contextmanager
def lammps_session(
    atoms: Atoms,
    potential: Potential | str | None,
    species: Sequence[str] | None = None,
    extra_cmdargs: Sequence[str] | None = None,
) -> Iterator:
    """An in-process LAMMPS instance holding ``atoms`` with ``potential``; closed on exit.

    Args:
        atoms: Structure (any periodic cell). Atom ``i`` becomes LAMMPS atom ID ``i + 1``.
        potential: A `Potential` or a spec (``default``, ``eam/alloy:FILE``, ``snap:C,P``).
        species: Element of each LAMMPS type, type 1 first; default `species_of`. It may list
            elements absent from ``atoms`` (types with no atoms, e.g. for swap Monte Carlo).
        extra_cmdargs: Extra LAMMPS command-line arguments (e.g. ``["-sf", "opt"]``).

    Yields:
        The ``lammps.lammps`` object, ready for ``run``/``minimize``; positions in the LAMMPS
        frame (see module doc). Read results back with `read_positions`.

    Raises:
        VmebError: if the cell is degenerate, an element has no type, or LAMMPS rejects input.
    """
    potential = load_potential(potential)
    require_lammps_potential(potential, "lammps_session")
    given = species if species is not None else species_of(atoms, potential)
    species = SpeciesTable.for_symbols(atoms.get_chemical_symbols(), given).symbols
    frame = _lammps_frame(atoms, species)
    # one in-process LAMMPS at a time: MPI (initialised by the first instance) is not
    # thread-safe, and threads of `concurrent_hops` would otherwise race in it
    with _SESSION_LOCK:
        lmp = new_lammps(list(extra_cmdargs or []))
        try:
            _create_box_and_atoms(lmp, frame, len(species))
            lmp.commands_list(potential.lammps_commands(species))
            lmp.commands_list(["neighbor 2.0 bin", "neigh_modify delay 0 every 1 check yes"])
            lmp._vmeb_frame = _SessionFrame(species=species, rotation=frame.rotation)
            yield lmp
        except VmebError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "MPIAbortException" or "ERROR" in str(exc):
                lines = (line.strip() for line in str(exc).splitlines())
                message = "; ".join(line for line in lines if line)
                raise VmebError(
                    f"LAMMPS failed with potential {potential.name}: {message}"
                ) from exc
            raise
        finally:
            lmp.close()


@dataclass(frozen=True)
class _LammpsFrame:
    """``atoms`` in LAMMPS's frame: the prism box, types, wrapped positions and image flags."""

    prism: tuple[float, float, float, float, float, float]  # lx, ly, lz, xy, xz, yz (Å)
    rotation: np.ndarray  # [3, 3] ASE -> LAMMPS rotation (row vectors: r_lammps = r @ rotation)
    types: np.ndarray  # [N] LAMMPS type of each atom (1-based)
    positions: np.ndarray  # [N, 3] wrapped into the LAMMPS cell (Å)
    image: np.ndarray  # [N, 3] periodic image of each atom's original position


def _lammps_frame(atoms: Atoms, species: tuple[str, ...]) -> _LammpsFrame:
    """Checks ``atoms`` against ``species`` and maps them into LAMMPS's frame (module doc)."""
    if len(atoms) == 0:
        raise VmebError("LAMMPS session: the structure has no atoms")
    cell = np.asarray(atoms.cell.array, dtype=float)
    if abs(np.linalg.det(cell)) < 1e-6:
        raise VmebError("LAMMPS needs a periodic cell of non-zero volume; this structure has none")
    prism = Prism(cell, pbc=True, reduce_cell=False)
    types = (SpeciesTable(species).indices(atoms.get_chemical_symbols()) + 1).astype(np.int32)
    positions = np.asarray(atoms.positions, dtype=float) @ prism.rot_mat
    lammps_cell = prism.cell
    image = np.floor(np.linalg.solve(lammps_cell.T, positions.T).T).astype(np.int64)
    return _LammpsFrame(
        prism=tuple(float(v) for v in prism.get_lammps_prism()),
        rotation=prism.rot_mat,
        types=types,
        positions=positions - image @ lammps_cell,
        image=image,
    )


def _create_box_and_atoms(lmp, frame: _LammpsFrame, n_types: int) -> None:
    """Metal units, the periodic prism box with ``n_types`` types, and the atoms (IDs 1..N)."""
    lx, ly, lz, xy, xz, yz = frame.prism
    lmp.commands_list(
        [
            "units metal",
            "atom_style atomic",
            "atom_modify map yes",
            "boundary p p p",
            f"region vmeb_box prism 0 {lx!r} 0 {ly!r} 0 {lz!r} {xy!r} {xz!r} {yz!r} units box",
            f"create_box {n_types} vmeb_box",
        ]
    )
    n = len(frame.types)
    created = lmp.create_atoms(
        n,
        np.arange(1, n + 1).tolist(),
        frame.types.tolist(),
        frame.positions.ravel().tolist(),
        image=_encode_images(lmp, frame.image).tolist(),
    )
    if created != n:
        raise VmebError(f"LAMMPS created {created} of {n} atoms; the cell may be too skewed")


def read_positions(lmp, atoms_template: Atoms) -> Atoms:
    """The current structure of a LAMMPS session as `Atoms`, in ASE's frame.

    Args:
        lmp: A LAMMPS object from `lammps_session` (or any with the same atom IDs, 1..N).
        atoms_template: The `Atoms` the session was opened with; its info and arrays are kept.

    Returns:
        A copy of the template with the LAMMPS positions (unwrapped with image flags) and cell,
        rotated back to ASE's frame, and chemical symbols from the current atom types (so swap
        Monte Carlo moves show up).
    """
    frame = getattr(lmp, "_vmeb_frame", None)
    if frame is None:
        rotation = Prism(np.asarray(atoms_template.cell.array), pbc=True).rot_mat
        species = None
    else:
        rotation, species = frame.rotation, frame.species
    n = len(atoms_template)
    natoms = int(lmp.get_natoms())
    if natoms != n:
        raise VmebError(f"LAMMPS holds {natoms} atoms but the template has {n}")
    lo, cell_lmp = _lammps_box(lmp)
    x = _gather(lmp, "x", 1, 3, n)
    image = _gather(lmp, "image", 0, 3, n)
    unwrapped = x - lo + image @ cell_lmp
    out = atoms_template.copy()
    out.set_cell(cell_lmp @ rotation.T, scale_atoms=False)
    out.positions = unwrapped @ rotation.T
    if species is not None:
        types = _gather(lmp, "type", 0, 1, n)[:, 0]
        out.set_chemical_symbols(np.array(species)[types - 1].tolist())
    return out


def _potential_energy_of(lmp) -> float:
    return float(lmp.get_thermo("pe"))


def potential_energy(
    atoms: Atoms, potential: AnyPotential | str | None, species: Sequence[str] | None = None
) -> float:
    """Total potential energy of a structure (eV).

    Args:
        atoms: The structure.
        potential: A potential (either kind) or spec.
        species: Type order (default `species_of`); does not change the energy.

    Returns:
        The energy in eV.
    """
    potential = load_potential(potential)
    if potential.kind == CALCULATOR_KIND:
        return calcrun.potential_energy(atoms, potential, species)
    with lammps_session(atoms, potential, species) as lmp:
        lmp.command("run 0")
        return _potential_energy_of(lmp)


def forces(
    atoms: Atoms, potential: AnyPotential | str | None, species: Sequence[str] | None = None
) -> np.ndarray:
    """Forces on all atoms, [N, 3] (eV/Å), ASE frame, in the order of ``atoms``."""
    potential = load_potential(potential)
    if potential.kind == CALCULATOR_KIND:
        return calcrun.forces(atoms, potential, species)
    with lammps_session(atoms, potential, species) as lmp:
        lmp.command("run 0")
        f = _gather(lmp, "f", 1, 3, len(atoms))
        return f @ lmp._vmeb_frame.rotation.T


def _box_mode(box: bool | str) -> str | None:
    if box is False or box is None:
        return None
    if box is True:
        return "iso"
    if box not in BOX_MODES:
        raise VmebError(f"box relaxation {box!r} unknown; use one of {list(BOX_MODES)}")
    return str(box)


def relax(
    atoms: Atoms,
    potential: AnyPotential | str | None,
    species: Sequence[str] | None = None,
    box: bool | str = False,
    etol: float = 0.0,
    ftol: float = 1e-3,
    maxiter: int = 10000,
    fixed_indices: Sequence[int] | None = None,
) -> tuple[Atoms, float]:
    """Minimise the energy by conjugate gradients (LAMMPS ``minimize``); a calculator potential
    relaxes in ASE instead (`vmeb.lammps.calcrun.relax`: BFGS, ``ftol`` on the largest per-atom
    force, ``etol`` unused).

    Args:
        atoms: Starting structure.
        potential: A potential (either kind) or spec.
        species: Type order (default `species_of`).
        box: False: fixed cell. True or ``"iso"``: the cell is also relaxed to zero pressure
            keeping its shape (``fix box/relax iso 0``); ``"aniso"``: the three diagonal
            stresses independently; ``"tri"``: all six.
        etol: Relative energy tolerance of ``minimize`` (0 = off, as in the paper).
        ftol: Force tolerance (eV/Å): stop when the global force vector norm drops below it.
        maxiter: Iteration limit (force evaluations at most 10x this).
        fixed_indices: 0-based indices of atoms kept in place (their forces set to zero).

    Returns:
        The relaxed structure (a copy, ASE frame) and its potential energy (eV).
    """
    mode = _box_mode(box)
    potential = load_potential(potential)
    if potential.kind == CALCULATOR_KIND:
        return calcrun.relax(atoms, potential, species, mode, ftol, maxiter, fixed_indices)
    with lammps_session(atoms, potential, species) as lmp:
        if fixed_indices is not None and len(fixed_indices):
            ids = " ".join(str(int(i) + 1) for i in np.unique(np.asarray(fixed_indices)))
            lmp.commands_list(
                [f"group vmeb_fixed id {ids}", "fix vmeb_fix vmeb_fixed setforce 0 0 0"]
            )
        minimize = f"minimize {float(etol)!r} {float(ftol)!r} {int(maxiter)} {10 * int(maxiter)}"
        lmp.command("min_style cg")
        if mode == "iso":
            _relax_volume(lmp, minimize)  # ends with a `run 0` at the relaxed state
        else:
            if mode is not None:
                lmp.command(f"fix vmeb_box all box/relax {mode} 0.0 vmax 0.001")
            lmp.command(minimize)
            if mode is not None:
                # restart once from the relaxed box: box/relax's line search is scaled by the
                # starting volume, so a second pass removes the residual pressure
                lmp.command(minimize)
            lmp.command("run 0")
        energy = _potential_energy_of(lmp)
        return read_positions(lmp, atoms), energy


def _pressure_bar(lmp) -> float:
    lmp.command("run 0")
    return float(lmp.get_thermo("press"))


def _scale_box(lmp, factor: float) -> None:
    """Scale the box and all atoms isotropically by ``factor`` (tilts scaled too)."""
    _, _, xy, yz, xz, _, _ = lmp.extract_box()
    f = repr(float(factor))
    tilts = f"xy final {xy * factor!r} xz final {xz * factor!r} yz final {yz * factor!r} "
    triclinic = any(abs(t) > 0.0 for t in (xy, yz, xz))
    lmp.command(
        f"change_box all x scale {f} y scale {f} z scale {f} {tilts if triclinic else ''}remap"
    )


def _relax_volume(lmp, minimize: str, max_rounds: int = 12) -> None:
    """Relax positions and the (isotropic) volume to zero pressure.

    Alternates a fixed-box conjugate-gradient relaxation with a uniform rescaling of the cell;
    the volume steps are secant steps on P(ln V) (`vmeb.lammps.volume.secant_volume_steps`).
    It reaches the state of ``fix box/relax iso 0`` (zero mean pressure, shape kept): in a
    2,000-atom SNAP vacancy cell 3-4 fixed-box relaxations instead of ~1,700 force calls of
    CG with box degrees of freedom, whose line search is poorly scaled for the box.

    Raises:
        VmebError: if the pressure is not below `vmeb.lammps.volume.PRESSURE_TOL_BAR` after
            ``max_rounds``.
    """
    lmp.command(minimize)

    def rescale_and_relax(factor: float) -> None:
        _scale_box(lmp, factor)
        lmp.command(minimize)

    secant_volume_steps(lambda: _pressure_bar(lmp), rescale_and_relax, max_rounds)
