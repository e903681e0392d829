"""report.json: what a finished mission did, judged against the surface truth.

Everything here is a deterministic function of the scenario and seed; wall-clock numbers
(speed-up over real time) live in timing.json, written separately (sim.outputs).
Accuracy compares each onboard class (the `w` suffix ignored) with the true class of the
unit that dominates the footprint; rates are over classified spectra (as the spectral
core's own validation), with refusals counted beside them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime

import numpy as np

from firmware.busdemeo import classify
from firmware.onboard import CRC_BYTES, SPECTRUM_HEADER
from firmware.taxonomy import complex_of
from firmware.validation import strip_w
from sim.fault_report import fault_timeline
from sim.fsw_report import fsw_section
from sim.ledger import energy_budget, storage_budget
from sim.spectra import load_source
from sim.timebase import NS_PER_S, iso

SNR_BINS = (0, 5, 10, 20, 50, 100, math.inf)


def r(x, nd: int = 4):
    """Round floats for the report (keeps it short and stable); pass other types through."""
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if not math.isfinite(x) else round(x, nd)
    return x


def ground_knowledge(mission) -> dict[int, set]:
    """obs ID → what of it reached the ground: 'result' (its result record, or for the
    executive its science event report) and/or 'spectrum' (its raw spectrum)."""
    on_ground: dict[int, set] = defaultdict(set)
    if getattr(mission, "packet_link", False):
        dec = mission.ground.station.decoder
        for row in dec.tables.get("science_events", []):
            on_ground[row["obs_id"]].add("result")
        for prod in dec.products.values():
            if prod["kind"] == "SPECTRUM":
                on_ground[prod["obs_id"]].add("spectrum")
        return on_ground
    for _, prod in mission.ground.received:
        on_ground[prod["obs_id"]].add(prod["kind"])
    return on_ground


def observation_table(mission) -> list[dict]:
    """One row per observation: truth, onboard result, and what reached the ground."""
    truth = {t.obs_id: t for t in mission.bus.history("truth")}
    cls = {c.obs_id: c for c in mission.bus.history("classification")}
    frames = {f.obs_id: f for f in mission.bus.history("frame")}
    on_ground = ground_knowledge(mission)
    units = mission.surface.units
    rows = []
    for oid in sorted(truth):
        t, c, f = truth[oid], cls.get(oid), frames[oid]
        u = units[t.unit]
        rows.append({
            "obs_id": oid, "t_s": t.t_ns / NS_PER_S, "lat_deg": f.lat_deg, "lon_deg": f.lon_deg,
            "unit": u.name, "truth_class": u.truth_class, "resource": u.resource,
            "purity": t.purity, "snr_median": t.snr_median, "snr_055": t.snr_055,
            "incidence_deg": t.incidence_deg, "phase_deg": t.phase_deg, "altitude_m": t.altitude_m,
            "faults": t.faults, "n_saturated": f.n_saturated, "request_id": f.request_id,
            "integration_scale": f.integration_scale,
            "class": c.cls if c else "", "complex": c.complex if c else "",
            "verdict": c.verdict if c else "lost", "value": c.value if c else 0.0,
            "reason": c.reason if c else "lost before classification",
            "result_on_ground": "result" in on_ground[oid],
            "spectrum_on_ground": "spectrum" in on_ground[oid],
        })  # fmt: skip
    return rows


def _score(rows: list[dict]) -> dict:
    done = [x for x in rows if x["class"]]
    exact = sum(strip_w(x["class"]) == x["truth_class"] for x in done)
    cplx = sum(complex_of(x["class"]) == complex_of(x["truth_class"]) for x in done)
    n = len(done)
    return {"observations": len(rows), "classified": n, "unclassified": len(rows) - n,
            "exact": r(exact / n) if n else None, "complex": r(cplx / n) if n else None}  # fmt: skip


def accuracy(rows: list[dict], units) -> dict:
    per_unit = []
    for u in units:
        sub = [x for x in rows if x["unit"] == u.name]
        predicted = Counter(strip_w(x["class"]) or "—" for x in sub)
        per_unit.append({"unit": u.name, "truth_class": u.truth_class, **_score(sub),
                         "predicted": dict(sorted(predicted.items(), key=lambda kv: (-kv[1], kv[0])))})  # fmt: skip
    per_snr = []
    for lo, hi in zip(SNR_BINS[:-1], SNR_BINS[1:], strict=True):
        sub = [x for x in rows if lo <= x["snr_median"] < hi]
        if sub:
            per_snr.append({"snr_min": lo, "snr_max": None if math.isinf(hi) else hi, **_score(sub)})
    labels = sorted({x["truth_class"] for x in rows} | {strip_w(x["class"]) for x in rows if x["class"]})
    idx = {c: i for i, c in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for x in rows:
        if x["class"]:
            matrix[idx[x["truth_class"]]][idx[strip_w(x["class"])]] += 1
    return {
        "overall": _score(rows),
        "pure_footprints": _score([x for x in rows if x["purity"] >= 0.999]),
        "no_active_fault": _score([x for x in rows if not x["faults"]]),
        "per_unit": per_unit, "per_snr": per_snr,
        "confusion": {"rows": "true class", "columns": "onboard class (w ignored)",
                      "labels": labels, "matrix": matrix},
    }  # fmt: skip


def core_on_sources(units) -> list[dict]:
    """The spectral core on each unit's source spectrum, as published (its own axis)."""
    out = []
    for u in units:
        src = load_source(u.source)
        res = classify(src.wavelength_um, src.reflectance, source=u.source)
        out.append({"unit": u.name, "truth_class": u.truth_class, "core_class": res.cls or "",
                    "exact": strip_w(res.cls) == u.truth_class if res.cls else False})  # fmt: skip
    return out


