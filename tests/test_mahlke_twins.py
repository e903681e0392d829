"""Every Mahlke kernel equals its plainly written numpy twin (tests/twins/mahlke_twins.py),
on real spectra and on the edge cases: NaN holes, flat, very red, truncated (VIS-only,
NIR-only), noisy, all-NaN, with and without albedo, float32 input."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest

from firmware import mahlke
from firmware.kernels import mahlke_bins, mcfa
from firmware.kernels import mixnorm as MX
from firmware.kernels.mahlke_tree import tree_batch
from firmware.kernels.mcfa import score
from firmware.mahlke import MAX_GAP_UM, MIN_BINS
from firmware.mahlke_model import GRID_UM, HALF_WIDTH_UM, N_BINS, load_mahlke_model
from firmware.mahlke_tree import load_tree
from tests.spectra_fixtures import labels, shared_axis_batch, spectrum
from tests.twins import mahlke_twins as twin

M = load_mahlke_model()


def _real_files(step=23):
    """Every 23rd developer file: DeMeo, Binzel (VIS-NIR) and Marsset (mostly NIR only)."""
    return [r["file"] for r in labels()[::step]]


@lru_cache(maxsize=1)
def _edge_batch():
    """Real spectra on one axis (float32) + holes, flat, very red, truncated, noisy, all-NaN,
    plus VIS-only and NIR-only cuts and a hole wider than MAX_GAP_UM."""
    axis, x = shared_axis_batch(n=40, n_bands=160)
    vis = x[0].copy()
    vis[axis > 0.93] = np.nan
    nir = x[1].copy()
    nir[axis < 0.82] = np.nan
    wide_hole = x[2].copy()
    wide_hole[(axis > 1.1) & (axis < 1.6)] = np.nan
    negative = x[3].copy()
    negative[5:9] = -1.0  # the MIT "no data" marker
    return axis, np.vstack([x, vis, nir, wide_hole, negative]).astype(np.float32)


def _bins(axis, x):
    return mahlke_bins.bin_spectra(axis, x, GRID_UM, HALF_WIDTH_UM, MAX_GAP_UM)


def test_bin_spectra_equals_twin_on_real_spectra():
    for f in _real_files():
        s = spectrum(f)
        got = _bins(s.wavelength_um, s.reflectance[None])
        want = twin.resample_bins(
            s.wavelength_um, s.reflectance[None], GRID_UM, HALF_WIDTH_UM, MAX_GAP_UM
        )
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True, err_msg=f)


@pytest.mark.parametrize("max_gap_um", [0.0, 0.1, MAX_GAP_UM, 5.0])
def test_bin_spectra_equals_twin_on_edge_cases(max_gap_um):
    axis, x = _edge_batch()
    got = mahlke_bins.bin_spectra(axis, x, GRID_UM, HALF_WIDTH_UM, max_gap_um)
    want = twin.resample_bins(axis, x, GRID_UM, HALF_WIDTH_UM, max_gap_um)
    np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)  # float32 input
    assert np.all(np.isnan(got[-5]))  # the all-NaN row of the fixture (before the cuts)


def test_bin_spectra_leaves_wide_holes_missing_and_never_extrapolates():
    axis = np.array([0.50, 0.60, 1.40, 1.50])
    x = np.array([[1.0, 1.1, 1.5, 1.6]])
    got = mahlke_bins.bin_spectra(axis, x, GRID_UM, HALF_WIDTH_UM, 0.25)[0]
    assert np.isnan(got[GRID_UM < 0.5]).all() and np.isnan(got[GRID_UM > 1.5]).all()
    assert np.isnan(got[(GRID_UM > 0.65) & (GRID_UM < 1.35)]).all()  # 0.8 µm hole > 0.25
    np.testing.assert_allclose(got[GRID_UM == 0.55], 1.05)  # 0.1 µm hole bridged linearly


def _mixnorm_pair(binned, min_bins=MIN_BINS):
    got = MX.normalise(binned, M, 5, min_bins)
    per_row = MX.normalise(binned, M, 5, min_bins, max_sets=0)
    for a, b in zip(got, per_row, strict=True):  # tiles of one observed set = row by row
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    want = twin.mixnorm(binned, M.reference_reflectance, M.reference_alpha, 5, min_bins)
    return got, want


def test_mixnorm_equals_twin_on_real_spectra_and_edge_cases():
    axis, x = _edge_batch()
    rows = [_bins(axis, x)]
    for f in _real_files():
        s = spectrum(f)
        rows.append(_bins(s.wavelength_um, s.reflectance[None]))
    binned = np.vstack(rows)
    (x_k, a_k, nn_k, status), (x_t, a_t, nn_t) = _mixnorm_pair(binned)
    np.testing.assert_array_equal(nn_k, nn_t)
    np.testing.assert_allclose(a_k, a_t, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(x_k, x_t, rtol=1e-10, atol=1e-12, equal_nan=True)
    assert (status == MX.OK).sum() == len(binned) - 1  # only the all-NaN row is refused
    assert status[len(x) - 5] == MX.TOO_FEW_BINS


def test_mixnorm_refuses_too_few_bins_and_uncovered_bins():
    row = np.full((2, N_BINS), np.nan)
    row[0, 10 : 10 + MIN_BINS - 1] = 1.0  # one bin short
    row[1, [0, 52]] = 1.0  # only references observed at both ends qualify: fine
    (_x, _a, _nn, status), _ = _mixnorm_pair(row, min_bins=MIN_BINS)
    assert status[0] == MX.TOO_FEW_BINS
    (_x, _a, _nn, status), _ = _mixnorm_pair(row[1:], min_bins=2)
    assert status[0] == MX.OK
    none = np.full((1, N_BINS), np.nan)
    none[0, :] = 1.0
    masks = np.zeros(M.reference_reflectance.shape[0], np.uint64)  # nothing covers anything
    out = MX.normalise(none, M, 5, 1, ref_mask=masks)
    assert out[3][0] == MX.NO_REFERENCE and np.isnan(out[0]).all()


def test_mixnorm_gathered_sets_agree_with_rows_alone_when_references_are_excluded():
    """`normalise` scores a set with ≥ GATHER_MIN_ROWS rows against its gathered covering
    references and a rare row alone: the paths agree, also with references excluded (as in
    leave-one-asteroid-out) and when no reference covers a set."""
    axis, x = _edge_batch()
    binned = np.vstack([_bins(axis, x)] * MX.GATHER_MIN_ROWS)  # every set is gathered
    masks = M.reference_masks.copy()
    masks[::2] = 0  # exclude every even-numbered reference
    got = MX.normalise(binned, M, 5, MIN_BINS, ref_mask=masks)
    alone = MX.normalise(binned, M, 5, MIN_BINS, ref_mask=masks, max_sets=0)
    np.testing.assert_array_equal(got[2], alone[2])  # the same neighbours
    np.testing.assert_array_equal(got[3], alone[3])
    for a, b in zip(got[:2], alone[:2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True)
    ok = got[3] == MX.OK
    assert ok.sum() == len(binned) - MX.GATHER_MIN_ROWS  # all but the all-NaN rows
    assert np.all(got[2][ok] % 2 == 1)  # no excluded reference is used
    flat = np.ones((3, N_BINS))
    out = MX.normalise(flat, M, 5, 1, ref_mask=np.zeros_like(masks))
    assert np.all(out[3] == MX.NO_REFERENCE) and np.isnan(out[0]).all()


@pytest.mark.parametrize("cut_um", [None, (0.0, 0.82), (0.95, 3.0)])
def test_mixnorm_pruned_search_finds_what_scoring_every_reference_finds(monkeypatch, cut_um):
    """A large set prunes its references by bounds from a basis (`mixnorm_knn.nearest_pruned`):
    bit for bit the result of scoring every covering reference — complete, NIR-only and
    VIS-only spectra, with a third of the references excluded."""
    axis, x = _edge_batch()
    rng = np.random.default_rng(11)
    rows = np.vstack([x[:40] * rng.uniform(0.8, 1.2, (40, 1)).astype(np.float32)] * 2)
    if cut_um is not None:
        rows[:, (axis >= cut_um[0]) & (axis < cut_um[1])] = np.nan
    binned = _bins(axis, rows)
    monkeypatch.setattr(MX, "PRUNE_MIN_ROWS", 8)  # the sets of this batch are pruned
    _sets, rows_per_set = np.unique(np.isfinite(binned), axis=0, return_counts=True)
    assert rows_per_set.max() >= MX.PRUNE_MIN_ROWS
    masks = M.reference_masks.copy()
    masks[::3] = 0
    pruned = MX.normalise(binned, M, 5, MIN_BINS, ref_mask=masks)
    monkeypatch.setattr(MX, "PRUNE_MIN_ROWS", 10**9)
    every = MX.normalise(binned, M, 5, MIN_BINS, ref_mask=masks)
    assert (pruned[3] == MX.OK).all()
    for a, b in zip(pruned, every, strict=True):
        np.testing.assert_array_equal(a, b)
    kept = np.where((masks != 0)[:, None], M.reference_reflectance, np.nan)  # excluded: NaN
    _x, _alpha, nn_twin = twin.mixnorm(binned, kept, M.reference_alpha, 5, MIN_BINS)
    np.testing.assert_array_equal(pruned[2], nn_twin)


def _one_set_bases(cut_um):
    """Real, noisy and flat rows (optionally cut to one range), their commonest observed set
    gathered and given a basis: (rows on that set, obs, gathered block (n_obs, n_cov),
    inv_ref, u, coords, residual)."""
    from firmware.kernels import mixnorm_knn as KN
    from firmware.kernels.mcfa import observed_sets

    axis, x = _edge_batch()
    rng = np.random.default_rng(12)
    rows = np.vstack([x[:40], x[:40] * (1 + rng.normal(0, 0.2, x[:40].shape)),
                      np.ones((1, x.shape[1]))]).astype(np.float32)  # fmt: skip
    if cut_um is not None:
        rows[:, (axis >= cut_um[0]) & (axis < cut_um[1])] = np.nan
    binned = _bins(axis, np.abs(rows))
    sets, _ = observed_sets(binned)
    sets = sets[:1]  # the commonest set
    g, g_start, cover, cover_start, inv_ref = MX.gather_sets(sets, M.reference_reflectance,
                                                              M.reference_masks)  # fmt: skip
    u, _, coords, residual = KN.set_bases(g, g_start, cover_start, inv_ref, sets,
                                          np.ones(1, bool), M.reference_basis)  # fmt: skip
    obs = np.flatnonzero(sets[0])
    on_set = binned[np.isfinite(binned[:, obs]).all(axis=1)]
    return on_set, obs, g.reshape(obs.size, cover.size), inv_ref, u, coords, residual


@pytest.mark.parametrize("cut_um", [None, (0.0, 0.82)])
def test_set_bases_equal_twin(cut_um):
    """`mixnorm_knn.set_bases` (Gram–Schmidt in numba) equals numpy's QR of the leading
    shapes on the set's bins, the references' coordinates and their residual norms."""
    _rows, obs, block, inv_ref, u, coords, residual = _one_set_bases(cut_um)
    k = u.size // obs.size
    basis_t, coords_t, residual_t = twin.set_basis(M.reference_basis, obs, block * inv_ref)
    np.testing.assert_allclose(u.reshape(obs.size, k), basis_t, atol=1e-12)
    np.testing.assert_allclose(coords[: k * block.shape[1]].reshape(k, -1), coords_t, atol=1e-12)
    np.testing.assert_allclose(residual, residual_t, atol=1e-12)


@pytest.mark.parametrize("cut_um", [None, (0.0, 0.82)])
def test_mixnorm_pruning_bounds_never_exceed_the_distance(cut_um):
    """The lower bounds of `mixnorm_knn.project` + `lower_bounds` are ≤ the exact distance
    of every covering reference, for real, noisy and flat rows (what makes pruning exact)."""
    from firmware.kernels import mixnorm_knn as KN

    rows, obs, block, inv_ref, u, coords, residual = _one_set_bases(cut_um)
    n_cov = block.shape[1]
    approx, a = np.empty(n_cov), np.empty(KN.K_BASIS)
    for row in rows:
        sv = row[obs]
        inv_norm = 1.0 / np.sqrt(np.sum(sv * sv))
        rho = KN.project(sv, obs.size, inv_norm, u, coords, n_cov, approx, a)
        KN.lower_bounds(approx, rho, residual, n_cov)
        exact = 2.0 - 2.0 * (sv @ block) * inv_norm * inv_ref
        assert np.all(approx <= exact), f"bound above the distance by {np.max(approx - exact)}"
    assert len(rows) >= 40


@lru_cache(maxsize=1)
def _feature_cases():
    """54-feature rows: published samples (with/without pV, VIS-NIR and NIR-only) plus
    edge cases built from them."""
    from tests.test_mahlke_published import published

    pub = published()["features"][::29].copy()
    base = pub[0]
    cases = [pub]
    flat = np.zeros(54)
    flat[53] = np.nan
    red = base.copy()
    red[:53] = np.linspace(-1.0, 1.5, 53)  # extremely red
    holes = base.copy()
    holes[20:30] = np.nan
    vis = base.copy()
    vis[20:53] = np.nan
    nir = base.copy()
    nir[:14] = np.nan
    five = np.full(54, np.nan)
    five[30:35] = base[30:35]
    noisy = base + np.random.default_rng(4).normal(0, 0.05, 54)
    pv_only = np.full(54, np.nan)
    pv_only[53] = -0.7
    empty = np.full(54, np.nan)
    cases.append(np.vstack([flat, red, holes, vis, nir, five, noisy, pv_only, empty]))
    return np.vstack(cases)


@lru_cache(maxsize=1)
def _scored():
    x = _feature_cases()
    return x, score(x, M)


def test_responsibilities_equal_twin():
    x, (tau, _z, loglik) = _scored()
    tau_t, loglik_t = twin.responsibilities(x, M)
    np.testing.assert_allclose(tau, tau_t, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(loglik, loglik_t, rtol=1e-10, atol=1e-8, equal_nan=True)
    assert np.isnan(tau[-1]).all() and np.isfinite(tau[:-1]).all()  # only the empty row is NaN


def test_per_row_constants_equal_the_precomputed_ones():
    """Rows of rare observed sets get their constants computed in the kernel: same result."""
    x, (tau, z, loglik) = _scored()
    tau1, z1, loglik1 = score(x, M, max_sets=0)
    np.testing.assert_allclose(tau1, tau, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(z1, z, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(loglik1, loglik, rtol=1e-12, equal_nan=True)


def test_rows_share_the_batch_scratch_without_trace():
    """`mcfa_batch` reuses its scratch for CHUNK rows in turn: scoring the rows in reverse
    order (other neighbours in each chunk, a partial last chunk elsewhere) changes nothing."""
    x, scored = _scored()
    assert len(x) > mcfa.CHUNK
    for got, want in zip(score(x[::-1], M), scored, strict=True):
        np.testing.assert_array_equal(got[::-1], want)


def test_score_refuses_a_model_with_another_number_of_factors():
    x, _ = _scored()
    with pytest.raises(ValueError, match="4 latent factors"):
        score(x, dataclasses.replace(M, W=M.W[:, :3]))


def test_latent_scores_equal_twin():
    x, (tau, z, _) = _scored()
    z_t = twin.latent_scores(x, tau, M)
    np.testing.assert_allclose(z, z_t, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("variant", ["mahlke2022", "classy"])
def test_tree_equals_twin(variant):
    from tests.test_mahlke_published import published

    pub = published()
    x, (tau, z, _) = _scored()
    rng = np.random.default_rng(7)
    # published inputs, kernel-scored edge cases, and extreme albedos / latent scores
    tau_all = np.vstack([pub["tau"][::23], tau[:-1], rng.dirichlet(np.full(50, 0.2), 40)])
    z_all = np.vstack([pub["z"][::23], z[:-1], rng.normal(0, 1.5, (40, 4))])
    pv = np.concatenate(
        [pub["log_pv"][::23], x[:-1, 53], rng.choice([np.nan, -2.5, -1.0, -0.5, 0.0], 40)]
    )
    t = load_tree(variant)
    got = tree_batch(tau_all, z_all, pv, len(t.classes), *t.kernel_args())
    want = np.array([[twin.tree(a, b, c, M.tree, variant)[k] for k in t.classes]
                     for a, b, c in zip(tau_all, z_all, pv, strict=True)])  # fmt: skip
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_float32_spectra_give_the_float64_result():
    axis, x = _edge_batch()
    b32 = _bins(axis, x)
    b64 = _bins(axis, x.astype(np.float64))
    np.testing.assert_array_equal(b32, b64)  # the float32 values, read exactly


@pytest.mark.parametrize("albedo", [None, 0.08])
def test_whole_array_numpy_pipeline_equals_the_kernels(albedo):
    """The vectorised numpy baseline of the benchmarks (full covariances, BLAS) is a second,
    independent twin of the whole pipeline on complete survey-like spectra."""
    from benchmarks.data import make_inputs
    from tests.twins.mahlke_numpy import NumpyMahlke

    axis, x, _ = make_inputs(300)
    cls, probs, tau, z = NumpyMahlke(axis).classify(x, albedo)
    got = mahlke.classify_batch(axis, x, albedo=albedo)
    np.testing.assert_allclose(got.cluster_probabilities, tau, atol=1e-9)
    np.testing.assert_allclose(got.z, z, atol=1e-9)
    np.testing.assert_allclose(got.probabilities, probs, atol=1e-9)
    np.testing.assert_array_equal(got.class_index, cls)


def test_plan_tiles_covers_every_row_once_within_one_set():
    set_id = np.array([2, -1, 0, 2, 2, 0, -1, 1] + [0] * 17)
    tiles, tile_set = MX.plan_tiles(set_id)
    rows = tiles[tiles >= 0]
    assert sorted(rows.tolist()) == list(range(set_id.size))
    for t, s in zip(tiles, tile_set, strict=True):
        assert np.all(set_id[t[t >= 0]] == s) and (s >= 0 or (t >= 0).sum() == 1)
    assert MX.plan_tiles(np.zeros(0, np.int64))[0].shape == (0, MX.TILE)
