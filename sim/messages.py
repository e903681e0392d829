"""Typed messages between simulation modules: frozen dataclasses stamped with `t_ns`.

Units are in the field names. Scalar fields (int, float, bool, str) are what recorders
write to CSV; arrays ride along for the modules that need them (spectra) and are not
recorded. Channel names and their types are listed in `CHANNELS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class FaultMsg:
    """One fault starting (`active`) or ending; `params` as given in the scenario."""

    t_ns: int
    fault_id: int
    kind: str
    active: bool
    target: str  # the module that models it
    params: tuple = ()
    until_ns: int = -1  # end of the fault window (on the onset message)

    def param(self, name: str, default=None):
        return dict(self.params).get(name, default)


@dataclass(frozen=True, slots=True)
class OrbitState:
    """Spacecraft state relative to the asteroid centre, inertial frame (z = spin pole)."""

    t_ns: int
    x_m: float
    y_m: float
    z_m: float
    vx_m_s: float
    vy_m_s: float
    vz_m_s: float
    specific_energy_j_kg: float


@dataclass(frozen=True, slots=True)
class Geometry:
    """Viewing and illumination geometry at the boresight centre (nadir pointing)."""

    t_ns: int
    sub_lat_deg: float
    sub_lon_deg: float
    altitude_m: float
    incidence_deg: float
    emission_deg: float
    phase_deg: float
    observable: bool  # footprint lit within the instrument's incidence limit and on the body
    eclipse: bool  # spacecraft in the asteroid's shadow
    earth_occulted: bool  # asteroid between spacecraft and Earth


@dataclass(frozen=True, slots=True)
class PowerState:
    t_ns: int
    soc: float
    battery_wh: float
    solar_w: float  # array output at t_ns
    load_w: float  # mean load over the last interval
    solar_wh_total: float
    load_wh_total: float
    unserved_wh_total: float
    brownout: bool  # a brown-out is in progress: the bus cannot hold the computer up


@dataclass(frozen=True, slots=True)
class LinkState:
    t_ns: int
    in_pass: bool  # a ground station is scheduled, sees the target and is not occulted
    window_open: bool  # inside a pass window (contact may still be blocked)
    expected: bool  # what the spacecraft believes: a pass window and Earth not occulted
    # (a station outage is invisible from on board: the spacecraft transmits, nobody hears)
    pass_id: int  # −1 outside pass windows
    station: str
    rate_bps: float  # while contact is expected
    owlt_s: float  # one-way light time


@dataclass(frozen=True, slots=True)
class ModeCmd:
    """The flight computer's mode for the coming interval (drives pointing and loads)."""

    t_ns: int
    mode: str  # SAFE | IDLE | SURVEY | PROSPECT | DOWNLINK
    instrument_on: bool = True  # the spectrometer is powered (surveying or prospecting modes)
    integration_scale: float = 1.0  # commanded exposure × the nominal one


@dataclass(frozen=True, slots=True)
class Frame:
    """One spectrometer observation as the flight computer receives it (calibrated I/F)."""

    t_ns: int
    obs_id: int
    lat_deg: float  # boresight centre, from onboard attitude and navigation knowledge
    lon_deg: float
    phase_deg: float
    snr_median: float
    n_saturated: int  # bands at the ADC full scale
    reflectance: np.ndarray = field(repr=False, compare=False)
    error: np.ndarray = field(repr=False, compare=False)
    request_id: int = -1  # the re-observation request this look answers (−1: survey)
    integration_scale: float = 1.0  # exposure used × nominal (co-added frames above 1)


@dataclass(frozen=True, slots=True)
class Truth:
    """What the surface really was under an observation (never shown to the firmware)."""

    t_ns: int
    obs_id: int
    unit: int  # dominant composition unit in the footprint (radiance-weighted)
    purity: float  # its share of the footprint's signal
    snr_median: float
    snr_055: float
    incidence_deg: float
    phase_deg: float
    altitude_m: float
    faults: str  # active instrument faults, ';'-separated
    request_id: int = -1


@dataclass(frozen=True, slots=True)
class Classification:
    """The onboard result for one observation, as the flight computer published it."""

    t_ns: int
    obs_id: int
    cls: str  # '' when not classified
    complex: str
    verdict: str  # water | metal | silicate | other | unclassified
    value: float
    reason: str


@dataclass(frozen=True, slots=True)
class ComputerState:
    t_ns: int
    mode: str
    cpu_s: float  # classifier compute time spent in the last interval (a power load)
    queued: int  # observations waiting for classification (volatile)
    lost: int  # observations lost so far (reset before classification)
    tx_s: float  # transmitter on-time in the last interval
    downlinked_bytes: int  # in the last interval
    stored_products: int


@dataclass(frozen=True, slots=True)
class StorageOps:
    """What the flight software did to the store in one step (bytes)."""

    t_ns: int
    written: int
    deleted: int  # removed to make room for more valuable data, or damaged (dropped)
    refused: int  # could not be written: no room (dropped)
    downlinked: int  # delivered (store-and-forward software: acknowledged by the ground)
    repackaged: int = 0  # removed because written again in another form (product → packets)


@dataclass(frozen=True, slots=True)
class StorageState:
    t_ns: int
    used_bytes: int
    capacity_bytes: int
    produced_bytes: int  # everything the flight software tried to store
    downlinked_bytes: int
    dropped_bytes: int  # deleted + refused
    repackaged_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Downlinked:
    """One product sent to the ground, with its bytes; arrives after the light time."""

    t_ns: int
    product_id: int
    kind: str
    obs_id: int
    n_bytes: int
    arrive_ns: int
    payload: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class LookRequestMsg:
    """The flight computer asks the spectrometer to look at a surface point again."""

    t_ns: int
    request_id: int
    lat_deg: float
    lon_deg: float
    integration_scale: float
    source_obs_id: int
    expires_ns: int


@dataclass(frozen=True, slots=True)
class Uplinked:
    """A telecommand on its way up: sent by the ground at t_ns, on board at arrive_ns."""

    t_ns: int
    arrive_ns: int
    corrupted: bool  # bits were flipped on the way (an uplink fault)
    raw: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Event:
    t_ns: int
    source: str
    severity: str  # info | warning | error
    text: str


# channel → (type, keep every message for drain/history)
CHANNELS: dict[str, tuple[type, bool]] = {
    "fault": (FaultMsg, True),
    "orbit": (OrbitState, False),
    "geometry": (Geometry, False),
    "power": (PowerState, False),
    "link": (LinkState, False),
    "mode": (ModeCmd, False),
    "frame": (Frame, True),
    "truth": (Truth, True),
    "classification": (Classification, True),
    "computer": (ComputerState, False),
    "storage_ops": (StorageOps, False),
    "storage": (StorageState, False),
    "downlink": (Downlinked, True),
    "reobs": (LookRequestMsg, True),
    "uplink": (Uplinked, True),
    "event": (Event, True),
}
