"""Which sites to label next: scores from ensemble spreads and coverage, diverse batches.

Pure functions of arrays, so the rule is testable without a model:

- `site_scores`: a site's score from the ensemble spreads of its 8 hops (max or mean, eV);
- `coverage_bonus`: compositions with few labelled hops get a bonus ``w / sqrt(1 + n)`` (eV);
- `diverse_batch`: the top ``M = top_factor * k`` sites by score are clustered by k-means in a
  descriptor space (per-shell composition of the site's neighbourhood, `vmeb.active.pool`);
  the best site of each cluster is taken, at most ``ceil(k / C)`` per composition where C is
  the number of compositions among the top M (stratified), so one uncertain corner of
  composition space cannot fill the batch; empty slots are filled by score;
- `random_batch`: k distinct sites drawn from a seed (the baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from sklearn.cluster import KMeans

from vmeb.errors import VmebError


def site_scores(spreads: np.ndarray, how: str = "max") -> np.ndarray:
    """Score of each site from its hops' ensemble spreads.

    Args:
        spreads: [N, 8] epistemic standard deviations of the 8 hops of N sites (eV).
        how: ``max`` or ``mean`` over the 8 hops.

    Returns:
        [N] scores (eV).
    """
    spreads = np.asarray(spreads, dtype=np.float64)
    if how == "max":
        return spreads.max(axis=1)
    if how == "mean":
        return spreads.mean(axis=1)
    raise VmebError(f"site score {how!r}: choose max or mean")


def coverage_bonus(groups: np.ndarray, labelled: Mapping[str, int], weight: float) -> np.ndarray:
    """[N] bonus (eV) of each site's composition: ``weight / sqrt(1 + n)``, n its labelled hops."""
    counts = np.array([labelled.get(str(g), 0) for g in groups], dtype=np.float64)
    return weight / np.sqrt(1.0 + counts)


def random_batch(n: int, k: int, seed: int | list[int]) -> np.ndarray:
    """[min(k, n)] distinct indices of 0..n-1 drawn from ``seed``, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def _kmeans_labels(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """[M] cluster of each row (k-means, k-means++ start from ``seed``)."""
    distinct = len(np.unique(np.round(features, 12), axis=0))
    k = max(1, min(k, distinct))
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(features)


def diverse_batch(
    scores: np.ndarray,
    descriptors: np.ndarray,
    groups: np.ndarray,
    k: int,
    top_factor: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """k sites of high score spread over descriptor clusters and compositions.

    Args:
        scores: [N] site scores (higher = more worth labelling).
        descriptors: [N, F] site descriptors (the clustering space).
        groups: [N] composition (group) of each site.
        k: Sites wanted.
        top_factor: Candidates considered: the ``top_factor * k`` best scores.
        seed: Seed of the k-means start.

    Returns:
        [min(k, N)] distinct indices into the arrays, in order of choice (best first).
    """
    scores = np.asarray(scores, dtype=np.float64)
    groups = np.asarray(groups).astype(str)
    k = min(int(k), len(scores))
    if k <= 0:
        return np.zeros(0, dtype=int)
    order = np.argsort(-scores, kind="stable")
    top = order[: min(len(scores), max(k, top_factor * k))]
    labels = _kmeans_labels(np.asarray(descriptors, dtype=np.float64)[top], k, seed)
    cap = math.ceil(k / len(set(groups[top])))
    chosen: list[int] = []
    per_group: dict[str, int] = {}

    def take(i: int) -> None:
        chosen.append(int(i))
        per_group[groups[i]] = per_group.get(groups[i], 0) + 1

    for cluster in dict.fromkeys(labels):  # clusters in order of their best member
        for i in top[labels == cluster]:
            if per_group.get(groups[i], 0) < cap:
                take(i)
                break
    for capped in (True, False):  # fill empty slots by score, first within the cap
        for i in top if capped else order:
            if len(chosen) >= k:
                break
            if int(i) not in chosen and (not capped or per_group.get(groups[i], 0) < cap):
                take(i)
    return np.array(chosen[:k], dtype=int)
