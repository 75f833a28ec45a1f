"""NEB engine: LAMMPS's NEB algorithm in this process, replicas evaluated one after another.

The band is optimised by `vmeb.neb.engines.quickmin.optimise_band` (the ``pool`` engine's
optimiser: LAMMPS's ``neb`` with ``fix neb ... parallel neigh`` and ``min_style quickmin``, step
for step). Energies and forces come from serial LAMMPS instances in this process, one per
replica, evaluated in turn: no MPI ranks, no worker processes, nothing waiting on anything, so
one NEB keeps exactly one core busy and a campaign runs one NEB per core (``workers = cores``).

Per force call (a 249-atom EAM cell: 0.25 ms of pair force), the overhead is kept small:

- the positions are written straight into LAMMPS's own coordinate array (atom sorting off, so
  local order is ID order) and the forces read from its force array, with no per-atom Python;
- ``run 1 pre no post no`` (no integrator fix, so nothing moves) instead of ``run 0``: it skips
  LAMMPS's re-initialisation (1.8 ms against 0.33 ms CPU per call, forces and energy equal to
  the last bit: the neighbour list is rebuilt by LAMMPS's own displacement check whenever an
  atom moved more than half the skin);
- ``thermo_style custom step pe``: no pressure or temperature per call;
- the instances are kept between hops (`site_scope`): the hops of one vacancy site share atoms
  and box, so a site's 8 NEBs (and their reruns) reuse the same instances (creating one costs
  ~11 ms CPU).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from ase import Atoms

from vmeb.errors import VmebError
from vmeb.lammps.potentials import Potential
from vmeb.neb.engines.quickmin import optimise_band
from vmeb.neb.site import NEBConfig, NEBRun

logger = logging.getLogger(__name__)

ENGINE = "inproc"
#: Neighbour skin (Å) of the replica instances (the sessions' default is 2.0): a NEB step moves
#: no atom more than 0.1 Å (``dmax``), so a short skin costs a rebuild now and then and saves
#: pairs at every call (249-atom EAM site: 25 % less CPU with 0.5 than with 2.0 Å).
SKIN = 0.5
#: Commands given to every replica instance before its first evaluation.
REPLICA_COMMANDS = (
    "atom_modify sort 0 0.0",
    "thermo_style custom step pe",
    f"neighbor {SKIN} bin",
)


class ReplicaSessions:
    """Persistent serial LAMMPS instances in this process, one per replica.

    Args:
        template: A replica (atoms, types and cell of every replica evaluated here).
        potential: The interatomic potential.
        species: LAMMPS type order.
    """

    def __init__(self, template: Atoms, potential: Potential, species: Sequence[str]) -> None:
        self.template = template.copy()
        self.potential = potential
        self.species = list(species)
        self.key = session_key(template, potential, species)
        self._stack = contextlib.ExitStack()
        self._sessions: list = []
        self._shift: list[np.ndarray] = []
        self._fresh: list[bool] = []

    def _session(self, k: int):
        from vmeb.lammps.loading import import_lammps  # noqa: PLC0415
        from vmeb.lammps.session import lammps_session  # noqa: PLC0415

        while len(self._sessions) <= k:
            lmp = self._stack.enter_context(
                lammps_session(self.template, self.potential, self.species)
            )
            lmp.commands_list(list(REPLICA_COMMANDS))
            self._rotation = lmp._vmeb_frame.rotation
            self._double_2d = import_lammps().LAMMPS_DOUBLE_2D
            self._sessions.append(lmp)
            self._shift.append(np.zeros((len(self.template), 3)))
            self._fresh.append(True)
        return self._sessions[k]

    def evaluate(
        self, indices: Sequence[int], positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Energies [n] (eV) and forces [n, N, 3] (eV/Å) of replicas ``indices``.

        Args:
            indices: Replica numbers to evaluate (0 = initial state).
            positions: [R, N, 3] positions of all replicas (Å, ASE frame).
        """
        indices = list(indices)
        n = positions.shape[1]
        self._session(max(indices))
        energies = np.empty(len(indices))
        forces = np.empty((len(indices), n, 3))
        for out, k in enumerate(indices):
            lmp = self._sessions[k]
            wanted = positions[k] @ self._rotation
            # LAMMPS keeps atoms wrapped into the box: write in its images (`_shift`) so that
            # an unchanged atom is not seen as moved (which would rebuild the neighbour list).
            # Views are taken afresh: LAMMPS may reallocate its arrays when it rebuilds.
            lmp.numpy.extract_atom("x", self._double_2d, n, 3)[:] = wanted + self._shift[k]
            if self._fresh[k]:
                lmp.command("run 0 post no")
                self._check_order(lmp, n)
                self._fresh[k] = False
            else:
                lmp.command("run 1 pre no post no")
            self._shift[k] = lmp.numpy.extract_atom("x", self._double_2d, n, 3) - wanted
            energies[out] = lmp.get_thermo("pe")
            forces[out] = lmp.numpy.extract_atom("f", self._double_2d, n, 3) @ self._rotation.T
        return energies, forces

    @staticmethod
    def _check_order(lmp, n: int) -> None:
        """Local atom order must be ID order (serial LAMMPS, sorting off) for direct access."""
        ids = lmp.numpy.extract_atom("id", nelem=n)
        if ids is None or not np.array_equal(np.asarray(ids[:n]), np.arange(1, n + 1)):
            raise VmebError("LAMMPS reordered the atoms of an inproc replica; use engine lammps")

    def close(self) -> None:
        """Close the LAMMPS instances."""
        self._stack.close()
        self._sessions.clear()
        self._shift.clear()
        self._fresh.clear()


