"""CCSDS Space Packets with PUS-C headers: the one module that talks to `spacepackets`.

Everything else in the flight software and the ground segment packs and unpacks packets
through this module, so the library (pinned `spacepackets==0.32.0`) is wrapped in one place
and its deprecations (`subservice` → `message_subtype` in 0.32) are handled once.

Conventions (ECSS-E-ST-70-41C, PUS-C; CCSDS 133.0-B-2 Space Packet Protocol):
- every packet, TM and TC, carries the CRC-16/CCITT-FALSE packet error control field
  (poly 0x1021, init 0xFFFF; `crc16.ibm_3740`, check value 0x29B1);
- TM time field: CDS short (7 bytes: P-field, 16-bit day since 1958-01-01, ms of day),
  computed from onboard time `t_ns` (integer ns since the mission epoch) and the epoch;
- sequence counts are kept per APID (14 bits, wrapping), message type counters per
  (APID, service, subtype) (16 bits, wrapping).
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field
from enum import IntEnum

from spacepackets.ccsds.spacepacket import CCSDS_HEADER_LEN, SpacePacketHeader
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss.fields import PacketFieldEnum
from spacepackets.ecss.pus_1_verification import (
    FailureNotice,
    Service1Tm,
    VerificationParams,
)
from spacepackets.ecss.req_id import RequestId
from spacepackets.ecss.tc import PusTc, PusTcDataFieldHeader
from spacepackets.ecss.tm import PusTm, PusTmSecondaryHeader

from firmware.errors import AssayError

SPACEPACKETS_VERSION = "0.32.0"  # pinned in pyproject; layouts below were checked against it
TIMESTAMP_LEN = CdsShortTimestamp.TIMESTAMP_SIZE  # 7
TM_HEADER_LEN = CCSDS_HEADER_LEN + PusTmSecondaryHeader.MIN_LEN + TIMESTAMP_LEN  # 20
TC_HEADER_LEN = CCSDS_HEADER_LEN + PusTcDataFieldHeader.PUS_C_SEC_HEADER_LEN  # 11
CRC_LEN = 2
SEQ_COUNT_MODULO = 1 << 14  # CCSDS 133.0-B-2 §4.1.3.4.2: 14-bit packet sequence count
MSG_COUNTER_MODULO = 1 << 16  # PUS-C message type counter
MAX_PACKET_LEN = 4096  # our own ceiling (the CCSDS limit is 65542): one packet fits a frame
NS_PER_MS = 1_000_000
MS_PER_DAY = 86_400_000
DAYS_1958_TO_1970 = 4383  # CCSDS 301.0-B-4 §3.3: CDS epoch 1958-01-01 = Unix day −4383
DEFAULT_EPOCH_UNIX_MS = 1_893_456_000_000  # 2030-01-01T00:00:00Z (overridden by the scenario)


class Apid(IntEnum):
    """Application process IDs: one per traffic class, so one downlink priority per APID
    keeps each APID's packets in sequence-count order on the ground."""

    CMD = 0x064  # TC destination; verification (1), test (17), params (20), schedule (11)
    EVT = 0x065  # event reports (5)
    HK = 0x066  # housekeeping (3), monitoring check transitions (12)
    SCI = 0x067  # mission service: science events, catalogues, summaries (140)
    XFER = 0x068  # large data transfer parts (13)


class Service(IntEnum):
    VERIFICATION = 1
    HOUSEKEEPING = 3
    EVENT = 5
    FUNCTION = 8
    SCHEDULING = 11
    MONITORING = 12
    LARGE_DATA = 13
    TEST = 17
    PARAMETER = 20
    PROSPECT = 140  # mission-specific (PUS-C reserves 128–255 for mission use)


class Verif(IntEnum):
    """PUS-C service 1 message subtypes."""

    ACCEPT_OK = 1
    ACCEPT_FAIL = 2
    START_OK = 3
    START_FAIL = 4
    COMPLETE_OK = 7
    COMPLETE_FAIL = 8


