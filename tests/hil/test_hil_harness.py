"""The harness's protocol state machine on CPython (the same module the board runs), and the
host's protocol codecs: every request answered, bad requests told what was wrong, fuzzed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.board import assay_frame as BF
from firmware.board import assay_harness as H
from hil import protocol as P
from hil.framing import BadFrame, Frame, FrameDecoder, encode_frame
from hil.transport import TransportError, parse_port
from tests.hil.hil_helpers import developer_inputs, expected_result


class Wire:
    """A harness fed through bytes, answers decoded by the host decoder."""

    def __init__(self):
        self.out = bytearray()
        self.h = H.Harness(self.out.extend)
        self.dec = FrameDecoder()

    def send(self, raw: bytes) -> list:
        self.h.feed(raw)
        got, self.out[:] = self.dec.feed(bytes(self.out)), b""
        return got

    def ask(self, ftype: int, seq: int, body: bytes = b"") -> Frame:
        (answer,) = self.send(encode_frame(ftype, seq, body))
        return answer


def test_ping_echo_info_quit():
    w = Wire()
    assert w.ask(H.PING, 1) == Frame(H.PING | H.REPLY, 1, b"")
    data = bytes(range(256)) * 3
    assert w.ask(H.ECHO, 2, data) == Frame(H.ECHO | H.REPLY, 2, data)
    info = P.decode_info(w.ask(H.INFO, 3).body)
    assert info["model_sha"] == H.model.MODEL_SHA and info["protocol"] == H.PROTOCOL
    assert w.ask(H.QUIT, 4) == Frame(H.QUIT | H.REPLY, 4, b"") and not w.h.running


def test_hello_announces_protocol():
    w = Wire()
    w.h.hello()
    (hello,) = w.dec.feed(bytes(w.out))
    assert hello.ftype == H.HELLO and P.decode_hello(hello.body) == (H.PROTOCOL, H.VERSION)


def test_classify_and_batch_answer_what_the_board_module_computes():
    r41, det, _ = developer_inputs()
    w = Wire()
    for fmt in (H.FMT_INT16, H.FMT_FLOAT32):
        got = w.ask(H.CLASSIFY, 10 + fmt, P.classify_body(r41[5], det[5], fmt)).body
        assert got == expected_result(r41[5], det[5], fmt)
        body = P.batch_body(r41[:20], det[:20], fmt)
        answer = w.ask(H.BATCH, 20 + fmt, body).body
        assert answer == b"".join(expected_result(r, d, fmt) for r, d in zip(r41[:20], det[:20], strict=True))
        assert len(P.decode_results(answer, 20)) == 20


@pytest.mark.parametrize("ftype, body, code, words", [
    (H.CLASSIFY, b"\x00\x00" + bytes(80), H.E_LENGTH, "expected 84"),
    (H.CLASSIFY, b"\x07\x00" + bytes(82), H.E_FORMAT, "fmt 7"),
    (H.BATCH, b"\x00\x02" + bytes(83), H.E_LENGTH, "BATCH body of 85 bytes"),
    (H.BATCH, b"\x00", H.E_LENGTH, "at least"),
    (0x42, b"", H.E_UNKNOWN, "unknown request type 0x42"),
])  # fmt: skip
def test_bad_requests_get_an_error_saying_what_is_wrong(ftype, body, code, words):
    answer = Wire().ask(ftype, 9, body)
    assert answer.ftype == H.ERR and answer.seq == 9
    got_code, text = P.decode_err(answer.body)
    assert got_code == code and words in text


def test_damaged_frames_get_a_nak_and_a_retry_is_served_from_the_cache():
    w = Wire()
    frame = bytearray(encode_frame(H.ECHO, 5, b"abc"))
    frame[4] ^= 0x10
    (nak,) = w.send(bytes(frame))
    assert nak.ftype == H.NAK and nak.body == bytes([BF.NAK_CRC])
    first = w.ask(H.ECHO, 6, b"xyz")
    again = w.ask(H.ECHO, 6, b"xyz")  # the host's retry after a lost answer
    assert first == again and w.h.counts[2] == 1
    (long_nak,) = w.send(b"\x01" * (H.MAX_PAYLOAD + 20) + b"\x00")
    assert long_nak.body == bytes([BF.NAK_TOO_LONG])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_harness_never_dies_on_garbage(noise):
    """Arbitrary bytes, then a valid PING: the harness answers it (and nothing crashes)."""
    w = Wire()
    items = w.send(noise) + w.send(encode_frame(H.PING, 77))
    assert Frame(H.PING | H.REPLY, 77, b"") in items
    assert all(isinstance(x, (Frame, BadFrame)) for x in items)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=300))
def test_every_request_gets_exactly_one_answer(ftype, body):
    if ftype == H.QUIT:
        return
    items = Wire().send(encode_frame(ftype, 3, body))
    assert len(items) == 1 and isinstance(items[0], Frame) and items[0].seq == 3
    assert items[0].ftype in (ftype | H.REPLY, H.ERR)


def test_result_decoder_names_the_bad_field():
    ok = expected_result(*[x[0] for x in developer_inputs()[:2]])
    with pytest.raises(P.ProtocolError, match="28 bytes"):
        P.decode_result(ok[:-1])
    with pytest.raises(P.ProtocolError, match="status=9"):
        P.decode_result(bytes([9]) + ok[1:])
    with pytest.raises(P.ProtocolError, match="class=40"):
        P.decode_result(ok[:1] + bytes([40]) + ok[2:])
    with pytest.raises(P.ProtocolError, match="not JSON"):
        P.decode_info(b"\xff{")
    with pytest.raises(P.ProtocolError, match="model_sha"):
        P.decode_info(json.dumps({"firmware": 1, "protocol": 1, "platform": "x", "max_payload": 1}).encode())


def test_int16_quantisation():
    r = np.array([np.nan, 0.5, 1.0, 3.2] + [1.0] * 37)
    q = P.quantise_int16(r)
    assert q[0] == H.bdm.INT16_MISSING and q.max() <= 32767 and q[3] > 16384
    assert np.all(P.quantise_int16(np.full(41, np.nan)) == H.bdm.INT16_MISSING)
    assert np.array_equal(P.quantise_int16(r * 2.0**-20), q)  # a power-of-two scale changes nothing


def test_loop_url_carries_frames():
    """pyserial's loop:// through the same Transport: what is written is read back."""
    from hil.transport import open_transport

    with open_transport("loop://") as t:
        t.write(encode_frame(H.ECHO, 9, b"\x00\x03 loop"))
        got = FrameDecoder().feed(t.read_available(0.2))
    assert got == [Frame(H.ECHO, 9, b"\x00\x03 loop")]


@pytest.mark.parametrize("port, kind", [
    ("/dev/ttyACM0", "serial"), ("socket://127.0.0.1:7777", "serial"), ("loop://", "serial"),
    ("vboard:", "vboard"), ("vboard:lfs2", "vboard"), ("vboard:?heap=192K&baud=115200", "vboard"),
    ("qemu:microbit", "qemu"),
])  # fmt: skip
def test_port_strings(port, kind):
    assert parse_port(port).kind == kind


@pytest.mark.parametrize("port, words", [
    ("", "empty port"), ("vboard:pico", "expected nothing, 'lfs2'"), ("vboard:?ram=1", "unknown vboard option 'ram'"),
    ("vboard:?heap=lots", "expected bytes"), ("qemu:esp32", "only QEMU board"),
])  # fmt: skip
def test_bad_port_strings_say_what_to_write(port, words):
    with pytest.raises(TransportError, match=words):
        parse_port(port)
