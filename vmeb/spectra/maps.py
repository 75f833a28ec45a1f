"""Barrier spectra across composition space: grids and line scans, tables, the paper's Fig. 5 maps.

For each composition a random BCC solid solution is built
(`vmeb.structure.build.build_random_alloy`), all
8 barriers of every vacancy site (or of ``max_sites`` random sites) are predicted with a trained
model or a deep ensemble (chunked by sites in `vmeb.spectra.predict`, so environments and SDMs are
never
held for the whole sample), and the spectrum of every moving species is summarised: count, mean,
standard deviation (ddof 0), quantiles, and a histogram on fixed 0.01 eV bins. Only the summary
is kept per composition; hop tables can be streamed to disk.

Sample size: ``cells``^3 conventional cells (2 ``cells``^3 atoms), enlarged to the smallest size
at which every element present has at least ``min_per_species`` atoms (exact counts from
largest-remainder rounding; the paper used >= 5,000 per species for Supp. Figs. 8-9).

Lattice constant (``lattice``):

- ``"vegard"`` (default): Vegard's law, ``a = sum_e x_e a_e``, from the relaxed pure-element BCC
  constants ``a_e`` of the potential (`vmeb.lammps.session.lattice_constant`, three relaxations,
  cached) or from ``pure_lattice`` given by the user. Cheap for any number of compositions; with
  the built-in Ta-Nb-Mo EAM it differs from the relaxed alloy constant by a few mÅ.
- ``"relax"``: the relaxed constant of a random cell at each composition (one LAMMPS relaxation
  of a 432-atom cell per composition, cached).
- a fixed ``lattice_constant`` overrides both.

Randomness: the placement (and the site subset) of a composition is drawn from a generator seeded
by ``(seed, composition in 1e-6 steps)``, so a composition gets the same sample whatever grid it
is part of, and the whole map is reproducible.

Figures (`map_figures`, drawn by `vmeb.plots.maps` from the map's arrays): `ternary_maps.png`
(paper Fig. 5: mean and standard deviation per moving species on the composition triangle),
`line_scan.png` (Supp. Fig. 8) and `distributions.png` (Supp. Fig. 9: ridge plots against the
concentration).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from vmeb.errors import VmebError
from vmeb.files import to_json
from vmeb.plots.maps import FIG5_ROWS, distributions_figure, line_scan_figure, ternary_figure
from vmeb.species import SpeciesTable
from vmeb.spectra.predict import spectrum_statistics
from vmeb.structure.build import (
    build_random_alloy,
    composition_counts,
    composition_label,
    normalise_fractions,
    parse_composition,
    simplex_grid,
)

logger = logging.getLogger(__name__)

LATTICE_MODES = ("vegard", "relax")
#: Histogram bin edges (eV) of every spectrum: 0.01 eV bins; values outside go to the end bins.
HIST_EDGES = np.round(np.linspace(-0.5, 4.5, 501), 6)
#: Resolution of the composition part of a sample's seed.
_SEED_RESOLUTION = 1_000_000
#: Samples of at least this many atoms get their own progress bar over hops.
LARGE_SAMPLE = 100_000
#: Largest sample edge `sample_cells` will choose (2 * 200^3 = 16M atoms).
MAX_CELLS = 200
_LINE = re.compile(r"^\s*([A-Z][a-z]?)\s*:\s*([0-9.]+)\s*\.\.\s*([0-9.]+)\s*(?::\s*([0-9.]+))?\s*$")


@dataclass(frozen=True)
class MapConfig:
    """How each composition's sample is built and predicted.

    Attributes:
        cells: Smallest sample edge in conventional cells (2 cells^3 atoms).
        min_per_species: Enlarge the sample until every element present has this many atoms.
        seed: Base seed of the placements and site subsets.
        lattice: ``"vegard"`` or ``"relax"`` (module docstring).
        lattice_constant: Fixed lattice constant (Å) for all compositions, overriding ``lattice``.
        pure_lattice: (element, a in Å) pairs for Vegard's law; missing ones are relaxed.
        potential: Potential spec for relaxations (None: the built-in Ta-Nb-Mo EAM).
        max_sites: Vacancy sites per composition drawn at random (None: every atom).
        chunk_sites: Sites whose environments are built at once.
        batch_size: Hops per model batch.
        device: Torch device.
    """

    cells: int = 10
    min_per_species: int = 0
    seed: int = 0
    lattice: str = "vegard"
    lattice_constant: float | None = None
    pure_lattice: tuple[tuple[str, float], ...] = ()
    potential: str | None = None
    max_sites: int | None = None
    chunk_sites: int = 2048
    batch_size: int = 256
    device: str = "cpu"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "pure_lattice", tuple((str(e), float(a)) for e, a in self.pure_lattice)
        )
        if self.cells < 1 or self.cells > MAX_CELLS:
            raise VmebError(f"cells must be in 1..{MAX_CELLS}, got {self.cells}")
        if self.min_per_species < 0:
            raise VmebError(f"min_per_species must be >= 0, got {self.min_per_species}")
        if self.lattice not in LATTICE_MODES:
            raise VmebError(f"lattice {self.lattice!r}: choose one of {list(LATTICE_MODES)}")
        if self.lattice_constant is not None and not self.lattice_constant > 0:
            raise VmebError(f"lattice constant must be > 0 Å, got {self.lattice_constant}")
        if any(not a > 0 for _, a in self.pure_lattice):
            raise VmebError(f"pure-element lattice constants must be > 0 Å: {self.pure_lattice}")
        if self.max_sites is not None and self.max_sites < 1:
            raise VmebError(f"max_sites must be positive, got {self.max_sites}")
        if self.chunk_sites < 1 or self.batch_size < 1:
            raise VmebError("chunk_sites and batch_size must be positive")


# ----------------------------------------------------------------------------- compositions


def parse_line(text: str) -> tuple[str, float, float, float]:
    """Parse a line scan ``"Mo:34..99"`` or ``"Mo:34..99:0.5"`` (at.%, step default 1).

    Returns:
        (element, start, stop, step) in at.%.

    Raises:
        VmebError: naming the string if it is malformed or out of 0..100.
    """
    match = _LINE.match(text)
    if not match:
        raise VmebError(f"line scan {text!r}: use 'Mo:34..99' or 'Mo:34..99:0.5' (at.%)")
    element = match.group(1)
    try:
        start, stop = float(match.group(2)), float(match.group(3))
        step = float(match.group(4)) if match.group(4) else 1.0
    except ValueError as exc:
        raise VmebError(f"line scan {text!r}: {exc}") from exc
    if not 0 <= start <= stop <= 100 or step <= 0:
        raise VmebError(f"line scan {text!r}: need 0 <= start <= stop <= 100 and step > 0")
    return element, start, stop, step


def line_compositions(
    elements: Sequence[str],
    element: str,
    start: float,
    stop: float,
    step: float = 1.0,
    balance: Mapping[str, float] | str | None = None,
) -> list[dict[str, float]]:
    """Compositions along a line: ``element`` from ``start`` to ``stop`` at.% (inclusive).

    The rest is shared by the other elements in the ratio ``balance`` (default equal parts), e.g.
    Ta_(100-x)/2 Nb_(100-x)/2 Mo_x for the paper's Supp. Figs. 8-9.

    Returns:
        Element -> fraction (all ``elements``, in order), ``element`` increasing.
    """
    elements = list(elements)
    if element not in elements:
        raise VmebError(f"line scan element {element} is not one of {elements}")
    others = [e for e in elements if e != element]
    if isinstance(balance, str):
        balance = parse_composition(balance)
    weights = {e: 1.0 for e in others} if balance is None else dict(balance)
    if set(weights) - set(others):
        raise VmebError(f"balance {dict(weights)} names elements outside {others}")
    weights = {e: float(weights.get(e, 0.0)) for e in others}
    if others and sum(weights.values()) <= 0:
        raise VmebError(f"balance {dict(weights)} has no positive part")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    out = []
    for x in start + step * np.arange(count):
        x = round(float(x), 9) / 100.0
        rest = 1.0 - x
        total = sum(weights.values())
        fractions = {e: (x if e == element else rest * weights[e] / total) for e in elements}
        out.append(fractions)
    return out


def map_compositions(
    elements: Sequence[str],
    divisions: int | None = None,
    line: str | None = None,
    balance: str | None = None,
) -> tuple[list[dict[str, float]], str | None]:
    """The compositions of a map: a simplex grid (``divisions``) or a line scan (``line``).

    Returns:
        (compositions, scanned element or None for a grid).
    """
    if line is not None:
        element, start, stop, step = parse_line(line)
        return line_compositions(elements, element, start, stop, step, balance), element
    if divisions is None:
        raise VmebError("a map needs a grid (divisions) or a line scan")
    return simplex_grid(list(elements), divisions), None


def parse_pure_lattice(text: str) -> tuple[tuple[str, float], ...]:
    """``"Ta:3.303,Nb:3.307"`` -> ((element, a in Å), ...); raises `VmebError` on bad input."""
    pairs = []
    for part in text.replace(" ", "").split(","):
        symbol, _, value = part.partition(":")
        try:
            pairs.append((symbol, float(value)))
        except ValueError:
            raise VmebError(f"pure lattice {text!r}: use 'Ta:3.303,Nb:3.307' (Å)") from None
    return tuple(pairs)


def sample_cells(fractions: Mapping[str, float], min_cells: int, min_per_species: int) -> int:
    """Smallest edge n >= ``min_cells`` at which every present element has enough atoms.

    Args:
        fractions: Element -> fraction.
        min_cells: Smallest edge (conventional cells).
        min_per_species: Atoms required of every element with a non-zero fraction.

    Returns:
        n such that `composition_counts` of 2 n^3 atoms gives each present element at least
        ``min_per_species`` atoms, and n - 1 (if >= ``min_cells``) does not.
    """
    fractions = normalise_fractions(fractions)
    present = [e for e, x in fractions.items() if x > 0]
    for n in range(max(1, min_cells), MAX_CELLS + 1):
        counts = composition_counts(fractions, 2 * n**3)
        if all(counts[e] >= min_per_species for e in present):
            return n
    raise VmebError(
        f"{composition_label(fractions)}: {min_per_species} atoms of every element need more "
        f"than {MAX_CELLS}^3 cells"
    )


def composition_rng(fractions: Mapping[str, float], seed: int, stream: int) -> np.random.Generator:
    """Generator of one composition's sample (``stream`` 0) or site subset (1)."""
    steps = [int(round(x * _SEED_RESOLUTION)) for x in fractions.values()]
    return np.random.default_rng([int(seed), int(stream), *steps])


