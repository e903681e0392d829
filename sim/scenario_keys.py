"""Every scenario key: type, range, default, unit and meaning (printed by `assay scenarios --keys`).

Frame conventions used by the keys: the asteroid-centred inertial frame has z along the
spin pole and the Sun in the x–z plane (x towards the Sun's projection on the equator).
Longitudes on the body are measured from the x axis at the epoch, east (spin direction)
positive. The Sun and Earth directions and distances are held fixed over a mission (a
30-day survey moves a near-Earth asteroid by ~30° along its orbit: long runs are
approximate in that respect).
"""

from __future__ import annotations

from sim.faults import FAULT_KINDS, fault_params_schema
from sim.schema import F, Many, Table

MISSION = {
    "name": F("str", "", doc="shown in reports; default: the file name"),
    "description": F("str", "", doc="one line for `assay scenarios`"),
    "epoch": F("epoch", doc="start time, ISO 8601 UTC"),
    "duration": F("duration", lo=0, lo_open=True, doc="simulated time, e.g. '1 d'"),
    "step": F("duration", "10 s", lo=0, lo_open=True, doc="fixed step of the simulation clock"),
    "seed": F("int", lo=0, doc="master seed; per-module seeds are derived from it"),
    "event_skipping": F("bool", True, doc="skip over quiet stretches (no observation, no contact, no event)"),
    "max_skip": F("duration", "6 h", lo=0, lo_open=True, doc="longest single skip"),
    "record_interval": F("duration", "60 s", lo=0, doc="minimum spacing of recorded samples"),
    "compare_send_all": F("bool", False, doc="fsw: fly the same scenario and seed again with the send-everything baseline (auto.send_all) and report science events per MB for both"),
}

UNIT = {
    "name": F("str", doc="unit name (unique)"),
    "spectrum": F("str", doc="real spectrum backing the unit: 'template:<class>' (DeMeo 2009 class mean), "
                  "'asteroid:<file>' (seeds/sim/asteroids/) or 'lab:<SampleID>' (seeds/sim/lab/)"),
    "class": F("str", "", doc="true Bus-DeMeo class; default: the class of the source (required for lab spectra)"),
    "albedo": F("float", lo=0, hi=1, lo_open=True, doc="geometric albedo pV"),
    "weight": F("float", 1.0, lo=0, lo_open=True, doc="relative share of the surface"),
    "resource": F("choice", "none", choices=("water", "metal", "none"), doc="prospecting truth"),
    "phase_reddening_per_deg_per_um": F("float", -1.0, lo=-1.0, hi=0.01,
        doc="κ in R·(1+κα(λ−0.55)); −1 = by complex: 0.001 for S/Q/V/A/O/R/K/L (science notes §4.2, Marsset 2022 fit), 0 for C/X/D/T"),
    "weathering_cs_um": F("float", 0.0, lo=-2.0, hi=0.0, doc="Brunetto et al. 2006 space weathering C_S (W = exp(C_S/λ)); 0 = fresh"),
}  # fmt: skip

