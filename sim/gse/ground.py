"""Ground command API on simulated time: send, verify, wait for events, check telemetry.

For scenarios and tests, in the style of F´'s GDS test API and yamcs' verifiers:
- `send(name, **args)` builds a telecommand from the flight command dictionary, archives it
  and uplinks it; `send_and_wait(...)` then runs the world until the command's completion
  report and raises `CommandFailed` with the failure notice (or `CommandTimeout`);
- `await_event(name, timeout_s)` runs until an event report arrives;
- `latest(name, max_age_s)` returns the newest housekeeping sample of a value only if it is
  fresh (onboard sample time within `max_age_s` of ground time) and flagged valid onboard,
  else raises `StaleTelemetry`; `await_hk(name, predicate, ...)` passes only on a sample taken
  *after* the wait began, so a condition that held before a command cannot fake its effect.
Every packet sent or received goes to the archive; received telemetry is acknowledged
periodically (highest contiguous sequence count per APID) so the spacecraft can free its store.
"""

from __future__ import annotations

from collections.abc import Callable

from firmware.errors import AssayError
from firmware.fsw import commands as cmds
from firmware.fsw.pus import (
    ACK_ALL,
    DEFAULT_EPOCH_UNIX_MS,
    SEQ_COUNT_MODULO,
    Apid,
    Service,
    crc_ok,
    encode_tc,
)
from sim.gse.archive import ArchiveWriter
from sim.gse.decode import Decoder

NS_PER_S = 1_000_000_000
FAILURES = ("ACCEPT_FAIL", "START_FAIL", "COMPLETE_FAIL")


class GroundError(AssayError):
    pass


class CommandFailed(GroundError):
    def __init__(self, name: str, report: dict):
        self.report = report
        super().__init__(f"{name}: {report['report']} {report['code']}: {report['detail']}")


class CommandTimeout(GroundError):
    pass


class StaleTelemetry(GroundError):
    pass


class LinkDown(GroundError):
    pass


