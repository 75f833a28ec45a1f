"""A universal potential's NEB barriers on the DFT cells of First-principle-NNK.

The DFT data (Xing, Rupert, Pan, Cao, Nat. Commun. 15, 3879 (2024); VASP PBE CI-NEB, 128-atom
Nb-Mo-Ta-W-V cells on ideal lattice sites, fixed box) give every hop of every vacancy site of
each cell. This script recomputes chosen sites with any ``--potential`` of `vmeb neb` on the same
cells, the same fixed box and the same hops, and compares per composition.

Three steps (resumable; each ``run`` round adds one more site per composition)::

    python examples/umlip/umlip_vs_dft.py prepare -o runs/umlip
    python examples/umlip/umlip_vs_dft.py run -o runs/umlip --potential sevennet:7net-0 --rounds 2
    python examples/umlip/umlip_vs_dft.py report -o runs/umlip --potential sevennet:7net-0
    python examples/umlip/umlip_vs_dft.py pure -o runs/umlip --potential sevennet:7net-0

``prepare`` writes ``OUT/cells/<composition>.extxyz`` (the DFT POSCAR under the composition's name,
so it becomes the dataset's sample id) and ``OUT/sites.json``: per composition, vacancy sites in
a random order (``--seed``) among those whose 8 DFT barriers are all positive. ``run`` calls
``vmeb neb`` with ``examples/umlip/neb_umlip.yaml`` for round r = 1..R: the first r sites of every
composition, compositions in the order given (so the Nb and Mo corners come first).
``report`` joins the rows of ``OUT/<potential>/hops.csv`` with the DFT barriers of the same
(vacancy, moving atom) and writes ``OUT/<potential>/compare.csv``, ``summary.json`` and
``report.md`` (per composition: hops, MAE, R^2, mean offset; per moving species and
composition: DFT and potential means on the same hops; the affine correction DFT ~ a + b x
potential with bootstrap errors and its leave-one-composition-out MAE) and ``parity.png``.
``pure`` writes ``OUT/<potential>_pure.csv``: lattice constant, vacancy formation energy and
migration barrier of pure V, Nb, Ta, Mo, W (`vmeb.neb.properties.element_properties`, 54-atom
cells, the same NEB settings, resumable per element).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from vmeb.data.importers import read_fpnnk_sample
from vmeb.structure.io import write_structure_file

SHARED = Path(os.environ.get("VMEB_SHARED", Path(__file__).resolve().parents[3] / "shared"))
FPNNK = SHARED / "datasets" / "fpnnk-dft"
HERE = Path(__file__).resolve().parent
#: The study's compositions, corners first (the issue's three, then one per other corner).
COMPOSITIONS = (
    "NbMoTaWV",
    "Nb80MoTaWV",
    "NbMo80TaWV",
    "NbMoTaW",
    "NbMoTaWV80",
    "NbMoTa80WV",
)


@functools.cache
def _dft_sample(name: str):
    """`read_fpnnk_sample` of one DFT folder, read once per process."""
    return read_fpnnk_sample(FPNNK / name)


def _slug(spec: str) -> str:
    """A folder name for a potential spec (file paths reduced to the first file's name)."""
    family, _, rest = spec.partition(":")
    return f"{family}_{Path(rest.split(',')[0]).name}" if rest else family


def prepare(out: Path, compositions: list[str], seed: int) -> None:
    """Write the cells under their composition names and the random site order."""
    rng = np.random.default_rng(seed)
    (out / "cells").mkdir(parents=True, exist_ok=True)
    sites = {}
    for name in compositions:
        atoms, vacancy, _, barrier = _dft_sample(name)
        write_structure_file(out / "cells" / f"{name}.extxyz", atoms)
        good = [i for i in range(len(atoms)) if np.all(barrier[vacancy == i] > 0)]
        sites[name] = [int(i) for i in rng.permutation(good)]
    (out / "sites.json").write_text(json.dumps(sites))
    print(f"{len(compositions)} cells and site orders in {out}")


def run(
    out: Path, potential: str, rounds: int, config: Path, compositions: list[str], part: str
) -> None:
    """``vmeb neb`` round by round: the first r sites of every composition.

    ``part`` names a dataset of its own (``OUT/<potential><part>``), so that two processes can
    share the compositions; ``report`` reads them all.
    """
    sites = json.loads((out / "sites.json").read_text())
    dataset = out / f"{_slug(potential)}{part}"
    for r in range(1, rounds + 1):
        for name, order in sites.items():
            done = _done_elsewhere(out, potential, dataset)
            todo = [i for i in order[:r] if (name, i) not in done]
            if name not in compositions or not todo:
                continue
            chosen = ",".join(str(i) for i in todo) + ","
            command = [
                "vmeb",
                "neb",
                str(out / "cells" / f"{name}.extxyz"),
                "--potential",
                potential,
                "--sites",
                chosen,
                "--config",
                str(config),
                "--workers",
                "1",
                "--no-progress",
                "-o",
                str(dataset),
            ]
            print(" ".join(command), flush=True)
            subprocess.run(command, check=True)


def _done_elsewhere(out: Path, potential: str, dataset: Path) -> set[tuple[str, int]]:
    """(composition, site) pairs finished in the other parts' datasets of ``potential``."""
    import pandas as pd  # noqa: PLC0415

    done = set()
    for path in out.glob(f"{_slug(potential)}*/hops.csv"):
        if path.parent != dataset:
            hops = pd.read_csv(path, usecols=["sample_id", "vacancy_index"])
            done |= {
                (str(s), int(v)) for s, v in zip(hops.sample_id, hops.vacancy_index, strict=True)
            }
    return done


def compare_rows(out: Path, potential: str):
    """The potential's hops beside the DFT barrier of the same hop (a pandas frame)."""
    import pandas as pd  # noqa: PLC0415

    parts = sorted(out.glob(f"{_slug(potential)}*/hops.csv"))
    frames = [frame for frame in map(pd.read_csv, parts) if len(frame)]
    hops = pd.concat(frames, ignore_index=True)
    hops = hops[hops.status == "ok"].copy()
    dft = {}
    for name in hops.sample_id.unique():
        _, vacancy, moving, barrier = _dft_sample(name)
        dft.update(
            {
                (name, int(v), int(m)): float(b)
                for v, m, b in zip(vacancy, moving, barrier, strict=True)
            }
        )
    keys = zip(hops.sample_id, hops.vacancy_index, hops.moving_index, strict=True)
    hops["dft"] = [dft[(s, int(v), int(m))] for s, v, m in keys]
    hops = hops.rename(columns={"sample_id": "composition", "barrier": "potential"})
    return hops[
        [
            "composition",
            "vacancy_index",
            "moving_index",
            "moving_species",
            "potential",
            "dft",
            "iterations",
            "n_replicas",
        ]
    ]


def _r2(true: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - np.sum((true - pred) ** 2) / np.sum((true - true.mean()) ** 2))


def affine_fit(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_boot: int = 2000):
    """Least-squares y = a + b x with bootstrap standard errors: (a, b, a_err, b_err)."""
    a_b = np.polyfit(x, y, 1)[::-1]
    boot = np.array(
        [
            np.polyfit(x[i], y[i], 1)[::-1]
            for i in (rng.integers(0, len(x), len(x)) for _ in range(n_boot))
        ]
    )
    return float(a_b[0]), float(a_b[1]), float(boot[:, 0].std()), float(boot[:, 1].std())


def _dft_species_mean(composition: str, species: str) -> float:
    """Mean DFT barrier (eV) of every valid hop of ``species`` in the composition's folder."""
    atoms, _, moving, barrier = _dft_sample(composition)
    symbols = np.array(atoms.get_chemical_symbols())[moving]
    return float(barrier[(symbols == species) & (barrier > 0)].mean())


def summarise(rows, seed: int = 0) -> dict:
    """Per-composition and per-species statistics and the affine correction."""
    rng = np.random.default_rng(seed)
    x, y = rows.potential.to_numpy(), rows.dft.to_numpy()
    a, b, a_err, b_err = affine_fit(x, y, rng)
    per = {}
    for name, group in rows.groupby("composition", sort=False):
        gx, gy = group.potential.to_numpy(), group.dft.to_numpy()
        others = rows[rows.composition != name]
        oa, ob = np.polyfit(others.potential, others.dft, 1)[::-1] if len(others) > 1 else (0, 1)
        per[name] = {
            "hops": len(group),
            "mae": float(np.abs(gx - gy).mean()),
            "r2": _r2(gy, gx),
            "offset": float((gx - gy).mean()),
            "pearson": float(np.corrcoef(gx, gy)[0, 1]),
            "mae_corrected_loco": float(np.abs(oa + ob * gx - gy).mean())
            if len(others) > 1
            else np.nan,
        }
    species = rows.groupby(["moving_species", "composition"], sort=False).agg(
        hops=("dft", "size"), dft=("dft", "mean"), potential=("potential", "mean")
    )
    return {
        "hops": len(rows),
        "compositions": per,
        "overall": {
            "mae": float(np.abs(x - y).mean()),
            "r2": _r2(y, x),
            "offset": float((x - y).mean()),
            "pearson": float(np.corrcoef(x, y)[0, 1]),
        },
        "affine": {
            "a": a,
            "b": b,
            "a_err": a_err,
            "b_err": b_err,
            "mae_corrected": float(np.abs(a + b * x - y).mean()),
        },
        "species": [
            {
                "species": s,
                "composition": c,
                "dft_all": _dft_species_mean(c, s),
                **{k: float(v) for k, v in r.items()},
            }
            for (s, c), r in species.iterrows()
        ],
    }


def _markdown(summary: dict, potential: str) -> str:
    lines = [
        f"# {potential} against DFT on the DFT cells ({summary['hops']} hops)",
        "",
        "| composition | hops | MAE (eV) | R^2 | Pearson r | mean offset (eV) | "
        "MAE after affine, LOCO (eV) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["compositions"].items():
        lines.append(
            f"| {name} | {s['hops']} | {s['mae']:.3f} | {s['r2']:.2f} | "
            f"{s['pearson']:.2f} | {s['offset']:+.3f} | {s['mae_corrected_loco']:.3f} |"
        )
    o, f = summary["overall"], summary["affine"]
    lines += [
        f"| all | {summary['hops']} | {o['mae']:.3f} | {o['r2']:.2f} | {o['pearson']:.2f} | "
        f"{o['offset']:+.3f} | |",
        "",
        f"Affine correction: DFT = ({f['a']:.3f} +- {f['a_err']:.3f}) + "
        f"({f['b']:.3f} +- {f['b_err']:.3f}) x potential; MAE after it "
        f"{f['mae_corrected']:.3f} eV (in sample).",
        "",
        "| moving | composition | hops | DFT mean (eV) | potential mean (eV) | "
        "DFT mean, all hops of the cell (eV) |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(summary["species"], key=lambda r: (r["species"], r["composition"])):
        lines.append(
            f"| {r['species']} | {r['composition']} | {int(r['hops'])} | "
            f"{r['dft']:.3f} | {r['potential']:.3f} | {r['dft_all']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def parity_plot(rows, summary: dict, path: Path, potential: str) -> None:
    """DFT against the potential, one colour per composition, with the affine fit."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for name, group in rows.groupby("composition", sort=False):
        ax.scatter(group.potential, group.dft, s=12, label=name)
    lo, hi = 0.0, float(max(rows.potential.max(), rows.dft.max())) + 0.1
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
    f = summary["affine"]
    ax.plot(
        [lo, hi],
        [f["a"] + f["b"] * lo, f["a"] + f["b"] * hi],
        "r-",
        lw=0.8,
        label=f"DFT = {f['a']:.2f} + {f['b']:.2f} x",
    )
    ax.set(
        xlabel=f"{potential} barrier (eV)", ylabel="DFT barrier (eV)", xlim=(lo, hi), ylim=(lo, hi)
    )
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def report(out: Path, potential: str) -> None:
    """Write compare.csv, summary.json, report.md and parity.png for ``potential``."""
    rows = compare_rows(out, potential)
    folder = out / _slug(potential)
    rows.to_csv(folder / "compare.csv", index=False)
    summary = summarise(rows)
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    (folder / "report.md").write_text(_markdown(summary, potential))
    parity_plot(rows, summary, folder / "parity.png", potential)
    print(_markdown(summary, potential))


def pure(out: Path, potential: str, elements: list[str], config: Path) -> None:
    """Lattice constant, E_vf and E_m of pure elements (54-atom cells, the study NEB settings)."""
    import dataclasses  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415
    import yaml  # noqa: PLC0415

    from vmeb.neb.properties import element_properties  # noqa: PLC0415
    from vmeb.neb.site import NEBConfig  # noqa: PLC0415

    settings = NEBConfig(**yaml.safe_load(config.read_text()))
    path = out / f"{_slug(potential)}_pure.csv"
    done = pd.read_csv(path) if path.is_file() else pd.DataFrame()
    for element in elements:
        if len(done) and element in set(done.element):
            continue
        row = dataclasses.asdict(element_properties(element, potential, 3, settings))
        done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
        done.to_csv(path, index=False)
        print(row, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=("prepare", "run", "report", "pure"))
    parser.add_argument("-o", "--output", type=Path, default=Path("runs/umlip"))
    parser.add_argument("--potential", default="sevennet:7net-0")
    parser.add_argument("--compositions", nargs="+", default=list(COMPOSITIONS))
    parser.add_argument("--rounds", type=int, default=1, help="sites per composition (run)")
    parser.add_argument("--config", type=Path, default=HERE / "neb_umlip.yaml")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", default="", help="dataset name suffix of this process (run)")
    parser.add_argument("--elements", nargs="+", default=["V", "Nb", "Ta", "Mo", "W"])
    args = parser.parse_args(argv)
    if not FPNNK.is_dir():
        print(f"umlip_vs_dft: {FPNNK} not found (set VMEB_SHARED)", file=sys.stderr)
        return 1
    if args.step == "prepare":
        prepare(args.output, args.compositions, args.seed)
    elif args.step == "run":
        run(args.output, args.potential, args.rounds, args.config, args.compositions, args.part)
    elif args.step == "pure":
        pure(args.output, args.potential, args.elements, args.config)
    else:
        report(args.output, args.potential)
    return 0


if __name__ == "__main__":
    sys.exit(main())
