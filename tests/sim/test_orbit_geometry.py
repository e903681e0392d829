"""Orbit, body rotation, illumination, eclipses and ground-station visibility.

The Kepler propagator is checked against an independent numerical integration (RK4 on
r̈ = −GM r/|r|³, written out here), for conservation of energy and angular momentum, and for
periodicity; the analytic pass windows against brute-force elevation sampling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.comms import gmst_deg, visibility_windows
from sim.ephemeris import Ephemeris, KeplerOrbit
from sim.scenario import load_scenario
from sim.timebase import NS_PER_S, parse_epoch

GM = 4.4621e5


def rk4_twin(gm: float, r0: np.ndarray, v0: np.ndarray, t_end_s: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain fixed-step RK4 on the two-body equations (the independent reference)."""

    def acc(r):
        return -gm * r / np.linalg.norm(r) ** 3

    r, v = r0.astype(float).copy(), v0.astype(float).copy()
    h = t_end_s / n
    for _ in range(n):
        k1r, k1v = v, acc(r)
        k2r, k2v = v + 0.5 * h * k1v, acc(r + 0.5 * h * k1r)
        k3r, k3v = v + 0.5 * h * k2v, acc(r + 0.5 * h * k2r)
        k4r, k4v = v + h * k3v, acc(r + h * k3r)
        r = r + h / 6 * (k1r + 2 * k2r + 2 * k3r + k4r)
        v = v + h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
    return r, v


@pytest.mark.parametrize("e", [0.0, 0.3, 0.8])
def test_kepler_matches_numerical_integration(e):
    orbit = KeplerOrbit(GM, 40_000.0, e, 35.0, 20.0, 60.0, 10.0)
    r0, v0 = orbit.state(np.array([0.0]))
    t_end = 0.37 * orbit.period_s
    r1, v1 = orbit.state(np.array([t_end]))
    rr, vv = rk4_twin(GM, r0[0], v0[0], t_end, 20_000)
    assert np.linalg.norm(r1[0] - rr) < 1e-6 * np.linalg.norm(rr)
    assert np.linalg.norm(v1[0] - vv) < 1e-6 * np.linalg.norm(vv)


@pytest.mark.parametrize("e", [0.0, 0.3, 0.8])
def test_energy_and_angular_momentum_are_constant_without_perturbations(e):
    a = 40_000.0
    orbit = KeplerOrbit(GM, a, e, 80.0, 45.0, 30.0, 0.0)
    t = np.linspace(0, 10 * orbit.period_s, 5001)
    r, v = orbit.state(t)
    energy = orbit.specific_energy(r, v)
    assert np.max(np.abs(energy / (-GM / (2 * a)) - 1)) < 1e-12  # vis-viva: ε = −GM/2a
    h = np.cross(r, v)
    assert np.max(np.linalg.norm(h - h[0], axis=1)) < 1e-11 * np.linalg.norm(h[0])
    assert np.allclose(np.linalg.norm(h, axis=1), math.sqrt(GM * a * (1 - e * e)), rtol=1e-12)


def test_orbit_closes_after_one_period():
    orbit = KeplerOrbit(GM, 35_000.0, 0.2, 90.0, 0.0, 0.0, 30.0)
    r, v = orbit.state(np.array([0.0, orbit.period_s, 3 * orbit.period_s]))
    assert np.allclose(r[1:], r[0], atol=1e-6) and np.allclose(v[1:], v[0], atol=1e-9)


def test_bound_orbits_only():
    with pytest.raises(ValueError, match="bound"):
        KeplerOrbit(GM, 1e4, 1.0, 0, 0, 0, 0)


def _eph(**orbit):
    sc = load_scenario("default", overrides={f"orbit.{k}": v for k, v in orbit.items()})
    return Ephemeris(sc.config), sc


