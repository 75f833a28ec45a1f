"""The candidate pool of an active-learning campaign: vacancy sites, their groups and descriptors.

A candidate is one vacancy *site* of one sample (the NEB unit of `vmeb.neb.campaign`: its 8
first-neighbour hops). The pool is made once, in the campaign's first stage, and stored whole
under ``OUTPUT/pool/`` (`write_pool`, published atomically):

- ``candidates.csv``: one row per site: ``candidate`` (0-based id), ``sample_id`` (id in the
  campaign's datasets), ``vacancy_index``, ``group`` (composition label or CSRO state),
  ``role`` (``pool``, or ``test`` for sites held out as the random test set), ``source``
  (index of the pool dataset, -1 for samples built here) and ``source_sample`` (the sample's
  id there);
- ``descriptors.npy``: [N, 3 S] float64 per-site descriptors (`site_descriptors`);
- ``samples/<sample_id>.extxyz``: the perfect samples;
- ``pool.json``: the species order and the seconds the pool took to make.

In NEB mode the samples are random BCC solid solutions over a composition domain (a grid or
random draws within per-element bounds, or a list), built at the potential's relaxed lattice
constants, plus optional CSRO states read from structure files. In pool mode the candidates are
the sites of labelled datasets, whose rows are revealed when a site is selected.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
from ase import Atoms

from vmeb.active.config import ActiveConfig
from vmeb.data.dataset import open_dataset
from vmeb.errors import VmebError, file_error
from vmeb.files import staged_output
from vmeb.species import SpeciesTable, default_order
from vmeb.structure.build import (
    composition_label,
    normalise_fractions,
    parse_composition,
    simplex_grid,
)
from vmeb.structure.lattice import sample_lattice_constant
from vmeb.structure.neighbours import first_neighbours, neighbours_within

logger = logging.getLogger(__name__)

POOL_DIR = "pool"
CANDIDATE_COLUMNS = ("candidate", "sample_id", "vacancy_index", "group", "role", "source")
#: Shell radii in lattice constants: first shell at sqrt(3)/2 a, second at a, third at sqrt(2) a.
_SHELL_SPLIT, _SHELL_CUT = 0.93, 1.2
#: Random compositions are drawn by rejection; this many tries per wanted composition at most.
_MAX_TRIES = 10000


@dataclass
class Pool:
    """The candidate sites of a campaign.

    Attributes:
        candidates: One row per site (`CANDIDATE_COLUMNS` and ``source_sample``).
        descriptors: [N, 3 S] per-site descriptors (row i = candidate i).
        samples: Sample id -> perfect structure.
        species: Species order of the descriptors.
    """

    candidates: pd.DataFrame
    descriptors: np.ndarray
    samples: dict[str, Atoms]
    species: tuple[str, ...]


# ------------------------------------------------------------------------------ compositions


def _in_bounds(fractions: Mapping[str, float], bounds: Mapping[str, Sequence[float]]) -> bool:
    tol = 1e-9
    return all(lo - tol <= fractions.get(s, 0.0) <= hi + tol for s, (lo, hi) in bounds.items())


def domain_compositions(config: ActiveConfig, rng: np.random.Generator) -> list[dict[str, float]]:
    """The compositions of the pool: the given list, a grid or random draws in the bounds.

    Returns:
        Element -> fraction mappings (normalised), in a fixed order.

    Raises:
        VmebError: when no composition of the domain lies within the bounds.
    """
    if config.compositions:
        return [normalise_fractions(parse_composition(c)) for c in config.compositions]
    if not config.elements:
        return []
    bounds = dict(config.bounds or {})
    if config.grid_step is not None:
        divisions = max(1, round(1.0 / config.grid_step))
        found = [c for c in simplex_grid(config.elements, divisions) if _in_bounds(c, bounds)]
    else:
        found = []
        for _ in range(_MAX_TRIES * config.composition_draws):
            x = rng.dirichlet(np.ones(len(config.elements)))
            fractions = dict(zip(config.elements, (float(v) for v in x), strict=True))
            if _in_bounds(fractions, bounds):
                found.append(fractions)
                if len(found) == config.composition_draws:
                    break
    if not found:
        raise VmebError(f"no composition of elements {list(config.elements)} within {bounds}")
    return found


def built_samples(config: ActiveConfig, potential) -> tuple[dict[str, Atoms], dict[str, str]]:
    """Random samples over the composition domain, and the CSRO structures.

    Returns:
        ``(samples, groups)``: sample id -> perfect structure, and -> group (composition label,
        or the CSRO structure's ``info["group"]`` or file stem).
    """
    from vmeb.lammps.lattice import random_alloy_for_potential  # noqa: PLC0415
    from vmeb.structure.io import read_structure  # noqa: PLC0415

    rng = np.random.default_rng([config.seed, 1])
    samples: dict[str, Atoms] = {}
    groups: dict[str, str] = {}
    for i, fractions in enumerate(domain_compositions(config, rng)):
        for j in range(config.samples_per_composition):
            sample_id = f"c{i:03d}_s{j}"
            samples[sample_id] = random_alloy_for_potential(
                fractions,
                config.cells,
                a=config.a,
                potential=potential,
                rng=np.random.default_rng([config.seed, 2, i, j]),
            )
            groups[sample_id] = composition_label(fractions)
    for path in config.csro_structures:
        atoms = read_structure(path)
        sample_id = f"csro_{Path(path).name.split('.')[0]}"
        if sample_id in samples:
            raise file_error(path, f"sample id {sample_id!r} used by two CSRO files; rename one")
        samples[sample_id] = atoms
        groups[sample_id] = str(atoms.info.get("group") or Path(path).name.split(".")[0])
    return samples, groups


# ------------------------------------------------------------------------------ descriptors


def site_descriptors(atoms: Atoms, sites: np.ndarray, species: Sequence[str]) -> np.ndarray:
    """Per-shell composition around vacancy sites, and the sample's composition.

    Args:
        atoms: Perfect BCC sample.
        sites: [K] vacancy sites (atom indices).
        species: Species order of the columns.

    Returns:
        [K, 3 S] fractions of each species in the first shell (8 sites), in the second shell
        (6 sites) and in the whole sample.
    """
    sites = np.asarray(sites, dtype=int)
    symbols = np.asarray(atoms.get_chemical_symbols())
    code = SpeciesTable(species).indices(symbols)
    n_species = len(species)
    a = sample_lattice_constant(atoms)
    slot, j, vectors = neighbours_within(atoms, sites, _SHELL_CUT * a)
    shell = (np.linalg.norm(vectors, axis=1) > _SHELL_SPLIT * a).astype(int)
    counts = np.zeros((len(sites), 2, n_species))
    np.add.at(counts, (slot, shell, code[j]), 1.0)
    counts /= np.maximum(counts.sum(axis=2, keepdims=True), 1.0)
    whole = np.bincount(code, minlength=n_species) / len(atoms)
    return np.concatenate([counts.reshape(len(sites), -1), np.tile(whole, (len(sites), 1))], 1)


def site_hops(atoms: Atoms, sites: np.ndarray) -> np.ndarray:
    """[K, 8] first neighbours (moving atoms) of each vacancy site, nearest first."""
    neighbours, _ = first_neighbours(atoms, np.asarray(sites, dtype=int), 8)
    return neighbours


# ------------------------------------------------------------------------------ the pool


def _table(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=[*CANDIDATE_COLUMNS[1:], "source_sample"])
    table.insert(0, "candidate", np.arange(len(table)))
    return table


def neb_pool(config: ActiveConfig, potential) -> tuple[pd.DataFrame, dict[str, Atoms]]:
    """The candidate table and samples of a campaign that labels by NEB."""
    samples, groups = built_samples(config, potential)
    rows = []
    for k, (sample_id, atoms) in enumerate(samples.items()):
        sites = np.arange(len(atoms))
        if config.sites_per_sample is not None and config.sites_per_sample < len(atoms):
            rng = np.random.default_rng([config.seed, 3, k])
            sites = np.sort(rng.choice(len(atoms), config.sites_per_sample, replace=False))
        group = groups[sample_id]
        rows += [
            {"sample_id": sample_id, "vacancy_index": int(s), "group": group, "source": -1,
             "source_sample": sample_id, "role": "pool"}
            for s in sites
        ]  # fmt: skip
    return _table(rows), samples


def test_samples(config: ActiveConfig) -> set[tuple[str, str]]:
    """(resolved dataset path, sample id) of the fixed test set's samples (empty without one)."""
    if not config.test_dataset:
        return set()
    dataset = open_dataset(config.test_dataset)
    groups = set(test_groups(config, dataset))
    root = str(Path(config.test_dataset).resolve())
    return {(root, s) for s in dataset.sample_ids() if dataset.group_of(s) in groups}


def test_groups(config: ActiveConfig, dataset) -> tuple[str, ...]:
    """Groups of ``dataset`` (the fixed test set) to test on: given, from an index, or all."""
    if config.test_groups:
        missing = sorted(set(config.test_groups) - {dataset.group_of(s) for s in
                                                    dataset.sample_ids()})  # fmt: skip
        if missing:
            raise file_error(dataset.root, f"test groups {missing} not in the test dataset")
        return tuple(config.test_groups)
    if config.test_index:
        from vmeb.study.grid import grid_split  # noqa: PLC0415

        return grid_split(dataset, config.test_index).test_groups
    return tuple(sorted({dataset.group_of(s) for s in dataset.sample_ids()}))


def dataset_pool(config: ActiveConfig) -> tuple[pd.DataFrame, dict[str, Atoms]]:
    """The candidate table and samples of a pool-mode campaign: every site of the pool
    datasets with hop rows, the fixed test set's samples left out."""
    excluded = test_samples(config)
    rows, samples = [], {}
    species = None
    for k, path in enumerate(config.pool_datasets):
        dataset = open_dataset(path)
        if species is not None and dataset.species != species:
            raise file_error(path, f"species {list(dataset.species)}, not {list(species)}")
        species = dataset.species
        root = str(Path(path).resolve())
        sites = dataset.hops[["sample_id", "vacancy_index"]].drop_duplicates()
        for source_sample, part in sites.groupby("sample_id", sort=True):
            if (root, str(source_sample)) in excluded:
                continue
            sample_id = (
                str(source_sample) if len(config.pool_datasets) == 1 else f"p{k}_{source_sample}"
            )
            samples[sample_id] = dataset.structure(str(source_sample))
            group = dataset.group_of(str(source_sample))
            rows += [
                {"sample_id": sample_id, "vacancy_index": int(v), "group": group, "source": k,
                 "source_sample": str(source_sample), "role": "pool"}
                for v in sorted(part["vacancy_index"])
            ]  # fmt: skip
    if not rows:
        raise VmebError("the pool datasets hold no site outside the test set")
    return _table(rows), samples


def make_pool(config: ActiveConfig, potential=None) -> Pool:
    """The campaign's candidate pool (test sites held out when the test set is random)."""
    if config.pool_mode:
        table, samples = dataset_pool(config)
    else:
        table, samples = neb_pool(config, potential)
    species = _pool_species(samples, potential)
    if not config.test_dataset and config.test_sites:
        if config.test_sites >= len(table):
            raise VmebError(f"test_sites = {config.test_sites}: the pool has {len(table)} sites")
        rng = np.random.default_rng([config.seed, 4])
        chosen = rng.choice(len(table), config.test_sites, replace=False)
        table.loc[chosen, "role"] = "test"
    descriptors = np.zeros((len(table), 3 * len(species)))
    for sample_id, part in table.groupby("sample_id", sort=False):
        index = part.index.to_numpy()
        descriptors[index] = site_descriptors(
            samples[sample_id], part["vacancy_index"].to_numpy(), species
        )
    logger.info("pool: %d sites of %d samples", len(table), len(samples))
    return Pool(table, descriptors, samples, species)


def _pool_species(samples: Mapping[str, Atoms], potential) -> tuple[str, ...]:
    """The elements present, in the potential's order (else `vmeb.species.default_order`)."""
    present = [s for atoms in samples.values() for s in atoms.get_chemical_symbols()]
    return tuple(default_order(present, getattr(potential, "elements", None)))


def write_pool(pool: Pool, output: Path, seconds: float = 0.0) -> Path:
    """Store the pool under ``output/pool`` (appears whole); ``seconds``: time it took (s)."""
    with staged_output(output / POOL_DIR) as staging:
        pool.candidates.to_csv(staging / "candidates.csv", index=False)
        np.save(staging / "descriptors.npy", pool.descriptors)
        (staging / "samples").mkdir()
        for sample_id, atoms in pool.samples.items():
            ase.io.write(staging / "samples" / f"{sample_id}.extxyz", atoms, format="extxyz")
        record = {"species": list(pool.species), "seconds": float(seconds)}
        (staging / "pool.json").write_text(json.dumps(record))
    return output / POOL_DIR


def read_pool(output: str | os.PathLike) -> Pool:
    """The pool stored by `write_pool` (samples read back: the exact inputs of every stage)."""
    folder = Path(output) / POOL_DIR
    table = pd.read_csv(folder / "candidates.csv", dtype={"sample_id": str, "group": str,
                                                           "source_sample": str})  # fmt: skip
    descriptors = np.load(folder / "descriptors.npy")
    samples = {
        sample_id: ase.io.read(folder / "samples" / f"{sample_id}.extxyz", format="extxyz")
        for sample_id in table["sample_id"].unique()
    }
    species = tuple(json.loads((folder / "pool.json").read_text())["species"])
    return Pool(table, descriptors, samples, species)
