"""Science return per downlinked byte, counted the same way for every downlink policy.

A science event is an observation whose value (the onboard value function, default
`busdemeo_value`) reaches `auto.event_threshold`. The ground learns of one either from a
science event report (TM[140,1], autonomy) or by classifying a raw spectrum it received
(the send-everything baseline, where nothing is judged onboard). Both routes are counted for
both policies, so the comparison is fair: events the ground knows of, per MB the spacecraft
had to transmit (EO-1 ASE's figure of merit, Chien et al. 2005).
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.fsw.autonomy import FLAG_REOBSERVATION
from firmware.fsw.messages import Observation

BYTES_PER_MB = 1_000_000


def ground_science_events(
    decoder, event_threshold: float, classify: Callable | None = None, value: Callable | None = None
) -> set[int]:
    """Observation IDs known on the ground to be science events."""
    if classify is None or value is None:
        from firmware.fsw.autonomy import busdemeo_value
        from firmware.fsw.science import classify_one

        classify = classify or (
            lambda p: classify_one(p["wavelength_um"], p["reflectance"], p["error"])
        )
        value = value or busdemeo_value
    found = {
        r["obs_id"]
        for r in decoder.tables.get("science_events", [])
        if r["value"] >= event_threshold and not r["flags"] & FLAG_REOBSERVATION  # a target once
    }
    reobserved = {
        r["obs_id"]
        for r in decoder.tables.get("science_events", [])
        if r["flags"] & FLAG_REOBSERVATION
    }
    for product in decoder.products.values():
        if product["kind"] == "SPECTRUM" and product["obs_id"] not in found | reobserved:
            obs = Observation(product["obs_id"], product["obs_t_ns"], product["wavelength_um"],
                              product["reflectance"], product["error"])  # fmt: skip
            if value(classify(product), obs).score >= event_threshold:
                found.add(product["obs_id"])
    return found


def events_per_mb(n_events: int, bytes_downlinked: int) -> float:
    return n_events / (bytes_downlinked / BYTES_PER_MB) if bytes_downlinked else 0.0
