"""Surface temperature and the Sanchez et al. 2012 temperature correction of BAR and BIIC."""

from __future__ import annotations

import math

import pytest

from firmware import temperature as T
from firmware.assessment import assess_spectrum
from firmware.busdemeo import classify_spectrum
from firmware.errors import InputError
from tests.spectra_fixtures import spectrum

IRIS = "demeo2009/a000007.sp28.txt"  # 7 Iris, S-type (DeMeo 2009)


def test_surface_temperature_follows_radiative_equilibrium():
    t1 = T.surface_temperature_k(1.0, 0.2)
    assert 270.0 < t1 < 290.0  # a rotating S-type at 1 au (Burbine et al. 2009: ~280 K)
    assert T.surface_temperature_k(4.0, 0.2) == pytest.approx(t1 / 2.0, rel=1e-12)  # T ∝ r^-½
    assert T.surface_temperature_k(1.0, 0.05) > T.surface_temperature_k(1.0, 0.5)  # darker = warmer
    with pytest.raises(ValueError, match="distance"):
        T.surface_temperature_k(0.0, 0.2)
    with pytest.raises(ValueError, match="albedo"):
        T.surface_temperature_k(1.0, 0.0)


def test_sanchez_corrections_and_their_domain():
    bands = {"band2": {"centre_um": 1.95}}
    c = T.correction(bands, 0.80, "Sq", 180.0)
    assert c["applied"]
    assert c["bar_corrected"] == pytest.approx(0.80 + 0.00075 * 180 - 0.23)  # Sanchez et al. 2012
    assert c["band2_centre_corrected_um"] == pytest.approx(1.95 + 0.06 - 0.0002 * 180)
    assert not T.correction(bands, 0.8, "S", 300.0)["applied"]  # room temperature: none needed
    assert "not class Xk" in T.correction(bands, 0.8, "Xk", 180.0)["reason"]
    assert "untested" in T.correction(bands, 0.8, "S", 50.0)["reason"]
    assert not T.correction(bands, 0.8, "S", None)["applied"]


def test_assess_applies_the_correction_before_the_calibrations():
    s = spectrum(IRIS)
    bd = classify_spectrum(s)
    assert bd.cls.rstrip("w") == "S"
    warm = assess_spectrum(s, bus_demeo=bd, n_mc=0).to_dict()["mineralogy"]
    cold = assess_spectrum(s, bus_demeo=bd, n_mc=0, albedo=0.25,
                           heliocentric_distance_au=2.39).to_dict()["mineralogy"]  # fmt: skip
    t = cold["temperature"]
    assert t["applied"] and 170.0 < t["temperature_k"] < 190.0
    ol_warm = warm["estimates"]["ol_fraction_dunn2010"]["value"]
    ol_cold = cold["estimates"]["ol_fraction_dunn2010"]["value"]
    d_bar = t["bar_corrected"] - assess_spectrum(s, n_mc=0).bands.bar
    assert d_bar < 0 and ol_cold - ol_warm == pytest.approx(-0.242 * d_bar, abs=1e-9)  # Dunn 2010
    assert not warm["temperature"]["applied"]
    no_albedo = assess_spectrum(s, bus_demeo=bd, n_mc=0, heliocentric_distance_au=2.39)
    assert "needs an albedo" in no_albedo.to_dict()["mineralogy"]["temperature"]["reason"]
    with pytest.raises(InputError, match="heliocentric"):
        assess_spectrum(s, heliocentric_distance_au=-1.0)
    assert math.isfinite(ol_cold)