def vegard_lattice_constant(fractions: Mapping[str, float], pure: Mapping[str, float]) -> float:
    """``sum_e x_e a_e`` (Å) over the elements present."""
    fractions = normalise_fractions(fractions)
    missing = [e for e, x in fractions.items() if x > 0 and e not in pure]
    if missing:
        raise VmebError(f"no pure-element lattice constant for {missing}")
    return float(sum(x * float(pure[e]) for e, x in fractions.items() if x > 0))


def needs_potential(elements: Sequence[str], config: MapConfig) -> bool:
    """Whether `lattice_constants` relaxes with the potential (LAMMPS) for these elements."""
    if config.lattice_constant is not None:
        return False
    return config.lattice == "relax" or bool(set(elements) - set(dict(config.pure_lattice)))


def lattice_constants(
    compositions: Sequence[Mapping[str, float]], config: MapConfig
) -> list[float]:
    """The lattice constant (Å) of each composition, as ``config`` says (module docstring)."""
    if config.lattice_constant is not None:
        return [float(config.lattice_constant)] * len(compositions)
    from vmeb.lammps.lattice import lattice_constant  # noqa: PLC0415
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415

    if config.lattice == "relax":
        potential = load_potential(config.potential)
        return [lattice_constant(potential, c) for c in compositions]
    pure = dict(config.pure_lattice)
    needed = sorted({e for c in compositions for e, x in c.items() if x > 0} - set(pure))
    if needed:
        potential = load_potential(config.potential)
        for element in needed:
            pure[element] = lattice_constant(potential, {element: 1.0})
            logger.info("pure %s: a = %.5f Å (%s)", element, pure[element], potential.name)
    return [vegard_lattice_constant(c, pure) for c in compositions]


