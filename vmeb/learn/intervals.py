"""Calibrated barrier intervals that widen with the distance from the training compositions.

A barrier model trained on a few compositions errs in two ways at an unseen one: hop by hop
(scatter that no composition removes) and by one offset of the whole composition that grows as the
composition moves away from every training composition (`docs/results_dft.md`, "Error and
distance"). `CompositionIntervals` states both as one standard deviation per hop (eV)::

    sigma(d)^2 = hop_sigma^2 + (level_slope * d)^2

where ``d`` is the composition distance of the predicted structure: the total-variation distance
``0.5 * sum_i |x_i - y_i|`` (the fraction of atoms whose element must change) from its atomic
fractions ``x`` to the nearest training composition ``y``. ``hop_sigma`` is the error at a
training composition (from validation hops there, which cross-validation never has), and
``level_slope`` is fitted (`fit_intervals`) by maximum likelihood on held-out errors of
leave-compositions-out cross-validation, each (composition, fold) weighted equally; the
coverage of the stated intervals is checked on compositions left out of the fit as well
(`interval_coverage`).
A checkpoint may carry one (record key ``intervals``); predictions then report it as
``barrier_std`` (`vmeb.spectra.predict`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmeb.errors import VmebError

#: Record format of `CompositionIntervals.to_record`.
INTERVALS_FORMAT = "vmeb-composition-intervals"
#: Fractions of normal errors within 1 and 2 standard deviations.
NOMINAL = {1.0: 0.6827, 2.0: 0.9545}


def composition_distance(
    fractions: Mapping[str, float], compositions: Sequence[Mapping[str, float]]
) -> float:
    """Total-variation distance from ``fractions`` to the nearest of ``compositions``.

    Args:
        fractions: Atomic fractions ``{symbol: x}`` of the structure (sum 1).
        compositions: Training compositions, the same kind of mapping; an element absent from a
            mapping has fraction 0.

    Returns:
        ``min_k 0.5 * sum_i |x_i - y_ki|``, between 0 (a training composition) and 1 (no element
        in common).
    """
    if not compositions:
        raise VmebError("composition distance needs at least one training composition")
    symbols = sorted({*fractions, *(s for c in compositions for s in c)})
    x = np.array([float(fractions.get(s, 0.0)) for s in symbols])
    y = np.array([[float(c.get(s, 0.0)) for s in symbols] for c in compositions])
    return float(0.5 * np.abs(y - x).sum(axis=1).min())


@dataclass(frozen=True)
class CompositionIntervals:
    """Per-hop standard deviation of a model's barrier error (module doc).

    Attributes:
        hop_sigma: Standard deviation of the error at a training composition (eV).
        level_slope: Growth of the composition-level error per unit composition distance (eV).
        compositions: The model's training compositions, ``{symbol: fraction}`` each.
        source: How the parameters were fitted (free text for cards and logs).
    """

    hop_sigma: float
    level_slope: float
    compositions: tuple[dict[str, float], ...]
    source: str = ""

    def __post_init__(self) -> None:
        values = (self.hop_sigma, self.level_slope)
        if not all(np.isfinite(v) and v >= 0 for v in values) or self.hop_sigma == 0:
            raise VmebError(f"intervals need hop_sigma > 0 and level_slope >= 0, got {values}")
        if not self.compositions:
            raise VmebError("intervals need the model's training compositions")

    def distance(self, fractions: Mapping[str, float]) -> float:
        """`composition_distance` of ``fractions`` from the training compositions."""
        return composition_distance(fractions, self.compositions)

    def sigma(self, distance: float | np.ndarray) -> np.ndarray:
        """Standard deviation (eV) of a barrier at composition distance ``distance``."""
        d = np.asarray(distance, dtype=np.float64)
        return np.sqrt(self.hop_sigma**2 + (self.level_slope * d) ** 2)

    def to_record(self) -> dict[str, Any]:
        """A plain dict for a checkpoint (loadable with ``weights_only=True``)."""
        return {
            "format": INTERVALS_FORMAT,
            "hop_sigma": float(self.hop_sigma),
            "level_slope": float(self.level_slope),
            "compositions": [dict(c) for c in self.compositions],
            "source": self.source,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CompositionIntervals:
        """The inverse of `to_record`."""
        if record.get("format") != INTERVALS_FORMAT:
            raise VmebError(f"intervals record of format {record.get('format')!r} unknown")
        return cls(
            hop_sigma=float(record["hop_sigma"]),
            level_slope=float(record["level_slope"]),
            compositions=tuple(
                {str(k): float(v) for k, v in c.items()} for c in record["compositions"]
            ),
            source=str(record.get("source", "")),
        )


def _weights(groups: np.ndarray) -> np.ndarray:
    """Weights giving each group (a composition in one fold) the same total."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


def fit_intervals(
    errors: np.ndarray,
    distances: np.ndarray,
    groups: np.ndarray,
    hop_sigma: float,
    compositions: Sequence[Mapping[str, float]],
    source: str = "",
) -> CompositionIntervals:
    """Fit the slope of `CompositionIntervals` to held-out errors by weighted maximum likelihood.

    Args:
        errors: [H] predicted minus true barrier (eV) of hops of held-out compositions.
        distances: [H] composition distance of each hop's composition from the training
            compositions of the model that predicted it.
        groups: [H] labels of (composition, fold) pairs; each pair weighs the same in the fit.
        hop_sigma: The error's standard deviation at a training composition (eV), held fixed.
        compositions: Training compositions of the model that will carry the intervals.
        source: Provenance text.

    Returns:
        The intervals with the fitted ``level_slope`` (>= 0).
    """
    from scipy.optimize import minimize_scalar  # noqa: PLC0415

    e = np.asarray(errors, dtype=np.float64)
    d = np.asarray(distances, dtype=np.float64)
    if len(e) == 0 or len(e) != len(d) or len(e) != len(groups):
        raise VmebError("interval fit needs errors with one distance and one group each")
    if not hop_sigma > 0:
        raise VmebError(f"hop_sigma must be > 0, got {hop_sigma}")
    w = _weights(np.asarray(groups))

    def nll(slope: float) -> float:
        var = hop_sigma**2 + (slope * d) ** 2
        return float(np.sum(w * (np.log(var) + e**2 / var)))

    best = minimize_scalar(nll, bounds=(0.0, 10.0), method="bounded")
    slope = float(best.x) if nll(float(best.x)) < nll(0.0) else 0.0
    return CompositionIntervals(hop_sigma, slope, tuple(dict(c) for c in compositions), source)


def sigma_from_mae(mae: float) -> float:
    """Standard deviation of normal errors with mean absolute value ``mae``: mae * sqrt(pi / 2)."""
    return float(mae) * float(np.sqrt(np.pi / 2))


def interval_coverage(
    errors: np.ndarray, sigma: np.ndarray, multiples: Sequence[float] = (1.0, 2.0)
) -> dict[str, float]:
    """Fractions of ``|errors| <= m * sigma`` per multiple ``m`` (keys ``within_1sigma``, ...)."""
    e, s = np.abs(np.asarray(errors, float)), np.asarray(sigma, float)
    return {f"within_{m:g}sigma": float(np.mean(e <= m * s)) for m in multiples}