TARGET = {
    "name": F("str", "asteroid", doc="target name"),
    "gm_m3_s2": F("float", lo=0, lo_open=True, doc="gravitational parameter GM, m³/s²"),
    "radius_m": F("float", lo=0, lo_open=True, doc="mean radius (the shape is a sphere), m"),
    "rotation_period_h": F("float", lo=0, lo_open=True, doc="sidereal rotation period, h"),
    "heliocentric_distance_au": F("float", lo=0.1, hi=10.0, doc="distance from the Sun, au"),
    "earth_distance_au": F("float", lo=0.001, hi=10.0, doc="distance from Earth (light time, link rate), au"),
    "sun_earth_angle_deg": F("float", 30.0, lo=0, hi=180, doc="angle Sun–asteroid–Earth, deg"),
    "subsolar_latitude_deg": F("float", 0.0, lo=-90, hi=90, doc="latitude of the subsolar point, deg"),
    "right_ascension_deg": F("float", 0.0, lo=0, hi=360, hi_open=True, doc="target RA seen from Earth (pass timing), deg"),
    "declination_deg": F("float", 0.0, lo=-90, hi=90, doc="target declination seen from Earth, deg"),
    "phase_slope_mag_per_deg": F("float", 0.03, lo=0, hi=0.1, doc="linear phase coefficient (Belskaya & Shevchenko 2000: 0.02–0.04)"),
    "emissivity": F("float", 0.9, lo=0.5, hi=1.0, doc="thermal emissivity (NEATM)"),
    "beaming_eta": F("float", 1.0, lo=0.5, hi=3.0, doc="NEATM beaming parameter η (Harris 1998)"),
    "surface": Table({
        "grid_lat": F("int", 36, lo=2, hi=720, doc="latitude cells of the surface map"),
        "grid_lon": F("int", 72, lo=4, hi=1440, doc="longitude cells of the surface map"),
        "regions": F("int", 40, lo=1, hi=100_000, doc="Voronoi regions the units are dealt to"),
        "units": Many(UNIT, min_items=1, doc="composition units"),
    }),
}  # fmt: skip

ORBIT = {
    "semi_major_axis_m": F("float", lo=0, lo_open=True, doc="semi-major axis, m"),
    "eccentricity": F("float", 0.0, lo=0, hi=1, hi_open=True, doc="eccentricity (bound orbits only)"),
    "inclination_deg": F("float", 90.0, lo=0, hi=180, doc="to the equator, deg"),
    "raan_deg": F("float", 0.0, lo=0, hi=360, doc="ascending node from the Sun's meridian, deg (0 = noon–midnight, 90 = terminator)"),
    "arg_periapsis_deg": F("float", 0.0, lo=0, hi=360, doc="argument of periapsis, deg"),
    "true_anomaly_deg": F("float", 0.0, lo=0, hi=360, doc="true anomaly at the epoch, deg"),
}  # fmt: skip

POWER = {
    "array_area_m2": F("float", lo=0, lo_open=True, doc="solar array area, m²"),
    "array_efficiency": F("float", 0.28, lo=0, hi=1, lo_open=True, doc="cell efficiency incl. losses"),
    "array_pointing": F("choice", "body_fixed", choices=("body_fixed", "sun_tracking"),
                        doc="body_fixed: array on the −Z face (instrument on +Z, antenna on −Z)"),
    "battery_capacity_wh": F("float", lo=0, lo_open=True, doc="usable battery energy, Wh"),
    "battery_initial_soc": F("float", 0.9, lo=0, hi=1, doc="state of charge at the epoch"),
    "charge_efficiency": F("float", 0.95, lo=0, hi=1, lo_open=True, doc="fraction of charging power stored"),
    "discharge_efficiency": F("float", 0.95, lo=0, hi=1, lo_open=True, doc="fraction of drawn energy delivered"),
    "load_bus_w": F("float", 6.0, lo=0, doc="always-on bus load (avionics, ADCS, receiver), W"),
    "load_heater_safe_w": F("float", 2.0, lo=0, doc="survival heaters in SAFE and IDLE, W"),
    "load_spectrometer_w": F("float", 5.0, lo=0, doc="spectrometer in SURVEY, W"),
    "load_radio_tx_w": F("float", 20.0, lo=0, doc="transmitter while sending, W"),
    "load_cpu_active_w": F("float", 1.5, lo=0, doc="extra computer power while classifying, W"),
    "min_soc_observe": F("float", 0.4, lo=0, hi=1, doc="no SURVEY below this state of charge"),
    "safe_soc": F("float", 0.2, lo=0, hi=1, doc="SAFE below this state of charge"),
    "resume_soc": F("float", 0.5, lo=0, hi=1, doc="leave SAFE above this state of charge"),
}  # fmt: skip

