"""The built-in Ta-Nb-Mo(-W) EAM, generated from the published parameter tables.

Analytic forms of Zhou, Johnson & Wadley, Phys. Rev. B 69, 144113 (2004) (their Eqs. 2-6), with
the same grid conventions as their setfl generator (``Zhou04_create_v2``):

- electron density: f(r) = fe exp(-beta (r/re - 1)) / (1 + (r/re - lambda)^20)
- pair: phi(r) = A exp(-alpha (r/re - 1)) / (1 + (r/re - kappa)^20)
  - B exp(-beta (r/re - 1)) / (1 + (r/re - lambda)^20)
- cross pair: phi_ab(r) = (f_b/f_a phi_aa + f_a/f_b phi_bb) / 2 (no fitted cross terms)
- embedding, with rho_n = 0.85 rhoe and rho_0 = 1.15 rhoe:
  rho < rho_n: sum_i Fn_i (rho/rho_n - 1)^i; rho_n <= rho < rho_0: sum_i F_i (rho/rhoe - 1)^i;
  rho >= rho_0: Fe (1 - eta ln(rho/rhos)) (rho/rhos)^eta
- grid: cutoff rc = sqrt(10)/2 * sqrt(2) * max(re); dr = rc/(nr - 1); r below 0.5 Å is
  evaluated at 0.5 Å (also in r*phi); rho_max = max(max f, 2 max rhoe, 100),
  drho = rho_max/(nrho - 1), F tabulated from rho = 0 (where F = 0). The setfl stores r*phi(r).

Parameters: Ta, Mo and W from Zhou, Johnson & Wadley (2004), Table III; Nb from Lin et al.,
J. Phys.: Condens. Matter 25, 105404 (2013) with the corrigendum 25, 209501 (2013). The default
potential is the Ta-Nb-Mo file (element order Ta Nb Mo), written once into the cache folder.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmeb.errors import VmebError
from vmeb.files import atomic_write_text, cache_dir

logger = logging.getLogger(__name__)

ZHOU2004 = "X. W. Zhou, R. A. Johnson and H. N. G. Wadley, Phys. Rev. B 69, 144113 (2004)"
LIN2013 = "Lin et al., J. Phys.: Condens. Matter 25, 105404 (2013); corrigendum 25, 209501 (2013)"
#: Citation of the default Ta-Nb-Mo potential.
DEFAULT_CITATION = f"{ZHOU2004} [Ta, Mo]; {LIN2013} [Nb]"
#: Element order of the default potential file.
DEFAULT_ELEMENTS = ("Ta", "Nb", "Mo")
DEFAULT_NAME = "TaNbMo_Zhou04_Lin13"

#: Distances below this (Å) are evaluated at it, as in the published generator.
R_MIN = 0.5


@dataclass(frozen=True)
class ZhouParameters:
    """One element's Zhou-Johnson-Wadley EAM parameters (units Å, eV, amu).

    Attributes:
        symbol: Element.
        z: Atomic number; mass: atomic mass (amu) written in the setfl header.
        re: Equilibrium nearest-neighbour distance (Å).
        fe, rhoe, rhos: Density prefactor, equilibrium and scaling densities.
        alpha, beta, a, b, kappa, lam: Pair and density shape parameters (``A``, ``B``,
            ``kappa``, ``lambda`` of the paper).
        fn: Fn0..Fn3, the low-density embedding polynomial (eV).
        f: F0..F3, the near-equilibrium embedding polynomial (eV).
        eta, fe_high: eta and Fe of the high-density branch.
        source: Citation of the parameters.
    """

    symbol: str
    z: int
    mass: float
    re: float
    fe: float
    rhoe: float
    rhos: float
    alpha: float
    beta: float
    a: float
    b: float
    kappa: float
    lam: float
    fn: tuple[float, float, float, float]
    f: tuple[float, float, float, float]
    eta: float
    fe_high: float
    source: str

    @property
    def lattice_constant_from_re(self) -> float:
        """BCC lattice constant with nearest neighbours at ``re``: 2 re / sqrt(3) (Å)."""
        return 2.0 * self.re / math.sqrt(3.0)


#: The published tables (values as printed; Nb with the 2013 corrigendum).
PARAMETERS: dict[str, ZhouParameters] = {
    "Mo": ZhouParameters(
        "Mo", 42, 95.94, re=2.728100, fe=2.723710, rhoe=29.354065, rhos=29.354065,
        alpha=8.393531, beta=4.476550, a=0.708787, b=1.120373, kappa=0.137640, lam=0.275280,
        fn=(-3.692913, -0.178812, 0.380450, -3.133650), f=(-3.71, 0.00, 0.875874, 0.776222),
        eta=0.790879, fe_high=-3.712093, source=ZHOU2004,
    ),
    "Ta": ZhouParameters(
        "Ta", 73, 180.9479, re=2.860082, fe=3.086341, rhoe=33.787168, rhos=33.787168,
        alpha=8.489528, beta=4.527748, a=0.611679, b=1.032101, kappa=0.176977, lam=0.353954,
        fn=(-5.103845, -0.405524, 1.112997, -3.585325), f=(-5.14, 0.00, 1.640098, 0.221375),
        eta=0.848843, fe_high=-5.141526, source=ZHOU2004,
    ),
    "W": ZhouParameters(
        "W", 74, 183.84, re=2.740840, fe=3.487340, rhoe=37.234847, rhos=37.234847,
        alpha=8.900114, beta=4.746728, a=0.882435, b=1.394592, kappa=0.139209, lam=0.278417,
        fn=(-4.946281, -0.148818, 0.365057, -4.432406), f=(-4.96, 0.00, 0.661935, 0.348147),
        eta=0.582714, fe_high=-4.961306, source=ZHOU2004,
    ),
    "Nb": ZhouParameters(
        "Nb", 41, 92.906, re=2.858230, fe=2.889832, rhoe=31.744900, rhos=31.744900,
        alpha=7.514546, beta=4.500000, a=0.569650, b=0.905874, kappa=0.136112, lam=0.388893,
        fn=(-4.928550, -0.549044, 1.680064, -2.699442), f=(-4.975703, 0.00, 1.980875, -0.765504),
        eta=0.890133, fe_high=-4.975568, source=LIN2013,
    ),
}  # fmt: skip


def density(p: ZhouParameters, r: np.ndarray) -> np.ndarray:
    """Atomic electron density f(r) of element ``p`` at distances ``r`` (Å), same shape."""
    x = np.asarray(r, dtype=float) / p.re
    return p.fe * np.exp(-p.beta * (x - 1.0)) / (1.0 + (x - p.lam) ** 20)


def pair(p: ZhouParameters, r: np.ndarray) -> np.ndarray:
    """Same-element pair potential phi(r) (eV) at distances ``r`` (Å), same shape."""
    x = np.asarray(r, dtype=float) / p.re
    repulsive = p.a * np.exp(-p.alpha * (x - 1.0)) / (1.0 + (x - p.kappa) ** 20)
    attractive = p.b * np.exp(-p.beta * (x - 1.0)) / (1.0 + (x - p.lam) ** 20)
    return repulsive - attractive


def cross_pair(pa: ZhouParameters, pb: ZhouParameters, r: np.ndarray) -> np.ndarray:
    """Mixed pair potential phi_ab(r) (eV): the density-weighted mean of phi_aa and phi_bb."""
    fa, fb = density(pa, r), density(pb, r)
    return 0.5 * (fb / fa * pair(pa, r) + fa / fb * pair(pb, r))


def embedding(p: ZhouParameters, rho: np.ndarray) -> np.ndarray:
    """Embedding energy F(rho) (eV) of element ``p``, three branches, same shape as ``rho``.

    F(0) is 0 exactly; the published low-density coefficients, rounded to 1e-6, would give
    about 1e-6 eV there.
    """
    rho = np.asarray(rho, dtype=float)
    rho_n, rho_0 = 0.85 * p.rhoe, 1.15 * p.rhoe
    low = sum(c * (rho / rho_n - 1.0) ** i for i, c in enumerate(p.fn))
    mid = sum(c * (rho / p.rhoe - 1.0) ** i for i, c in enumerate(p.f))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = rho / p.rhos
        high = p.fe_high * (1.0 - p.eta * np.log(s)) * s**p.eta
    value = np.where(rho < rho_n, low, np.where(rho < rho_0, mid, high))
    # no density, no embedding energy: exactly 0 (the rounded Fn_i leave ~1e-6 eV otherwise)
    return np.where(rho == 0.0, 0.0, value)


@dataclass(frozen=True)
class SetflTables:
    """Tabulated eam/alloy functions on the setfl grids.

    Attributes:
        elements: Element order of the file.
        rho: [nrho] density grid, from 0 with step ``drho``.
        r: [nr] distance grid (Å), from 0 with step ``dr``; the last point is the cutoff.
        embedding: [n_elements, nrho] F(rho) (eV).
        density: [n_elements, nr] f(r).
        r_phi: {(i, j): [nr]} r*phi_ij(r) (eV Å) for i >= j (the setfl order).
    """

    elements: tuple[str, ...]
    rho: np.ndarray
    r: np.ndarray
    embedding: np.ndarray
    density: np.ndarray
    r_phi: dict[tuple[int, int], np.ndarray]

    @property
    def cutoff(self) -> float:
        """Cutoff radius (Å)."""
        return float(self.r[-1])


def setfl_tables(elements: Sequence[str], nr: int = 2000, nrho: int = 2000) -> SetflTables:
    """Tabulate F, f and r*phi for ``elements`` on the published grid conventions.

    Args:
        elements: Elements in file order, from `PARAMETERS` (Ta, Nb, Mo, W).
        nr: Number of distance points.
        nrho: Number of density points.

    Returns:
        The tables.
    """
    elements = tuple(elements)
    unknown = [e for e in elements if e not in PARAMETERS]
    if unknown or not elements or len(set(elements)) != len(elements):
        raise VmebError(
            f"EAM elements {list(elements)}: need distinct elements from {sorted(PARAMETERS)}"
        )
    if nr < 2 or nrho < 2:
        raise VmebError(f"setfl grids need at least 2 points (nr={nr}, nrho={nrho})")
    params = [PARAMETERS[e] for e in elements]
    cutoff = math.sqrt(10.0) / 2.0 * math.sqrt(2.0) * max(p.re for p in params)
    r = np.arange(nr) * (cutoff / (nr - 1))
    r_eval = np.maximum(r, R_MIN)
    dens = np.array([density(p, r_eval) for p in params])
    rho_max = max(float(dens.max()), 2.0 * max(p.rhoe for p in params), 100.0)
    rho = np.arange(nrho) * (rho_max / (nrho - 1))
    emb = np.array([embedding(p, rho) for p in params])
    r_phi = {}
    for i, pi in enumerate(params):
        for j in range(i + 1):
            phi = pair(pi, r_eval) if i == j else cross_pair(pi, params[j], r_eval)
            r_phi[(i, j)] = r_eval * phi
    return SetflTables(elements, rho, r, emb, dens, r_phi)


def _format_block(values: np.ndarray) -> str:
    rows = [
        " ".join(f"{v:.16e}" for v in values[start : start + 5])
        for start in range(0, len(values), 5)
    ]
    return "\n".join(rows) + "\n"


def setfl_text(elements: Sequence[str], nr: int = 2000, nrho: int = 2000) -> str:
    """The LAMMPS ``eam/alloy`` (setfl) file text for ``elements``; see `setfl_tables`."""
    tables = setfl_tables(elements, nr, nrho)
    sources = {PARAMETERS[e].source: [] for e in tables.elements}
    for e in tables.elements:
        sources[PARAMETERS[e].source].append(e)
    lines = [
        f"Zhou-Johnson-Wadley EAM {' '.join(tables.elements)} generated by vmeb from the "
        "published parameter tables",
        " + ".join(f"{','.join(els)}: {src}" for src, els in sources.items()),
        f"grid nr={nr} nrho={nrho} (Zhou04_create_v2 conventions); "
        "mixing phi_ab = 0.5*(f_b/f_a phi_aa + f_a/f_b phi_bb)",
        f"{len(tables.elements)} {' '.join(tables.elements)}",
        f"{nrho} {tables.rho[1]:.16e} {nr} {tables.r[1]:.16e} {tables.cutoff:.16e}",
    ]
    parts = ["\n".join(lines) + "\n"]
    for k, symbol in enumerate(tables.elements):
        p = PARAMETERS[symbol]
        parts.append(f"{p.z} {p.mass:.5f} {p.lattice_constant_from_re:.6f} bcc\n")
        parts.append(_format_block(tables.embedding[k]))
        parts.append(_format_block(tables.density[k]))
    for i in range(len(tables.elements)):
        for j in range(i + 1):
            parts.append(_format_block(tables.r_phi[(i, j)]))
    return "".join(parts)


def write_setfl(
    elements: Sequence[str], path: str | os.PathLike, nr: int = 2000, nrho: int = 2000
) -> Path:
    """Write an ``eam/alloy`` setfl file for ``elements`` (atomically: temp file, rename).

    Args:
        elements: Elements in file order, from Ta, Nb, Mo, W.
        path: Output file.
        nr: Number of distance points.
        nrho: Number of density points.

    Returns:
        The written path.
    """
    path = Path(path)
    text = setfl_text(elements, nr, nrho)
    atomic_write_text(path, text)
    logger.info("wrote EAM %s for %s", path, " ".join(elements))
    return path


@functools.cache
def _default_text() -> str:
    return setfl_text(DEFAULT_ELEMENTS)


def default_setfl() -> Path:
    """The setfl file of the built-in Ta-Nb-Mo EAM (Zhou 2004 Ta/Mo, Lin 2013 Nb).

    Generated on first use into ``<cache>/eam/`` (`vmeb.files.cache_dir`) and reused after; it
    is regenerated if it differs from what the tables give (a truncated or edited copy).
    """
    path = cache_dir() / "eam" / f"{DEFAULT_NAME}.eam.alloy"
    expected = _default_text()
    if not path.is_file() or path.read_text() != expected:
        write_setfl(DEFAULT_ELEMENTS, path)
    return path
