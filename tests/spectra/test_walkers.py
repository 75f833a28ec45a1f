"""Batched vacancy walkers: Compaan-Haven, the vacancy diffusivity, a brute-force random alloy,
checkpoints, and the cached window-model barriers."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.neighborlist import neighbor_list

from vmeb.learn.checkpoints import model_from_record
from vmeb.learn.lattice import fit_bcc_lattice
from vmeb.species import SpeciesTable
from vmeb.spectra.kmc import BOLTZMANN_EV_K, ModelBarrierProvider
from vmeb.spectra.walkers import (
    BCC_CORRELATION_FACTOR,
    ConstantBarriers,
    WalkerConfig,
    WindowModelBarriers,
    load_state,
    run_walkers,
    save_state,
)
from vmeb.testing import SPECIES, random_alloy, tiny_field_record

NU = 1.0e13


def test_pure_metal_compaan_haven_and_vacancy_diffusivity():
    """All barriers equal: f = 0.7272, D_v = nu a^2 exp(-E/kT), D* = f D_v / N."""
    a, energy, temperature = 3.30, 1.0, 1000.0
    atoms = bulk("Ta", "bcc", a=a, cubic=True).repeat(8)
    config = WalkerConfig(temperature=temperature, steps=3000, walkers=32)
    _, summary = run_walkers(
        atoms, ["Ta"], ConstantBarriers([energy]), config, np.random.default_rng(0)
    )
    f, f_err = summary["correlation_factor"]["Ta"], summary["correlation_factor_error"]["Ta"]
    assert 0 < f_err < 0.01
    assert abs(f - BCC_CORRELATION_FACTOR) < 3 * f_err + 0.002
    d_v = NU * a**2 * np.exp(-energy / (BOLTZMANN_EV_K * temperature))
    assert abs(summary["vacancy_diffusivity"] - d_v) < 3 * summary["vacancy_diffusivity_error"]
    d_star = summary["tracer_diffusivity"]["Ta"]
    expected = BCC_CORRELATION_FACTOR * d_v / len(atoms)
    assert abs(d_star - expected) < 3 * summary["tracer_diffusivity_error"]["Ta"] + 0.02 * expected


def _brute_force(atoms, barriers, temperature, steps, rng):
    """An independent single-vacancy KMC (ASE neighbour list, plain loop): per-species
    sums of squared tracer displacements and of jumps."""
    a = atoms.cell[0, 0] / round(atoms.cell[0, 0] / 3.3)  # cubic cell edge
    i, j, d = neighbor_list("ijD", atoms, 0.5 * (np.sqrt(3) / 2 + 1) * a)
    neighbours = [[] for _ in range(len(atoms))]
    for a, b, vec in zip(i, j, d, strict=True):
        neighbours[a].append((b, vec))
    species = np.array([SPECIES.index(s) for s in atoms.get_chemical_symbols()])
    occupant = np.arange(len(atoms))
    disp = np.zeros((len(atoms), 3))
    jumps = np.zeros(len(atoms))
    vacancy = int(rng.integers(len(atoms)))
    removed = vacancy
    beta = 1 / (BOLTZMANN_EV_K * temperature)
    for _ in range(steps):
        options = neighbours[vacancy]
        rates = np.array([np.exp(-beta * barriers[species[b]]) for b, _ in options])
        k = int(np.searchsorted(np.cumsum(rates), rng.random() * rates.sum()))
        site, vec = options[min(k, len(options) - 1)]
        atom = occupant[site]
        disp[atom] -= vec
        jumps[atom] += 1
        species[vacancy], species[site] = species[site], species[vacancy]
        occupant[vacancy], occupant[site] = atom, occupant[vacancy]
        vacancy = site
    start = np.array([SPECIES.index(s) for s in atoms.get_chemical_symbols()])
    keep = np.arange(len(atoms)) != removed
    out = {}
    for c in range(2):
        mask = keep & (start == c)
        out[c] = (np.sum(disp[mask] ** 2), jumps[mask].sum())
    return out


def test_random_binary_correlation_factors_match_a_brute_force_kmc():
    """Species-dependent constant barriers in a random binary: per-species correlation factors
    of the batched walkers agree with an independent plain-loop KMC."""
    rng = np.random.default_rng(5)
    atoms = bulk("Ta", "bcc", a=3.3, cubic=True).repeat(4)
    atoms.set_chemical_symbols(rng.choice(SPECIES[:2], size=len(atoms)))
    barriers, temperature = [0.9, 1.1], 1200.0
    config = WalkerConfig(temperature=temperature, steps=2000, walkers=24)
    _, summary = run_walkers(
        atoms, SPECIES[:2], ConstantBarriers(barriers), config, np.random.default_rng(1)
    )
    sums = {0: [], 1: []}
    brute_rng = np.random.default_rng(2)
    for _ in range(24):
        for c, value in _brute_force(atoms, barriers, temperature, 2000, brute_rng).items():
            sums[c].append(value)
    jump = 3.3 * np.sqrt(3) / 2
    for c, symbol in enumerate(SPECIES[:2]):
        r2, n = np.array(sums[c]).T
        per_run = r2 / (jump**2 * n)
        reference, ref_err = per_run.mean(), per_run.std(ddof=1) / np.sqrt(len(per_run))
        f, f_err = (
            summary["correlation_factor"][symbol],
            summary["correlation_factor_error"][symbol],
        )
        assert abs(f - reference) < 3 * np.hypot(f_err, ref_err)
    # the species with the lower barrier jumps more often; its jumps are in its barrier's bin
    assert summary["jumps"][SPECIES[0]] > summary["jumps"][SPECIES[1]]
    histogram = summary["jump_barrier_histogram"]
    edges = np.array(histogram["bin_edges_eV"])
    for symbol, barrier in zip(SPECIES[:2], barriers, strict=True):
        counts = np.array(histogram[symbol])
        assert counts.sum() == summary["jumps"][symbol]
        assert counts[np.searchsorted(edges, barrier, side="right") - 1] == counts.sum()


def test_a_checkpointed_run_continues_exactly(tmp_path):
    atoms = random_alloy(3, 4)
    source = ConstantBarriers([0.8, 1.0, 1.2])
    rng = np.random.default_rng(3)
    full, _ = run_walkers(atoms, SPECIES, source, WalkerConfig(900.0, 60, 4), rng)
    rng = np.random.default_rng(3)
    half, _ = run_walkers(atoms, SPECIES, source, WalkerConfig(900.0, 30, 4), rng)
    save_state(half, rng, tmp_path / "state.npz")
    state, rng2 = load_state(tmp_path / "state.npz")
    resumed, _ = run_walkers(atoms, SPECIES, source, WalkerConfig(900.0, 60, 4), rng2, state=state)
    for name in ("species", "vacancy", "displacement", "time", "jumps", "barrier_histogram"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(full, name))


def test_window_model_barriers_equal_the_per_hop_provider_and_cache_back_jumps():
    trained = model_from_record(tiny_field_record(0, depth=2, mean=1.0, std=0.2))
    atoms = random_alloy(5, 6)
    fit = fit_bcc_lattice(atoms)
    source = WindowModelBarriers(trained, fit)
    species = np.array([[SPECIES.index(s) for s in atoms.get_chemical_symbols()]] * 2)
    vacancy = np.array([3, 40])
    from vmeb.spectra.walkers import lattice_tables

    neighbours, _ = lattice_tables(fit)
    walker = np.arange(2)
    got = source(species, vacancy[:, None], walker, vacancy, neighbours[vacancy])
    provider = ModelBarrierProvider(trained, atoms)
    for w, site in enumerate(vacancy):
        expected = provider(atoms, int(site), neighbours[site])
        np.testing.assert_allclose(got[w], expected, atol=1e-5)
    again = source(species, vacancy[:, None], walker, vacancy, neighbours[vacancy])
    np.testing.assert_array_equal(again, got)
    assert source.hit_rate == pytest.approx(0.5)


class _Unreached:
    """A source recomputing every vacancy of a walker after each of its jumps (no ``reach``)."""

    def __init__(self, source):
        self.source = source

    def __call__(self, *args):
        return self.source(*args)


@pytest.mark.parametrize("kind", ["constant", "window"])
def test_multi_vacancy_barriers_kept_between_steps_equal_recomputed_ones(kind):
    """Three vacancies per walker: recomputing only the vacancies a jump reached gives the same
    run as recomputing them all (other vacancies are empty sites of a window model's input)."""
    atoms = random_alloy(6, 7)
    fit = fit_bcc_lattice(atoms)
    if kind == "constant":
        source = ConstantBarriers([0.8, 1.0, 1.2])
    else:
        source = WindowModelBarriers(model_from_record(tiny_field_record(2)), fit)
    config = WalkerConfig(1100.0, 120, walkers=3, vacancies=3)
    runs = [
        run_walkers(atoms, SPECIES, s, config, np.random.default_rng(4), fit=fit)
        for s in (source, _Unreached(source))
    ]
    for name in ("species", "vacancy", "displacement", "time"):
        np.testing.assert_array_equal(getattr(runs[0][0], name), getattr(runs[1][0], name))
    state = runs[0][0]
    assert state.vacancy.shape == (3, 3)
    assert all(len(set(row)) == 3 for row in state.vacancy.tolist())  # never on one site
    assert (state.species >= 0).all() and np.bincount(state.species.ravel()).tolist() == (
        np.bincount(np.tile(SpeciesTable(SPECIES).indices(atoms.get_chemical_symbols()), 3))
    ).tolist()  # jumps move species, never make or lose them


def test_pure_metal_with_several_vacancies_per_walker():
    """Eight vacancies in 1,024 sites of a pure metal: D_v per vacancy and f as for one
    vacancy (vacancy pairs are rare at this fraction), and D* = f D_v V / N."""
    a, energy, temperature = 3.30, 1.0, 1000.0
    atoms = bulk("Ta", "bcc", a=a, cubic=True).repeat(8)
    config = WalkerConfig(temperature, steps=4000, walkers=8, vacancies=8)
    _, summary = run_walkers(
        atoms, ["Ta"], ConstantBarriers([energy]), config, np.random.default_rng(6)
    )
    assert summary["vacancy_site_fraction"] == pytest.approx(8 / 1024)
    d_v = NU * a**2 * np.exp(-energy / (BOLTZMANN_EV_K * temperature))
    assert abs(summary["vacancy_diffusivity"] - d_v) < 3 * summary["vacancy_diffusivity_error"]
    f, f_err = summary["correlation_factor"]["Ta"], summary["correlation_factor_error"]["Ta"]
    assert abs(f - BCC_CORRELATION_FACTOR) < 3 * f_err + 0.005
    expected = BCC_CORRELATION_FACTOR * d_v * 8 / len(atoms)
    d_star = summary["tracer_diffusivity"]["Ta"]
    assert abs(d_star - expected) < 3 * summary["tracer_diffusivity_error"]["Ta"] + 0.03 * expected


def test_arrhenius_fit_recovers_a_synthetic_law():
    from vmeb.spectra.walkers import arrhenius_fit

    temperatures = np.array([1000.0, 1200.0, 1400.0, 1600.0])
    d = 2.0e11 * np.exp(-0.85 / (BOLTZMANN_EV_K * temperatures))
    fit = arrhenius_fit(temperatures, d, 0.01 * d)
    assert fit["Q_eV"] == pytest.approx(0.85, abs=1e-9)
    assert fit["D0"] == pytest.approx(2.0e11, rel=1e-9)
    noisy = d * np.array([1.02, 0.98, 1.01, 0.99])
    rough = arrhenius_fit(temperatures, noisy, 0.02 * noisy)
    assert abs(rough["Q_eV"] - 0.85) < 3 * rough["Q_error_eV"] and rough["Q_error_eV"] > 0


def test_vmeb_kmc_walkers_sweep_and_resume(tmp_path):
    """The command line: a two-temperature sweep writes the Arrhenius fits; a single run writes
    state.npz, and --resume continues it to the same state as an uninterrupted run."""
    import json

    from vmeb.cli.main import main
    from vmeb.learn.checkpoints import save_checkpoint

    save_checkpoint(tiny_field_record(1), tmp_path / "m.pt")
    sample = tmp_path / "s.extxyz"
    random_alloy(3, 2).write(sample)
    base = ["kmc", str(tmp_path / "m.pt"), str(sample), "--walkers", "4", "--no-progress"]
    assert main([*base, "--temperatures", "1000", "1500", "--steps", "80", "-o",
                 str(tmp_path / "sweep")]) == 0  # fmt: skip
    record = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert set(record["arrhenius"]) == set(SPECIES) and len(record["runs"]) == 2
    assert (tmp_path / "sweep" / "arrhenius.png").is_file()
    assert main([*base, "--temperature", "1200", "--steps", "40", "-o", str(tmp_path / "a")]) == 0
    assert main([*base, "--temperature", "1200", "--steps", "80", "-o", str(tmp_path / "b"),
                 "--resume", str(tmp_path / "a" / "state.npz")]) == 0  # fmt: skip
    assert main([*base, "--temperature", "1200", "--steps", "80", "-o", str(tmp_path / "c")]) == 0
    b, c = (json.loads((tmp_path / x / "summary.json").read_text()) for x in "bc")
    assert b["total_steps"] == c["total_steps"] == 80
    assert b["tracer_diffusivity"] == c["tracer_diffusivity"]


def test_vmeb_kmc_ordering_run_with_several_vacancies(tmp_path, capsys):
    import json

    import pandas as pd

    from vmeb.cli.main import main
    from vmeb.learn.checkpoints import save_checkpoint

    save_checkpoint(tiny_field_record(3), tmp_path / "m.pt")
    sample = tmp_path / "s.extxyz"
    random_alloy(4, 2).write(sample)
    base = ["kmc", str(tmp_path / "m.pt"), str(sample), "--walkers", "4", "--no-progress",
            "--vacancies", "2", "--order-every", "10"]  # fmt: skip
    assert main([*base, "--temperature", "1000", "--steps", "80", "-o", str(tmp_path / "o")]) == 0
    record = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert record["vacancies_per_walker"] == 2
    assert record["vacancy_site_fraction"] == pytest.approx(2 / 128)
    table = pd.read_csv(tmp_path / "o" / "ordering.csv")
    assert table["step"].tolist() == [0, 10, 20]
    assert table.filter(like="alpha_2_").shape[1] == 12  # 6 pairs, value and error
    assert (tmp_path / "o" / "ordering.png").is_file()
    capsys.readouterr()
    assert main([*base, "--temperatures", "900", "1000", "--steps", "8", "-o",
                 str(tmp_path / "p")]) != 0  # fmt: skip
    assert "one --temperature" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
