"""assess(): the contract the CLI builds on — JSON-safe {bands, mineralogy, prospect}, the
Mahlke duck type, unknowns with reasons, clear errors, and no crash on random spectra."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from firmware.assessment import assess, assess_spectrum
from firmware.busdemeo import classify_spectrum
from firmware.errors import InputError
from tests.spectra_fixtures import spectrum

VESTA = "demeo2009/a000004.sp02.txt"
PSYCHE = "demeo2009/a000016.sp02.txt"


def test_to_dict_is_strict_json_with_the_three_fields():
    s = spectrum(VESTA)
    d = assess_spectrum(s, bus_demeo=classify_spectrum(s), phase_angle_deg=10.0).to_dict()
    assert set(d) == {"bands", "mineralogy", "prospect"}
    json.dumps(d, allow_nan=False)
    assert d["bands"]["band1"]["centre_sigma_um"] > 0  # Monte-Carlo from the error column
    assert "error column" in d["bands"]["uncertainty_source"]
    assert d["mineralogy"]["estimates"]["fs_burbine2009"]["status"] == "applied"
    assert d["prospect"]["silicates"]["likelihood"] == "high"


def test_psyche_with_m_albedo_is_a_metal_candidate_and_mahlke_duck_type_is_accepted():
    s = spectrum(PSYCHE)
    bd = classify_spectrum(s)
    mahlke = SimpleNamespace(cls="M", probabilities={"M": 0.8, "E": 0.1})
    d = assess_spectrum(s, bus_demeo=bd, mahlke=mahlke, albedo=0.15, n_mc=8).to_dict()
    assert d["prospect"]["metal"]["likelihood"] == "high"
    assert any(e["evidence"] == "Mahlke class M" and e["value"] == 0.8 for e in d["prospect"]["evidence"])
    assert d["prospect"]["score"] == 1.0


def test_without_class_or_coverage_the_verdict_is_unknown_and_says_why():
    wl = np.linspace(1.2, 2.4, 200)  # NIR only, no Band I, no 0.7 µm window
    d = assess(wl, 1 + 0.1 * wl, n_mc=0).to_dict()
    assert d["prospect"]["water"]["likelihood"] == "unknown"
    assert "cannot tell" in d["prospect"]["water"]["reason"]
    assert d["prospect"]["score"] is None
    assert d["bands"]["band1"]["status"] == "no_coverage"


def test_bad_input_raises_clear_errors():
    wl = np.linspace(450, 2450, 100)
    with pytest.raises(InputError, match="looks like nm"):
        assess(wl, np.ones(100))
    with pytest.raises(InputError, match="equal length"):
        assess(np.linspace(0.45, 2.45, 10), np.ones(11))
    with pytest.raises(InputError, match="albedo"):
        assess(np.linspace(0.45, 2.45, 10), np.ones(10), albedo=-0.1)
    with pytest.raises(InputError, match="duplicate"):
        assess(np.array([0.5, 0.5, 0.6]), np.ones(3))


def test_deterministic_bytes():
    s = spectrum(VESTA)
    a = json.dumps(assess_spectrum(s, n_mc=16).to_dict(), sort_keys=True)
    b = json.dumps(assess_spectrum(s, n_mc=16).to_dict(), sort_keys=True)
    assert a == b


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 80), elements=st.floats(-1, 5) | st.just(float("nan"))),
       st.floats(0.3, 1.0), st.floats(0.05, 2.2))  # fmt: skip
def test_no_crash_on_random_spectra(refl, start, span):
    wl = start + np.linspace(0, span, refl.size)
    d = assess(wl, refl, np.abs(refl) * 0.01, n_mc=4).to_dict()
    json.dumps(d, allow_nan=False)
