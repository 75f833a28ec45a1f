"""Leave-compositions-out cross-validation folds and per-composition scores.

A model meant for unseen alloys is judged on compositions it never saw. `composition_folds`
splits the groups (compositions; replicas of one composition share a group label, so they stay
together) into K folds, deterministically from a seed and independent of any model, so every
model of a study is trained and tested on the same folds. Every fold holds out at least one
*element-rich* composition (a label with a 40 or 80 per cent element such as ``NbMo80TaWV``),
the compositions whose barriers the others bracket least. Within the rich and the other
compositions the order is shuffled with the seed; rich ones are dealt round robin, the others go
one by one (largest first) to the fold with the fewest hops, which keeps the folds' sizes close.

`composition_scores` turns per-hop predictions into the per-composition MAE, the mean over
compositions (each composition counts once, whatever its number of hops) and the worst
composition; `summarise_seeds` averages those over seeds (each seed is its own fold partition).

A table of CV scores is itself a choice: the best row's score is optimistic once the row was
picked by looking at it. `select_outside_fold` and `selected_predictions` score the *selection*
instead: for each fold, the candidate is chosen by its errors on the compositions outside that
fold only, and its predictions of the fold's compositions are kept, so no composition's error
takes part in choosing the model that predicts it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmeb.errors import VmebError

#: An element symbol followed by a percentage of 40 or more marks an element-rich composition.
_RICH = re.compile(r"[A-Z][a-z]?(\d+)")


def is_element_rich(label: str, threshold: int = 40) -> bool:
    """Whether a composition label names an element at ``threshold`` per cent or more.

    Labels follow the First-principle-NNK folders: ``NbMoTaWV`` (equimolar quinary), ``MoTaV``
    (equimolar ternary), ``NbMo80TaWV`` (a number after an element: that element enriched, the
    folder name's own notation).

    Args:
        label: Composition label (group name).
        threshold: Smallest number after an element symbol that counts as rich.
    """
    return any(int(m) >= threshold for m in _RICH.findall(label))


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold.

    Attributes:
        index: Fold number 0..K-1.
        test_groups: Compositions held out (sorted).
    """

    index: int
    test_groups: tuple[str, ...]


def composition_folds(
    groups: Sequence[str] | np.ndarray,
    n_folds: int = 5,
    seed: int = 0,
    rich: Sequence[str] | None = None,
) -> list[Fold]:
    """Leave-compositions-out folds: every composition is held out in exactly one fold.

    Args:
        groups: Group label (composition) of every hop, [H]; replicas share a label.
        n_folds: K (>= 2).
        seed: Seed of the deterministic shuffle.
        rich: The element-rich compositions (default: labels with `is_element_rich`).

    Returns:
        K folds, each holding out at least one element-rich composition.

    Raises:
        VmebError: if there are fewer element-rich compositions than folds, or fewer
            compositions than folds.
    """
    labels, counts = np.unique(np.asarray(groups, dtype=str), return_counts=True)
    sizes = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    if n_folds < 2 or len(sizes) < n_folds:
        raise VmebError(f"{len(sizes)} compositions cannot make {n_folds} folds (need >= 2)")
    rich_set = set(rich) if rich is not None else {g for g in sizes if is_element_rich(g)}
    rich_list = sorted(g for g in sizes if g in rich_set)
    if len(rich_list) < n_folds:
        raise VmebError(
            f"{len(rich_list)} element-rich compositions {rich_list} for {n_folds} folds: every "
            "fold must hold one out"
        )
    rng = np.random.default_rng(seed)
    members: list[list[str]] = [[] for _ in range(n_folds)]
    load = np.zeros(n_folds, dtype=np.int64)
    rich_order = [rich_list[i] for i in rng.permutation(len(rich_list))]
    fold_order = rng.permutation(n_folds)
    for i, name in enumerate(rich_order):
        fold = int(fold_order[i % n_folds])
        members[fold].append(name)
        load[fold] += sizes[name]
    others = sorted(g for g in sizes if g not in rich_set)
    shuffled = [others[i] for i in rng.permutation(len(others))]
    shuffled.sort(key=lambda g: -sizes[g])  # stable: ties keep the shuffled order
    for name in shuffled:
        fold = int(np.argmin(load + np.arange(n_folds) * 1e-9))
        members[fold].append(name)
        load[fold] += sizes[name]
    return [Fold(index=k, test_groups=tuple(sorted(m))) for k, m in enumerate(members)]


def composition_scores(
    pred: np.ndarray, true: np.ndarray, groups: Sequence[str] | np.ndarray
) -> dict[str, Any]:
    """Per-composition MAE of predictions and its mean and worst composition.

    Args:
        pred: [H] predicted barriers (eV).
        true: [H] reference barriers (eV).
        groups: [H] composition labels.

    Returns:
        ``{"groups": {label: {"mae", "bias", "centred_mae", "n"}}, "mean": mean of the
        per-composition MAEs (eV), "worst": largest per-composition MAE (eV), "worst_group": its
        label, "mean_abs_bias": mean over compositions of |mean signed error| (eV),
        "mean_centred": mean over compositions of the MAE left once the composition's bias is
        subtracted (eV), "hop_mae": MAE over all hops (eV), "n": H}``. The last two split a
        composition's error into a shift of all its barriers and the hop-to-hop rest.
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    groups = np.asarray(groups, dtype=str)
    if not pred.shape == true.shape == groups.shape or pred.ndim != 1:
        raise VmebError(
            f"shapes differ: pred {pred.shape}, true {true.shape}, groups {groups.shape}"
        )
    if len(pred) == 0:
        raise VmebError("no predictions to score")
    signed = pred - true
    per = {}
    for g in sorted(set(groups.tolist())):
        e = signed[groups == g]
        bias = float(e.mean())
        per[str(g)] = {"mae": float(np.abs(e).mean()), "bias": bias,
                       "centred_mae": float(np.abs(e - bias).mean()), "n": len(e)}  # fmt: skip
    worst = max(per, key=lambda g: per[g]["mae"])
    return {
        "groups": per,
        "mean": float(np.mean([v["mae"] for v in per.values()])),
        "worst": per[worst]["mae"],
        "worst_group": worst,
        "mean_abs_bias": float(np.mean([abs(v["bias"]) for v in per.values()])),
        "mean_centred": float(np.mean([v["centred_mae"] for v in per.values()])),
        "hop_mae": float(np.abs(signed).mean()),
        "n": len(signed),
    }


def summarise_seeds(scores: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Average `composition_scores` of several seeds (each a complete CV over all folds).

    Args:
        scores: ``{seed: composition_scores(...)}``.

    Returns:
        ``{"seeds": [...], "mean": mean over seeds of the composition-mean MAE, "mean_std": its
        standard deviation over seeds, "worst": worst composition of the seed-averaged
        per-composition MAEs, "worst_group", "groups": {label: seed-averaged MAE},
        "mean_abs_bias", "mean_centred": seed means of those scores (None if absent)}``.
    """
    if not scores:
        raise VmebError("no seeds to summarise")
    seeds = sorted(scores)
    labels = sorted(set().union(*(scores[s]["groups"] for s in seeds)))
    per = {
        g: float(
            np.mean([scores[s]["groups"][g]["mae"] for s in seeds if g in scores[s]["groups"]])
        )
        for g in labels
    }
    means = [scores[s]["mean"] for s in seeds]
    worst = max(per, key=per.get)
    extra = {
        key: float(np.mean([scores[s][key] for s in seeds]))
        if all(key in scores[s] for s in seeds)
        else None
        for key in ("mean_abs_bias", "mean_centred")
    }
    return {
        "seeds": seeds,
        "mean": float(np.mean(means)),
        "mean_std": float(np.std(means)),
        "worst": per[worst],
        "worst_group": worst,
        "groups": per,
        **extra,
    }


def select_outside_fold(
    candidates: Mapping[str, Sequence[np.ndarray]],
    true: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    held_out: Sequence[str],
) -> str:
    """The candidate with the lowest composition-mean MAE over the compositions not held out.

    Args:
        candidates: ``{name: [P1, P2, ...]}``, each ``P`` [H] CV predictions (eV) of one seed.
        true: [H] reference barriers (eV).
        groups: [H] composition labels.
        held_out: Labels whose hops take no part in the choice.

    Returns:
        The chosen name (ties go to the first in ``candidates``' order).

    Raises:
        VmebError: for no candidates or nothing left outside ``held_out``.
    """
    groups = np.asarray(groups, dtype=str)
    keep = ~np.isin(groups, list(held_out))
    if not candidates or not keep.any():
        raise VmebError("nothing to choose from: no candidates or every composition held out")
    best, best_score = "", np.inf
    for name, preds in candidates.items():
        score = float(
            np.mean([composition_scores(p[keep], true[keep], groups[keep])["mean"] for p in preds])
        )
        if score < best_score:
            best, best_score = name, score
    return best


def selected_predictions(
    candidates: Mapping[str, Sequence[np.ndarray]],
    true: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    folds: Sequence[Fold],
    seed_index: int,
) -> tuple[np.ndarray, list[str]]:
    """CV predictions of the procedure "pick the best candidate", chosen fold by fold.

    For every fold, `select_outside_fold` picks a candidate by its errors (averaged over all
    the candidates' seeds) on the compositions outside the fold; the fold's hops get that
    candidate's predictions of seed ``seed_index``. Scoring the result with
    `composition_scores` estimates the error of the choice itself, not of the best row.

    Args:
        candidates: ``{name: [P_seed0, P_seed1, ...]}``, each [H] CV predictions (eV).
        true: [H] reference barriers (eV).
        groups: [H] composition labels.
        folds: The fold partition of the seed ``seed_index`` (`composition_folds`).
        seed_index: Which of every candidate's prediction arrays to take for the fold's hops.

    Returns:
        ``(pred, chosen)``: [H] predictions (eV; NaN on hops of no fold) and the chosen name per
        fold.
    """
    groups = np.asarray(groups, dtype=str)
    pred = np.full(len(groups), np.nan)
    chosen = []
    for fold in folds:
        name = select_outside_fold(candidates, true, groups, fold.test_groups)
        mask = np.isin(groups, list(fold.test_groups))
        pred[mask] = candidates[name][seed_index][mask]
        chosen.append(name)
    return pred, chosen


def group_fractions(dataset: Any) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Species and the atomic fractions of every composition group of a barrier dataset.

    Args:
        dataset: A `vmeb.data.dataset.BarrierDataset`.

    Returns:
        ``(species, {group: {symbol: fraction}})``; replicas of a group share its fractions (the
        last sample read wins; replicas of one composition have the same).
    """
    from vmeb.learn.inference import atomic_fractions  # noqa: PLC0415 - keeps this module light

    species = list(dataset.species)
    fractions = {
        dataset.group_of(sample_id): atomic_fractions(dataset.structure(sample_id), species)
        for sample_id in dataset.sample_ids()
    }
    return species, fractions