# ----------------------------------------------------------------------------- statistics


def composition_statistics(table: pd.DataFrame, elements: Sequence[str]) -> pd.DataFrame:
    """Spectrum statistics of one composition's hop table, per moving species and ``all``.

    Args:
        table: Hop table with ``moving_species`` and ``barrier`` (eV), optionally the ensemble's
            ``barrier_std``, ``angle_std`` and ``total_std`` (eV).
        elements: Row order (elements without hops get count 0 and NaN statistics).

    Returns:
        `vmeb.spectra.predict.spectrum_statistics` rows, plus the mean of each uncertainty column
        present
        (``barrier_std_mean`` ...).
    """
    stats = spectrum_statistics(table, elements)
    for column in ("barrier_std", "angle_std", "total_std"):
        if column in table:
            means = table.groupby("moving_species")[column].mean()
            stats[f"{column}_mean"] = [
                float(table[column].mean()) if s == "all" and len(table) else means.get(s, np.nan)
                for s in stats["moving_species"]
            ]
    return stats


def map_histograms(table: pd.DataFrame, elements: Sequence[str]) -> np.ndarray:
    """[len(elements) + 1, bins] counts of barriers on `HIST_EDGES` (last row: all species)."""
    rows = []
    values = np.clip(table["barrier"].to_numpy(float), HIST_EDGES[0], HIST_EDGES[-1])
    species = table["moving_species"].to_numpy()
    for symbol in [*elements, None]:
        chosen = values if symbol is None else values[species == symbol]
        rows.append(np.histogram(chosen, bins=HIST_EDGES)[0])
    return np.stack(rows).astype(np.int64)


