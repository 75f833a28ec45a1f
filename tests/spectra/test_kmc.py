"""Kinetic Monte Carlo against exact results: residence times, random-walk diffusivity, hop
selection probabilities, conservation of displacement and composition."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk

from vmeb.cli.main import main
from vmeb.errors import VmebError
from vmeb.spectra.kmc import (
    BOLTZMANN_EV_K,
    KMCConfig,
    ModelBarrierProvider,
    NeighbourTable,
    run_kmc,
)
from vmeb.testing import random_alloy

A = 3.30


def constant_provider(value: float):
    def provider(atoms, vacancy_index, moving_indices):
        return np.full(len(moving_indices), value)

    return provider


def test_pure_element_residence_time_and_diffusivity():
    """All barriers E: residence time 1/(8 nu exp(-E/kT)); uncorrelated random walk of the
    vacancy on the BCC lattice, <|R|^2> = n d^2 with d = sqrt(3) a / 2, so D = nu exp(-E/kT) a^2.
    """
    atoms = bulk("Ta", "bcc", a=A, cubic=True).repeat((4, 4, 4))
    energy, temperature, nu = 0.7, 1200.0, 1e13
    config = KMCConfig(temperature=temperature, steps=40, attempt_frequency=nu)
    table = NeighbourTable(atoms)
    rng = np.random.default_rng(123)
    runs, squared, times, dts = 1500, [], [], []
    for _ in range(runs):
        result = run_kmc(atoms, 5, constant_provider(energy), config, rng, neighbours=table)
        squared.append(result.vacancy_squared_displacement[-1])
        times.append(result.total_time)
        dts.append(result.jumps.dt.to_numpy())
    rate = 8 * nu * np.exp(-energy / (BOLTZMANN_EV_K * temperature))
    dts = np.concatenate(dts)
    # exponential waiting times: mean 1/R, standard error 1/(R sqrt(n))
    assert abs(dts.mean() * rate - 1) < 5 / np.sqrt(len(dts))
    d2 = 3 * A**2 / 4
    # |R|^2 / (n d^2) has mean 1 and standard deviation about sqrt(2/3) per run
    ratio = np.mean(squared) / (config.steps * d2)
    assert abs(ratio - 1) < 5 * np.sqrt(2 / 3) / np.sqrt(runs)
    diffusivity = np.mean(squared) / (6 * np.mean(times))
    exact = nu * np.exp(-energy / (BOLTZMANN_EV_K * temperature)) * A**2
    np.testing.assert_allclose(diffusivity, exact, rtol=0.12)


def test_hop_selection_follows_rates():
    """Slot k gets barrier E0 + 0.03 k: it is chosen with probability r_k / sum r."""
    atoms = bulk("Ta", "bcc", a=A, cubic=True).repeat((3, 3, 3))
    calls = []

    def provider(atoms, vacancy_index, moving_indices):
        calls.append(list(moving_indices))
        return 0.5 + 0.03 * np.arange(8)

    temperature = 600.0
    config = KMCConfig(temperature=temperature, steps=6000)
    result = run_kmc(atoms, 0, provider, config, np.random.default_rng(9))
    chosen_slots = [c.index(int(m)) for c, m in zip(calls, result.jumps.moving_index, strict=True)]
    rates = np.exp(-(0.5 + 0.03 * np.arange(8)) / (BOLTZMANN_EV_K * temperature))
    p = rates / rates.sum()
    counts = np.bincount(chosen_slots, minlength=8)
    sigma = np.sqrt(len(chosen_slots) * p * (1 - p))
    assert np.all(np.abs(counts - len(chosen_slots) * p) < 5 * sigma), (counts, p)


def test_alloy_trajectory_bookkeeping():
    """Species move with the atoms, the provider sees the current environment, displacements
    of atoms and vacancy cancel, composition is conserved."""
    rng = np.random.default_rng(4)
    atoms = random_alloy(3, rng)
    barrier_of = {"Ta": 0.6, "Nb": 0.5, "Mo": 0.8}
    seen = []

    def provider(current, vacancy_index, moving_indices):
        symbols = current.get_chemical_symbols()
        seen.append([symbols[i] for i in moving_indices])
        return np.array([barrier_of[s] for s in seen[-1]])

    result = run_kmc(atoms, 10, provider, KMCConfig(temperature=900.0, steps=300), rng)
    jumps = result.jumps
    start_symbols = np.array(atoms.get_chemical_symbols())
    # the jumping atom's species is that of the atom that started at moving_atom
    assert (jumps.moving_species.to_numpy() == start_symbols[jumps.moving_atom]).all()
    assert np.allclose(jumps.barrier, [barrier_of[s] for s in jumps.moving_species])
    # species in the sample are permuted, never changed
    final = np.array(result.final_atoms.get_chemical_symbols())
    assert sorted(final) == sorted(start_symbols)
    assert (np.array(atoms.get_chemical_symbols()) == start_symbols).all()  # input untouched
    # vacancy path is continuous: each jump starts where the previous ended
    assert (jumps.vacancy_site.to_numpy()[1:] == jumps.moving_index.to_numpy()[:-1]).all()
    assert jumps.vacancy_site[0] == 10 and result.final_vacancy == jumps.moving_index.iloc[-1]
    # every jump moves one atom by -v while the vacancy moves by +v
    np.testing.assert_allclose(
        result.atom_displacement.sum(axis=0), -result.vacancy_displacement[-1], atol=1e-9
    )
    # the final sample is the start with each jump's species swap applied
    replay = start_symbols.copy()
    for vac, mov in zip(jumps.vacancy_site, jumps.moving_index, strict=True):
        replay[[vac, mov]] = replay[[mov, vac]]
    assert (replay == final).all()
    np.testing.assert_allclose(result.times[1:], np.cumsum(jumps.dt))
    tracer = result.tracer_diffusivity()
    present = np.ones(len(atoms), bool)
    present[10] = False
    for symbol, value in tracer.items():
        mask = present & (start_symbols == symbol)
        msd = np.mean(np.sum(result.atom_displacement[mask] ** 2, axis=1))
        np.testing.assert_allclose(value, msd / (6 * result.total_time))


def test_provider_errors_are_reported():
    atoms = bulk("Ta", "bcc", a=A, cubic=True).repeat((3, 3, 3))
    rng = np.random.default_rng(0)
    with pytest.raises(VmebError, match="returned 7 values"):
        run_kmc(atoms, 0, lambda a, v, m: np.ones(7), KMCConfig(300.0, 2), rng)
    with pytest.raises(VmebError, match="non-finite"):
        run_kmc(atoms, 0, lambda a, v, m: np.full(8, np.nan), KMCConfig(300.0, 2), rng)
    with pytest.raises(VmebError, match="out of range"):
        run_kmc(atoms, 999, constant_provider(0.5), KMCConfig(300.0, 2), rng)
    with pytest.raises(VmebError, match="temperature"):
        KMCConfig(temperature=0.0, steps=2)


def test_model_provider_recomputes_the_environment(tiny_setup):
    """The model provider equals predict_barriers on the current sample at every step."""
    from vmeb.learn.checkpoints import load_checkpoint
    from vmeb.spectra.predict import predict_barriers

    _, model_path, atoms = tiny_setup
    trained = load_checkpoint(model_path)
    provider = ModelBarrierProvider(trained, atoms)
    result = run_kmc(atoms, 3, provider, KMCConfig(1000.0, 4), np.random.default_rng(2))
    current = atoms.copy()
    for row in result.jumps.itertuples():
        table = predict_barriers(trained, current, [row.vacancy_site], progress=False)
        expected = table.set_index("moving_index").barrier[row.moving_index]
        np.testing.assert_allclose(row.barrier, expected, atol=1e-6)
        numbers = current.numbers
        numbers[[row.vacancy_site, row.moving_index]] = numbers[
            [row.moving_index, row.vacancy_site]
        ]


def test_cli_kmc(tiny_setup, tmp_path, capsys):
    from vmeb.structure.io import write_structure_file

    _, model_path, atoms = tiny_setup
    structure = write_structure_file(tmp_path / "s.extxyz", atoms)
    out = tmp_path / "kmc"
    args = ["kmc", str(model_path), str(structure), "--temperature", "1000", "--steps", "5"]
    assert main([*args, "--seed", "3", "--vacancy", "7", "-o", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 5 and summary["start_vacancy"] == 7
    jumps = np.genfromtxt(out / "jumps.csv", delimiter=",", names=True, dtype=None, encoding=None)
    assert len(jumps) == 5
    np.testing.assert_allclose(summary["total_time_s"], jumps["time"][-1])
    assert (out / "msd.png").is_file() and (out / "final.extxyz").is_file()
    out2 = tmp_path / "kmc2"
    assert main([*args, "--seed", "3", "--vacancy", "7", "-o", str(out2), "--no-progress"]) == 0
    assert (out2 / "jumps.csv").read_text() == (out / "jumps.csv").read_text()  # seeded
    capsys.readouterr()
    assert main([*args, "--vacancy", "5000", "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vacancy index 5000 out of range" in err[0]
    assert not (tmp_path / "bad").exists()
