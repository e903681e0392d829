"""The flight-software section of report.json, and the science return against a baseline.

Built from two vantage points, kept apart: what happened on board (the executive's own
event stream, counters, stores — the simulator can look) and what reached the ground (the
decoded archive — what operators would know). The telemetry accounting checks one against
the other: every sequence count generated on board is on the ground or still stored on
board at the end (store-and-forward: nothing lost).

Science return (EO-1's figure of merit, Chien et al. 2005): science events the ground knows
of, per MB the spacecraft transmitted, counted the same way for autonomy and for the
send-everything baseline flown on the same scenario and seed (`fly_baseline`): a science
event is an observation whose value reaches `auto.event_threshold`, learnt either from a
TM[140,1] report or by classifying a raw spectrum received on the ground
(`sim.gse.metrics`).
"""

from __future__ import annotations

from collections import Counter

from firmware.fsw.events import EVENTS
from firmware.fsw.pus import Apid
from sim.gse.metrics import events_per_mb, ground_science_events
from sim.timebase import NS_PER_S

SCIENCE_APIDS = ("SCI", "XFER")


def _s(t_ns: int) -> float:
    return round(t_ns / NS_PER_S, 3)


def telemetry_accounting(mission) -> dict:
    """Per APID: counts generated on board, received on the ground, still stored on board,
    and any generated count in neither place (lost: must be none)."""
    exe = mission.computer.onboard.exe
    tracks = mission.ground.station.decoder.tracks
    out = {}
    for apid in Apid:
        generated = exe.mass.counters.seq.get(int(apid), 0)
        track = tracks.get(int(apid))
        ground = set(track.seen) if track else set()
        onboard = {s.seq for s in exe.mass.tm.queues[int(apid)]}
        lost = sorted(set(range(generated)) - ground - onboard)
        out[apid.name] = {
            "apid": f"{int(apid):#05x}", "generated": generated, "on_ground": len(ground),
            "onboard_at_end": len(onboard), "lost": len(lost), "first_lost": lost[:5],
            "duplicates_received": track.duplicates if track else 0,
            "ground_contiguous_from_0": bool(not ground or (min(ground) == 0 and track.gaps() == 0)),
        }  # fmt: skip
    return out


def science_return(mission) -> dict:
    """Science events known on the ground per MB transmitted (all packets, and science
    packets only)."""
    onboard = mission.computer.onboard
    exe = onboard.exe
    dec = mission.ground.station.decoder
    threshold = exe.params["auto.event_threshold"]
    found = ground_science_events(dec, threshold, value=onboard._value)
    by_kind = Counter()
    for m in mission.bus.history("downlink"):
        by_kind[m.kind] += m.n_bytes
    total = sum(by_kind.values())
    science = sum(by_kind[k] for k in SCIENCE_APIDS)
    resource = _resource_obs(mission)
    return {
        "policy": "send everything (auto.send_all)" if exe.params["auto.send_all"] else "autonomy",
        "science_events_on_ground": len(found),
        "resource_observations_on_ground": len(found & resource),
        "bytes_transmitted": total, "bytes_transmitted_science": science,
        "bytes_transmitted_by_apid": dict(sorted(by_kind.items())),
        "events_per_mb": round(events_per_mb(len(found), total), 3),
        "events_per_mb_science_bytes": round(events_per_mb(len(found), science), 3),
    }  # fmt: skip


def _resource_obs(mission) -> set[int]:
    units = mission.surface.units
    return {t.obs_id for t in mission.bus.history("truth") if units[t.unit].resource != "none"}


def fly_baseline(scenario, **kwargs) -> dict:
    """The same scenario and seed with the send-everything baseline; its science return."""
    from sim.mission import build_mission
    from sim.scenario import load_scenario

    params = dict(scenario.config["spacecraft"]["computer"]["params"])
    params["auto.send_all"] = 1
    over = {**scenario.overrides, "mission.compare_send_all": False}
    base = load_scenario(scenario.path, overrides=over)
    base.config["spacecraft"]["computer"]["params"] = params
    m = build_mission(base, **{k: v for k, v in kwargs.items() if k != "progress"})
    m.start()
    m.finish()
    out = science_return(m)
    out["wall_s"] = m.wall_s  # not deterministic: moved to timing.json by sim.outputs
    return out


def compare(autonomy: dict, baseline: dict | None) -> dict:
    if baseline is None:
        return {"autonomy": autonomy}
    base = {k: v for k, v in baseline.items() if k != "wall_s"}
    factor = autonomy["events_per_mb"] / base["events_per_mb"] if base["events_per_mb"] else None
    sci = base["events_per_mb_science_bytes"]
    return {
        "autonomy": autonomy, "send_everything": base,
        "factor": round(factor, 2) if factor is not None else None,
        "factor_science_bytes": round(autonomy["events_per_mb_science_bytes"] / sci, 2) if sci else None,
    }  # fmt: skip