SPACECRAFT = {
    "name": F("str", "cubesat", doc="spacecraft name"),
    "power": Table(POWER),
    "storage": Table({
        "capacity_bytes": F("int", lo=1, doc="mass memory for science products, bytes"),
    }),
    "computer": Table({
        "cpu_s_per_spectrum": F("float", 0.02, lo=0, doc="flight-CPU time per classified spectrum, s (a power load)"),
        "batch_size": F("int", 32, lo=1, hi=100_000, doc="simple loop: observations classified together"),
        "downlink_raw_min_value": F("float", 0.0, lo=0, hi=1, doc="simple loop: raw spectra below this value are not downlinked (executive: parameter auto.downlink_min_value)"),
        "value_rule": F("choice", "simple", choices=("simple", "prospect"),
                        doc="what a result is worth: class rule (simple loop: firmware.onboard.simple_value; executive: firmware.fsw.autonomy.busdemeo_value) or the prospecting verdict (firmware.prospect / firmware.assessment)"),
        "kind": F("choice", "fsw", choices=("fsw", "simple"),
                  doc="fsw: the flight executive (firmware/fsw: modes, FDIR, autonomy, CCSDS/PUS to a ground segment); simple: the baseline loop of firmware/onboard.py"),
        "fast_period": F("duration", "1 s", lo=0.01, hi=60, doc="fsw: period of the fast rate group (the slow one runs at 1/10 of its rate)"),
        "params": F("mapping", {}, doc="fsw: onboard parameters set in NVM before launch, by name (firmware.fsw.params.PARAMS), e.g. \"auto.event_threshold\" = 0.4"),
    }, optional=True),
}  # fmt: skip

INSTRUMENT = {
    "band_min_um": F("float", 0.45, lo=0.3, hi=5.0, doc="first band centre, µm"),
    "band_max_um": F("float", 2.45, lo=0.3, hi=5.0, doc="last band centre, µm"),
    "n_bands": F("int", 200, lo=10, hi=4000, doc="bands (point spectrometer)"),
    "fwhm_um": F("float", 0.0, lo=0, doc="band FWHM (Gaussian response), µm; 0 = the band spacing"),
    "aperture_diameter_m": F("float", 0.01, lo=0, lo_open=True, doc="entrance aperture, m"),
    "ifov_mrad": F("float", 0.5, lo=0, lo_open=True, doc="full angular field of view of the point, mrad"),
    "throughput": F("float", 0.3, lo=0, hi=1, lo_open=True, doc="optics × grating × detector QE"),
    "integration_s": F("float", 0.05, lo=0, lo_open=True, doc="longest integration per observation (the fixed one without auto-exposure), s"),
    "auto_exposure": F("bool", True, doc="set each integration from the last frame: 60 % of full well at the brightest band"),
    "cadence": F("duration", "20 s", lo=0, lo_open=True, doc="time between observations in SURVEY"),
    "full_well_e": F("float", 200_000.0, lo=1, doc="electrons at ADC full scale"),
    "adc_bits": F("int", 16, lo=8, hi=24, doc="ADC resolution"),
    "channel_split_um": F("float", 1.0, lo=0.3, hi=5.0, doc="VIS (Si) below, NIR (InGaAs) above, µm"),
    "vis_read_noise_e": F("float", 30.0, lo=0, doc="read noise, VIS channel, e⁻"),
    "nir_read_noise_e": F("float", 100.0, lo=0, doc="read noise, NIR channel, e⁻"),
    "vis_dark_e_per_s": F("float", 50.0, lo=0, doc="dark current, VIS channel, e⁻/s"),
    "nir_dark_e_per_s": F("float", 20_000.0, lo=0, doc="dark current, NIR channel, e⁻/s"),
    "max_incidence_deg": F("float", 70.0, lo=0, hi=90, doc="no observation when the Sun is lower"),
    "max_emission_deg": F("float", 60.0, lo=0, hi=89, doc="a targeted (PROSPECT) look needs the target within this angle of its zenith as seen from the spacecraft"),
    "footprint_samples": F("choice", 7, choices=(1, 7, 19), doc="rays sampling the footprint (areal mixing)"),
    "pointing_jitter_mrad": F("float", 0.2, lo=0, doc="1σ pointing error per observation, mrad"),
    "noise": F("bool", True, doc="false = noiseless (for calibration runs)"),
    "noise_scale": F("float", 1.0, lo=0, doc="multiplies every noise σ (for sweeps)"),
    "thermal_emission": F("bool", True, doc="add the surface's thermal emission (NEATM)"),
    "phase_reddening": F("bool", True, doc="apply each unit's phase reddening"),
}  # fmt: skip