# TC header ack flags (PUS-C §5.4.11.2.2): which success reports the sender asked for.
# Failure reports are always generated.
ACK_ACCEPT, ACK_START, ACK_PROGRESS, ACK_COMPLETE = 0b1000, 0b0100, 0b0010, 0b0001
ACK_ALL = 0b1111


class PacketError(AssayError, ValueError):
    """A packet could not be decoded. `code` is a `FailCode`; the message says what and why."""

    def __init__(self, code: int, message: str):
        self.code = int(code)
        super().__init__(message)


class FailCode(IntEnum):
    """Failure notice codes carried in service 1 failure reports (1 byte)."""

    BAD_CRC = 1
    BAD_LENGTH = 2
    BAD_HEADER = 3
    UNKNOWN_COMMAND = 4
    BAD_APID = 5
    ARG_MALFORMED = 6
    ARG_OUT_OF_RANGE = 7
    NOT_ALLOWED_IN_MODE = 8
    EXECUTION_FAILED = 9
    RESOURCE_FULL = 10
    NOT_FOUND = 11
    SEQUENCE_ABORTED = 12
    GUARD_FAILED = 13


# --- time ------------------------------------------------------------------------------


def cds_from_t_ns(t_ns: int, epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS) -> bytes:
    """CDS short time field for onboard time `t_ns` (ns after the mission epoch), ms floor."""
    unix_ms = epoch_unix_ms + t_ns // NS_PER_MS
    unix_days, ms_of_day = divmod(unix_ms, MS_PER_DAY)
    ccsds_days = unix_days + DAYS_1958_TO_1970
    if not 0 <= ccsds_days < (1 << 16):
        raise ValueError(
            f"time {t_ns} ns after epoch {epoch_unix_ms} ms is outside CDS-short range"
        )
    return CdsShortTimestamp(ccsds_days, ms_of_day, init_dt_unix_stamp=False).pack()


def t_ns_from_cds(stamp: bytes, epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS) -> int:
    """Onboard time (ns after the epoch, ms resolution) from a CDS short time field."""
    try:
        days, ms_of_day = CdsShortTimestamp.unpack_from_raw(stamp)
    except ValueError as exc:  # BytesTooShortError is a ValueError too
        raise PacketError(FailCode.BAD_HEADER, f"time field: {exc}") from exc
    unix_ms = (days - DAYS_1958_TO_1970) * MS_PER_DAY + ms_of_day
    return (unix_ms - epoch_unix_ms) * NS_PER_MS


# --- counters --------------------------------------------------------------------------


@dataclass
class Counters:
    """Sequence counts per APID and message type counters per (APID, service, subtype).

    Kept as unbounded integers (the store and the ground use them to order and acknowledge)
    and reduced modulo the field width only when packed.
    """

    seq: dict[int, int] = field(default_factory=dict)
    msg: dict[tuple[int, int, int], int] = field(default_factory=dict)

    def next_seq(self, apid: int) -> int:
        n = self.seq.get(apid, 0)
        self.seq[apid] = n + 1
        return n

    def next_msg(self, apid: int, service: int, subtype: int) -> int:
        key = (apid, service, subtype)
        n = self.msg.get(key, 0)
        self.msg[key] = n + 1
        return n


# --- telemetry -------------------------------------------------------------------------


@dataclass(frozen=True)
class TmView:
    """A decoded PUS-C TM packet (CRC already verified)."""

    apid: int
    seq_count: int  # 14-bit field value
    service: int
    subtype: int
    msg_counter: int
    dest_id: int
    t_ns: int
    data: bytes
    raw: bytes


