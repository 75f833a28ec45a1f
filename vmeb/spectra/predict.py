"""Barrier spectra of any BCC structure from a trained model.

`predict_barriers` gives the 8 barriers of every vacancy site (or of given sites) of a structure:
each site's 8 first neighbours are the moving atoms. Two paths, chosen automatically and logged
(the returned table's ``attrs["path"]`` says which ran):

* ``"lattice"`` (fast): when every atom sits within a tolerance of the ideal site of a BCC
  supercell (`vmeb.learn.lattice.fit_bcc_lattice`) and the model has ``predict_occupancies``,
  the species on the fixed lattice offsets of each site are gathered from an integer index table
  (one lookup serves the 8 hops of a site) and the model inputs come from precomputed templates.
* ``"exact"``: otherwise (relaxed or displaced atoms, other cells), hop environments are built
  from the atom positions in chunks of sites (one ghost-atom cover and KD-tree per structure) and
  mapped with paper Eq. 1.

Both stream chunks of sites, so a 1,024,000-atom sample runs in memory bounded by the chunk
size. `vmeb.learn.inference.predict_hops` does the exact path for given (vacancy, moving atom)
pairs, e.g. the hops of a dataset. `spectrum_statistics` summarises a hop table per moving
species.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from ase import Atoms
from tqdm.auto import tqdm

from vmeb.errors import SiteIndexError, VmebError
from vmeb.learn.ensembles import DeepEnsemble, EnsembleRecorder
from vmeb.learn.environment import hop_environments
from vmeb.learn.inference import (
    atomic_fractions,
    attach_windows,
    check_ranges,
    check_species,
    model_cutoff,
    model_window,
    window_lattice,
)
from vmeb.learn.lattice import (
    DEFAULT_LATTICE_TOLERANCE,
    HopGeometry,
    LatticeFit,
    NotOnLattice,
    fit_bcc_lattice,
    hop_geometry,
    site_occupancy,
)
from vmeb.species import SpeciesTable, default_order
from vmeb.structure.neighbours import first_neighbours, ghosted_cell

logger = logging.getLogger(__name__)

#: Vacancy sites per chunk of `predict_barriers` (8 hops each); bounds the environment arrays.
DEFAULT_CHUNK_SITES = 2048
#: Quantiles reported by `spectrum_statistics`.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Columns of the hop table returned by `predict_barriers`.
HOP_TABLE_COLUMNS = ("site", "moving_index", "moving_species", "barrier")
#: Values of ``path`` in `predict_barriers`.
PATHS = ("auto", "lattice", "exact")


def check_sites(atoms: Atoms, sites: np.ndarray) -> np.ndarray:
    """Validate vacancy site indices.

    Args:
        atoms: The structure.
        sites: [K] atom indices.

    Returns:
        [K] int64 indices.

    Raises:
        SiteIndexError: if an index is out of range, repeated or not an integer.
    """
    sites = np.asarray(sites).reshape(-1)
    if sites.size and not np.issubdtype(sites.dtype, np.integer):
        raise SiteIndexError(f"site indices must be integers, got {sites.dtype}")
    sites = sites.astype(np.int64)
    bad = np.nonzero((sites < 0) | (sites >= len(atoms)))[0]
    if bad.size:
        raise SiteIndexError(
            f"site index {int(sites[bad[0]])} out of range 0..{len(atoms) - 1} "
            f"(structure of {len(atoms)} atoms)"
        )
    unique, counts = np.unique(sites, return_counts=True)
    if np.any(counts > 1):
        raise SiteIndexError(
            f"site index {int(unique[np.argmax(counts > 1)])} given more than once"
        )
    return sites


def predict_barriers(
    trained: Any,
    atoms: Atoms,
    sites: np.ndarray | Sequence[int] | None = None,
    *,
    chunk_sites: int = DEFAULT_CHUNK_SITES,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
    path: str = "auto",
    lattice_tolerance: float = DEFAULT_LATTICE_TOLERANCE,
) -> pd.DataFrame:
    """The 8 barriers of every vacancy site (or of the given sites) of a BCC structure.

    Args:
        trained: A `vmeb.learn.checkpoints.TrainedModel` (or anything with ``species``, ``r_c`` and
            ``predict_environments``; ``predict_occupancies`` enables the lattice path).
        atoms: The perfect (vacancy-free) periodic BCC structure.
        sites: [K] atom indices to make vacancies at; None = every atom.
        chunk_sites: Sites processed at once (memory is bounded by about
            ``8 * chunk_sites * M * 28`` bytes of environments on the exact path, M ~ 120 atoms
            per environment; ``8 * chunk_sites * S`` bytes of occupancies on the lattice path).
        batch_size: Hops per model batch.
        device: Torch device of the model evaluation.
        progress: Show a tqdm bar over hops.
        path: ``"auto"`` (lattice path where the structure is on-lattice), ``"lattice"`` (raise
            if it is not) or ``"exact"``.
        lattice_tolerance: Largest distance (Å) of an atom from its ideal BCC site for the
            lattice path.

    Returns:
        Hop table with columns `HOP_TABLE_COLUMNS`: ``site`` (vacancy atom index),
        ``moving_index``, ``moving_species``, ``barrier`` (eV); 8 rows per site, sites in the
        given order, the 8 neighbours of a site in increasing atom index. ``attrs["path"]`` is
        ``"lattice"`` or ``"exact"``.

    Raises:
        VmebError: for an element the model does not know, an index out of range, a site
            without a clean shell of 8 first neighbours, or ``path="lattice"`` off-lattice.
    """
    check_species(atoms, trained.species)
    check_ranges(atoms, trained)
    sites = np.arange(len(atoms), dtype=np.int64) if sites is None else check_sites(atoms, sites)
    if chunk_sites < 1:
        raise VmebError(f"chunk size must be positive, got {chunk_sites}")
    if path not in PATHS:
        raise VmebError(f"prediction path {path!r}: choose one of {list(PATHS)}")
    windowed = model_window(trained) > 0
    if windowed:
        field = _field_setup(trained, atoms, sites, lattice_tolerance, path, device, progress)
        if field is not None:
            return add_intervals(_field_table(atoms, sites, *field), atoms, trained)
    exact = path == "exact" or windowed  # a window model's per-hop path
    setup = None if exact else _lattice_setup(trained, atoms, lattice_tolerance, path)
    barriers = np.empty(8 * len(sites), dtype=np.float64)
    moving = np.empty(8 * len(sites), dtype=np.int64)
    run = _lattice_chunk if setup is not None else _exact_chunk
    if setup is None:
        r_c = model_cutoff(trained)
        context: Any = (ghosted_cell(atoms, r_c), r_c, window_lattice(trained, atoms))
    else:
        context = setup
    with tqdm(total=8 * len(sites), unit="hop", disable=not progress, desc="barriers") as bar:
        for start in range(0, len(sites), chunk_sites):
            chunk = sites[start : start + chunk_sites]
            lo, hi = 8 * start, 8 * (start + len(chunk))
            moving[lo:hi], barriers[lo:hi] = run(
                trained, atoms, chunk, context, batch_size=batch_size, device=device
            )
            bar.update(hi - lo)
    chosen = "lattice" if setup is not None else "exact"
    logger.info("predicted %d barriers at %d sites (%s path)", len(barriers), len(sites), chosen)
    return add_intervals(_hop_table(atoms, sites, moving, barriers, chosen), atoms, trained)


def add_intervals(table: pd.DataFrame, atoms: Atoms, trained: Any) -> pd.DataFrame:
    """Add the calibrated ``interval_std`` column (eV) of a model that carries intervals.

    The standard deviation depends on the structure's composition distance from the model's
    training compositions (`vmeb.learn.intervals.CompositionIntervals`), stored in
    ``table.attrs["composition_distance"]``; a model without intervals leaves the table as it is.
    """
    intervals = getattr(trained, "intervals", None)
    if intervals is None:
        return table
    fractions = atomic_fractions(atoms, trained.species)
    distance = intervals.distance(fractions)
    sigma = float(intervals.sigma(distance))
    table["interval_std"] = sigma
    table.attrs["composition_distance"] = distance
    table.attrs["interval_std"] = sigma
    logger.info(
        "composition %.3f from the nearest training composition: calibrated sigma %.3f eV",
        distance,
        sigma,
    )
    return table


def _hop_table(atoms, sites, moving, barriers, path: str) -> pd.DataFrame:
    """The hop table of `predict_barriers`, ``attrs["path"]`` set."""
    names, codes = np.unique(atoms.get_chemical_symbols(), return_inverse=True)
    table = pd.DataFrame(
        {
            "site": np.repeat(sites, 8),
            "moving_index": moving,
            # one shared str object per element: 8 bytes per row on million-atom samples
            "moving_species": names.astype(object)[codes[moving]]
            if len(moving)
            else np.array([], dtype=str),
            "barrier": barriers,
        }
    )
    table.attrs["path"] = path
    return table


def _exact_instead(exc: NotOnLattice, tolerance: float, path: str) -> None:
    """An off-lattice structure: re-raise for ``path="lattice"``, else log the exact path."""
    if path == "lattice":
        raise exc
    logger.info("exact path: structure not on-lattice within %g Å (%s)", tolerance, exc)


def _lattice_setup(
    trained: Any, atoms: Atoms, tolerance: float, path: str
) -> tuple[LatticeFit, HopGeometry, np.ndarray] | None:
    """(fit, geometry, channel of every atom) for the lattice path, or None for the exact one."""
    if not hasattr(trained, "predict_occupancies"):
        if path == "lattice":
            raise VmebError(f"{type(trained).__name__} has no predict_occupancies (lattice path)")
        logger.info("exact path: %s has no predict_occupancies", type(trained).__name__)
        return None
    try:
        fit = fit_bcc_lattice(atoms, tolerance)
        geometry = hop_geometry(fit, atoms.cell.array, model_cutoff(trained), tolerance)
    except NotOnLattice as exc:
        return _exact_instead(exc, tolerance, path)
    channel = SpeciesTable(trained.species).number_lookup()[atoms.numbers]
    logger.info(
        "lattice path: every atom within %.2g Å of its BCC site (tolerance %g Å), a = %.4f Å, "
        "%d sites per environment",
        fit.max_deviation,
        tolerance,
        fit.lattice_constant,
        geometry.n_sites,
    )
    return fit, geometry, channel


#: The whole-lattice path runs when at least this fraction of the sites is asked for (a pass
#: costs the same for one site as for all; fewer sites take the per-hop windows).
FIELD_MIN_FRACTION = 1 / 256


def _field_setup(trained, atoms, sites, tolerance, path, device, progress):
    """(fit, [N, 8] barriers) by whole-lattice passes (`vmeb.learn.field`), or None for the
    per-hop path: off-lattice (``path="lattice"`` raises), fewer than 2 L + 1 cells along an
    axis, or few sites."""
    from vmeb.learn.field import field_site_barriers

    if path == "exact":
        return None
    try:
        fit = fit_bcc_lattice(atoms, tolerance)
    except NotOnLattice as exc:
        return _exact_instead(exc, tolerance, path)
    half = model_window(trained)
    small = int((fit.dims // 2).min()) < 2 * half + 1
    if small or len(sites) < FIELD_MIN_FRACTION * len(atoms):
        if path == "lattice" and small:
            raise VmebError(
                f"lattice path of this model needs at least {2 * half + 1} cells per axis"
            )
        logger.info("per-hop windows: %s", "sample too small" if small else "few sites")
        return None
    channel = SpeciesTable(trained.species).number_lookup()[atoms.numbers]
    barriers = field_site_barriers(trained, fit, channel, device=device, progress=progress)
    return fit, barriers


def _field_table(atoms, sites, fit, barriers) -> pd.DataFrame:
    """The hop table of sites from whole-lattice barriers [N, 8] (neighbours by atom index)."""
    from vmeb.learn.lattice import DIRECTIONS

    moving = fit.lookup(fit.coords[sites][:, None, :] + DIRECTIONS[None])  # [K, 8]
    order = np.argsort(moving, axis=1, kind="stable")
    mov = np.take_along_axis(moving, order, axis=1).reshape(-1)
    values = np.take_along_axis(barriers[sites], order, axis=1).reshape(-1)
    logger.info("predicted %d barriers at %d sites (lattice path)", len(values), len(sites))
    return _hop_table(atoms, sites, mov, values, "lattice")


def _exact_chunk(trained, atoms, chunk, context, *, batch_size, device):
    """(moving [8K], barriers [8K]) of K sites from hop environments (paper Eq. 1 path)."""
    ghosts, r_c, lattice = context
    neighbours, _ = first_neighbours(atoms, chunk, 8, ghosts=ghosts)
    neighbours = np.sort(neighbours, axis=1)  # canonical order, not tie-broken by distance
    vac = np.repeat(chunk, 8)
    mov = neighbours.reshape(-1)
    env = hop_environments(atoms, vac, mov, trained.species, r_c=r_c, ghosts=ghosts)
    env = attach_windows(trained, env, vac, mov, lattice)
    return mov, trained.predict_environments(env, batch_size=batch_size, device=device)


def _lattice_chunk(trained, atoms, chunk, setup, *, batch_size, device):
    """(moving [8K], barriers [8K]) of K sites from lattice occupancies."""
    fit, geometry, channel = setup
    occupancy, moving = site_occupancy(fit, channel, chunk, geometry)
    if np.any(moving == chunk[:, None]):
        raise VmebError("cell too small: a first neighbour is the vacancy's own periodic image")
    order = np.argsort(moving, axis=1, kind="stable")  # neighbours in increasing atom index
    ranked = np.take_along_axis(moving, order, axis=1)
    twice = np.nonzero((ranked[:, 1:] == ranked[:, :-1]).any(axis=1))[0]
    if twice.size:  # as the exact path refuses it (`vmeb.learn.environment`)
        k = int(twice[0])
        atom = int(ranked[k, 1:][ranked[k, 1:] == ranked[k, :-1]][0])
        raise VmebError(
            f"atom {atom} is a first neighbour of site {int(chunk[k])} through several periodic "
            f"images: the cell is too small to define the hop"
        )
    mov = ranked.reshape(-1)
    direction = order.reshape(-1)
    occ = np.repeat(occupancy, 8, axis=0)
    barriers = trained.predict_occupancies(
        occ, direction, geometry, batch_size=batch_size, device=device
    )
    return mov, barriers


def barriers_by_species(
    table: pd.DataFrame, species: Sequence[str], value_column: str = "barrier"
) -> dict[str, np.ndarray]:
    """Split a hop table into one barrier array per moving species.

    Args:
        table: Hop table with ``moving_species`` and ``value_column`` (eV).
        species: Species to return, in order.
        value_column: Column of barriers.

    Returns:
        ``{species: [n_s] barriers (eV)}``, empty arrays for species without hops.
    """
    return {
        s: table.loc[table["moving_species"] == s, value_column].to_numpy(float) for s in species
    }


def spectrum_statistics(
    table: pd.DataFrame,
    species: Sequence[str] | None = None,
    value_column: str = "barrier",
) -> pd.DataFrame:
    """Per-moving-species statistics of a barrier spectrum.

    Args:
        table: Hop table with ``moving_species`` and ``value_column`` (eV).
        species: Order of the rows (default: `vmeb.species.default_order` of the species
            present); an ``all`` row follows.
        value_column: Column of barriers.

    Returns:
        One row per moving species plus ``all``: ``moving_species``, ``count``, ``mean``, ``std``
        (population, ddof 0), ``min``, ``q05``, ``q25``, ``median``, ``q75``, ``q95``, ``max``
        (eV); NaN where a species has no hops.
    """
    order = list(species) if species is not None else default_order(table["moving_species"])
    per_species = barriers_by_species(table, order, value_column)
    per_species["all"] = table[value_column].to_numpy(float)
    rows = [_summary(symbol, per_species[symbol]) for symbol in [*order, "all"]]
    columns = ["moving_species", "count", "mean", "std", "min"]
    columns += [_quantile_name(q) for q in QUANTILES] + ["max"]
    return pd.DataFrame(rows, columns=columns)


def _summary(symbol: str, values: np.ndarray) -> dict[str, Any]:
    row: dict[str, Any] = {"moving_species": symbol, "count": int(len(values))}
    if len(values) == 0:
        nan = float("nan")
        row.update(mean=nan, std=nan, min=nan, max=nan)
        row.update({_quantile_name(q): nan for q in QUANTILES})
        return row
    quantiles = np.quantile(values, QUANTILES)
    row.update(mean=float(values.mean()), std=float(values.std()), min=float(values.min()))
    row.update({_quantile_name(q): float(v) for q, v in zip(QUANTILES, quantiles, strict=True)})
    row["max"] = float(values.max())
    return row


def _quantile_name(q: float) -> str:
    return "median" if q == 0.5 else f"q{round(100 * q):02d}"


def predict_barriers_with_uncertainty(
    ensemble: DeepEnsemble,
    atoms: Atoms,
    sites: np.ndarray | Sequence[int] | None = None,
    *,
    chunk_sites: int = 2048,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
    path: str = "auto",
) -> pd.DataFrame:
    """`predict_barriers` with a deep ensemble: mean and spreads of every hop.

    Returns:
        The hop table of `predict_barriers` (``barrier`` = ensemble mean, eV)
        plus
        `UNCERTAINTY_COLUMNS` (eV).
    """
    recorder = EnsembleRecorder(ensemble)
    table = predict_barriers(
        recorder,
        atoms,
        sites,
        chunk_sites=chunk_sites,
        batch_size=batch_size,
        device=device,
        progress=progress,
        path=path,
    )
    joined = recorder.joined(len(ensemble.members))
    table["barrier_std"] = joined.epistemic_std
    table["angle_std"] = joined.angle_std
    table["total_std"] = joined.total_std
    return table
