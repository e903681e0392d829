"""Typed messages between the flight software and its environment (simulator or board).

The executive never reads a sensor or drives an actuator itself: the simulator (or a board
harness) writes these messages in, and reads the outputs back. All times are onboard time in
integer nanoseconds since the mission epoch (`t_ns`), the simulator's clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Observation:
    """One spectrum from the point spectrometer, as calibrated onboard.

    `counts_dn` (raw detector counts per band) and `full_scale_dn` — or just `n_saturated`,
    the number of bands at full scale — let FDIR see saturation, which calibrated reflectance
    hides. `lat_deg`/`lon_deg` locate the footprint on the body
    (NaN when unknown). `request_id` is set when this observation answers an
    `ObservationRequest` (a PROSPECT re-observation).
    """

    obs_id: int
    t_ns: int
    wavelength_um: np.ndarray
    reflectance: np.ndarray
    error: np.ndarray | None = None
    counts_dn: np.ndarray | None = None
    full_scale_dn: int | None = None
    snr: float = float("nan")
    lat_deg: float = float("nan")
    lon_deg: float = float("nan")
    integration_scale: float = 1.0
    request_id: int | None = None
    n_saturated: int | None = None  # bands at full scale, when the counts themselves are not sent


@dataclass(frozen=True)
class PowerStatus:
    """Battery state from the EPS: state of charge (0–1) and bus voltage."""

    t_ns: int
    soc_frac: float
    bus_voltage_v: float = float("nan")


@dataclass(frozen=True)
class ThermalStatus:
    """Temperatures of the spectrometer focal plane and of the onboard computer."""

    t_ns: int
    spectrometer_c: float
    obc_c: float = float("nan")


@dataclass(frozen=True)
class LinkStatus:
    """Whether a ground station is in view and the downlink rate it supports."""

    t_ns: int
    up: bool
    rate_bps: float = 0.0


@dataclass(frozen=True)
class NavStatus:
    """Onboard navigation: where the nadir footprint is and whether it is lit within the
    instrument's incidence limit (the spacecraft knows its orbit and the Sun's direction).
    Autonomy surveys only a lit footprint."""

    t_ns: int
    footprint_lit: bool
    sub_lat_deg: float = float("nan")
    sub_lon_deg: float = float("nan")


@dataclass(frozen=True)
class CpuStall:
    """The processor is blocked for `duration_ns` from `t_ns` (bus lock-up, hung driver).

    Nothing runs while stalled; if the stall outlasts the watchdog timeout, the watchdog
    resets the computer. This is how a hang reaches the flight software in a simulation.
    """

    t_ns: int
    duration_ns: int


@dataclass(frozen=True)
class ObservationRequest:
    """Autonomy asks the spacecraft to look again at (lat, lon) with a longer integration
    (`integration_scale` × nominal, for `snr_target`). Answered by an `Observation` that
    carries the same `request_id`."""

    request_id: int
    t_ns: int
    lat_deg: float
    lon_deg: float
    snr_target: float
    integration_scale: float
    source_obs_id: int


@dataclass(frozen=True)
class InstrumentState:
    """What the flight software commands the spectrometer to do."""

    power_on: bool
    integration_scale: float