def encode_tm(
    apid: int,
    service: int,
    subtype: int,
    data: bytes,
    *,
    seq_count: int,
    msg_counter: int,
    t_ns: int,
    epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS,
    dest_id: int = 0,
) -> bytes:
    """Pack one PUS-C TM packet with CRC. `seq_count` and `msg_counter` may be unbounded
    counters: they are reduced to their field widths here."""
    tm = PusTm(
        service=int(service),
        message_subtype=int(subtype),
        timestamp=cds_from_t_ns(t_ns, epoch_unix_ms),
        source_data=bytes(data),
        apid=int(apid),
        seq_count=seq_count % SEQ_COUNT_MODULO,
        message_counter=msg_counter % MSG_COUNTER_MODULO,
        destination_id=dest_id,
    )
    raw = bytes(tm.pack())
    if len(raw) > MAX_PACKET_LEN:
        raise ValueError(
            f"TM[{service},{subtype}] is {len(raw)} bytes > {MAX_PACKET_LEN}: split it (PUS 13)"
        )
    return raw


def packet_length(raw: bytes) -> int:
    """Total length of the packet that starts `raw`, from its primary header."""
    if len(raw) < CCSDS_HEADER_LEN:
        raise PacketError(
            FailCode.BAD_LENGTH, f"{len(raw)} bytes: shorter than the 6-byte primary header"
        )
    return CCSDS_HEADER_LEN + struct.unpack_from("!H", raw, 4)[0] + 1


def is_tc(raw: bytes) -> bool:
    """Packet type bit of the primary header (1 = telecommand)."""
    return bool(raw[0] & 0x10)


def crc_ok(raw: bytes) -> bool:
    """CRC-16/CCITT-FALSE over the whole packet (including its CRC) is zero. Computed with
    `binascii.crc_hqx` (the same CRC as `spacepackets.ecss.check_pus_crc`, tested against
    the `crc` package): the memory scrub runs it over every stored packet."""
    return binascii.crc_hqx(raw, 0xFFFF) == 0


def decode_tm(raw: bytes, epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS) -> TmView:
    """Decode exactly one TM packet; raise `PacketError` naming what is wrong."""
    raw = bytes(raw)
    n = packet_length(raw)
    if n != len(raw):
        raise PacketError(FailCode.BAD_LENGTH, f"length field says {n} bytes, got {len(raw)}")
    if is_tc(raw):
        raise PacketError(FailCode.BAD_HEADER, "packet type is TC, expected TM")
    if n < TM_HEADER_LEN + CRC_LEN:
        raise PacketError(FailCode.BAD_LENGTH, f"{n} bytes: shorter than a PUS-C TM header + CRC")
    if not crc_ok(raw):
        raise PacketError(FailCode.BAD_CRC, "CRC-16 mismatch")
    try:
        tm = PusTm.unpack(raw, timestamp_len=TIMESTAMP_LEN)
    except Exception as exc:  # spacepackets raises ValueError subclasses and its own errors
        raise PacketError(FailCode.BAD_HEADER, f"PUS-C TM header: {exc}") from exc
    return TmView(
        apid=tm.apid,
        seq_count=tm.seq_count,
        service=tm.service,
        subtype=tm.message_subtype,
        msg_counter=tm.pus_tm_sec_header.message_counter,
        dest_id=tm.pus_tm_sec_header.dest_id,
        t_ns=t_ns_from_cds(tm.timestamp, epoch_unix_ms),
        data=tm.source_data,
        raw=raw,
    )


# --- telecommands ----------------------------------------------------------------------


@dataclass(frozen=True)
class TcView:
    """A decoded PUS-C TC packet (CRC verified)."""

    apid: int
    seq_count: int
    service: int
    subtype: int
    source_id: int
    ack_flags: int
    data: bytes
    raw: bytes

    @property
    def request_id(self) -> int:
        """PUS request ID as a u32: packet ID and sequence control of the TC."""
        return struct.unpack_from("!I", self.raw, 0)[0] & 0x1FFF_FFFF


def encode_tc(
    apid: int,
    service: int,
    subtype: int,
    data: bytes = b"",
    *,
    seq_count: int,
    source_id: int = 0,
    ack_flags: int = ACK_ALL,
) -> bytes:
    """Pack one PUS-C TC packet with CRC."""
    tc = PusTc(
        service=int(service),
        message_subtype=int(subtype),
        apid=int(apid),
        app_data=bytes(data),
        seq_count=seq_count % SEQ_COUNT_MODULO,
        source_id=source_id,
        ack_flags=ack_flags,
    )
    raw = bytes(tc.pack())
    if len(raw) > MAX_PACKET_LEN:
        raise ValueError(f"TC[{service},{subtype}] is {len(raw)} bytes > {MAX_PACKET_LEN}")
    return raw