# ----------------------------------------------------------------------------- the map


@dataclass
class CompositionMap:
    """Barrier spectra over compositions.

    Attributes:
        elements: Element order of the compositions (and of the species rows).
        compositions: One row per composition: ``index``, ``label``, ``x_<el>`` fractions,
            ``cells``, ``n_atoms``, ``n_<el>`` counts, ``a`` (Å), ``n_sites``, ``n_hops``.
        stats: One row per composition and moving species (``all`` last): ``index``, ``label``,
            ``x_<el>``, then `composition_statistics` columns (eV).
        histograms: [N, len(elements) + 1, bins] counts on `HIST_EDGES`.
        line_element: The scanned element of a line scan, else None.
        meta: Provenance (model, configuration).
    """

    elements: tuple[str, ...]
    compositions: pd.DataFrame
    stats: pd.DataFrame
    histograms: np.ndarray
    line_element: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def values(self, species: str, column: str) -> np.ndarray:
        """[N] ``column`` of ``species`` for every composition, in composition order."""
        part = self.stats[self.stats["moving_species"] == species].set_index("index")
        return part[column].reindex(self.compositions["index"]).to_numpy(float)

    def species_values(self, column: str, species: Sequence[str] | None = None) -> np.ndarray:
        """[N, S] ``column`` per composition and moving species (default: the ``elements``)."""
        order = self.elements if species is None else species
        return np.stack([self.values(s, column) for s in order], axis=1)

    def outside(self) -> np.ndarray:
        """[N] True where a composition lies more than 10 at.% outside the model's training
        ranges (the ``extrapolated`` column; all False when it is absent)."""
        if "extrapolated" not in self.compositions:
            return np.zeros(len(self.compositions), dtype=bool)
        return self.compositions["extrapolated"].fillna(False).to_numpy(bool)

    @property
    def hist_edges(self) -> np.ndarray:
        """[bins + 1] edges (eV) of the ``histograms``: `HIST_EDGES`."""
        return HIST_EDGES

    def fractions(self) -> np.ndarray:
        """[N, len(elements)] fractions of the compositions."""
        return self.compositions[[f"x_{e}" for e in self.elements]].to_numpy(float)