def prospecting(rows: list[dict], mission) -> dict:
    out = {}
    for resource in ("water", "metal"):
        truth = [x for x in rows if x["resource"] == resource]
        flagged = [x for x in rows if x["verdict"] == resource]
        tp = sum(1 for x in flagged if x["resource"] == resource)
        out[resource] = {
            "observations_of_truth": len(truth), "flagged": len(flagged), "true_positives": tp,
            "precision": r(tp / len(flagged)) if flagged else None,
            "recall": r(tp / len(truth)) if truth else None,
            "flagged_results_on_ground": sum(x["result_on_ground"] for x in flagged),
            "flagged_spectra_on_ground": sum(x["spectrum_on_ground"] for x in flagged),
        }  # fmt: skip
    cells: dict[tuple, dict] = {}
    s = mission.surface
    for x in rows:
        if x["verdict"] not in ("water", "metal"):
            continue
        i, j = (int(v) for v in s.cell_of(x["lat_deg"], x["lon_deg"]))
        key = (x["verdict"], i, j)
        lat, lon = s.cell_centres()
        cell = cells.setdefault(key, {
            "verdict": x["verdict"], "lat_deg": r(float(lat[i]), 2), "lon_deg": r(float(lon[j]), 2),
            "observations": 0, "first_t_s": x["t_s"], "true_units": Counter(), "on_ground": False,
        })  # fmt: skip
        cell["observations"] += 1
        cell["true_units"][x["unit"]] += 1
        cell["on_ground"] |= x["result_on_ground"]
    finds = sorted(cells.values(), key=lambda c: (c["first_t_s"], c["verdict"], c["lat_deg"], c["lon_deg"]))
    for c in finds:
        c["true_units"] = dict(sorted(c["true_units"].items()))
        c["first_t_s"] = r(c["first_t_s"], 1)
    out["finds"] = finds
    return out


def raw_spectrum_bytes(mission) -> int:
    """What one raw spectrum costs on the link in this software's format."""
    n = mission.instrument.bands_um.size
    if getattr(mission, "packet_link", False):
        from firmware.fsw.products import spectrum_product_bytes
        from firmware.fsw.pus import TM_HEADER_LEN
        from firmware.fsw.transfer import parts_overhead_bytes

        part = int(mission.computer.onboard.exe.params["xfer.part_bytes"])
        return parts_overhead_bytes(spectrum_product_bytes(n), part, TM_HEADER_LEN + 2)
    return SPECTRUM_HEADER.size + 3 * n + CRC_BYTES


def downlink_summary(mission, rows: list[dict]) -> dict:
    sent = mission.bus.history("downlink")
    by_kind = Counter()
    for m in sent:
        by_kind[m.kind] += m.n_bytes
    # what sending every raw spectrum would cost: one spectrum product per observation
    raw = len(rows) * raw_spectrum_bytes(mission)
    comms = mission.comms
    g = mission.ground
    if getattr(mission, "packet_link", False):
        received, in_flight = g.stats["bytes_received"], sum(len(x[2]) for x in g.in_flight)
        errors = [r["error"] for r in g.station.decoder.rows if r.get("error")]
    else:
        received, in_flight = g.received_bytes, sum(m.n_bytes for m in g.in_flight)
        errors = g.decode_errors
    return {
        "rate_bps": r(comms.rate_bps, 2), "one_way_light_time_s": r(comms.owlt_s, 2),
        "bytes_sent": sum(by_kind.values()), "bytes_sent_by_kind": dict(sorted(by_kind.items())),
        "bytes_received_on_ground": received,
        "bytes_in_flight_at_end": in_flight,
        "raw_bytes_all_spectra": raw,
        "sent_over_raw": r(sum(by_kind.values()) / raw) if raw else None,
        "results_on_ground": sum(x["result_on_ground"] for x in rows),
        "spectra_on_ground": sum(x["spectrum_on_ground"] for x in rows),
        "decode_errors": errors,
        "passes": [{
            "pass_id": w.pass_id, "station": w.station, "start": iso(mission.scenario.epoch, w.start_ns),
            "duration_s": r((w.end_ns - w.start_ns) / NS_PER_S, 1), "contact_s": r(w.contact_s, 1),
            "bytes": w.bytes_sent, "outage": w.outage,
        } for w in comms.windows],
    }  # fmt: skip


