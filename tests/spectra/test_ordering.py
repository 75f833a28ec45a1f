"""Warren-Cowley parameters on the lattice against the neighbour-list counts of vmeb.csro, and
vacancy-mediated ordering of a model binary."""

from __future__ import annotations

import numpy as np
import pytest

from vmeb.csro.order_parameters import pair_counts
from vmeb.learn.lattice import fit_bcc_lattice
from vmeb.spectra.ordering import OrderRecorder, lattice_pair_counts, ordering_table, shell_tables
from vmeb.spectra.walkers import WalkerConfig, run_walkers
from vmeb.testing import SPECIES, random_alloy


def test_lattice_pair_counts_equal_the_neighbour_list_counts_with_vacancies():
    """Three shells, two vacant sites: the same pair counts as `vmeb.csro.pair_counts` on the
    structure with those atoms deleted (an ASE neighbour list, shell windows by distance)."""
    atoms = random_alloy(4, 3)
    fit = fit_bcc_lattice(atoms)
    species = np.array([SPECIES.index(s) for s in atoms.get_chemical_symbols()])
    vacant = np.array([5, 77])
    got = lattice_pair_counts(species, vacant, shell_tables(fit, 3), SPECIES, fit.lattice_constant)
    holed = atoms.copy()
    del holed[vacant.tolist()]
    expected = pair_counts(holed, n_shells=3, a=fit.lattice_constant, species=SPECIES)
    np.testing.assert_array_equal(got.counts, expected.counts)
    np.testing.assert_array_equal(got.n_per_species, expected.n_per_species)
    np.testing.assert_allclose(got.warren_cowley(), expected.warren_cowley())


class _PairEnergy:
    """Barriers of a nearest-neighbour A-B ordering binary: E = E0 + (bonds broken - made) / 2
    times the A-B bond energy, so detailed balance holds with the pair energy; the walkers'
    first-shell A-B count must rise from a random start (alpha_1 A-B < 0)."""

    reach = 2

    def __init__(self, neighbours, bond=0.1, base=0.8):
        self.neighbours, self.bond, self.base = neighbours, bond, base

    def __call__(self, species, vacancies, walker, vacancy, moving):
        out = np.empty(moving.shape)
        for i, (w, v) in enumerate(zip(walker, vacancy, strict=True)):
            occupied = np.ones(species.shape[1], dtype=bool)
            occupied[vacancies[w]] = False
            for k, m in enumerate(moving[i]):
                s = species[w, m]
                before = np.sum(
                    occupied[self.neighbours[m]] & (species[w, self.neighbours[m]] != s)
                )
                around = [n for n in self.neighbours[v] if n != m]
                after = np.sum(occupied[around] & (species[w, around] != s))
                out[i, k] = self.base + 0.5 * self.bond * (before - after)
        return out


def test_vacancy_mediated_ordering_of_an_ordering_binary():
    from vmeb.spectra.walkers import lattice_tables

    rng = np.random.default_rng(0)
    atoms = random_alloy(5, rng, species=SPECIES[:2])
    fit = fit_bcc_lattice(atoms)
    recorder = OrderRecorder(fit, SPECIES[:2], shells=2)
    source = _PairEnergy(lattice_tables(fit)[0])
    config = WalkerConfig(600.0, 1500, walkers=4, vacancies=2)
    run_walkers(atoms, SPECIES[:2], source, config, np.random.default_rng(1), observe=recorder,
                every=500)  # fmt: skip
    table = ordering_table(recorder)
    assert table["step"].tolist() == [0, 500, 1000, 1500]
    ab = table[f"alpha_1_{SPECIES[0]}-{SPECIES[1]}"]
    assert abs(ab.iloc[0]) < 0.06  # random start
    assert (
        ab.iloc[-1] < -0.3
        and ab.iloc[-1]
        < ab.iloc[0] - 6 * table[f"alpha_1_{SPECIES[0]}-{SPECIES[1]}_error"].iloc[-1]
    )
    assert np.all(np.diff(table["time"]) > 0)
    with pytest.raises(Exception, match="shells 1..3"):
        shell_tables(fit, 4)
