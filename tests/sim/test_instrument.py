"""The spectrometer: radiometry, noise that matches its own error column, and its faults."""

from __future__ import annotations

import math

import numpy as np

from sim.radiometry import (
    SIGMA_SB,
    SOLAR_CONSTANT_W_M2,
    planck_w_m2_sr_m,
    solar_irradiance_1au_w_m2_m,
    subsolar_temperature_k,
)
from tests.sim.conftest import SIMPLE
from tests.sim.conftest import fly as _fly


def fly(*args, overrides=None, **kw):
    """The world models under test: flown with the simple loop (no FDIR reacting to them)."""
    return _fly(*args, overrides={**SIMPLE, **(overrides or {})}, **kw)

CLEAN = {"instrument.noise": False, "instrument.thermal_emission": False,
         "instrument.phase_reddening": False, "instrument.pointing_jitter_mrad": 0.0}  # fmt: skip


def test_solar_spectrum_integrates_to_the_solar_constant():
    wl = np.geomspace(0.05, 200.0, 200_001)
    total = np.trapezoid(solar_irradiance_1au_w_m2_m(wl), wl * 1e-6)
    assert abs(total / SOLAR_CONSTANT_W_M2 - 1) < 1e-3
    # Wien peak of a 5772 K blackbody: b/T = 2897.77 µm·K / 5772 K = 0.502 µm
    peak = wl[np.argmax(planck_w_m2_sr_m(wl, 5772.0))]
    assert abs(peak - 2897.771955 / 5772.0) < 1e-3


def test_neatm_subsolar_temperature():
    t = subsolar_temperature_k(1.1, np.array([0.044]), 0.9, 1.0)[0]
    bond = (0.290 + 0.684 * 0.15) * 0.044
    expected = ((1 - bond) * SOLAR_CONSTANT_W_M2 / 1.1**2 / (0.9 * SIGMA_SB)) ** 0.25
    assert abs(t - expected) < 1e-9 and 380 < t < 390  # Bennu-like: ~384 K at 1.1 au


def _obs(mission):
    frames = {f.obs_id: f for f in mission.bus.history("frame")}
    return [(t, frames[t.obs_id]) for t in mission.bus.history("truth")]


def test_noiseless_observation_reproduces_the_unit_spectrum():
    m = fly(duration="3 h", overrides=CLEAN)
    s, inst = m.surface, m.instrument
    pairs = [(t, f) for t, f in _obs(m) if t.purity == 1.0]
    assert len(pairs) > 100
    for t, f in pairs[::25]:
        truth = s.unit_spectra[t.unit] * s.weathering[t.unit]
        ratio = np.asarray(f.reflectance, float) / truth
        # one scale (albedo × photometry) across all bands; ADC quantisation only
        assert np.max(np.abs(ratio / np.median(ratio) - 1)) < 2e-3, t.obs_id
        # I/F = pV · Lommel–Seeliger (nadir: μ = 1, 2μ₀/(μ₀+1)) · phase law
        mu0 = math.cos(math.radians(t.incidence_deg))
        phase = 10 ** (-0.4 * m.scenario.config["target"]["phase_slope_mag_per_deg"] * t.phase_deg)
        expected = s.albedo[t.unit] * 2 * mu0 / (mu0 + 1) * phase
        assert abs(np.median(ratio) / expected - 1) < 1e-3
    assert inst.n_off_body == 0


def test_noise_matches_the_reported_error():
    m = fly(duration="3 h", overrides={"instrument.thermal_emission": False, "instrument.phase_reddening": False})
    s = m.surface
    z = []
    for t, f in _obs(m):
        if t.purity < 1.0:
            continue
        truth = s.unit_spectra[t.unit]
        refl, err = np.asarray(f.reflectance, float), np.asarray(f.error, float)
        scale = np.sum(refl * truth / err**2) / np.sum(truth**2 / err**2)
        z.append((refl - scale * truth) / err)
    z = np.concatenate(z)
    assert 0.9 < np.std(z) < 1.1 and abs(np.mean(z)) < 0.05


def test_auto_exposure_keeps_nominal_frames_unsaturated_and_scales_snr():
    m = fly(duration="3 h")
    frames = [f for _, f in _obs(m)]
    assert frames and all(f.n_saturated == 0 for f in frames)
    weak = fly(duration="3 h", overrides={"instrument.aperture_diameter_m": 0.0025})  # 1/16 the light
    snr = np.median([t.snr_median for t in m.bus.history("truth")])
    snr_weak = np.median([t.snr_median for t in weak.bus.history("truth")])
    assert 2.0 < snr / snr_weak < 8.0  # shot-noise limited √16 = 4 (read noise pushes it up)


def test_thermal_emission_and_phase_reddening_redden_the_spectrum():
    base = fly(duration="3 h", overrides=CLEAN)
    hot = fly(duration="3 h", overrides={**CLEAN, "instrument.thermal_emission": True,
                                         "target.heliocentric_distance_au": 0.8})  # fmt: skip
    red = fly(duration="3 h", overrides={**CLEAN, "instrument.phase_reddening": True})
    i055 = base.instrument.i055

    def slope(m):
        f = next(f for t, f in _obs(m) if t.unit == 0 and t.purity == 1.0 and t.phase_deg > 20)
        r = np.asarray(f.reflectance, float)
        return r[-1] / r[i055]

    assert slope(hot) > slope(base) * 1.005  # thermal excess at 2.45 µm
    assert slope(red) > slope(base) * 1.02  # κ α (2.45 − 0.55) with α > 20°: ≥ 3.8 %


def test_off_body_footprints_are_refused():
    m = fly(duration="2 h", overrides={"instrument.ifov_mrad": 600.0})  # wider than the body at 35 km
    assert m.instrument.n_off_body > 50 and not m.bus.history("frame")


def test_spectrometer_faults(faults_scenario):
    m = fly(faults_scenario, duration="8 h")  # the simple loop observes through every fault
    h = 3600e9
    by_window = {}
    for t, f in _obs(m):
        by_window.setdefault(t.faults, []).append((t, f))
    stuck = by_window["spectrometer_stuck"]
    assert len(stuck) > 20
    first = np.asarray(stuck[0][1].reflectance)
    assert all(np.array_equal(np.asarray(f.reflectance), first) for _, f in stuck)  # frozen readout
    assert len({t.unit for t, _ in stuck}) > 1  # while the ground under it changed
    saturated = by_window["spectrometer_saturated"]
    assert saturated and all(f.n_saturated > 0 for _, f in saturated)
    nominal = [f for t, f in by_window[""] if 0.5 * h < t.t_ns < 2.5 * h]
    noisy = [f for _, f in by_window["spectrometer_noisy"]]

    def roughness(frames):  # band-to-band scatter relative to the error the frame reports
        return np.median([np.std(np.diff(np.asarray(f.reflectance, float))) / np.median(f.error) for f in frames])

    assert roughness(noisy) > 8 * roughness(nominal)
