"""The point spectrometer: photons from the footprint → electrons → DN → calibrated I/F.

Per observation (every `cadence` in SURVEY, when the boresight centre is lit):
1. the boresight points at nadir, off by a random pointing error; `footprint_samples` rays
   sample the field (centre + equal-area rings) and hit the spherical body; a field that
   reaches past the limb is off-body: the observation is refused and counted;
2. each ray sees one unit: I/F = pV · R_unit(λ) · weathering · phase reddening ·
   Lommel–Seeliger · phase law, plus the NEATM thermal emission of its facet; the field's
   radiance is the mean over rays (areal mixing);
3. electrons per band = radiance × aperture area × field solid angle × band width ×
   integration time × throughput ÷ photon energy; noise = shot + dark + read (Gaussian
   approximation, σ² = N + N_dark + N_read²); the ADC clips at full well and quantises;
4. onboard calibration divides by the electrons expected for I/F = 1 (known solar flux and
   instrument response) and reports a 1σ error from its own noise model.

The flight computer commands the spectrometer through `ModeCmd`: it observes in SURVEY
(nadir, when the footprint is lit) and PROSPECT (a re-observation: the boresight slews to the
requested surface point, `sim.pointing`), only while powered, at `integration_scale` × the
auto-exposure time: below 1 one shorter exposure, above 1 that many frames co-added (each at
the auto-exposure time, so a longer look never saturates; SNR grows as √n where shot noise
dominates, read noise adds per frame).

Faults (messages from `sim.faults`): stuck (the last frame again), latch-up (stuck until the
flight software power-cycles the spectrometer), noisy (σ × factor), saturated (exposure
stuck long: integration_s × gain, clipping). The truth (dominant unit, its share, SNR) goes
on a separate channel the flight software never reads.
"""

from __future__ import annotations

import math

import numpy as np

from sim.bus import MessageBus, Module
from sim.ephemeris import Ephemeris
from sim.faults import active_faults
from sim.messages import Frame, Truth
from sim.pointing import ray_directions, target_look
from sim.radiometry import (
    lommel_seeliger,
    phase_function,
    photon_energy_j,
    planck_w_m2_sr_m,
    solar_irradiance_1au_w_m2_m,
    subsolar_temperature_k,
)
from sim.target import Surface

GAUSS_AREA_PER_FWHM = math.sqrt(math.pi / (4 * math.log(2)))  # ∫ Gaussian / (peak · FWHM)
AE_TARGET = 0.6  # auto-exposure: fraction of the full well at the brightest band
AE_MIN_S = 1e-4  # shortest integration the readout supports, s


def band_centres_um(cfg: dict) -> tuple[np.ndarray, float]:
    """Band centres and FWHM (µm) of the instrument."""
    bands = np.linspace(cfg["band_min_um"], cfg["band_max_um"], cfg["n_bands"])
    fwhm = cfg["fwhm_um"] or float(bands[1] - bands[0])
    return bands, fwhm


def footprint_pattern(n: int) -> np.ndarray:
    """(n, 2) offsets in units of the field radius: centre + equal-area rings (1, 7 or 19)."""
    pts = [(0.0, 0.0)]
    if n >= 7:
        rho = math.sqrt(4 / 7) if n == 7 else math.sqrt(4 / 19)
        pts += [(rho * math.cos(a), rho * math.sin(a)) for a in np.arange(6) * math.pi / 3]
    if n == 19:
        rho = math.sqrt(13 / 19)
        pts += [(rho * math.cos(a), rho * math.sin(a)) for a in (np.arange(12) + 0.5) * math.pi / 6]
    return np.array(pts)