def composition_map(
    predictor: Any,
    compositions: Sequence[Mapping[str, float]],
    config: MapConfig = MapConfig(),  # noqa: B008 - frozen, immutable default
    *,
    line_element: str | None = None,
    on_hops: Callable[[int, str, pd.DataFrame], None] | None = None,
    progress: bool = True,
    work_dir: str | Path | None = None,
    job_info: Mapping[str, Any] | None = None,
) -> CompositionMap:
    """Predict the barrier spectra of every composition.

    Args:
        predictor: A `vmeb.learn.checkpoints.TrainedModel` or a `vmeb.learn.ensembles.DeepEnsemble`
            (then the
            tables carry the ensemble spreads).
        compositions: Element -> fraction, all over the same elements (zeros allowed).
        config: Sample building and prediction settings.
        line_element: The scanned element, recorded for the line-scan figures.
        on_hops: Called with (index, label, hop table) of each composition computed in this
            call, e.g. to write it.
        progress: Show a progress bar over compositions.
        work_dir: Resume directory: each finished composition's summary is saved there at once
            and reused by a later call with the same job (settings, compositions and
            ``job_info``), so an interrupted map continues where it stopped.
        job_info: Further identity of the job for ``work_dir`` (e.g. the model file).

    Returns:
        The `CompositionMap`.

    Raises:
        VmebError: bad compositions, elements unknown to the model, or a ``work_dir`` that
            holds another job.
    """
    elements, fractions = _check_compositions(predictor, compositions)
    work = None
    if work_dir is not None:
        job = {"config": asdict(config), "compositions": fractions, **dict(job_info or {})}
        work = open_work_dir(work_dir, job)
    constants = lattice_constants(fractions, config)
    rows, stats, hists = [], [], []
    bar = tqdm(list(enumerate(fractions)), desc="compositions", unit="comp", disable=not progress)
    for index, fraction in bar:
        done = None if work is None else load_part(work, index)
        if done is None:
            done = _map_composition(
                predictor, index, fraction, constants[index], elements, config, progress, on_hops
            )
            if work is not None:
                save_part(work, job, index, *done)
        row, part, hist = done
        rows.append(row)
        stats.append(part)
        hists.append(hist)
        bar.set_postfix(comp=row["label"], hops=row["n_hops"])
    return CompositionMap(
        elements=elements,
        compositions=pd.DataFrame(rows),
        stats=pd.concat(stats, ignore_index=True),
        histograms=np.stack(hists),
        line_element=line_element,
        meta={"config": asdict(config)},
    )


def _check_compositions(
    predictor: Any, compositions: Sequence[Mapping[str, float]]
) -> tuple[tuple[str, ...], list[dict[str, float]]]:
    """(elements, normalised fractions) of the compositions; raises `VmebError` when they are
    empty, use different elements or elements the model does not know."""
    if not compositions:
        raise VmebError("no compositions to map")
    elements = tuple(compositions[0])
    fractions = [normalise_fractions({e: c.get(e, 0.0) for e in elements}) for c in compositions]
    if any(set(c) - set(elements) for c in compositions):
        raise VmebError("all compositions must use the same elements")
    unknown = SpeciesTable.of(predictor.species).unknown(elements)
    if unknown:
        raise VmebError(f"element(s) {unknown} not known to the model ({list(predictor.species)})")
    return elements, fractions


def _map_composition(
    predictor: Any,
    index: int,
    fraction: Mapping[str, float],
    a: float,
    elements: Sequence[str],
    config: MapConfig,
    progress: bool,
    on_hops: Callable[[int, str, pd.DataFrame], None] | None,
) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """Build, predict and summarise one composition: (row, statistics, histograms)."""
    from vmeb.learn.inference import (  # noqa: PLC0415
        COMPOSITION_WARN,
        atomic_fractions,
        check_species,
        composition_outside,
    )

    label = composition_label(fraction)
    atoms, sites = build_map_sample(fraction, a, config)
    check_species(atoms, predictor.species)
    outside = composition_outside(atomic_fractions(atoms, elements), predictor)
    table = _predict_table(predictor, atoms, sites, config, progress)
    counts = composition_counts(fraction, len(atoms))
    row = {"index": index, "label": label}
    row.update({f"x_{e}": fraction[e] for e in elements})
    row.update(cells=sample_cells(fraction, config.cells, config.min_per_species))
    row.update(n_atoms=len(atoms), **{f"n_{e}": counts[e] for e in elements})
    row.update(a=a, n_sites=int(table["site"].nunique()), n_hops=len(table))
    row.update(outside_training=outside, extrapolated=bool(outside > COMPOSITION_WARN))
    if "interval_std" in table.attrs:  # a model with calibrated intervals (vmeb.learn.intervals)
        row.update(
            composition_distance=table.attrs["composition_distance"],
            interval_std=table.attrs["interval_std"],
        )
    part = composition_statistics(table, elements)
    head = {"index": index, "label": label, **{f"x_{e}": fraction[e] for e in elements}}
    part = pd.concat([pd.DataFrame([head] * len(part)), part], axis=1)
    hist = map_histograms(table, elements)
    if on_hops is not None:
        on_hops(index, label, table)
    logger.info("%s: %d hops, mean %.4f eV", label, len(table), table["barrier"].mean())
    return row, part, hist


