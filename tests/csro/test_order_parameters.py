"""CSRO order parameters and g(r) against independent references.

References: ASE ``neighbor_list`` and a numpy brute-force loop over periodic images for the pair
counts; ASE ``get_rdf`` for g(r); analytic values of the ideal BCC lattice and of the fully
ordered B2 (CsCl) structure; the Warren-Cowley sum rules.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.geometry.rdf import get_rdf
from ase.neighborlist import neighbor_list

from vmeb.csro.order_parameters import (
    bcc_shells,
    counts_from_types,
    pair_counts,
    radial_distribution,
    random_reference,
    shell_pairs,
    species_types,
)
from vmeb.errors import VmebError
from vmeb.structure.build import bcc_supercell
from vmeb.structure.io import read_structure
from vmeb.testing import equiatomic_alloy

A = 3.24  # Å, lattice constant used throughout (about equiatomic TaNbMo)
SPECIES = ("Ta", "Nb", "Mo")
#: Coordination numbers of the first eight BCC shells (textbook values).
BCC_Z = [8, 6, 12, 24, 8, 6, 24, 24]
#: Squared radii of the first eight BCC shells in units of (a/2)^2.
BCC_R2 = [3, 4, 8, 11, 12, 16, 19, 20]


def counts_by_ase(atoms: Atoms, edges: np.ndarray, species) -> np.ndarray:
    i, j, d = neighbor_list("ijd", atoms, float(edges[-1]))
    shell = np.searchsorted(edges, d, side="right") - 1
    types = species_types(atoms, species)
    out = np.zeros((len(edges) - 1, len(species), len(species)), dtype=int)
    np.add.at(out, (shell, types[i], types[j]), 1)
    return out


def counts_by_brute_force(atoms: Atoms, edges: np.ndarray, species) -> np.ndarray:
    """Every atom pair through every periodic image within enough cell repeats."""
    cell = atoms.cell.array
    reps = int(np.ceil(edges[-1] / np.min(np.linalg.norm(cell, axis=1)))) + 1
    types = species_types(atoms, species)
    out = np.zeros((len(edges) - 1, len(species), len(species)), dtype=int)
    pos = atoms.positions
    for shift in itertools.product(range(-reps, reps + 1), repeat=3):
        vec = pos[None, :, :] + np.array(shift) @ cell - pos[:, None, :]
        dist = np.linalg.norm(vec, axis=2)
        ii, jj = np.nonzero((dist > 1e-8) & (dist < edges[-1]))
        shell = np.searchsorted(edges, dist[ii, jj], side="right") - 1
        np.add.at(out, (shell, types[ii], types[jj]), 1)
    return out


def test_bcc_shells_radii_and_coordination():
    shells = bcc_shells(A, 8)
    np.testing.assert_allclose(shells.distances, 0.5 * A * np.sqrt(BCC_R2), rtol=1e-12)
    np.testing.assert_array_equal(shells.coordination, BCC_Z)
    # windows midway between shells
    np.testing.assert_allclose(
        shells.edges[1:-1], 0.5 * (shells.distances[1:] + shells.distances[:-1])
    )
    # the same shells seen by ASE around one site of a perfect crystal
    atoms = bulk("Mo", "bcc", a=A, cubic=True).repeat(6)
    i = neighbor_list("i", atoms, float(shells.edges[-1]))
    d = neighbor_list("d", atoms, float(shells.edges[-1]))[i == 0]
    radii, z = np.unique(np.round(d, 6), return_counts=True)
    np.testing.assert_allclose(radii, shells.distances, atol=1e-6)
    np.testing.assert_array_equal(z, BCC_Z)


@pytest.mark.parametrize(
    ("cells", "n_shells", "jitter"),
    [(3, 4, 0.08), (2, 6, 0.05), (1, 6, 0.0)],
    ids=["54-atoms", "16-atoms-wrapping", "2-atoms-wrapping"],
)
def test_pair_counts_match_independent_neighbour_counts(cells, n_shells, jitter):
    atoms = equiatomic_alloy(cells, A, seed=cells, rattle=jitter)
    if cells == 1:
        atoms.set_chemical_symbols(["Ta", "Mo"])
    species = SPECIES
    counts = pair_counts(atoms, n_shells=n_shells, a=A, species=species)
    edges = bcc_shells(A, n_shells).edges
    np.testing.assert_array_equal(counts.counts, counts_by_ase(atoms, edges, species))
    np.testing.assert_array_equal(counts.counts, counts_by_brute_force(atoms, edges, species))
    # on the ideal lattice every site sees the full coordination of every shell, also where
    # the shell wraps through periodic images
    ideal = atoms.copy()
    ideal.positions = bcc_supercell({"Mo": len(atoms)}, cells, A, np.random.default_rng()).positions
    ideal_counts = pair_counts(ideal, n_shells=n_shells, a=A, species=species)
    np.testing.assert_array_equal(ideal_counts.counts, counts_by_brute_force(ideal, edges, species))
    np.testing.assert_array_equal(
        ideal_counts.counts.sum(axis=(1, 2)), len(atoms) * ideal_counts.coordination
    )
    np.testing.assert_array_equal(counts.counts, counts.counts.transpose(0, 2, 1))


def test_counts_from_types_equals_pair_counts_after_a_swap():
    atoms = equiatomic_alloy(3, A, seed=7, rattle=0.05)
    pairs = shell_pairs(atoms, bcc_shells(A, 3))
    types = species_types(atoms, SPECIES)
    i, j = np.nonzero(types == 0)[0][0], np.nonzero(types == 2)[0][0]
    types[[i, j]] = types[[j, i]]
    swapped = atoms.copy()
    swapped.set_chemical_symbols(np.array(SPECIES)[types].tolist())
    direct = pair_counts(swapped, 3, a=A, species=SPECIES).counts
    np.testing.assert_array_equal(counts_from_types(types, pairs, SPECIES).counts, direct)


def test_b2_order_analytic_values():
    """CsCl order: shells joining the two sublattices (1st, 4th: half-integer vectors) are all
    unlike pairs, shells within a sublattice (2nd, 3rd: integer vectors) all alike."""
    atoms = bulk("NbMo", "cesiumchloride", a=A, cubic=True).repeat(4)  # 128 atoms
    counts = pair_counts(atoms, n_shells=4, species=("Nb", "Mo"))
    alpha = counts.warren_cowley()
    n = len(atoms)
    np.testing.assert_allclose(alpha[0], [[1.0, -1.0], [-1.0, 1.0]], atol=1e-12)
    for k in (1, 2):
        np.testing.assert_allclose(alpha[k], [[-1.0, 1.0], [1.0, -1.0]], atol=1e-12)
    np.testing.assert_allclose(alpha[3], alpha[0], atol=1e-12)
    # delta_12^1 = N c1 z1 - N c1 z1 c2 = N/2 * 8 - N * 8 / 4
    np.testing.assert_allclose(counts.delta()[0, 0, 1], n / 2 * 8 - n * 8 / 4)
    np.testing.assert_allclose(counts.delta()[0, 0, 0], -n * 8 / 4)


def test_warren_cowley_identities():
    atoms = equiatomic_alloy(4, A, seed=3)
    species = ("Ta", "Nb", "Mo")
    # an unequal composition
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[:20] = "Mo"
    atoms.set_chemical_symbols(symbols.tolist())
    counts = pair_counts(atoms, 4, a=A, species=species)
    alpha, c, n = counts.warren_cowley(), counts.composition, counts.n_atoms
    z = counts.coordination
    # sum_b c_b alpha_ab = 0 for every shell and centre species
    np.testing.assert_allclose((alpha * c[None, None, :]).sum(axis=2), 0.0, atol=1e-12)
    # alpha_ab = 1 - N_ab / (N z c_a c_b) on a perfect lattice: symmetric like N_ab
    np.testing.assert_allclose(alpha, alpha.transpose(0, 2, 1), atol=1e-12)
    # on a perfect lattice delta = -N c_a z c_b alpha
    expected = -n * c[None, :, None] * z[:, None, None] * c[None, None, :] * alpha
    np.testing.assert_allclose(counts.delta(), expected, atol=1e-9)
    np.testing.assert_allclose(counts.delta().sum(axis=(1, 2)), 0.0, atol=1e-9)


def test_random_samples_are_zero_within_statistical_error():
    """Independent random samples scatter around zero by the computed sampling spread."""
    reference = random_reference(
        equiatomic_alloy(5, A, seed=100), n_shells=2, n_samples=300, seed=1
    )
    # the spread is a real, non-zero sampling error of a 250-atom sample
    assert np.all(reference.alpha_std > 0.02) and np.all(reference.alpha_std < 0.15)
    alphas, deltas = [], []
    for seed in range(30):
        counts = pair_counts(equiatomic_alloy(5, A, seed=seed), 2, a=A, species=SPECIES)
        alphas.append(counts.warren_cowley())
        deltas.append(counts.delta())
    alphas, deltas = np.array(alphas), np.array(deltas)
    # each sample: every |alpha| and |delta| within 4 sigma (216 values: a 3-sigma bound
    # would be crossed by chance ~45% of the time)
    assert np.all(np.abs(alphas) < 4 * reference.alpha_std)
    assert np.all(np.abs(deltas) < 4 * reference.delta_std)
    # the mean over 30 samples is zero within 3 standard errors, up to the finite-size bias
    # of N0 (with replacement) against a permutation (without): |bias| <= z_k c_a (1 - c_a)
    stderr = reference.alpha_std / np.sqrt(len(alphas))
    assert np.all(np.abs(alphas.mean(axis=0)) < 3 * stderr + 8 / 250)
    # the permutation mean itself matches the exact expectation of a random permutation
    counts = pair_counts(equiatomic_alloy(5, A, seed=100), 2, a=A, species=SPECIES)
    n, na, z = counts.n_atoms, counts.n_per_species, counts.coordination
    exact = z[:, None, None] * na[None, :, None] * (na[None, None, :] - np.eye(3)) / (n - 1)
    bias = exact - counts.random_counts()
    assert np.all(np.abs(reference.delta_mean - bias) < 4 * reference.delta_std / np.sqrt(300))


def test_radial_distribution_matches_ase_and_peaks_at_bcc_shells():
    atoms = equiatomic_alloy(6, A, seed=11, rattle=0.03)  # 432 atoms, L = 19.4 Å > 2 r_max
    r, g = radial_distribution(atoms, r_max=7.5, bin_width=0.05)
    g_ase, r_ase = get_rdf(atoms, 7.5, 150)
    np.testing.assert_allclose(r, r_ase, atol=1e-12)
    np.testing.assert_allclose(g, g_ase, rtol=1e-9, atol=1e-9)
    # partial g_ab(r) as LAMMPS compute rdf and ASE define it, and g = sum c_a c_b g_ab
    c = {s: np.mean(np.array(atoms.get_chemical_symbols()) == s) for s in SPECIES}
    total = np.zeros_like(g)
    for a_, b_ in itertools.product(SPECIES, repeat=2):
        _, g_ab = radial_distribution(atoms, 7.5, 0.05, pair=(a_, b_))
        total += c[a_] * c[b_] * g_ab
    np.testing.assert_allclose(total, g, atol=1e-9)
    _, g_ta_mo = radial_distribution(atoms, 7.5, 0.05, pair=("Ta", "Mo"))
    g_ase_ta_mo = get_rdf(atoms, 7.5, 150, elements=("Ta", "Mo"), no_dists=True)
    np.testing.assert_allclose(g_ta_mo, g_ase_ta_mo, rtol=1e-9, atol=1e-9)
    # peaks: local maxima above 1 sit at the ideal shell radii (within one bin)
    shells = bcc_shells(A, 7)
    for k, radius in enumerate(shells.distances):
        window = (r > shells.edges[k]) & (r < shells.edges[k + 1])
        assert abs(r[window][np.argmax(g[window])] - radius) <= 0.05, k
    # g(r) vanishes between the first two shells and below the first
    assert np.all(g[r < 2.4] == 0.0)


def test_radial_distribution_beyond_half_box():
    """r_max larger than half the box: periodic images are counted (ASE refuses this cell)."""
    atoms = bulk("Mo", "bcc", a=A, cubic=True).repeat(2)
    r, g = radial_distribution(atoms, r_max=6.0, bin_width=0.1)
    dr = 0.1
    rho = len(atoms) / atoms.get_volume()
    # integral of rho g 4 pi r^2 dr over each shell window = coordination number
    shells = bcc_shells(A, 5)
    shell_volume = 4 / 3 * np.pi * ((r + dr / 2) ** 3 - (r - dr / 2) ** 3)
    for k in range(5):
        window = (r > shells.edges[k]) & (r < shells.edges[k + 1])
        assert np.sum(rho * g[window] * shell_volume[window]) == pytest.approx(BCC_Z[k])


def test_bad_input_raises_one_line_error():
    atoms = equiatomic_alloy(2, A, seed=0)
    with pytest.raises(VmebError, match="species"):
        pair_counts(atoms, 2, species=("Ta", "Nb"))
    with pytest.raises(VmebError, match="shells"):
        bcc_shells(A, 0)
    with pytest.raises(VmebError, match="not present"):
        radial_distribution(atoms, 5.0, 0.1, pair=("Ta", "W"))


def test_analyse_cli_tables(tmp_path):
    import pandas as pd

    from vmeb.cli.main import main

    random = equiatomic_alloy(3, A, seed=4)
    random.info.update(md_step=0, potential_energy=-400.0)
    ordered = bulk("NbMo", "cesiumchloride", a=A, cubic=True).repeat(3)
    ordered.set_chemical_symbols(
        [
            {"Nb": "Ta", "Mo": "Mo"}[s] if i < 10 else s
            for i, s in enumerate(ordered.get_chemical_symbols())
        ]
    )
    ordered.info.update(md_step=1000, potential_energy=-410.0)
    paths = []
    for name, atoms in (("r0", random), ("o1000", ordered)):
        paths.append(tmp_path / f"{name}.extxyz")
        atoms.write(paths[-1])
    out = tmp_path / "analysis"
    assert main(["analyse", *map(str, paths), "--random-samples", "20", "-o", str(out)]) == 0
    table = pd.read_csv(out / "sro.csv")
    for name, atoms in (("r0", random), ("o1000", ordered)):
        counts = pair_counts(atoms, 2, species=SPECIES)
        rows = table[table["structure"] == name]
        for k in (1, 2):
            for ia, sa in enumerate(SPECIES):
                for ib, sb in enumerate(SPECIES):
                    row = rows[
                        (rows["shell"] == k) & (rows["centre"] == sa) & (rows["neighbour"] == sb)
                    ]
                    assert row["count"].item() == counts.counts[k - 1, ia, ib]
                    assert row["delta"].item() == pytest.approx(counts.delta()[k - 1, ia, ib])
        assert set(rows["md_step"]) == {atoms.info["md_step"]}
    gr = pd.read_csv(out / "gr.csv")
    stored = read_structure(paths[0])  # distances on bin edges: compare the stored positions
    np.testing.assert_allclose(gr["g_r0"], radial_distribution(stored, 8.0, 0.02)[1])
    figures = {p.name for p in (out / "figures").iterdir()}
    assert figures == {"gr_r0.png", "gr_o1000.png", "warren_cowley.png", "order_vs_step.png"}
    assert main(["analyse", str(paths[0]), "-o", str(out)]) == 2
    assert main(["analyse", str(tmp_path / "missing.extxyz"), "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_analyse_cli_with_model_spectra(tmp_path):
    """Barrier spectra per CSRO state: the CLI table equals a direct prediction per structure."""
    import pandas as pd

    from vmeb.cli.main import main
    from vmeb.data.dataset import DatasetHeader, append_hops, create_dataset, open_dataset
    from vmeb.data.dataset import write_structure as store
    from vmeb.learn.checkpoints import load_checkpoint
    from vmeb.learn.settings import TrainConfig
    from vmeb.learn.training import train_model
    from vmeb.spectra.predict import predict_barriers
    from vmeb.structure.neighbours import first_neighbours

    # a linear model trained on a closed-form barrier: 0.5 + 0.1 * (Ta first neighbours of the
    # moving atom)
    data = tmp_path / "data"
    create_dataset(data, DatasetHeader(species=SPECIES, lattice={"type": "bcc", "a": A}))
    for n, seed in enumerate((21, 22)):
        atoms = equiatomic_alloy(3, A, seed=seed)
        store(data, f"s{n}", atoms, group=f"s{n}")
        neighbours, _ = first_neighbours(atoms, np.arange(len(atoms)))
        is_ta = np.array(atoms.get_chemical_symbols()) == "Ta"
        rows = [
            {
                "sample_id": f"s{n}", "vacancy_index": i, "moving_index": int(j),
                "moving_species": atoms.get_chemical_symbols()[j],
                "barrier": 0.5 + 0.1 * is_ta[neighbours[j]].sum(), "converged": True,
                "status": "ok", "source": "closed-form",
            }
            for i in range(len(atoms))
            for j in neighbours[i]
        ]  # fmt: skip
        append_hops(data, rows)
    config = TrainConfig(kind="lr", epochs=1, seed=0, val_per_group=20)
    model = train_model([open_dataset(data)], config, tmp_path / "model", progress=False).model_path
    paths = []
    for step, seed in ((0, 31), (500, 32)):
        atoms = equiatomic_alloy(3, A, seed=seed)
        atoms.info.update(md_step=step, group=f"TaNbMo_md{step}")
        paths.append(tmp_path / f"TaNbMo_md{step}.extxyz")
        atoms.write(paths[-1])
    out = tmp_path / "spectra"
    argv = [
        "analyse",
        *map(str, paths),
        "--model",
        str(model),
        "--random-sites",
        "5",
        "-o",
        str(out),
    ]
    assert main([*argv, "--random-samples", "10", "--seed", "3"]) == 0
    barriers = pd.read_csv(out / "barriers.csv")
    trained = load_checkpoint(model)
    rng = np.random.default_rng(3)
    for path in paths:
        atoms = read_structure(path)
        sites = sorted(rng.choice(len(atoms), size=5, replace=False).tolist())
        direct = predict_barriers(trained, atoms, sites, progress=False)
        rows = barriers[barriers["structure"] == path.name.split(".")[0]]
        assert set(rows["md_step"]) == {atoms.info["md_step"]}
        np.testing.assert_array_equal(rows["site"], direct["site"])
        np.testing.assert_allclose(rows["barrier"], direct["barrier"], rtol=1e-6)
    stats = pd.read_csv(out / "barrier_statistics.csv")
    ta = barriers[(barriers["md_step"] == 500) & (barriers["moving_species"] == "Ta")]["barrier"]
    row = stats[(stats["md_step"] == 500) & (stats["moving_species"] == "Ta")]
    assert row["mean"].item() == pytest.approx(np.mean(ta))
    assert row["std"].item() == pytest.approx(np.std(ta, ddof=1))
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"barrier_statistics.png", "barrier_distributions.png"} <= figures

    # structures not written by `vmeb order` (no step in info): the structure is the state
    plain = tmp_path / "plain.extxyz"
    equiatomic_alloy(3, A, seed=33).write(plain)
    out_plain = tmp_path / "spectra_plain"
    argv = ["analyse", str(plain), "--model", str(model), "--random-sites", "5"]
    assert main([*argv, "-o", str(out_plain), "--random-samples", "10"]) == 0
    table = pd.read_csv(out_plain / "barriers.csv")
    assert len(table) == 40 and set(table["structure"]) == {"plain"}
    stats = pd.read_csv(out_plain / "barrier_statistics.csv")
    assert stats["count"].sum() == 40
    for symbol, rows in table.groupby("moving_species"):
        mean = stats.loc[stats["moving_species"] == symbol, "mean"].item()
        assert mean == pytest.approx(rows["barrier"].mean())


def test_report_refuses_a_lattice_constant_far_from_the_structure(tmp_path):
    """``vmeb analyse --lattice-constant 5`` on an a = 3.3 Å sample used to write a report whose
    shells held the wrong neighbours; a value within a few per cent is still taken as given."""
    from vmeb.csro.report import OrderReportConfig, write_order_report

    atoms = equiatomic_alloy(3, 3.3, seed=1)
    species = ["Ta", "Nb", "Mo"]
    with pytest.raises(VmebError, match=r"s1: lattice constant 5 Å given, but .* gives 3.3000 Å"):
        write_order_report({"s1": atoms}, species, tmp_path, OrderReportConfig(lattice_constant=5))
    assert not (tmp_path / "sro.csv").exists()
    config = OrderReportConfig(lattice_constant=3.31, random_samples=2)
    table = write_order_report({"s1": atoms}, species, tmp_path, config)
    assert len(table) > 0
