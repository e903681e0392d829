"""Telemetry store: priorities, store-and-forward until acknowledged, in mass memory.

Every TM packet is stored when it is generated (sequence count assigned then, per APID) and
stays until the ground acknowledges it, so a missed pass or a dropped packet is sent again;
nothing is deleted unacknowledged. The store lives in `MassMemory`, which (like flash on a
real spacecraft) survives a processor reset together with the sequence counters, so counts
stay contiguous across resets.

Priorities: one per APID (verification and events first, then science events, housekeeping,
product parts). Transmission takes APIDs in priority order and, within an APID, packets in
sequence order (go-back-N: when the oldest unacknowledged packet of an APID has waited
`retransmit_ns` since it was sent, that APID is sent again from it). Admission reserves
headroom per priority: low-priority traffic is refused (and counted, with an event) before
it can crowd out events and command reports. A refused packet never gets a sequence count,
so refusals leave no gap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import islice

from firmware.fsw.pus import SEQ_COUNT_MODULO, Apid, Counters, crc_ok

# APID → (priority, share of the capacity it may fill). Lower priority value = sent first.
PRIORITY: dict[int, tuple[int, float]] = {
    Apid.CMD: (0, 1.00),
    Apid.EVT: (0, 1.00),
    Apid.SCI: (1, 0.95),
    Apid.HK: (2, 0.90),
    Apid.XFER: (3, 0.97),
}


@dataclass
class Stored:
    seq: int  # unbounded sequence count (the packet carries seq mod 2^14)
    raw: bytes
    sent_ns: int | None = None


@dataclass
class AckResult:
    removed: int
    bytes: int


class TmStore:
    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = int(capacity_bytes)
        self.queues: dict[int, deque[Stored]] = {int(a): deque() for a in PRIORITY}
        self._cursor: dict[int, int] = {int(a): 0 for a in PRIORITY}  # next index to send
        self.used_bytes = 0
        self.suppressed: dict[int, int] = {int(a): 0 for a in PRIORITY}
        self.sent_packets = 0
        self.sent_bytes = 0
        self.resent_packets = 0
        # byte ledger (what the simulator's mass-memory budget balances against)
        self.appended_bytes = 0
        self.acked_bytes = 0
        self.refused_bytes = 0
        self.scrub_removed_bytes = 0
        self.scrub_added_bytes = 0
        self._scrub_apid, self._scrub_seq = min(self.queues), -1

    def admits(self, apid: int, n_bytes: int, other_bytes: int = 0) -> bool:
        """Would a packet of `n_bytes` fit under this APID's share (with `other_bytes` of
        products sharing the same memory)?"""
        share = PRIORITY[apid][1]
        return self.used_bytes + other_bytes + n_bytes <= share * self.capacity_bytes

    def append(self, apid: int, seq: int, raw: bytes) -> None:
        self.queues[apid].append(Stored(seq, raw))
        self.used_bytes += len(raw)
        self.appended_bytes += len(raw)

    def refuse(self, apid: int, n_bytes: int = 0) -> None:
        self.suppressed[apid] += 1
        self.refused_bytes += n_bytes

    @property
    def packets(self) -> int:
        return sum(len(q) for q in self.queues.values())

    @property
    def unsent(self) -> int:
        return sum(len(q) - self._cursor[a] for a, q in self.queues.items())

    def backlog_bytes(self, apid: int) -> int:
        q = self.queues[apid]
        return sum(len(q[i].raw) for i in range(self._cursor[apid], len(q)))

    def transmit(
        self, t_ns: int, budget_bytes: int, apids: set[int], retransmit_ns: int
    ) -> list[bytes]:
        """Packets to send now, at most `budget_bytes`, from the allowed APIDs."""
        out: list[bytes] = []
        budget = int(budget_bytes)
        for apid in sorted(apids, key=lambda a: (PRIORITY[a][0], a)):
            q = self.queues[apid]
            if (
                q
                and q[0].sent_ns is not None
                and self._cursor[apid] > 0
                and t_ns - q[0].sent_ns >= retransmit_ns
            ):
                self._cursor[apid] = 0  # go back N: nothing acknowledged for too long
            i = self._cursor[apid]
            while i < len(q) and len(q[i].raw) <= budget:
                item = q[i]
                if item.sent_ns is not None:
                    self.resent_packets += 1
                item.sent_ns = t_ns
                out.append(item.raw)
                budget -= len(item.raw)
                self.sent_bytes += len(item.raw)
                i += 1
            self._cursor[apid] = i
            if i < len(q):  # the next packet does not fit: keep priority order, stop here
                break
        self.sent_packets += len(out)
        return out

    def acknowledge(self, apid: int, seq14: int) -> AckResult:
        """Delete this APID's packets up to and including the one whose count (mod 2^14) is
        `seq14`. An acknowledgement that matches no stored packet removes nothing."""
        q = self.queues.get(apid)
        if not q:
            return AckResult(0, 0)
        # the stored window is < 2^14 packets, so at most one stored seq matches
        first = q[0].seq
        offset = (seq14 - first) % SEQ_COUNT_MODULO
        if offset >= len(q):
            return AckResult(0, 0)
        removed = freed = 0
        for _ in range(offset + 1):
            freed += len(q.popleft().raw)
            removed += 1
        self.used_bytes -= freed
        self.acked_bytes += freed
        self._cursor[apid] = max(0, self._cursor[apid] - removed)
        return AckResult(removed, freed)

    def scrub(self, replace, budget_bytes: int | None = None) -> tuple[int, int]:
        """Check stored packets' CRC-16, continuing where the last call stopped (a scrubber
        walks memory a slice at a time), until `budget_bytes` have been read (None: all).
        A packet damaged in memory (an upset) is replaced by `replace(apid, seq) -> bytes`, a
        packet with the same APID and count, so the stream keeps its counts and the ground is
        not asked to wait for bytes that can no longer arrive. Returns (replaced, bytes read)."""
        n = read = 0
        order = sorted(self.queues)
        start = order.index(self._scrub_apid)
        todo = sum(len(q) for q in self.queues.values())  # each packet at most once per call
        for k in range(len(order) + 1):
            apid = order[(start + k) % len(order)]
            after = self._scrub_seq if k == 0 else -1  # resume inside the APID we stopped in
            q = self.queues[apid]
            start_i = max(0, after - q[0].seq + 1) if q else 0  # counts are contiguous per APID
            for item in islice(q, start_i, None):
                if todo == 0 or (budget_bytes is not None and read >= budget_bytes):
                    self._scrub_apid, self._scrub_seq = apid, item.seq - 1
                    return n, read
                todo -= 1
                read += len(item.raw)
                if not crc_ok(item.raw):
                    new = replace(apid, item.seq)
                    self.used_bytes += len(new) - len(item.raw)
                    self.scrub_removed_bytes += len(item.raw)
                    self.scrub_added_bytes += len(new)
                    item.raw, item.sent_ns = new, None
                    # send the replacement (go back to it if it had gone already)
                    index = item.seq - self.queues[apid][0].seq
                    self._cursor[apid] = min(self._cursor[apid], index)
                    n += 1
        self._scrub_apid, self._scrub_seq = order[start], -1
        return n, read

    def unacked(self) -> int:
        return sum(1 for q in self.queues.values() for s in q if s.sent_ns is not None)


@dataclass
class MassMemory:
    """What survives a processor reset besides the parameters: the telemetry store, the
    sequence counters and the product store (set up by `firmware.fsw.products`)."""

    capacity_bytes: int = 4096 * 1024
    counters: Counters = field(default_factory=Counters)
    tm: TmStore | None = None
    products: object | None = None

    def __post_init__(self):
        if self.tm is None:
            self.tm = TmStore(self.capacity_bytes)

    def used_bytes(self) -> int:
        return self.tm.used_bytes + (self.products.used_bytes if self.products is not None else 0)

    def fill_frac(self) -> float:
        return self.used_bytes() / self.capacity_bytes