def build_map_sample(fraction: Mapping[str, float], a: float, config: MapConfig):
    """The random sample of one composition and its site subset (None: all sites)."""
    cells = sample_cells(fraction, config.cells, config.min_per_species)
    atoms = build_random_alloy(fraction, cells, a=a, rng=composition_rng(fraction, config.seed, 0))
    sites = None
    if config.max_sites is not None and config.max_sites < len(atoms):
        picked = composition_rng(fraction, config.seed, 1).choice(
            len(atoms), size=config.max_sites, replace=False
        )
        sites = np.sort(picked)
    return atoms, sites


def _predict_table(predictor, atoms, sites, config: MapConfig, progress: bool) -> pd.DataFrame:
    """Every barrier of the chosen sites, with ensemble spreads for a `DeepEnsemble`."""
    from vmeb.learn.ensembles import DeepEnsemble  # noqa: PLC0415
    from vmeb.spectra.predict import predict_barriers, predict_barriers_with_uncertainty  # noqa: PLC0415

    kwargs = dict(
        chunk_sites=config.chunk_sites,
        batch_size=config.batch_size,
        device=config.device,
        progress=progress and len(atoms) >= LARGE_SAMPLE,
    )
    if isinstance(predictor, DeepEnsemble):
        return predict_barriers_with_uncertainty(predictor, atoms, sites, **kwargs)
    return predict_barriers(predictor, atoms, sites, **kwargs)


# ----------------------------------------------------------------------------- resume


def work_dir(output: str | Path) -> Path:
    """The resume directory of a map written to ``output`` (hidden, beside it)."""
    output = Path(output)
    return output.parent / f".{output.name}.work"