class Spectrometer(Module):
    name = "instrument"

    def __init__(self, bus: MessageBus, config: dict, eph: Ephemeris, surface: Surface,
                 rng: np.random.Generator):  # fmt: skip
        super().__init__(bus)
        c = self.cfg = config["instrument"]
        t = config["target"]
        self.eph, self.surface, self.rng = eph, surface, rng
        self.step_ns = config["mission"]["step"]
        self.cadence_ns = c["cadence"]
        # look no further ahead than the engine may skip
        self.lookahead_steps = config["mission"]["max_skip"] // self.step_ns + 1
        self.bands_um, self.fwhm_um = band_centres_um(c)
        self.i055 = int(np.argmin(np.abs(self.bands_um - 0.55)))
        area = math.pi * (c["aperture_diameter_m"] / 2) ** 2
        omega = math.pi * (c["ifov_mrad"] * 1e-3 / 2) ** 2
        dlam_m = self.fwhm_um * GAUSS_AREA_PER_FWHM * 1e-6
        # electrons per second per unit spectral radiance (W m⁻² sr⁻¹ m⁻¹) in each band
        self.e_rate_per_radiance = area * omega * dlam_m * c["throughput"] / photon_energy_j(self.bands_um)
        r_au = t["heliocentric_distance_au"]
        self.sun_radiance_if1 = solar_irradiance_1au_w_m2_m(self.bands_um) / (math.pi * r_au**2)
        self.e_rate_ref = self.sun_radiance_if1 * self.e_rate_per_radiance  # e⁻/s for I/F = 1
        vis = self.bands_um < c["channel_split_um"]
        self.read_e = np.where(vis, c["vis_read_noise_e"], c["nir_read_noise_e"])
        self.dark_rate_e = np.where(vis, c["vis_dark_e_per_s"], c["nir_dark_e_per_s"])
        self.e_per_dn = c["full_well_e"] / (2 ** c["adc_bits"] - 1)
        self.dn_max = 2 ** c["adc_bits"] - 1
        self.t_ss_k = subsolar_temperature_k(r_au, surface.albedo, t["emissivity"], t["beaming_eta"])
        self.emissivity = t["emissivity"]
        self.phase_slope = t["phase_slope_mag_per_deg"]
        self.pattern = footprint_pattern(c["footprint_samples"])
        self.half_fov_rad = c["ifov_mrad"] * 1e-3 / 2
        self.max_emission_deg = c["max_emission_deg"]
        self.reset(0)

    def reset(self, t_ns: int) -> None:
        super().reset(t_ns)
        self.obs_id = 0
        self.faults: dict = {}
        self.last_frame: tuple[np.ndarray, np.ndarray] | None = None
        self.stuck_frame: tuple[np.ndarray, np.ndarray] | None = None
        self.n_off_body = 0
        self.missed: dict[str, int] = {}
        self.requests: list = []  # pending re-observation requests (LookRequestMsg)
        self.looks: list[dict] = []  # what became of each request
        self.latched_up: set[int] = set()  # latch-up faults a power cycle has not cleared yet
        self.powered = False

    def integration_for(self, radiance: np.ndarray) -> float:
        """Auto-exposure from a short pre-exposure of the same scene: fill AE_TARGET of the
        full well at the brightest band, never longer than `integration_s`."""
        c = self.cfg
        if not c["auto_exposure"]:
            return c["integration_s"]
        peak_rate = float(np.max(radiance * self.e_rate_per_radiance))
        if peak_rate <= 0:
            return c["integration_s"]
        return min(max(AE_TARGET * c["full_well_e"] / peak_rate, AE_MIN_S), c["integration_s"])

    # -- stepping ---------------------------------------------------------------------------
    def update(self, t_ns: int) -> None:
        prev = self.t_ns
        super().update(t_ns)
        for fid, f in active_faults(self.bus, self.name, self.faults, self.name).items():
            if f.kind == "spectrometer_latchup" and f.t_ns == t_ns:
                self.latched_up.add(fid)
        self.latched_up &= set(self.faults)
        self.requests += self.bus.drain("reobs", self.name)
        mode_msg = self.bus.read("mode")
        mode = mode_msg.mode if mode_msg else "IDLE"
        powered = mode_msg.instrument_on if mode_msg else False
        if self.powered and not powered:
            self.latched_up.clear()  # a power cycle clears a latch-up
        self.powered = powered
        self._count_missed(prev, t_ns, mode if powered or mode != "SURVEY" else "SURVEY, instrument off")
        k = t_ns // self.step_ns
        if not powered or t_ns % self.cadence_ns:
            return
        scale = mode_msg.integration_scale
        if mode == "SURVEY" and self.eph.at(k)["observable"]:
            self.observe(t_ns, k, scale=scale)
        elif mode == "PROSPECT":
            self._prospect(t_ns, k)

    def _prospect(self, t_ns: int, k: int) -> None:
        """Serve the oldest live re-observation request, if its target can be seen now."""
        live = [r for r in self.requests if r.expires_ns > t_ns]
        for r in self.requests:
            if r.expires_ns <= t_ns:
                self.looks.append({"request_id": r.request_id, "source_obs_id": r.source_obs_id,
                                   "outcome": "expired", "t_s": t_ns / 1e9})  # fmt: skip
        self.requests = live
        if not live:
            return
        req = live[0]
        g = self.eph.at(k)
        r_sc = np.array([g["x_m"], g["y_m"], g["z_m"]])
        look = target_look(self.eph, r_sc, t_ns / 1e9, req.lat_deg, req.lon_deg,
                           self.max_emission_deg, self.cfg["max_incidence_deg"])  # fmt: skip
        if not look.feasible:
            self.looks.append({"request_id": req.request_id, "source_obs_id": req.source_obs_id,
                               "outcome": "not feasible", "why": look.why, "t_s": t_ns / 1e9})  # fmt: skip
            return
        if self.observe(t_ns, k, boresight=look.boresight, scale=req.integration_scale,
                        request_id=req.request_id, where=(req.lat_deg, req.lon_deg)):  # fmt: skip
            self.requests = live[1:]
            self.looks.append({"request_id": req.request_id, "source_obs_id": req.source_obs_id,
                               "outcome": "observed", "obs_id": self.obs_id, "t_s": t_ns / 1e9,
                               "emission_deg": round(look.emission_deg, 2)})  # fmt: skip

    def _count_missed(self, prev_ns: int, t_ns: int, mode: str) -> None:
        """Cadence ticks in (prev, t] with a lit footprint but the spacecraft in another mode."""
        if mode == "SURVEY" or t_ns <= prev_ns:
            return
        k0, k1 = prev_ns // self.step_ns + 1, t_ns // self.step_ns + 1
        ks = np.arange(k0, k1, dtype=np.int64)
        tick = (ks * self.step_ns) % self.cadence_ns == 0
        n = int(np.count_nonzero(self.eph.column("observable", k0, k1) & tick))
        if n:
            self.missed[mode] = self.missed.get(mode, 0) + n

    def quiet_until_ns(self, t_ns: int) -> int:
        k = t_ns // self.step_ns
        now = bool(self.eph.at(k)["observable"])
        # the flight software decides on the footprint turning lit or dark ...
        flip_ns = self._next_change("observable", now, k + 1, k + 1 + self.lookahead_steps) * self.step_ns
        mode_msg = self.bus.read("mode")
        next_tick = (t_ns // self.cadence_ns + 1) * self.cadence_ns
        if mode_msg and mode_msg.instrument_on:
            # ... and while surveying a lit footprint, the next observation is due
            if (mode_msg.mode == "SURVEY" and now) or (mode_msg.mode == "PROSPECT" and self.requests):
                return min(flip_ns, next_tick)
        return flip_ns

    def _next_change(self, name: str, now: bool, k0: int, k1: int) -> int:
        col_k = k0
        while col_k < k1:
            end = min(k1, col_k + self.eph.BLOCK)
            col = self.eph.column(name, col_k, end)
            hits = np.flatnonzero(col != now)
            if hits.size:
                return col_k + int(hits[0])
            col_k = end
        return k1

    # -- one observation --------------------------------------------------------------------
    def observe(self, t_ns: int, k: int, *, boresight: np.ndarray | None = None,
                scale: float = 1.0, request_id: int = -1,
                where: tuple[float, float] | None = None) -> bool:  # fmt: skip
        """One observation (nadir, or along `boresight` at the surface point `where`, as the
        flight software knows it); False when the field is off-body."""
        g = self.eph.at(k)
        r = np.array([g["x_m"], g["y_m"], g["z_m"]])
        dist = float(np.linalg.norm(r))
        d0 = -r / dist if boresight is None else boresight
        jitter = self.cfg["pointing_jitter_mrad"] * 1e-3
        ju, jw = self.rng.normal(0.0, jitter, 2) if jitter > 0 else (0.0, 0.0)
        dirs = ray_directions(d0, self.pattern, self.half_fov_rad, (ju, jw))
        hit, p = self._intersect(r, dirs)
        # the whole field (boresight ± half field of view) must lie inside the body's disc
        off_axis = math.acos(min(1.0, float(-(dirs[0] @ r) / dist)))
        limb = math.asin(min(1.0, self.eph.radius_m / dist))
        if not hit.all() or off_axis + self.half_fov_rad > limb:
            self.n_off_body += 1
            return False
        t_s = t_ns / 1e9
        n = p / self.eph.radius_m
        sun = self.eph.sun_hat
        cos_i = n @ sun
        cos_e = np.einsum("ij,ij->i", n, -dirs)
        alpha = np.degrees(np.arccos(np.clip(-dirs @ sun, -1, 1)))
        pb = self.eph.to_body(n, t_s)
        lat = np.degrees(np.arcsin(np.clip(pb[:, 2], -1, 1)))
        lon = np.degrees(np.arctan2(pb[:, 1], pb[:, 0]))
        units = self.surface.unit_at(lat, lon)
        radiance, reflected_055 = self._radiance(units, cos_i, cos_e, alpha)
        if where is None:
            where = (float(g["sub_lat_deg"]), float(g["sub_lon_deg"]))
        self._publish(t_ns, g, units, radiance, reflected_055, alpha, cos_i, where, scale, request_id)
        return True

    def _intersect(self, r: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = d @ r
        c = r @ r - self.eph.radius_m**2
        disc = b * b - c
        hit = disc >= 0
        t = -b - np.sqrt(np.maximum(disc, 0.0))
        hit &= t > 0
        return hit, r[None, :] + t[:, None] * d

    def _radiance(self, units, cos_i, cos_e, alpha) -> tuple[np.ndarray, np.ndarray]:
        s, lam = self.surface, self.bands_um
        lit = cos_i > 0
        refl = s.unit_spectra[units] * s.weathering[units]
        if self.cfg["phase_reddening"]:
            refl = refl * (1 + s.kappa[units, None] * alpha[:, None] * (lam[None, :] - 0.55))
        i_f = (s.albedo[units] * lommel_seeliger(cos_i, cos_e) * phase_function(alpha, self.phase_slope))[:, None] * refl
        radiance = np.where(lit[:, None], i_f, 0.0) * self.sun_radiance_if1[None, :]
        reflected_055 = radiance[:, self.i055].copy()
        if self.cfg["thermal_emission"]:
            temp = self.t_ss_k[units] * np.maximum(cos_i, 0.0) ** 0.25
            radiance = radiance + self.emissivity * planck_w_m2_sr_m(lam[None, :], temp[:, None])
        return radiance.mean(axis=0), reflected_055

    def _publish(self, t_ns, g, units, radiance, reflected_055, alpha, cos_i, where, scale,
                 request_id) -> None:  # fmt: skip
        c = self.cfg
        noise_factor = c["noise_scale"]
        t_int = self.integration_for(radiance)
        for f in self.faults.values():
            if f.kind == "spectrometer_noisy":
                noise_factor *= f.param("factor")
            elif f.kind == "spectrometer_saturated":  # exposure control stuck long
                t_int = c["integration_s"] * f.param("gain")
        # commanded exposure: a shorter one below 1, that many co-added frames above
        n_frames = max(1, round(scale)) if scale >= 1 else 1
        t_int *= scale if scale < 1 else 1.0
        signal = radiance * self.e_rate_per_radiance * t_int  # per frame
        dark = self.dark_rate_e * t_int
        sigma = np.sqrt(signal + dark + self.read_e**2)
        electrons = np.zeros_like(signal)
        saturated = np.zeros(signal.size, dtype=bool)
        for _ in range(n_frames):
            raw = signal + dark
            if c["noise"]:
                raw = raw + sigma * noise_factor * self.rng.standard_normal(signal.size)
            dn = np.minimum(np.floor(np.minimum(np.maximum(raw, 0.0), c["full_well_e"]) / self.e_per_dn + 0.5), self.dn_max)
            saturated |= dn >= self.dn_max
            electrons += dn * self.e_per_dn - dark
        n_sat = int(np.count_nonzero(saturated))
        e_ref = self.e_rate_ref * t_int * n_frames
        reflectance = electrons / e_ref
        est_sigma = np.sqrt(np.maximum(electrons, 0.0) + n_frames * (dark + self.read_e**2)) * c["noise_scale"]
        error = est_sigma / e_ref
        snr = np.sqrt(n_frames) * signal / (sigma * (noise_factor if c["noise"] else 1.0))
        kinds = sorted({f.kind for f in self.faults.values()})
        if "spectrometer_stuck" in kinds or self.latched_up:
            if self.stuck_frame is None:
                self.stuck_frame = self.last_frame or (reflectance, error)
            reflectance, error = self.stuck_frame
        else:
            self.stuck_frame = None
            self.last_frame = (reflectance, error)
        shares = np.bincount(units, weights=reflected_055, minlength=len(self.surface.units))
        total = shares.sum()
        dominant = int(np.argmax(shares)) if total > 0 else int(units[0])
        purity = float(shares[dominant] / total) if total > 0 else 0.0
        self.obs_id += 1
        est_snr = float(np.median(np.maximum(electrons, 0.0) / est_sigma))
        used = float(n_frames) if scale >= 1 else float(scale)
        self.bus.publish("frame", Frame(
            t_ns, self.obs_id, float(where[0]), float(where[1]), float(alpha[0]),
            est_snr, n_sat, reflectance.astype(np.float32), error.astype(np.float32),
            request_id, used,
        ))  # fmt: skip
        self.bus.publish("truth", Truth(
            t_ns, self.obs_id, dominant, purity, float(np.median(snr)), float(snr[self.i055]),
            float(np.degrees(np.arccos(np.clip(cos_i[0], -1, 1)))), float(alpha[0]),
            float(g["altitude_m"]), ";".join(kinds), request_id,
        ))  # fmt: skip
