"""Thermal tails added to real spectra of every class, with the simulator's physics.

What the thermal step (firmware.kernels.thermal) must do on a dark NEO observed at 1.0–1.3 au:
find the tail and remove it so that the Bus-DeMeo class is the one of the same surface
without a tail; and on silicate bodies (S/Q/V/A/L/K) and on noise alone, stay quiet.

The tail is the one `sim.instrument` adds: NEATM sub-solar temperature T_ss (Harris 1998,
Icarus 131, 291; `sim.radiometry.subsolar_temperature_k`), T = T_ss·cos(i)^¼, thermal radiance
ε·B_λ(T) over the reflected radiance pV·LS(i, e)·Φ(α)·R(λ)·F_sun(λ)/(π r²). In reflectance
units: tail(λ) = ε π r² B_λ(T) / (F_sun,1au(λ) · pV · LS · Φ). Spectra: the developer DeMeo
2009 set (tests/data/spectra/demeo2009; complete on the 41-point grid), e/h/k flags measured
on the original file, so only the thermal step differs. Deterministic (one seed).

`python -m tests.test_thermal_synthetic` prints the table the report quotes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from firmware import busdemeo
from firmware.board import assay_bdm as B
from firmware.kernels.resample import resample_binned
from firmware.kernels.thermal import thermal_model, thermal_tail_one
from firmware.taxonomy import CLASS_NAMES, DEMEO_GRID_UM
from sim.radiometry import (
    lommel_seeliger,
    phase_function,
    planck_w_m2_sr_m,
    solar_irradiance_1au_w_m2_m,
    subsolar_temperature_k,
)
from sim.scenario_keys import TARGET
from tests.spectra_fixtures import labels, spectrum

EMISSIVITY = TARGET["emissivity"].default  # the simulator's defaults (NEATM ε, η; phase law)
BEAMING_ETA = TARGET["beaming_eta"].default
PHASE_SLOPE_MAG_PER_DEG = TARGET["phase_slope_mag_per_deg"].default
SILICATE = {"S", "Q", "V", "A", "L", "K", "O", "R"}  # Bus-DeMeo complexes with silicate bands
SEED = 20261124
DRAWS = 3  # synthetic tails (and as many noise-only controls) per spectrum


def tail_reflectance(grid_um, r_au, pv, incidence_deg=0.0, emission_deg=0.0):
    """Apparent reflectance added by thermal emission (units of the spectrum's R, which is
    pV at 0.55 µm in absolute terms), and the facet temperature K — as `sim.instrument`."""
    cos_i, cos_e = math.cos(math.radians(incidence_deg)), math.cos(math.radians(emission_deg))
    t_k = float(subsolar_temperature_k(r_au, np.array(pv), EMISSIVITY, BEAMING_ETA)) * cos_i**0.25
    disk = float(lommel_seeliger(np.array(cos_i), np.array(cos_e)))
    # phase angle = i + e: Sun and spacecraft on opposite sides of the normal, in one plane
    phase = float(phase_function(incidence_deg + emission_deg, PHASE_SLOPE_MAG_PER_DEG))
    thermal = EMISSIVITY * planck_w_m2_sr_m(grid_um, t_k) * math.pi * r_au**2
    return thermal / solar_irradiance_1au_w_m2_m(grid_um) / (pv * disk * phase), t_k


def r41(file):
    """The spectrum on the 41-point grid, normalised at 0.55 µm, a missing end point held
    from its neighbour as the pipeline does (busdemeo.MAX_EDGE_STEPS = 1)."""
    s = spectrum(file)
    r = resample_binned(s.wavelength_um, s.reflectance[None], DEMEO_GRID_UM, busdemeo.GRID_HALF_WIDTH_UM)[0]
    for end, inner in ((0, 1), (-1, -2)):
        if np.isnan(r[end]):
            r[end] = r[inner]
    return r / r[2]


@lru_cache(maxsize=1)
def real_set():
    """(files, classes, complexes, keys, r41 (N, 41), e/h/k flags (N, 3)) of the complete
    DeMeo 2009 developer spectra."""
    rows = [r for r in labels() if r["source"] == "DeMeo2009" and r["class_bdm"]]
    keep, x, flags = [], [], []
    for row in rows:
        r = r41(row["file"])
        if np.isnan(r).any():
            continue
        res = busdemeo.classify_spectrum(spectrum(row["file"]))
        keep.append(row)
        x.append(r)
        flags.append([bool(f["detected"]) for f in res.to_dict()["features"].values()])
    return keep, np.array(x), np.array(flags, dtype=bool)


@lru_cache(maxsize=1)
def synthetic():
    """Tailed and noise-only copies of every real spectrum (DRAWS each) and their classes.

    Returns a dict of arrays: base (index into real_set), tail (excess at 2.45 µm in units
    of R(0.55) of the tailed spectrum), noise_only, removed, kept (class == the clean one)."""
    rows, x, flags = real_set()
    rng = np.random.default_rng(SEED)
    clean = busdemeo.classify_grid(x, flags).labels()
    base, tail, noise_only, out = [], [], [], []
    for i in range(len(rows)):
        for _ in range(DRAWS):
            r_au = rng.uniform(1.0, 1.3)
            pv = math.exp(rng.uniform(math.log(0.03), math.log(0.3)))
            t, _t_k = tail_reflectance(DEMEO_GRID_UM, r_au, pv, rng.uniform(0, 60), rng.uniform(0, 30))
            snr = rng.uniform(50, 300)  # at R(0.55); photon noise ∝ √signal
            for with_tail in (True, False):
                y = x[i] + (t if with_tail else 0.0)
                y = y + rng.standard_normal(y.size) * np.sqrt(np.maximum(y, 0.01)) / snr
                out.append(y / y[2])
                base.append(i)
                tail.append(t[-1] / (1 + t[2]) if with_tail else 0.0)
                noise_only.append(not with_tail)
    base = np.array(base)
    res = busdemeo.classify_grid(np.array(out), flags[base])
    labels_ = res.labels()
    return {
        "base": base, "tail": np.array(tail), "noise_only": np.array(noise_only),
        "removed": res.thermal[:, 0] > 0,
        "kept": np.array([a == clean[b] for a, b in zip(labels_, base, strict=True)]),
    }  # fmt: skip


def _groups():
    rows, _x, _f = real_set()
    s = synthetic()
    cx = np.array([rows[b]["complex"] for b in s["base"]])
    return s, np.isin(cx, list(SILICATE)), cx


def test_phaethon_tail_at_bennu_conditions_is_removed_and_the_class_kept():
    """The survey scenario's B terrain: 3200 Phaethon (B, DeMeo 2009) at 1.1 au, pV 0.044.
    Its 0.75–1.50 µm chord lies 6 % above the spectrum (a blue, concave continuum, no band);
    a bare 5 % depth gate never looked for the tail and the class came out Q."""
    file = "demeo2009/a003200.sp34.txt"
    clean = r41(file)
    res = busdemeo.classify_spectrum(spectrum(file))
    flags = np.array([[bool(f["detected"]) for f in res.to_dict()["features"].values()]])
    model = thermal_model(DEMEO_GRID_UM)
    for incidence_deg in (0.0, 30.0, 45.0):
        t, t_k = tail_reflectance(DEMEO_GRID_UM, 1.1, 0.044, incidence_deg)
        x = (clean + t) / (1 + t[2])
        got = x.copy()
        excess, temp_k = thermal_tail_one(got, DEMEO_GRID_UM, *model)
        assert excess > 0.1 and abs(temp_k - t_k) <= 40, (incidence_deg, excess, temp_k, t_k)
        assert np.max(np.abs(got - clean)[DEMEO_GRID_UM >= 2.0]) < 0.03
        with_tail = busdemeo.classify_grid(x[None], flags)
        assert with_tail.labels()[0] == res.cls == "B"
        # the board's integer gate and fit agree (firmware/board/assay_bdm.py)
        st, rn, _ = B.normalise_float([float(v) for v in x])
        assert st == 0 and B.band_i_gate(rn)
        assert B.thermal_tail(rn, B._templates()[2]) == int(round(temp_k))


def test_a_real_band_i_still_blocks_the_tail_test():
    """A silicate Band I (a minimum with the 1.5 µm shoulder above it) keeps the gate shut
    even under a large tail: 4 Vesta (V) with the tail of a pV 0.1 surface at 1.0 au (31 %)
    is left alone (a straight continuum under Band II would be wrong)."""
    x = r41("demeo2009/a000004.sp02.txt")
    x = x + tail_reflectance(DEMEO_GRID_UM, 1.0, 0.1)[0]
    x = x / x[2]
    st, rn, _ = B.normalise_float([float(v) for v in x])
    assert thermal_tail_one(x.copy(), DEMEO_GRID_UM, *thermal_model(DEMEO_GRID_UM))[0] == 0.0
    assert st == 0 and not B.band_i_gate(rn)


def test_synthetic_tails_on_dark_classes_are_found_and_the_class_restored():
    s, sil, _cx = _groups()
    rows, _x, _f = real_set()
    cx = np.array([rows[b]["class_bdm"] for b in s["base"]])
    big = (s["tail"] >= 0.1) & ~sil
    # measured (seed 20261124, 69 spectra): detection 0.90, class kept 0.90 (0.89 for any
    # tail; noise alone keeps 0.92); with the bare 5 % depth gate: 0.87 / 0.87 / 0.87, and
    # on the B-types (blue, concave: 3200 Phaethon, 2 more) 0.29 detected → 0.86 now
    assert big.sum() >= 100
    b_type = big & (cx == "B")
    assert b_type.sum() >= 5 and s["removed"][b_type].mean() >= 0.8
    assert s["removed"][big].mean() >= 0.87
    assert s["kept"][big].mean() >= 0.87
    assert s["kept"][(s["tail"] > 0) & ~sil].mean() >= 0.86


def test_noise_alone_and_silicates_rarely_trigger_a_removal():
    s, sil, _cx = _groups()
    rows, _x, _f = real_set()
    real_sil = np.array([r["complex"] in SILICATE for r in rows])
    # measured: noise-only controls 1 % (dark) / 2 % (silicate: L-types only); DeMeo
    # S/Q/V/A/K/R/O: none
    assert s["removed"][s["noise_only"] & ~sil].mean() <= 0.03
    assert s["removed"][s["noise_only"] & sil].mean() <= 0.04
    assert s["kept"][s["noise_only"]].mean() >= 0.9
    model = thermal_model(DEMEO_GRID_UM)
    found = [rows[i]["class_bdm"] for i in np.flatnonzero(real_sil)
             if thermal_tail_one(real_set()[1][i].copy(), DEMEO_GRID_UM, *model)[0] > 0]  # fmt: skip
    assert set(found) <= {"L"}, found  # L-types: a 2 µm spinel band and the rise after it


def test_twins_and_kernels_agree_on_the_synthetic_set():
    """thermal_tail_one, thermal_block (via classify_grid's block path), the plain numpy twin
    (core_twins.thermal_tail) and the whole-array twin agree on every tailed, noisy and
    NaN-holed spectrum, including the blue B-types the shoulder condition lets through."""
    from tests.twins.core_twins import thermal_tail
    from tests.twins.numpy_pipeline import NumpyBusDeMeo

    rows, x, flags = real_set()
    rng = np.random.default_rng(SEED + 1)
    tails = [tail_reflectance(DEMEO_GRID_UM, rng.uniform(1.0, 1.3), rng.uniform(0.03, 0.3))[0]
             for _ in range(len(rows))]  # fmt: skip
    y = x + np.array(tails) + rng.standard_normal(x.shape) * 0.005
    phaethon = r41("demeo2009/a003200.sp34.txt") + tail_reflectance(DEMEO_GRID_UM, 1.1, 0.044)[0]
    y = np.vstack([y, phaethon])  # passes the gate only through the shoulder condition
    flags = np.vstack([flags, flags[[i for i, r in enumerate(rows) if "a003200" in r["file"]]]])
    y /= y[:, [2]]
    holed = y[:8].copy()
    holed[np.arange(8), 20 + np.arange(8) * 2] = np.nan  # a hole anywhere past 0.75 µm: no test
    model = thermal_model(DEMEO_GRID_UM)
    kernel = [thermal_tail_one(r.copy(), DEMEO_GRID_UM, *model) for r in np.vstack([y, holed])]
    twin = [thermal_tail(r.copy(), DEMEO_GRID_UM) for r in np.vstack([y, holed])]
    k_ex = np.array([k[0] for k in kernel])
    np.testing.assert_allclose(k_ex, [t[1] for t in twin], atol=1e-9)
    np.testing.assert_array_equal(np.isnan([k[1] for k in kernel]), np.isnan([t[2] for t in twin]))
    assert np.all(k_ex[len(y):] == 0.0) and (k_ex[: len(y)] > 0).sum() >= 40  # measured 45
    assert k_ex[len(y) - 1] > 0.3
    block = busdemeo.classify_grid(y, flags).thermal[:, 0]
    np.testing.assert_allclose(block, k_ex[: len(y)], atol=1e-9)
    whole = NumpyBusDeMeo(DEMEO_GRID_UM).remove_thermal_tail(y)
    np.testing.assert_allclose(y - whole, np.outer(k_ex[: len(y)] > 0, np.ones(41)) * (y - whole),
                               atol=0)  # fmt: skip
    np.testing.assert_allclose((y - whole)[:, -1], k_ex[: len(y)], atol=1e-9)


def report() -> str:
    """The table of the report: per class, detection and class kept."""
    s, sil, cx = _groups()
    rows, _x, _f = real_set()
    cls = np.array([rows[b]["class_bdm"] for b in s["base"]])
    lines = ["| class | n spectra | tail ≥ 0.1: n | detected | class kept | tail > 0: kept | "
             "noise only: removed | kept |", "|---|---|---|---|---|---|---|---|"]
    for c in [c for c in CLASS_NAMES if c in set(cls)] + ["dark", "silicate", "all"]:
        sel = {"dark": ~sil, "silicate": sil, "all": np.ones_like(sil)}.get(c, cls == c)
        big, tailed, noise = sel & (s["tail"] >= 0.1), sel & (s["tail"] > 0), sel & s["noise_only"]
        f = (lambda m, v: f"{v[m].mean():.2f}" if m.any() else "–")  # noqa: E731
        lines.append(f"| {c} | {len(set(s['base'][sel]))} | {big.sum()} | {f(big, s['removed'])} | "
                     f"{f(big, s['kept'])} | {f(tailed, s['kept'])} | {f(noise, s['removed'])} | "
                     f"{f(noise, s['kept'])} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