def model_identity(path: str | Path) -> dict:
    """What identifies the model of a map job for resuming: path, sizes and modification times
    of its file (checkpoint) or files (ensemble directory)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if not path.exists():
        files = []
    return {
        "path": str(path.resolve()),
        "files": [[str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size,
                   p.stat().st_mtime_ns] for p in files],
    }  # fmt: skip


def open_work_dir(work_dir: str | Path, job: Mapping[str, Any]) -> Path:
    """Reopen a map's resume directory for ``job``, or name a new one (nothing is written: the
    record appears with the first finished composition, `save_part`).

    Raises:
        VmebError: if the directory holds another job (names the directory).
    """
    from vmeb.errors import file_error  # noqa: PLC0415
    from vmeb.files import read_json_record  # noqa: PLC0415

    work = Path(work_dir)
    stored = read_json_record(work / "job.json")
    if stored is not None:
        if stored != json.loads(to_json(job)):
            raise file_error(
                work, "holds an interrupted map with other settings, compositions or model; "
                "remove it to start over"
            )  # fmt: skip
        logger.info("resuming the map in %s", work)
    return work


def save_part(
    work: Path, job: Mapping[str, Any], index: int, row: Mapping, stats: pd.DataFrame,
    hist: np.ndarray,
) -> None:  # fmt: skip
    """Save one composition's summary (row, statistics, histograms) atomically; the first one
    also records the job (``job.json``), so a failure before it leaves nothing behind."""
    from vmeb.files import atomic_write_text  # noqa: PLC0415

    if not (work / "job.json").is_file():
        (work / "parts").mkdir(parents=True, exist_ok=True)
        atomic_write_text(work / "job.json", to_json(job, indent=1) + "\n")
    record = {"row": dict(row), "stats": stats.to_dict(orient="list"), "hist": hist.tolist()}
    atomic_write_text(work / "parts" / f"{index:05d}.json", to_json(record))


def load_part(work: Path, index: int) -> tuple[dict, pd.DataFrame, np.ndarray] | None:
    """A saved composition summary, or None when it has not been computed."""
    path = work / "parts" / f"{index:05d}.json"
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record["row"], pd.DataFrame(record["stats"]), np.asarray(record["hist"])


# ----------------------------------------------------------------------------- output


def write_map(result: CompositionMap, output: str | Path, hops_dir: Path | None = None) -> Path:
    """Write a map directory atomically: tables, histograms, metadata and figures.

    Files: ``compositions.csv``, ``stats.csv``, ``histograms.npz`` (``edges`` [B+1] eV,
    ``counts`` [N, S+1, B], ``species``), ``map.json``, and the figures that apply:
    ``ternary_maps.png`` (3 elements, a grid), ``ternary_uncertainty.png`` (with an ensemble),
    ``line_scan.png`` and ``distributions.png`` (a line scan). ``hops_dir`` (hop tables written
    during the run) is moved in as ``hops/``.

    Returns:
        The output directory.
    """
    from vmeb.files import (
        save_figure,  # noqa: PLC0415
        staged_output,  # noqa: PLC0415
    )

    output = Path(output)
    with staged_output(output) as staging:
        result.compositions.to_csv(staging / "compositions.csv", index=False)
        result.stats.to_csv(staging / "stats.csv", index=False)
        np.savez_compressed(
            staging / "histograms.npz",
            edges=HIST_EDGES,
            counts=result.histograms,
            species=np.array([*result.elements, "all"]),
        )
        meta = {
            "elements": list(result.elements),
            "line_element": result.line_element,
            **result.meta,
        }
        (staging / "map.json").write_text(to_json(meta, indent=2) + "\n")
        for name, figure in map_figures(result).items():
            save_figure(figure, staging / name)
        if hops_dir is not None and hops_dir.is_dir():
            shutil.move(str(hops_dir), staging / "hops")
    return output


def run_map_job(
    predictor: Any,
    compositions: Sequence[Mapping[str, float]],
    config: MapConfig,
    output: str | Path,
    *,
    model_path: str | Path,
    line_element: str | None = None,
    write_hops: bool = False,
    progress: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> CompositionMap:
    """`composition_map` into the resumable work directory beside ``output``, then `write_map`.

    Each finished composition is saved in `work_dir` (``.OUTPUT.work``) at once; a later call
    with the same model file(s) (`model_identity`), settings and compositions resumes there.
    With ``write_hops`` every hop table is kept under ``OUTPUT/hops/``. The work directory is
    removed once the map is written; a call that fails before its first composition finished
    leaves no job record there (`save_part`), so a bad input does not bind the next run.

    Returns:
        The map (``meta`` added to its provenance).
    """
    work = work_dir(output)
    hops_dir = work / "hops" if write_hops else None

    def keep(index: int, label: str, table: pd.DataFrame) -> None:
        hops_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(hops_dir / f"{index:04d}_{label}.csv.gz", index=False)

    try:
        result = composition_map(
            predictor,
            compositions,
            config,
            line_element=line_element,
            on_hops=keep if hops_dir else None,
            progress=progress,
            work_dir=work,
            job_info={"model": model_identity(model_path), "write_hops": write_hops},
        )
    except BaseException:
        if (work / "parts").is_dir() and any((work / "parts").iterdir()):
            logger.warning("map interrupted: finished compositions are kept in %s; run the "
                           "same command again to resume", work)  # fmt: skip
        raise
    result.meta.update(dict(meta or {}))
    write_map(result, output, hops_dir)
    shutil.rmtree(work, ignore_errors=True)
    return result


def map_figures(result: CompositionMap) -> dict[str, Figure]:
    """The figures that apply to a map, by file name: ``line_scan.png`` and
    ``distributions.png`` of a line scan; ``ternary_maps.png`` (and ``ternary_uncertainty.png``
    of an ensemble) of a ternary grid of at least 3 points."""
    figures: dict[str, Figure] = {}
    ensemble = "barrier_std_mean" in result.stats
    if result.line_element is not None:
        element = result.line_element
        x = 100 * result.compositions[f"x_{element}"].to_numpy(float)
        curves = [*result.elements, "all"]
        figures["line_scan.png"] = line_scan_figure(
            x,
            f"{element} (at.%)",
            curves,
            result.species_values("mean", curves),
            result.species_values("std", curves),
            band=result.species_values("barrier_std_mean", curves) if ensemble else None,
            outside=result.outside(),
        )
        figures["distributions.png"] = distributions_figure(
            x, f"{element} (at.%)", result.elements, result.histograms, result.hist_edges
        )
    elif len(result.elements) == 3 and len(result.compositions) >= 3:
        rows = {"ternary_maps.png": FIG5_ROWS}
        if ensemble:
            rows["ternary_uncertainty.png"] = (("barrier_std_mean", "ensemble σ (eV)"),)
        for name, chosen in rows.items():
            values = {column: result.species_values(column) for column, _ in chosen}
            figures[name] = ternary_figure(
                result.elements, result.fractions(), values, chosen, result.outside()
            )
    return figures
