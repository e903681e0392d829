"""The spacepackets wrapper: packets we write are what spacepackets (and the CCSDS/PUS-C
layouts) say they are; decoding refuses damage with a reason."""

from __future__ import annotations

import struct

import crc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss import PusTc, PusTm
from spacepackets.ecss.pus_1_verification import ManagedParamsVerification, Service1Tm
from spacepackets.ecss.tm import ManagedParams

from firmware.fsw import pus
from firmware.fsw.pus import FailCode, PacketError

CRC16 = crc.Calculator(crc.Crc16.IBM_3740)  # an independent CRC-16/CCITT-FALSE (`crc` package)


def test_every_packet_crc_is_ccitt_false():
    # check value over "123456789" is 0x29B1 (hil notes §6); our packets end in that CRC
    assert CRC16.checksum(b"123456789") == 0x29B1
    raw = pus.encode_tm(pus.Apid.EVT, 5, 1, b"\x00\x01", seq_count=3, msg_counter=0, t_ns=10**9)
    assert struct.unpack("!H", raw[-2:])[0] == CRC16.checksum(raw[:-2])
    tc = pus.encode_tc(pus.Apid.CMD, 17, 1, seq_count=3)
    assert struct.unpack("!H", tc[-2:])[0] == CRC16.checksum(tc[:-2])


@given(t_ms=st.integers(0, 10**11), data=st.binary(max_size=200), seq=st.integers(0, 10**6))
@settings(max_examples=50, deadline=None)
def test_tm_round_trip_through_spacepackets(t_ms, data, seq):
    raw = pus.encode_tm(
        pus.Apid.HK, 3, 25, data, seq_count=seq, msg_counter=seq * 3, t_ns=t_ms * 10**6
    )
    tm = PusTm.unpack(raw, timestamp_len=pus.TIMESTAMP_LEN)  # independent of our decoder
    assert (tm.apid, tm.service, tm.message_subtype, tm.source_data) == (pus.Apid.HK, 3, 25, data)
    assert tm.seq_count == seq % 16384
    assert tm.pus_tm_sec_header.message_counter == (seq * 3) % 65536
    view = pus.decode_tm(raw)
    assert view.t_ns == t_ms * 10**6  # CDS short keeps ms exactly
    stamp = CdsShortTimestamp.unpack(tm.timestamp)
    assert stamp.as_unix_seconds() == pytest.approx((pus.DEFAULT_EPOCH_UNIX_MS + t_ms) / 1000)


def test_tc_round_trip_and_request_id():
    raw = pus.encode_tc(pus.Apid.CMD, 8, 1, b"\x00\x01\x02", seq_count=16385, source_id=7)
    tc = PusTc.unpack(raw)
    assert (tc.apid, tc.service, tc.message_subtype, tc.app_data, tc.seq_count) == (
        pus.Apid.CMD,
        8,
        1,
        b"\x00\x01\x02",
        1,
    )
    view = pus.decode_tc(raw)
    assert view.request_id == struct.unpack("!I", raw[:4])[0] & 0x1FFFFFFF
    assert view.source_id == 7 and view.ack_flags == pus.ACK_ALL


def test_verification_report_is_a_valid_service1_tm():
    tc = pus.encode_tc(pus.Apid.CMD, 17, 1, seq_count=5)
    data = pus.verification_data(tc, pus.Verif.ACCEPT_FAIL, FailCode.BAD_CRC, b"why")
    raw = pus.encode_tm(pus.Apid.CMD, 1, 2, data, seq_count=0, msg_counter=0, t_ns=0)
    s1 = Service1Tm.unpack(
        raw, ManagedParams(pus.TIMESTAMP_LEN), ManagedParamsVerification(bytes_err_code=1)
    )
    assert s1.tc_req_id.as_u32() == pus.decode_tc(tc).request_id
    assert s1.error_code.val == FailCode.BAD_CRC and s1.failure_notice.data == b"why"
    v = pus.decode_verification(2, data)
    assert (v.request_id, v.code, v.detail) == (
        pus.decode_tc(tc).request_id,
        FailCode.BAD_CRC,
        b"why",
    )


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda b: b[:-1], FailCode.BAD_LENGTH),  # truncated
        (lambda b: b + b"\0", FailCode.BAD_LENGTH),  # trailing byte
        (lambda b: b[:5], FailCode.BAD_LENGTH),  # not even a header
        (lambda b: b[:-2] + bytes([b[-2] ^ 0x01, b[-1]]), FailCode.BAD_CRC),
        (lambda b: bytes([b[0] & ~0x10]) + b[1:], FailCode.BAD_HEADER),  # TM type bit
        (lambda b: bytes([b[0] | 0x20]) + b[1:], FailCode.BAD_HEADER),  # CCSDS version 1
    ],
)
def test_decode_tc_refuses_damage_with_a_code(mutate, code):
    raw = pus.encode_tc(pus.Apid.CMD, 17, 1, seq_count=1)
    bad = mutate(raw)
    if code != FailCode.BAD_CRC and len(bad) >= 13:
        bad = bad[:-2] + struct.pack("!H", CRC16.checksum(bad[:-2]))  # header damage only
    with pytest.raises(PacketError) as err:
        pus.decode_tc(bad)
    assert err.value.code == code, str(err.value)


def test_counters_are_per_apid_and_wrap_in_the_field():
    c = pus.Counters()
    assert [c.next_seq(1) for _ in range(3)] == [0, 1, 2]
    assert c.next_seq(2) == 0
    c.seq[1] = 16383
    raw = pus.encode_tm(1, 17, 2, b"", seq_count=c.next_seq(1), msg_counter=0, t_ns=0)
    raw2 = pus.encode_tm(1, 17, 2, b"", seq_count=c.next_seq(1), msg_counter=0, t_ns=0)
    assert pus.decode_tm(raw).seq_count == 16383 and pus.decode_tm(raw2).seq_count == 0


def test_oversized_packet_is_refused_not_truncated():
    with pytest.raises(ValueError, match="split it"):
        pus.encode_tm(1, 13, 1, bytes(pus.MAX_PACKET_LEN), seq_count=0, msg_counter=0, t_ns=0)