GROUND = {
    "rate_bps_at_1au": F("float", lo=0, lo_open=True, doc="downlink rate at 1 au (scales as 1/d²), bit/s"),
    "max_rate_bps": F("float", 1e6, lo=0, lo_open=True, doc="rate cap, bit/s"),
    "stations": Many({
        "name": F("str", doc="station name"),
        "latitude_deg": F("float", lo=-90, hi=90, doc="geodetic latitude, deg"),
        "longitude_deg": F("float", lo=-180, hi=360, doc="east longitude, deg"),
        "elevation_mask_deg": F("float", 10.0, lo=0, hi=90, doc="minimum elevation for contact, deg"),
    }, min_items=1, doc="ground stations"),
    "passes": Many({
        "station": F("str", doc="station name"),
        "start": F("time", doc="offset from the epoch or ISO time"),
        "duration": F("duration", lo=0, lo_open=True, doc="length of the allocation"),
        "repeat": F("duration", 0, lo=0, doc="repeat period (e.g. '1 d'); 0 = once"),
    }, doc="scheduled allocations (DSN-like); none = every visibility window is a pass"),
    "ack_interval": F("duration", "30 s", lo=1, doc="fsw: the ground acknowledges received telemetry this often while in contact"),
    "procedure": F("choice", "recover", choices=("recover", "none"),
                   doc="fsw: operators on the loop — recover: when the spacecraft reports entering SAFE, send CLEAR_FAULTS, SET_MODE IDLE, RESUME_AUTONOMY (retried until accepted); none: only [[commands]]"),
    "retry_interval": F("duration", "30 min", lo=1, doc="fsw: a refused recovery is tried again this much later"),
    "command_timeout_margin": F("duration", "10 min", lo=0, doc="fsw: a command's reports are awaited 2 × light time + this"),
}  # fmt: skip

COMMAND = {
    "at": F("time", doc="offset from the epoch or ISO time; sent at the first contact from then"),
    "command": F("str", doc="a command of firmware.fsw.commands.SPECS or a PUS 8 function (SET_MODE, CLEAR_FAULTS, …)"),
    "args": F("mapping", {}, doc="its arguments by name (a mode by name or number); PARAM_SET: parameter name = value"),
    "data_hex": F("str", "", doc="application data as hex, for variable layouts (instead of args)"),
    "raw_hex": F("str", "", doc="a whole TC packet as hex, sent as is (e.g. a malformed one, to test the spacecraft's checks)"),
    "retries": F("int", 2, lo=0, hi=10, doc="resend this often when the spacecraft reports a bad CRC (uplink damage) or no report comes"),
}

FAULT = {
    "kind": F("choice", choices=tuple(FAULT_KINDS), doc="fault kind"),
    "start": F("time", doc="offset from the epoch or ISO time"),
    "duration": F("duration", None, lo=0, lo_open=True, doc="length; default: until the end"),
}

SCHEMA = {
    "mission": Table(MISSION),
    "target": Table(TARGET),
    "orbit": Table(ORBIT),
    "spacecraft": Table(SPACECRAFT),
    "instrument": Table(INSTRUMENT, optional=True),
    "ground": Table(GROUND),
    "faults": Many(FAULT, doc="fault schedule", extra=fault_params_schema),
    "commands": Many(COMMAND, doc="fsw: time-tagged telecommands from the ground"),
}
