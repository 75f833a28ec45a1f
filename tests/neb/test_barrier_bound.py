"""An NEB 'barrier' above 10 eV is no migration barrier: the hop is stored failed, as imports do."""

from __future__ import annotations

import math
from types import SimpleNamespace

from vmeb.data.dataset import MAX_BARRIER
from vmeb.neb.site import NEBConfig, _hop_result


def _result(energies):
    vacancy = SimpleNamespace(vacancy_index=3)
    run = SimpleNamespace(energies=energies, converged=True)
    return _hop_result(vacancy, 5, "Nb", run, 40, "", NEBConfig())


def test_barrier_above_bound_is_failed():
    ok = _result([-100.0, -99.2, -98.9, -99.3, -99.9])
    assert ok.status == "ok" and math.isclose(ok.barrier, 1.1, abs_tol=1e-12)
    assert math.isclose(ok.reverse_barrier, 1.0, abs_tol=1e-12)
    edge = _result([0.0, MAX_BARRIER, 0.5])
    assert edge.status == "ok" and edge.barrier == MAX_BARRIER
    bad = _result([0.0, 2.0e3, 0.1])
    assert bad.status == "failed" and math.isnan(bad.barrier)
    assert bad.reason == "non-physical barrier 2000 eV (> 10 eV)"
    assert bad.to_row("s0", "test")["status"] == "failed"


def test_diverged_energies_are_failed():
    for energies in ([0.0, math.nan, 0.1], [0.0, 0.4, math.inf]):
        bad = _result(energies)
        assert bad.status == "failed" and math.isnan(bad.barrier)
        assert bad.reason == "non-finite replica energies"