class GroundStation:
    def __init__(
        self,
        link,
        *,
        archive: ArchiveWriter | None = None,
        epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS,
        source_id: int = 1,
        auto_ack_s: float | None = 30.0,
    ):
        self.link = link
        self.archive = archive
        self.decoder = Decoder(epoch_unix_ms)
        self.epoch_unix_ms = epoch_unix_ms
        self.source_id = source_id
        self.auto_ack_ns = None if auto_ack_s is None else int(auto_ack_s * NS_PER_S)
        self._seq = 0
        self._last_ack_ns = 0
        self._acked: dict[int, int] = {}
        self.rx_rejected = 0
        self.unarchived = 0  # malformed TCs sent on purpose, kept out of the archive
        # name → (value, or None when flagged invalid onboard; sample time t_ns)
        self.hk: dict[str, tuple[float | None, int]] = {}
        self.verifications: dict[int, list[dict]] = {}
        link.downlink_sink = self.receive
        link.step_hooks.append(self._tick)

    @property
    def now_ns(self) -> int:
        return self.link.now_ns

    # --- receiving -------------------------------------------------------------------------

    def receive(self, raw: bytes, t_rx_ns: int) -> None:
        """A packet from the radio: damaged ones are counted and dropped (the spacecraft sends
        them again); good ones are archived and decoded."""
        if len(raw) < 7 or not crc_ok(raw):
            self.rx_rejected += 1
            return
        if self.archive is not None:
            self.archive.write(raw)
        dec = self.decoder
        n_tables = {k: len(v) for k, v in dec.tables.items()}
        row = dec.feed(raw, t_rx_ns=t_rx_ns)
        if row.get("error") or row.get("duplicate"):
            return
        for name, rows in dec.tables.items():
            for rec in rows[n_tables.get(name, 0) :]:
                if name.startswith("hk_"):
                    for k, v in rec.items():
                        if k != "t_ns":
                            self.hk[k] = (v, rec["t_ns"])
                elif name == "verification":
                    self.verifications.setdefault(rec["request_id"], []).append(rec)

    def _tick(self, t_ns: int) -> None:
        """Acknowledge every `auto_ack_s` while in contact (the clock restarts with contact,
        so acknowledgements do not depend on how the world was stepped outside passes)."""
        if self.auto_ack_ns is None or not self.link.ground_contact():
            return
        if t_ns - self._last_ack_ns >= self.auto_ack_ns:
            self.acknowledge()
            self._last_ack_ns = t_ns

    def acknowledge(self) -> bool:
        """Send the highest contiguous count of each APID (from count 0), if new."""
        acks = {}
        for apid, track in self.decoder.tracks.items():
            if 0 not in track.seen:
                continue
            high = track.contiguous_high()
            if high is not None and self._acked.get(apid) != high:
                acks[apid] = high % SEQ_COUNT_MODULO
                self._acked[apid] = high
        if not acks:
            return False
        raw = self.build_raw(Service.PROSPECT, 20, cmds.encode_acks(acks), ack_flags=0)
        return self._uplink(raw, check=False)

    # --- sending ---------------------------------------------------------------------------

    def build_raw(
        self, service: int, subtype: int, data: bytes = b"", *, ack_flags: int = ACK_ALL
    ) -> bytes:
        raw = encode_tc(
            Apid.CMD,
            service,
            subtype,
            data,
            seq_count=self._seq,
            source_id=self.source_id,
            ack_flags=ack_flags,
        )
        self._seq += 1
        return raw

    def build(self, name: str, data: bytes | None = None, **args) -> bytes:
        """A TC by dictionary name; a PUS 8 function by its function name; variable layouts
        take `data` (see `firmware.fsw.commands` encoders)."""
        return self.build_raw(*app_data(name, data, **args))

    def _uplink(self, raw: bytes, check: bool = True) -> bool:
        if not self.link.uplink(raw):
            if check:
                raise LinkDown(
                    f"no ground contact at t={self.now_ns / NS_PER_S:.1f} s: cannot uplink"
                )
            return False
        if self.archive is not None:
            try:
                self.archive.write(raw)
            except ValueError:  # deliberately malformed (a test of the spacecraft's checks):
                self.unarchived += 1  # not a packet the archive format can hold
        self.decoder.feed(raw, t_rx_ns=self.now_ns)
        return True

    def send(self, name_or_raw: str | bytes, data: bytes | None = None, **args) -> int:
        """Uplink a command; returns its request ID."""
        raw = (
            name_or_raw
            if isinstance(name_or_raw, bytes | bytearray)
            else self.build(name_or_raw, data, **args)
        )
        self._uplink(bytes(raw))
        return int.from_bytes(raw[:4], "big") & 0x1FFF_FFFF

    def send_and_wait(
        self,
        name_or_raw: str | bytes,
        data: bytes | None = None,
        *,
        timeout_s: float = 60.0,
        retries: int = 2,
        **args,
    ) -> dict:
        """Uplink and run until the completion report; CommandFailed on any failure report.
        A TC refused for a bad CRC (damaged on the uplink, so certainly not executed) is sent
        again, up to `retries` times; no other failure is retried."""
        for attempt in range(retries + 1):
            rid = self.send(name_or_raw, data, **args)
            name = (
                name_or_raw
                if isinstance(name_or_raw, str)
                else self.decoder.tc_names.get(rid, "TC")
            )
            report = self.run_until(
                lambda rid=rid: self._final(rid), timeout_s, f"{name}: no completion report"
            )
            if (
                report["report"] == "ACCEPT_FAIL"
                and report["code"] == "BAD_CRC"
                and attempt < retries
            ):
                continue
            if report["report"] in FAILURES:
                raise CommandFailed(name, report)
            return report
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def final_report(self, rid: int) -> dict | None:
        """The verification report that ends command `rid` (a failure or COMPLETE_OK), or None."""
        return self._final(rid)

    def _final(self, rid: int) -> dict | None:
        for rec in self.verifications.get(rid, []):
            if rec["report"] in FAILURES or rec["report"] == "COMPLETE_OK":
                return rec
        return None

    # --- waiting ---------------------------------------------------------------------------

    def run_until(self, condition: Callable[[], object], timeout_s: float, what: str):
        """Step the world until `condition()` is truthy (returned) or `timeout_s` of
        simulated time passed (CommandTimeout naming `what`)."""
        deadline = self.now_ns + int(timeout_s * NS_PER_S)
        while True:
            got = condition()
            if got:
                return got
            if self.now_ns >= deadline:
                raise CommandTimeout(
                    f"{what} within {timeout_s} s (t={self.now_ns / NS_PER_S:.1f} s)"
                )
            # one step of the world; a link on a skipping engine says how far it may go
            stop = getattr(self.link, "next_stop_ns", None)
            t = stop(deadline) if stop else min(self.now_ns + self.link.step_ns, deadline)
            self.link.run_until(t)

    def events(self, name: str | None = None, since_ns: int | None = None) -> list[dict]:
        rows = self.decoder.tables.get("events", [])
        return [
            r
            for r in rows
            if (name is None or r["event"] == name) and (since_ns is None or r["t_ns"] >= since_ns)
        ]

    def await_event(
        self,
        name: str,
        *,
        timeout_s: float,
        since_ns: int | None = None,
        where: Callable[[dict], bool] | None = None,
    ) -> dict:
        """The first event `name` raised at or after `since_ns` (default: now) matching `where`."""
        since = self.now_ns if since_ns is None else since_ns

        def found():
            return next((r for r in self.events(name, since) if where is None or where(r)), None)

        return self.run_until(found, timeout_s, f"event {name}")

    def latest(self, name: str, *, max_age_s: float) -> float:
        """The newest housekeeping value of `name`, refusing a stale or invalid sample."""
        if name not in self.hk:
            raise StaleTelemetry(f"{name}: no housekeeping sample received yet")
        value, t_ns = self.hk[name]
        age_s = (self.now_ns - t_ns) / NS_PER_S
        if age_s > max_age_s:
            raise StaleTelemetry(f"{name}: newest sample is {age_s:.1f} s old (> {max_age_s} s)")
        if value is None:
            raise StaleTelemetry(
                f"{name}: sample at t={t_ns / NS_PER_S:.1f} s flagged invalid onboard "
                "(sensor stale)"
            )
        return value

    def await_hk(
        self, name: str, predicate: Callable[[float], bool], *, timeout_s: float, max_age_s: float
    ) -> float:
        """Run until a valid sample of `name` taken after this call satisfies `predicate`."""
        start = self.now_ns

        def ok():
            sample = self.hk.get(name)
            if sample is None or sample[1] < start or sample[0] is None:
                return None
            if (self.now_ns - sample[1]) / NS_PER_S > max_age_s or not predicate(sample[0]):
                return None
            return (sample[0],)

        return self.run_until(ok, timeout_s, f"fresh {name} satisfying the check")[0]


def app_data(name: str, data: bytes | None = None, **args) -> tuple[int, int, bytes | None]:
    """(service, subtype, application data) of a TC by dictionary name or PUS 8 function
    name; a variable layout takes `data` as given. Encoder errors (struct.error, TypeError,
    KeyError) propagate; an unknown name is a GroundError."""
    if name in cmds.FUNCTION_BY_NAME:
        return Service.FUNCTION, 1, cmds.encode_function(name, **args)
    spec = cmds.BY_NAME.get(name)
    if spec is None:
        raise GroundError(f"unknown command {name!r}: see firmware.fsw.commands.SPECS / FUNCTIONS")
    return spec.service, spec.subtype, data if spec.variable else spec.encode(**args)
