"""Cost of one energy + force call of calculator potentials, one by one and batched.

A random 128-atom BCC NbMoTaWV cell (`vmeb.testing.equiatomic_alloy`, 4 cells, a = 3.18 Å,
rattled by 0.05 Å); per potential: the model's load time, then ``--calls`` single calls (each
after a small move of one atom, so nothing is cached) and ``--repeats`` batched calls of 5
rattled images, each timed in wall and CPU seconds. Prints one line per potential. CPU time is
the figure to trust on a shared machine; wall time only on an idle one.

    python benchmarks/bench_calculators.py --threads 2
    python benchmarks/bench_calculators.py --threads 1 --specs sevennet:7net-0 chgnet:0.3.0
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _clock(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(spec: str, calls: int, repeats: int, n_images: int = 5) -> str:
    """One result line for a potential spec."""
    from vmeb.lammps.potentials import load_potential  # noqa: PLC0415
    from vmeb.testing import equiatomic_alloy  # noqa: PLC0415

    atoms = equiatomic_alloy(4, 3.18, seed=0, species=("Nb", "Mo", "Ta", "W", "V"), rattle=0.05)
    potential = load_potential(spec)
    start = time.perf_counter()
    calc = potential.calculator(("V", "Nb", "Mo", "Ta", "W"))
    load = time.perf_counter() - start
    single = atoms.copy()
    single.calc = calc
    single.get_potential_energy()  # warm-up
    timings = []
    for _ in range(calls):
        single.positions[0, 0] += 1e-3
        timings.append(_clock(lambda: (single.get_potential_energy(), single.get_forces())))
    rng = np.random.default_rng(1)
    images = [atoms.copy() for _ in range(n_images)]
    for image in images:
        image.positions += rng.normal(scale=0.02, size=image.positions.shape)
    batch = potential.batch
    line = f"{spec}: load {load:.2f} s; single call wall min {min(t[0] for t in timings):.3f} s"
    line += f", CPU min {min(t[1] for t in timings):.3f} s"
    if batch:
        import dataclasses  # noqa: PLC0415

        function = dataclasses.replace(potential, batch_on_cpu=True).batch_function()
        function(calc, images)  # warm-up
        batched = [_clock(lambda: function(calc, images)) for _ in range(repeats)]
        per_image = min(t[1] for t in batched) / n_images
        line += f"; batch of {n_images}: CPU per image {per_image:.3f} s"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="+", default=["sevennet:7net-0", "chgnet:0.3.0"])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for spec in args.specs:
        print(measure(spec, args.calls, args.repeats), flush=True)


if __name__ == "__main__":
    main()
