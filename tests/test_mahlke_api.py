"""`firmware.mahlke`: input checks, refusals, batch = single, dtype and thread invariance."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import mahlke
from firmware.errors import InputError
from firmware.mahlke_model import load_mahlke_model
from tests.spectra_fixtures import shared_axis_batch, spectrum

VESTA = "demeo2009/a000004.sp02.txt"


def _vesta():
    s = spectrum(VESTA)
    return s.wavelength_um, s.reflectance


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"albedo": 25.0}, "looks like a percentage: give 0.25"),
    ({"albedo": -0.1}, "not a geometric albedo"),
    ({"albedo": np.inf}, "not a geometric albedo"),
    ({"tree": "bus"}, "tree must be one of"),
    ({"references": np.ones(3, bool)}, "references must be a bool mask"),
])  # fmt: skip
def test_bad_options_raise_input_error_saying_what_to_do(kwargs, message):
    wl, r = _vesta()
    with pytest.raises(InputError, match=message):
        mahlke.classify_batch(wl, r[None], **kwargs)


@pytest.mark.parametrize(("wl", "refl", "message"), [
    (np.linspace(450, 2450, 10), np.ones((1, 10)), "looks like nm"),
    (np.array([0.5, np.nan, 0.7]), np.ones((1, 3)), "NaN or inf"),
    (np.array([0.5, 0.6, 0.6]), np.ones((1, 3)), "duplicate bands"),
    (np.linspace(0.5, 1, 4), np.ones((2, 5)), r"\(N spectra, B bands\)"),
])  # fmt: skip
def test_bad_arrays_raise_input_error(wl, refl, message):
    with pytest.raises(InputError, match=message):
        mahlke.classify_batch(wl, refl)


def test_single_spectrum_checks():
    wl, r = _vesta()
    with pytest.raises(InputError, match="1-D of equal length"):
        mahlke.classify(wl, r[:-1])
    with pytest.raises(InputError, match="error must have"):
        mahlke.classify(wl, r, r[:5])
    with pytest.raises(InputError, match="one number"):
        mahlke.classify(wl, r, albedo=[0.2, 0.3])
    with pytest.raises(InputError, match="one per spectrum"):
        mahlke.classify_batch(wl, np.vstack([r, r]), albedo=[0.2, 0.3, 0.4])


@pytest.mark.parametrize(("lo", "hi", "why"), [
    (2.5, 3.2, "fills 0"),  # beyond the grid
    (0.50, 0.58, "fills 4"),  # 4 bins: one short of the 4 latent factors + the level
])  # fmt: skip
def test_too_little_coverage_is_refused_with_the_reason(lo, hi, why):
    wl = np.linspace(lo, hi, 40)
    res = mahlke.classify(wl, 1.0 + 0.1 * wl, source="cut")
    assert res.cls is None and res.complex is None and why in res.reason
    d = res.to_dict()
    assert d["class"] is None and d["reason"] == res.reason and d["probabilities"] == {}
    json.dumps(d, allow_nan=False)


def test_five_bins_are_enough():
    wl = np.linspace(0.50, 0.60, 40)
    res = mahlke.classify(wl, 1.0 + 0.1 * wl)
    assert res.cls is not None and res.n_bins == 5


def test_unsorted_input_is_sorted_and_gives_the_same_result():
    wl, r = _vesta()
    order = np.random.default_rng(3).permutation(wl.size)
    a = mahlke.classify(wl, r).to_dict()
    b = mahlke.classify(wl[order], r[order]).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_batch_equals_one_by_one_and_float32_equals_float64():
    axis, x = shared_axis_batch(n=24)
    pv = np.where(np.arange(x.shape[0]) % 3 == 0, np.nan, 0.15)
    batch32 = mahlke.classify_batch(axis, x, albedo=pv)
    batch64 = mahlke.classify_batch(axis, x.astype(np.float64), albedo=pv)
    np.testing.assert_array_equal(batch32.class_index, batch64.class_index)
    np.testing.assert_allclose(
        batch32.probabilities, batch64.probabilities, atol=1e-12, equal_nan=True
    )
    for i in range(x.shape[0]):
        one = mahlke.classify(axis, x[i], albedo=None if np.isnan(pv[i]) else pv[i])
        assert one.cls == batch32.labels()[i]
        if one.cls is not None:
            np.testing.assert_allclose(
                list(one.probabilities.values()), batch32.probabilities[i], atol=1e-12
            )
    assert batch32.labels()[-1] is None  # the all-NaN edge case


def test_results_do_not_depend_on_the_thread_count():
    axis, x = shared_axis_batch(n=40)
    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = mahlke.classify_batch(axis, x, albedo=0.2)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = mahlke.classify_batch(axis, x, albedo=0.2)
    finally:
        numba.set_num_threads(previous)
    for name in ("probabilities", "cluster_probabilities", "z", "alpha", "log_likelihood"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name), err_msg=name)


def test_result_fields_and_json():
    wl, r = _vesta()
    res = mahlke.classify(wl, r, albedo=0.38, source="vesta")
    assert res.cls == "V" and res.complex == "V" and res.confidence == "high"
    assert abs(sum(res.probabilities.values()) - 1) < 1e-9 and res.probability > 0.9
    assert res.cluster_probabilities.shape == (50,) and len(res.z) == 4 and res.n_bins == 53
    assert len(res.references) == 5 and res.albedo == 0.38
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["taxonomy"] == "mahlke" and d["class"] == "V" and len(d["clusters"]) == 3
    assert set(d["features"]) == {"e", "h", "k"}


def test_leave_one_out_mask_removes_the_asteroid_from_the_references():
    wl, r = _vesta()
    m = load_mahlke_model()
    with_self = mahlke.classify(wl, r)
    without = mahlke.classify(wl, r, references=m.reference_number != 4)
    assert "(4) Vesta" in with_self.references
    assert not any("Vesta" in n for n in without.references)
    assert without.cls == "V"


def test_x_complex_without_albedo_is_flagged():
    s = spectrum("demeo2009/a000016.sp02.txt")  # Psyche
    res = mahlke.classify_spectrum(s)
    assert res.class_sf == "X" and any(f.startswith("albedo_needed") for f in res.flags)
    assert mahlke.classify_spectrum(s, albedo=0.16).class_sf == "M"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.3, 2.7), min_size=2, max_size=60, unique=True),
    st.data(),
    st.one_of(st.none(), st.floats(0.01, 1.0)),
)
def test_any_spectrum_is_classified_or_refused_never_crashes(wavelengths, data, albedo):
    wl = np.sort(np.array(wavelengths))
    refl = np.array(data.draw(st.lists(st.one_of(st.floats(1e-3, 50.0), st.just(np.nan), st.just(-1.0)),
                                       min_size=wl.size, max_size=wl.size)))  # fmt: skip
    res = mahlke.classify(wl, refl, albedo=albedo)
    if res.cls is None:
        assert res.reason and res.probabilities == {}
    else:
        assert res.n_bins >= mahlke.MIN_BINS and abs(sum(res.probabilities.values()) - 1) < 1e-9
        assert all(np.isfinite(res.z)) and np.isfinite(res.log_likelihood)
    json.dumps(res.to_dict(), allow_nan=False)