def tc_request_id(raw: bytes) -> int | None:
    """Request ID of a (possibly damaged) TC, or None when not even the header is there."""
    if len(raw) < 4:
        return None
    return struct.unpack_from("!I", raw, 0)[0] & 0x1FFF_FFFF


def decode_tc(raw: bytes) -> TcView:
    """Decode exactly one TC packet; raise `PacketError` (code = the failure notice)."""
    raw = bytes(raw)
    n = packet_length(raw)
    if n != len(raw):
        raise PacketError(FailCode.BAD_LENGTH, f"length field says {n} bytes, got {len(raw)}")
    if not is_tc(raw):
        raise PacketError(FailCode.BAD_HEADER, "packet type is TM, expected TC")
    if raw[0] >> 5 != 0:
        raise PacketError(FailCode.BAD_HEADER, f"CCSDS version {raw[0] >> 5}, expected 0")
    if not raw[0] & 0x08:
        raise PacketError(FailCode.BAD_HEADER, "secondary header flag is 0: not a PUS TC")
    if n < TC_HEADER_LEN + CRC_LEN:
        raise PacketError(FailCode.BAD_LENGTH, f"{n} bytes: shorter than a PUS-C TC header + CRC")
    if not crc_ok(raw):
        raise PacketError(FailCode.BAD_CRC, "CRC-16 mismatch: TC corrupted on the uplink")
    if (raw[CCSDS_HEADER_LEN] >> 4) & 0x7 != 2:
        raise PacketError(
            FailCode.BAD_HEADER,
            f"PUS version {(raw[CCSDS_HEADER_LEN] >> 4) & 7}, expected 2 (PUS-C)",
        )
    tc = PusTc.unpack(raw)
    return TcView(
        apid=tc.apid,
        seq_count=tc.seq_count,
        service=tc.service,
        subtype=tc.message_subtype,
        source_id=tc.source_id,
        ack_flags=tc.pus_tc_sec_header.ack_flags,
        data=tc.app_data,
        raw=raw,
    )


# --- service 1 -------------------------------------------------------------------------


def verification_data(tc_raw: bytes, subtype: int, code: int = 0, detail: bytes = b"") -> bytes:
    """Source data of a TM[1,x] report about the TC `tc_raw`: its request ID and, for a
    failure, the failure notice (1-byte code + detail bytes)."""
    header = SpacePacketHeader.unpack(tc_raw[:CCSDS_HEADER_LEN].ljust(CCSDS_HEADER_LEN, b"\0"))
    failure = None
    if subtype % 2 == 0:
        failure = FailureNotice(PacketFieldEnum.with_byte_size(1, int(code)), bytes(detail))
    params = VerificationParams(RequestId.from_sp_header(header), failure_notice=failure)
    params.verify_against_message_subtype(subtype)
    return bytes(Service1Tm(apid=0, message_subtype=subtype, verif_params=params).source_data)


@dataclass(frozen=True)
class VerificationView:
    request_id: int
    subtype: int
    code: int | None
    detail: bytes


def decode_verification(subtype: int, data: bytes) -> VerificationView:
    """Request ID and, for failures (even subtypes), the failure notice of TM[1,subtype]."""
    failure = subtype % 2 == 0
    need = 5 if failure else 4
    if len(data) < need:
        raise PacketError(
            FailCode.BAD_LENGTH, f"TM[1,{subtype}] data is {len(data)} bytes, needs ≥ {need}"
        )
    rid = struct.unpack_from("!I", data, 0)[0] & 0x1FFF_FFFF
    if not failure:
        return VerificationView(rid, subtype, None, b"")
    return VerificationView(rid, subtype, data[4], bytes(data[5:]))