def session_key(atoms: Atoms, potential: Potential, species: Sequence[str]) -> tuple:
    """What replicas must share to be evaluated by the same instances: potential, type order,
    atoms (element of each index) and cell."""
    return (
        potential,  # a frozen dataclass: compared by its fields, no file reads per NEB
        tuple(species),
        atoms.numbers.tobytes(),
        np.asarray(atoms.cell.array, dtype=float).tobytes(),
    )


class _Scope(threading.local):
    """Per-thread state: how deep inside `site_scope` this thread is, and its kept instances."""

    depth = 0
    kept: ReplicaSessions | None = None


_SCOPE = _Scope()


@contextlib.contextmanager
def site_scope() -> Iterator[None]:
    """Keep the replica instances between the NEBs run inside this block (one site's hops).

    `vmeb.neb.site.compute_site_barriers` runs a site's hops in it; outside it every NEB opens
    and closes its own instances. The instances belong to the calling thread and are closed on
    leaving the block (LAMMPS sessions of one process take turns: `lammps_session`'s lock).
    """
    _SCOPE.depth += 1
    try:
        yield
    finally:
        _SCOPE.depth -= 1
        if _SCOPE.depth == 0:
            _release()


def _release() -> None:
    kept, _SCOPE.kept = _SCOPE.kept, None
    if kept is not None:
        kept.close()


def _sessions_for(template: Atoms, potential: Potential, species: Sequence[str]):
    """The kept `ReplicaSessions` for these replicas, or new ones (closing the old)."""
    kept = _SCOPE.kept
    if kept is not None and kept.key == session_key(template, potential, species):
        return kept
    _release()
    _SCOPE.kept = ReplicaSessions(template, potential, species)
    return _SCOPE.kept


def run_neb(
    images: Sequence[Atoms],
    potential: Potential,
    species: Sequence[str],
    config: NEBConfig,
    workdir: str | Path | None = None,
) -> NEBRun:
    """Run a climbing-image NEB with serial in-process LAMMPS instances, one per replica.

    The engine interface of `vmeb.neb.engines.lammps.run_neb` (same arguments and `NEBRun`);
    ``config.n_procs`` and ``workdir`` are unused (one core, no files). Inside `site_scope` the
    instances are kept for the next NEB of the same atoms and cell.
    """
    if _SCOPE.depth == 0:
        sessions = ReplicaSessions(images[0], potential, species)
        try:
            return _optimise(sessions, images, config)
        finally:
            sessions.close()
    sessions = _sessions_for(images[0], potential, species)
    try:
        return _optimise(sessions, images, config)
    except BaseException:
        _release()  # a LAMMPS error may leave an instance in any state
        raise


def _optimise(sessions: ReplicaSessions, images: Sequence[Atoms], config: NEBConfig) -> NEBRun:
    """`optimise_band`, with an error LAMMPS raises inside the band (e.g. "Lost atoms" when a
    replica blows apart) as a `VmebError`: the hop's attempt fails and is retried, and the
    site's other hops go on."""
    try:
        return optimise_band(sessions, images, config, ENGINE)
    except VmebError:
        raise
    except Exception as exc:  # noqa: BLE001 - the lammps module raises plain Exception
        raise VmebError(f"LAMMPS error in the band: {' '.join(str(exc).split())}") from exc
