"""Time-based scheduling (PUS-C service 11): time-tagged command sequences.

TC[11,4] inserts activities; each is (release time as a CDS short field, group u8, an
embedded TC packet delimited by its own length field). Every embedded TC is validated when
inserted, exactly as the dispatcher would accept it, so a bad sequence is refused whole
before anything runs. At its release time an activity goes through the normal dispatcher
pipeline (its own acceptance/start/completion reports). Activities of a group (group ≠ 0)
form a sequence: when one fails, the rest of its group is deleted and SEQUENCE_ABORTED
raised. While the schedule is disabled (SAFE mode disables it), due activities are not
released: they expire and are counted, and their group is aborted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from firmware.fsw.commands import CommandError
from firmware.fsw.events import Ev, EventLog
from firmware.fsw.pus import (
    TIMESTAMP_LEN,
    FailCode,
    PacketError,
    cds_from_t_ns,
    packet_length,
    t_ns_from_cds,
)

MAX_ACTIVITIES = 64
REPORT_ROW = struct.Struct("!qBIBB")  # release t_ns, group, request ID, service, subtype


@dataclass
class Activity:
    release_ns: int
    group: int
    raw: bytes
    order: int

    @property
    def request_id(self) -> int:
        return struct.unpack_from("!I", self.raw, 0)[0] & 0x1FFF_FFFF


def encode_activities(items: list[tuple[int, int, bytes]], epoch_unix_ms: int) -> bytes:
    """TC[11,4] application data from (release t_ns, group, TC packet) triples."""
    out = [struct.pack("!B", len(items))]
    for t_ns, group, raw in items:
        out.append(cds_from_t_ns(t_ns, epoch_unix_ms) + struct.pack("!B", group) + bytes(raw))
    return b"".join(out)


def decode_activities(data: bytes, epoch_unix_ms: int) -> list[tuple[int, int, bytes]]:
    """Inverse of `encode_activities`; CommandError names the activity and the problem."""
    if not data:
        raise CommandError(FailCode.ARG_MALFORMED, "SCHEDULE_INSERT: missing the u8 count")
    n, pos, out = data[0], 1, []
    if n == 0:
        raise CommandError(FailCode.ARG_OUT_OF_RANGE, "SCHEDULE_INSERT: no activities")
    for i in range(n):
        if pos + TIMESTAMP_LEN + 1 + 6 > len(data):
            raise CommandError(
                FailCode.ARG_MALFORMED, f"SCHEDULE_INSERT: activity {i} of {n} truncated"
            )
        try:
            t_ns = t_ns_from_cds(data[pos : pos + TIMESTAMP_LEN], epoch_unix_ms)
        except ValueError as exc:
            raise CommandError(
                FailCode.ARG_MALFORMED, f"SCHEDULE_INSERT: activity {i}: {exc}"
            ) from exc
        group = data[pos + TIMESTAMP_LEN]
        start = pos + TIMESTAMP_LEN + 1
        try:
            length = packet_length(data[start : start + 6])
        except PacketError as exc:
            raise CommandError(
                FailCode.ARG_MALFORMED, f"SCHEDULE_INSERT: activity {i}: {exc}"
            ) from exc
        if start + length > len(data):
            raise CommandError(
                FailCode.ARG_MALFORMED, f"SCHEDULE_INSERT: activity {i}: embedded TC truncated"
            )
        out.append((t_ns, group, bytes(data[start : start + length])))
        pos = start + length
    if pos != len(data):
        raise CommandError(
            FailCode.ARG_MALFORMED, f"SCHEDULE_INSERT: {len(data) - pos} trailing bytes"
        )
    return out


class Schedule:
    def __init__(self, events: EventLog):
        self._events = events
        self.enabled = True
        self.activities: list[Activity] = []
        self._order = 0
        self.released = 0
        self.expired = 0
        self.aborted = 0

    def validate_insert(self, items, validate_tc, t_ns: int) -> None:
        """Start check of TC[11,4]: room, future release times, every embedded TC valid."""
        if len(self.activities) + len(items) > MAX_ACTIVITIES:
            raise CommandError(
                FailCode.RESOURCE_FULL,
                f"SCHEDULE_INSERT: {len(items)} activities + {len(self.activities)} held "
                f"> {MAX_ACTIVITIES}",
            )
        for i, (release_ns, _group, raw) in enumerate(items):
            if release_ns <= t_ns:
                raise CommandError(
                    FailCode.ARG_OUT_OF_RANGE,
                    f"SCHEDULE_INSERT: activity {i} release time {release_ns} ns "
                    f"is not after now ({t_ns} ns)",
                )
            try:
                validate_tc(raw)
            except CommandError as exc:
                raise CommandError(exc.code, f"SCHEDULE_INSERT: activity {i}: {exc}") from exc

    def insert(self, items) -> None:
        for release_ns, group, raw in items:
            self.activities.append(Activity(release_ns, group, raw, self._order))
            self._order += 1
        self.activities.sort(key=lambda a: (a.release_ns, a.order))

    def delete_group(self, group: int) -> int:
        before = len(self.activities)
        self.activities = [a for a in self.activities if a.group != group]
        return before - len(self.activities)

    def reset(self) -> None:
        self.activities.clear()

    def release_due(self, t_ns: int, run_tc) -> int:
        """Release (or, when disabled, expire) every activity due at `t_ns`.
        `run_tc(raw, t_ns) -> bool` is the dispatcher pipeline."""
        n = 0
        while self.activities and self.activities[0].release_ns <= t_ns:
            act = self.activities.pop(0)
            if not self.enabled:
                self.expired += 1
                self._abort(act, t_ns)
                continue
            n += 1
            self.released += 1
            if not run_tc(act.raw, t_ns):
                self._abort(act, t_ns)
        return n

    def _abort(self, act: Activity, t_ns: int) -> None:
        if act.group == 0:
            return
        deleted = self.delete_group(act.group)
        self.aborted += 1
        self._events.raise_(
            t_ns, Ev.SEQUENCE_ABORTED, group=act.group, request_id=act.request_id, deleted=deleted
        )

    def report(self) -> bytes:
        """TM[11,10] source data: count (u16), then one row per activity in release order."""
        rows = [
            REPORT_ROW.pack(a.release_ns, a.group, a.request_id, a.raw[7], a.raw[8])
            for a in self.activities
        ]
        return struct.pack("!H", len(rows)) + b"".join(rows)