def reobservations(mission) -> list[dict]:
    """Every PROSPECT request: the find, the look the instrument took, what it showed."""
    onboard = mission.computer.onboard
    looks = {x.obs_id: x for x in onboard.results}
    truth = {t.obs_id: t for t in mission.bus.history("truth")}
    frames = {f.obs_id: f for f in mission.bus.history("frame")}
    units = mission.surface.units
    by_request = {f.request_id: f for f in frames.values() if f.request_id >= 0}
    outcome = {}
    for e in onboard.events:
        name = EVENTS[e.id].id.name
        if name in ("FIND_CONFIRMED", "FIND_NOT_CONFIRMED"):
            outcome.setdefault(e.values["obs_id"], (name, e.t_ns))
    rows = []
    for req in mission.bus.history("reobs"):
        src = looks.get(req.source_obs_id)
        f = by_request.get(req.request_id)
        look = looks.get(f.obs_id) if f else None
        verdict = outcome.get(req.source_obs_id)
        t_src = truth.get(req.source_obs_id)
        rows.append({
            "request_id": req.request_id, "requested_s": _s(req.t_ns),
            "source_obs_id": req.source_obs_id,
            "source_class": src.cls if src else None, "source_value": round(src.value, 4) if src else None,
            "source_snr": round(frames[req.source_obs_id].snr_median, 2) if req.source_obs_id in frames else None,
            "reobs_obs_id": f.obs_id if f else None, "reobs_s": _s(f.t_ns) if f else None,
            "delay_s": _s(f.t_ns - req.t_ns) if f else None,
            "integration_scale": f.integration_scale if f else req.integration_scale,
            "reobs_snr": round(f.snr_median, 2) if f else None,
            "reobs_class": look.cls if look else None, "reobs_value": round(look.value, 4) if look else None,
            "outcome": verdict[0] if verdict else "pending",
            "true_unit": units[t_src.unit].name if t_src else None,
            "true_resource": units[t_src.unit].resource if t_src else None,
            "reobs_true_unit": units[truth[f.obs_id].unit].name if f and f.obs_id in truth else None,
        })  # fmt: skip
    return rows


def fsw_section(mission) -> dict:
    onboard = mission.computer.onboard
    exe = onboard.exe
    seg = mission.ground
    dec = seg.station.decoder
    events = onboard.events
    counts = Counter(EVENTS[e.id].id.name for e in events)
    on_ground = Counter(r["event"] for r in dec.tables.get("events", []))
    modes = [
        {"t_s": _s(e.t_ns), "from": e.values["from_mode"], "to": e.values["to_mode"], "reason": e.values["reason"]}
        for e in events if EVENTS[e.id].id.name == "MODE_CHANGED"
    ]  # fmt: skip
    from firmware.fsw.event_text import describe_event

    fdir = [{"t_s": _s(e.t_ns), "event": describe_event(e)} for e in events
            if EVENTS[e.id].id.name in ("FDIR_RESPONSE", "FDIR_RECOVERED", "SAFE_MODE_ENTERED",
                                         "FAULTS_CLEARED", "MODEL_RELOADED")]  # fmt: skip
    tot = onboard.totals()  # over every software image (reboots restart the counters)
    products = dec.products
    prod_kinds = Counter(p["kind"] for p in products.values())
    d = exe.dispatcher.stats
    return {
        "software": "firmware.fsw (flight executive)",
        "fast_period_s": exe.config.fast_period_ns / NS_PER_S,
        "boots": int(exe.params["sys.boot_count"]),
        "rate_groups": {name: {"cycles": g.cycles, "slips": g.slips, "missed": g.missed,
                               "max_cost_us": g.max_cost_ns // 1000} for name, g in exe._groups.items()},  # fmt: skip
        "modes": {"final": exe.mode.name, "changes": len(modes), "log": _named_modes(modes)},
        "events": {"raised_on_board": dict(sorted(counts.items())), "on_ground": dict(sorted(on_ground.items()))},
        "fdir": fdir,
        "upsets": mission.computer.upsets,
        "commands": {
            "on_board": {**d, "rx_queue_dropped": exe.rx_dropped, "lost_while_off": onboard.tc_lost_off},
            "ground": {k: mission.ground.stats[k] for k in ("tc_sent", "tc_corrupted", "tc_bytes")},
            "log": seg.ops.log,
            "verification_on_ground": dict(sorted(Counter(r["report"] for r in dec.tables.get("verification", [])).items())),
        },  # fmt: skip
        "science": {
            **{k: tot[k] for k in ("observations", "classified", "quality_rejects", "classify_failed",
                                   "ignored", "dropped", *exe.autonomy.stats)},
            "science_events_on_ground": len(dec.tables.get("science_events", [])),
            "reobservations": reobservations(mission),
        },  # fmt: skip
        "products": {
            "created": exe.mass.products.created, "discarded": exe.mass.products.discarded,
            "onboard_at_end": len(exe.mass.products.items),
            "on_ground": len(products), "on_ground_by_kind": dict(sorted(prod_kinds.items())),
            "incomplete_transfers": len(dec.transfers),
        },  # fmt: skip
        "telemetry": {
            "transmitted_packets": onboard.transmitted_packets, "transmitted_bytes": onboard.transmitted_bytes,
            "retransmitted_packets": exe.mass.tm.resent_packets,
            "unheard_packets": seg.stats["tm_unheard"], "received_packets": seg.stats["tm_received"],
            "decode_errors": dec.payload_errors, "archive_packets": seg.archive.packets,
            "archive_bytes": seg.archive.bytes, "per_apid": telemetry_accounting(mission),
        },  # fmt: skip
        "science_return": compare(science_return(mission), mission.extra.get("baseline")),
    }


def _named_modes(rows: list[dict]) -> list[dict]:
    from firmware.fsw.modes import Mode, Reason

    return [{**r, "from": Mode(r["from"]).name, "to": Mode(r["to"]).name, "reason": Reason(r["reason"]).name}
            for r in rows]  # fmt: skip