def build_report(mission, rows: list[dict] | None = None) -> dict:
    sc = mission.scenario
    rows = observation_table(mission) if rows is None else rows
    inst, comp = mission.instrument, mission.computer
    epoch = sc.epoch
    events = [{"t_s": r(e.t_ns / NS_PER_S, 1), "time": iso(epoch, e.t_ns), "source": e.source,
               "severity": e.severity, "text": e.text} for e in mission.bus.history("event")]  # fmt: skip
    reasons = Counter(x["reason"] for x in rows if not x["class"] and x["verdict"] != "lost")
    orbit = mission.eph.orbit
    energy = mission.recorders["orbit"].column("specific_energy_j_kg")
    st = mission.stats
    onboard = mission.extra["onboard"]
    return {
        "scenario": {
            "name": sc.name, "file": sc.path.split("/seeds/")[-1] if "/seeds/" in sc.path else sc.path,
            "sha256": sc.sha256, "description": sc.config["mission"]["description"],
            "overrides": sc.overrides, "resolved": _jsonable(sc.config),
        },
        "seed": sc.seed, "module_seeds": sc.module_seeds,
        "simulation": {
            "epoch": iso(epoch, 0), "duration_s": sc.duration_ns / NS_PER_S, "step_s": sc.step_ns / NS_PER_S,
            "module_updates": st.steps, "fine_steps": st.fine_steps, "skips": st.skips,
            "skipped_s": st.skipped_ns / NS_PER_S,
            "speed_up_over_real_time": "wall-clock dependent: see timing.json",
        },
        "target": {
            "name": sc.config["target"]["name"], "units": [{
                "name": u.name, "source": u.source, "description": u.description,
                "truth_class": u.truth_class, "albedo": u.albedo, "resource": u.resource,
                "area_fraction": r(float(a)),
            } for u, a in zip(mission.surface.units, mission.surface.area_fractions(), strict=True)],
        },
        "orbit": {
            "period_s": r(orbit.period_s, 1), "semi_major_axis_m": orbit.a, "eccentricity": orbit.e,
            "specific_energy_j_kg": r(float(energy.mean()), 9),
            "specific_energy_max_relative_drift": r(float(np.max(np.abs(energy / energy[0] - 1))), 15),
        },
        "observations": {
            "taken": len(rows), "classified": sum(1 for x in rows if x["class"]),
            "refused_by_classifier": dict(sorted(reasons.items())), "lost_before_classification": comp.lost,
            "refused_off_body": inst.n_off_body,
            "opportunities_missed_by_mode": dict(sorted(inst.missed.items())),
            "time_in_mode_s": {k: v / NS_PER_S for k, v in sorted(comp.mode_time_ns.items())},
        },
        "onboard": {
            "software": type(onboard).__name__,
            "kind": sc.config["spacecraft"]["computer"]["kind"],
            "classifier": getattr(getattr(onboard, "classifier", None), "name", type(getattr(onboard, "classifier", None)).__name__),
            "valuer": _valuer_name(onboard),
            **_unused_settings(sc.config),
        },
        "accuracy": accuracy(rows, mission.surface.units),
        "core_on_unit_sources": core_on_sources(mission.surface.units),
        "prospecting": prospecting(rows, mission),
        "energy": energy_budget(mission),
        "storage": storage_budget(mission),
        "downlink": downlink_summary(mission, rows),
        "faults": _faults(mission, rows),
        "events": events,
        **({"fsw": fsw_section(mission)} if getattr(mission, "packet_link", False) else {}),
    }  # fmt: skip


def _unused_settings(c: dict) -> dict:
    """Flight-executive settings a simple-loop run does not use (said, not silently dropped)."""
    if c["spacecraft"]["computer"]["kind"] == "fsw":
        return {}
    unused = [f"spacecraft.computer.params.{k}" for k in sorted(c["spacecraft"]["computer"]["params"])]
    unused += ["mission.compare_send_all"] if c["mission"]["compare_send_all"] else []
    return {"unused_settings": unused} if unused else {}


def _valuer_name(onboard) -> str:
    v = getattr(onboard, "valuer", "")
    return v if isinstance(v, str) else getattr(v, "name", "")


def _faults(mission, rows: list[dict]) -> list[dict]:
    out = []
    fsw = getattr(mission, "packet_link", False)
    for start, end, f in mission.faults.schedule:
        sub = [x for x in rows if start / NS_PER_S <= x["t_s"] < end / NS_PER_S]
        out.append({"fault_id": f["fault_id"], "kind": f["kind"], "start_s": start / NS_PER_S,
                    "end_s": end / NS_PER_S, "params": {k: v for k, v in f.items() if k not in ("kind", "start", "duration", "fault_id")},
                    "accuracy_during": _score(sub)})  # fmt: skip
        if fsw:
            out[-1].update(fault_timeline(mission, start, end, f))
        elif f["kind"] == "uplink_corruption":
            out[-1]["effect"] = "none: the simple onboard loop takes no telecommands"
    for f in mission.faults.beyond_end:
        out.append({"fault_id": f["fault_id"], "kind": f["kind"], "start_s": f["start"] / NS_PER_S,
                    "not_reached": "scheduled after the end of this (shortened) mission"})  # fmt: skip
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return obj.isoformat().replace("+00:00", "Z")
    return obj
