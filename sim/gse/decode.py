"""Packet decoder: raw CCSDS/PUS packets → rows and tables, live or offline.

The same `Decoder` serves the ground station as packets arrive and `assay decode` over an
archive. It reads the flight software's own definitions (command dictionary, event table,
housekeeping structures, parameter table, product formats), so ground and flight cannot drift
apart. Per APID it unwraps the 14-bit sequence counts, flags duplicates (retransmissions) and
counts gaps; it reassembles PUS 13 transfers into products and checks their CRC-32. A payload
it cannot read becomes a row with an `error` — never an exception, never a dropped packet.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field

from firmware.fsw import commands as cmds
from firmware.fsw.autonomy import SCIENCE_EVENT, ValueKind
from firmware.fsw.events import EVENTS, Severity, unpack_event
from firmware.fsw.housekeeping import unpack_report
from firmware.fsw.monitoring import unpack_transitions
from firmware.fsw.params import PARAMS, unpack_values
from firmware.fsw.products import ProductError, decode_product
from firmware.fsw.pus import (
    DEFAULT_EPOCH_UNIX_MS,
    SEQ_COUNT_MODULO,
    FailCode,
    PacketError,
    Service,
    Verif,
    decode_tc,
    decode_tm,
    decode_verification,
    is_tc,
)
from firmware.fsw.schedule import REPORT_ROW, decode_activities
from firmware.fsw.services import CATALOGUE_ROW
from firmware.fsw.transfer import FIRST, LAST, parse_part
from firmware.taxonomy import CLASS_NAMES

HALF_WINDOW = SEQ_COUNT_MODULO // 2
SEVERITIES = {int(s) for s in Severity}


@dataclass
class ApidTrack:
    """Sequence-count bookkeeping of one APID (unwrapped across the 14-bit rollover)."""

    last: int | None = None
    seen: dict[int, bytes] = field(default_factory=dict)
    duplicates: int = 0
    conflicts: int = 0  # a count reused with different content: a flight software bug

    def unwrap(self, seq14: int) -> int:
        if self.last is None:
            return seq14
        delta = (seq14 - self.last) % SEQ_COUNT_MODULO
        if delta >= HALF_WINDOW:
            delta -= SEQ_COUNT_MODULO
        return self.last + delta

    def add(self, seq14: int, raw: bytes) -> tuple[int, bool]:
        """(unwrapped count, duplicate?)"""
        n = self.unwrap(seq14)
        dup = n in self.seen and self.seen[n] == raw
        self.duplicates += dup
        self.conflicts += n in self.seen and not dup
        self.seen.setdefault(n, raw)
        self.last = n if self.last is None else max(self.last, n)
        return n, dup

    def contiguous_high(self) -> int | None:
        """Highest count c such that every count from the first seen to c was received."""
        if not self.seen:
            return None
        c = min(self.seen)
        while c + 1 in self.seen:
            c += 1
        return c

    def gaps(self) -> int:
        return 0 if not self.seen else (max(self.seen) - min(self.seen) + 1) - len(self.seen)


def utc(t_ns: int, epoch_unix_ms: int) -> str:
    return (
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        + dt.timedelta(milliseconds=epoch_unix_ms + t_ns // 1_000_000)
    ).isoformat()


class Decoder:
    def __init__(self, epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS):
        self.epoch_unix_ms = epoch_unix_ms
        self.rows: list[dict] = []
        self.tables: dict[str, list[dict]] = {}
        self.tracks: dict[int, ApidTrack] = {}
        self.tc_names: dict[int, str] = {}  # request ID → command name
        self.transfers: dict[int, dict] = {}  # transaction ID → {"parts": {n: bytes}, "last": n}
        self.products: dict[int, dict] = {}
        self.payload_errors = 0

    def _table(self, name: str, row: dict) -> None:
        self.tables.setdefault(name, []).append(row)

    def feed(self, raw: bytes, offset: int | None = None, t_rx_ns: int | None = None) -> dict:
        """Decode one packet (CRC and header checks included) into a row; also fills tables."""
        row: dict = {
            "index": len(self.rows),
            "offset": offset,
            "length": len(raw),
            "t_rx_ns": t_rx_ns,
        }
        try:
            if is_tc(raw):
                self._tc(decode_tc(raw), row)
            else:
                self._tm(decode_tm(raw, self.epoch_unix_ms), row)
        except PacketError as exc:
            row.update(
                type="TC" if raw and is_tc(raw) else "TM", error=f"{FailCode(exc.code).name}: {exc}"
            )
            self.payload_errors += 1
        except (ValueError, KeyError, IndexError, struct.error, ProductError) as exc:
            row["error"] = f"payload: {exc}"
            self.payload_errors += 1
        self.rows.append(row)
        return row

    # --- telecommands ----------------------------------------------------------------------

    def _tc(self, tc, row: dict) -> None:
        spec = cmds.BY_KEY.get((tc.service, tc.subtype))
        name = spec.name if spec else f"TC[{tc.service},{tc.subtype}]"
        row.update(
            type="TC",
            apid=tc.apid,
            seq=tc.seq_count,
            service=tc.service,
            subtype=tc.subtype,
            name=name,
            request_id=tc.request_id,
        )
        args: dict | str = {}
        if spec is not None and not spec.variable:
            args = spec.decode(tc.data)
        elif spec is not None and spec.variable == "function":
            f, fargs = cmds.decode_function(tc.data)
            name = f"{name}:{f.name}"
            args = fargs
        elif spec is not None and spec.variable == "activities":  # name the embedded TCs too
            args = {"activities": []}
            for release_ns, group, raw in decode_activities(tc.data, self.epoch_unix_ms):
                inner = decode_tc(raw)
                sub = {
                    "request_id": inner.request_id,
                    "seq": inner.seq_count,
                    "name": "?",
                    "args": {},
                }
                self._tc(inner, sub)
                args["activities"].append(
                    {"release_ns": release_ns, "group": group, "name": sub["name"]}
                )
        elif tc.data:
            args = tc.data.hex()
        row["name"] = name
        row["args"] = args
        self.tc_names[tc.request_id] = name
        self._table(
            "commands",
            {"request_id": tc.request_id, "seq": tc.seq_count, "name": name, "args": args},
        )

    # --- telemetry -------------------------------------------------------------------------

    def _tm(self, tm, row: dict) -> None:
        track = self.tracks.setdefault(tm.apid, ApidTrack())
        count, dup = track.add(tm.seq_count, tm.raw)
        row.update(
            type="TM",
            apid=tm.apid,
            seq=tm.seq_count,
            seq_unwrapped=count,
            duplicate=dup,
            service=tm.service,
            subtype=tm.subtype,
            t_ns=tm.t_ns,
            utc=utc(tm.t_ns, self.epoch_unix_ms),
            msg_counter=tm.msg_counter,
        )
        row["name"] = f"TM[{tm.service},{tm.subtype}]"
        if dup:
            return  # a retransmission: already in the tables
        handler = _HANDLERS.get(tm.service)
        if handler is not None:
            handler(self, tm, row)

    def _verification(self, tm, row):
        v = decode_verification(tm.subtype, tm.data)
        stage = (
            Verif(tm.subtype).name if tm.subtype in Verif._value2member_map_ else str(tm.subtype)
        )
        rec = {
            "t_ns": tm.t_ns,
            "request_id": v.request_id,
            "command": self.tc_names.get(v.request_id, "?"),
            "report": stage,
            "code": FailCode(v.code).name if v.code in FailCode._value2member_map_ else v.code,
            "detail": v.detail.decode("utf-8", "replace"),
        }
        row["name"] = f"VERIFY {stage} {rec['command']}"
        self._table("verification", rec)

    def _event(self, tm, row):
        eid, values = unpack_event(tm.data)
        name = EVENTS[eid].id.name
        row["name"] = (
            f"EVENT {Severity(tm.subtype).name if tm.subtype in SEVERITIES else tm.subtype} {name}"
        )
        self._table("events", {"t_ns": tm.t_ns, "event": name, "severity": tm.subtype, **values})

    def _hk(self, tm, row):
        if tm.subtype != 25:
            return
        structure, values = unpack_report(tm.data)
        row["name"] = f"HK {structure.name}"
        self._table(f"hk_{structure.name}", {"t_ns": tm.t_ns, **values})

    def _monitoring(self, tm, row):
        if tm.subtype == 12:
            for r in unpack_transitions(tm.data):
                self._table("monitoring", {"t_ns": tm.t_ns, **r})

    def _schedule(self, tm, row):
        (n,) = struct.unpack_from("!H", tm.data, 0)
        if len(tm.data) != 2 + n * REPORT_ROW.size:
            raise ValueError(f"TM[11,10]: {len(tm.data)} bytes for {n} rows")
        for k in range(n):
            t, group, rid, svc, sub = REPORT_ROW.unpack_from(tm.data, 2 + k * REPORT_ROW.size)
            self._table(
                "schedule",
                {
                    "t_ns": tm.t_ns,
                    "release_ns": t,
                    "group": group,
                    "request_id": rid,
                    "command": (
                        cmds.BY_KEY.get((svc, sub)) or cmds.CommandSpec(svc, sub, "?")
                    ).name,
                },
            )

    def _params(self, tm, row):
        for pid, v in unpack_values(tm.data):
            self._table(
                "parameters", {"t_ns": tm.t_ns, "id": pid, "name": PARAMS[pid].name, "value": v}
            )

    def _prospect(self, tm, row):
        if tm.subtype == 1:
            f = SCIENCE_EVENT.unpack(tm.data)
            cls = CLASS_NAMES[f[4]] if 0 <= f[4] < len(CLASS_NAMES) else None
            kind = ValueKind(f[5]).name if f[5] in ValueKind._value2member_map_ else f[5]
            self._table(
                "science_events",
                {
                    "t_ns": tm.t_ns,
                    "obs_id": f[0],
                    "obs_t_ns": f[1],
                    "lat_deg": f[2],
                    "lon_deg": f[3],
                    "class": cls,
                    "kind": kind,
                    "value": f[6],
                    "snr": f[7],
                    "flags": f[8],
                },
            )
            row["name"] = "SCIENCE_EVENT"
        elif tm.subtype == 2:
            (n,) = struct.unpack_from("!H", tm.data, 0)
            if len(tm.data) != 2 + n * CATALOGUE_ROW.size:
                raise ValueError(f"TM[140,2]: {len(tm.data)} bytes for {n} rows")
            for k in range(n):
                pid, kind, value, size, created = CATALOGUE_ROW.unpack_from(
                    tm.data, 2 + k * CATALOGUE_ROW.size
                )
                self._table(
                    "catalogue",
                    {
                        "t_ns": tm.t_ns,
                        "product_id": pid,
                        "kind": kind,
                        "value": value,
                        "bytes": size,
                        "created_ns": created,
                    },
                )

    def _transfer(self, tm, row):
        tid, part, chunk = parse_part(tm.data)
        row["name"] = f"XFER {tid} part {part}"
        if (tm.subtype == FIRST) != (part == 1) or part < 1:
            raise ValueError(f"transfer {tid}: part {part} carries subtype {tm.subtype}")
        # parts may arrive out of order (a lost part is sent again later): collect by number
        tr = self.transfers.setdefault(tid, {"parts": {}, "last": None})
        tr["parts"][part] = chunk
        if tm.subtype == LAST:
            tr["last"] = part
        if tr["last"] is not None and all(k in tr["parts"] for k in range(1, tr["last"] + 1)):
            blob = b"".join(tr["parts"][k] for k in range(1, tr["last"] + 1))
            del self.transfers[tid]
            product = decode_product(blob)
            self.products[product["product_id"]] = product
            self._table(
                "products",
                {
                    "t_ns": tm.t_ns,
                    **{
                        k: v
                        for k, v in product.items()
                        if not hasattr(v, "shape") and k not in ("cells", "classes")
                    },
                    "bytes": len(blob),
                },
            )

    def _test(self, tm, row):
        row["name"] = "PING_REPLY" if tm.subtype == 2 else row["name"]

    # --- summary ---------------------------------------------------------------------------

    def summary(self) -> dict:
        apids = {}
        for apid, tr in sorted(self.tracks.items()):
            apids[f"{apid:#05x}"] = {
                "packets": len(tr.seen),
                "duplicates": tr.duplicates,
                "gaps": tr.gaps(),
                "conflicts": tr.conflicts,
                "first": min(tr.seen) if tr.seen else None,
                "last": tr.last,
            }
        return {
            "packets": len(self.rows),
            "tc": sum(r.get("type") == "TC" for r in self.rows),
            "tm": sum(r.get("type") == "TM" for r in self.rows),
            "errors": self.payload_errors,
            "apids": apids,
            "products": len(self.products),
            "incomplete_transfers": len(self.transfers),
            "tables": {k: len(v) for k, v in sorted(self.tables.items())},
        }


_HANDLERS = {
    Service.VERIFICATION: Decoder._verification,
    Service.HOUSEKEEPING: Decoder._hk,
    Service.EVENT: Decoder._event,
    Service.SCHEDULING: Decoder._schedule,
    Service.MONITORING: Decoder._monitoring,
    Service.LARGE_DATA: Decoder._transfer,
    Service.TEST: Decoder._test,
    Service.PARAMETER: Decoder._params,
    Service.PROSPECT: Decoder._prospect,
}
