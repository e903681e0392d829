"""The seam between a host (the mission simulator, a board harness) and onboard software.

Any onboard software — the simple loop of `firmware.onboard` or the flight executive behind
`firmware.fsw.computer.FswComputer` — is an object with `reset(t_ns)` and
`step(OnboardInputs) -> OnboardOutputs`. The host turns its world into `OnboardInputs` each
step (frames, battery, navigation, the link, received telecommands, a processor hang) and
carries out the `OnboardOutputs` (mode, instrument commands, re-observation requests,
products or packets for the radio, the mass-memory byte ledger). Fields the simple loop
does not use have defaults, so both speak the same types. Both call their classifier backend
through `classify_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OnboardInputs:
    t_ns: int
    frames: tuple = ()  # objects with t_ns, obs_id, lat_deg, lon_deg, snr_median, reflectance, error
    soc: float = 1.0
    bus_reset: bool = False  # brown-out: the computer lost power since the last step
    observable: bool = False  # the footprint under the boresight is lit (nadir attitude)
    link_up: bool = False
    window_open: bool = False
    rate_bps: float = 0.0
    downlink_budget_bytes: int = 0  # what the radio could send in the interval just ended
    final: bool = False  # last step of the mission: finish the queue
    # -- used by richer flight software (the simple loop ignores them) --
    contact: bool = False  # the spacecraft's own view: a scheduled pass and Earth in view
    radio_bytes: int = 0  # what the radio can carry over the interval while in contact
    uplink: tuple = ()  # telecommands received in the interval (raw CCSDS packets)
    stall_ns: int = 0  # the processor hangs from t_ns for this long (a CPU hang fault)
    lat_deg: float = float("nan")  # sub-spacecraft point (onboard navigation)
    lon_deg: float = float("nan")


@dataclass(frozen=True)
class ResultRecord:
    obs_id: int
    t_ns: int
    cls: str  # '' = not classified
    complex: str
    verdict: str
    value: float
    reason: str


@dataclass(frozen=True)
class LookRequest:
    """Flight software asks the instrument to look at (lat, lon) again, `integration_scale` ×
    the nominal exposure (a PROSPECT re-observation), until `expires_ns`."""

    request_id: int
    t_ns: int
    lat_deg: float
    lon_deg: float
    integration_scale: float
    source_obs_id: int
    expires_ns: int


@dataclass(frozen=True)
class StorageDelta:
    """Bytes through mass memory in one step, for software that keeps its own ledger."""

    written: int = 0
    deleted: int = 0  # dropped: discarded, superseded, deleted, corrupted
    refused: int = 0  # dropped: never written for want of room
    downlinked: int = 0  # delivered (and, with store-and-forward, acknowledged)
    repackaged: int = 0  # removed in one form because it was written again in another


@dataclass(frozen=True)
class OnboardOutputs:
    mode: str
    results: tuple[ResultRecord, ...] = ()
    written: tuple = ()  # products (objects with n_bytes) the simple loop stored
    deleted: tuple = ()
    refused: tuple = ()
    sent: tuple = ()
    cpu_s: float = 0.0
    tx_s: float = 0.0
    lost: int = 0
    events: tuple[str, ...] = ()
    # -- richer flight software --
    packets: tuple[bytes, ...] = ()  # CCSDS packets handed to the radio, in order
    requests: tuple[LookRequest, ...] = ()
    instrument_on: bool | None = None  # None: on exactly in SURVEY
    integration_scale: float = 1.0  # commanded exposure × nominal
    storage: StorageDelta | None = None  # None: sum the product tuples
    event_records: tuple = ()  # (severity, text) pairs, when severities are known

    def storage_delta(self) -> StorageDelta:
        if self.storage is not None:
            return self.storage
        return StorageDelta(
            sum(p.n_bytes for p in self.written), sum(p.n_bytes for p in self.deleted),
            sum(p.n_bytes for p in self.refused), sum(p.n_bytes for p in self.sent),
        )  # fmt: skip


def classify_frames(classifier, wavelength_um, reflectance, error, obs_ids):
    """`classifier.classify(wavelength_um, reflectance (N, B), error)`, with `obs_ids=` (one
    per row) for a classifier that sets `wants_obs_ids` (a board keeping a per-spectrum table,
    `hil.pil.BoardInTheLoop`); the host core takes the spectra alone."""
    if getattr(classifier, "wants_obs_ids", False):
        return classifier.classify(wavelength_um, reflectance, error, obs_ids=obs_ids)
    return classifier.classify(wavelength_um, reflectance, error)