def test_polar_orbit_geometry_and_eclipse():
    eph, sc = _eph(inclination_deg=90.0, raan_deg=0.0, true_anomaly_deg=0.0)
    period_ns = int(eph.orbit.period_s * NS_PER_S)
    t = np.linspace(0, period_ns, 2001).astype(np.int64)
    g = eph.compute(t)
    assert g["sub_lat_deg"].max() > 89 and g["sub_lat_deg"].min() < -89  # polar: every latitude
    # noon–midnight plane: the orbit crosses the Sun line on both sides
    sun = eph.sun_hat
    r = np.stack([g["x_m"], g["y_m"], g["z_m"]], axis=1)
    cos_sun = r @ sun / np.linalg.norm(r, axis=1)
    assert cos_sun.max() > 0.99 and cos_sun.min() < -0.99
    # eclipse exactly where the spacecraft is behind the body inside its shadow cylinder
    behind = (r @ sun < 0) & (np.linalg.norm(r - np.outer(r @ sun, sun), axis=1) < eph.radius_m)
    assert np.array_equal(g["eclipse"], behind) and g["eclipse"].any()
    assert not (g["eclipse"] & g["observable"]).any()  # the footprint is dark when we are in the shadow
    # the boresight centre is lit exactly when the Sun is higher than the instrument's limit
    limit = math.cos(math.radians(sc.config["instrument"]["max_incidence_deg"]))
    assert np.array_equal(g["observable"], cos_sun >= limit)


def test_terminator_orbit_never_sees_the_sun_overhead():
    eph, _ = _eph(inclination_deg=90.0, raan_deg=90.0)
    g = eph.compute(np.linspace(0, eph.orbit.period_s * NS_PER_S, 1001).astype(np.int64))
    # subsolar latitude 20°: the orbit plane is inclined to the Sun line by 20° at most
    assert g["incidence_deg"].min() > 69.0
    assert not g["eclipse"].any()


def test_body_rotation_moves_longitude_at_the_spin_rate():
    eph, sc = _eph()
    vec = np.array([[1.0, 0.0, 0.0]])
    quarter_s = sc.config["target"]["rotation_period_h"] * 3600 / 4
    b = eph.to_body(vec, quarter_s)
    assert np.allclose(b, [[0.0, -1.0, 0.0]], atol=1e-12)  # the body turned +90°: x̂ now at −90° E


def test_grid_cache_matches_direct_computation():
    eph, _ = _eph(eccentricity=0.1)
    k = np.array([0, 1, 511, 512, 1500, 9000])
    direct = eph.compute(k * eph.step_ns)
    for j, kk in enumerate(k):
        at = eph.at(int(kk))
        assert at["sub_lat_deg"] == direct["sub_lat_deg"][j] and at["eclipse"] == direct["eclipse"][j]
    col = eph.column("altitude_m", 500, 1600)
    assert np.array_equal(col, eph.compute(np.arange(500, 1600) * eph.step_ns)["altitude_m"])


def _elevation_deg(epoch, t_s, lat, lon, ra, dec):
    h = math.radians(gmst_deg(epoch, t_s) + lon - ra)
    phi, d = math.radians(lat), math.radians(dec)
    return math.degrees(math.asin(math.sin(phi) * math.sin(d) + math.cos(phi) * math.cos(d) * math.cos(h)))


@pytest.mark.parametrize("lat, lon, dec", [(35.4259, -116.8895, 10.0), (-35.4023, 148.9813, -40.0),
                                           (40.4313, -4.248, 70.0), (-35.4, 149.0, 60.0)])  # fmt: skip
def test_visibility_windows_match_brute_force_elevation(lat, lon, dec):
    epoch = parse_epoch("2027-03-01T00:00:00Z")
    t_end = 3 * 86400 * NS_PER_S
    station = {"latitude_deg": lat, "longitude_deg": lon, "elevation_mask_deg": 10.0}
    windows = visibility_windows(epoch, t_end, station, 60.0, dec)
    step = 60.0
    for k in range(int(3 * 86400 / step)):
        t = k * step
        el = _elevation_deg(epoch, t, lat, lon, 60.0, dec)
        inside = any(a <= t * NS_PER_S < b for a, b in windows)
        if abs(el - 10.0) > 0.3:  # away from the mask crossing (0.3° ≈ 1.5 min of hour angle)
            assert inside == (el > 10.0), (t, el)


def test_gmst_reference_value():
    # Meeus 1998, Example 12.a: 1987 April 10, 0h UT → GMST 13h10m46.3668s = 197.693195°
    epoch = parse_epoch("1987-04-10T00:00:00Z")
    assert abs(gmst_deg(epoch, 0.0) - 197.693195) < 1e-3
