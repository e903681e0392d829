"""Framing: the board's hand-written COBS/CRC against the `cobs` and `crc` libraries, and the
host decoder's resynchronisation on garbage (fuzzed)."""

from __future__ import annotations

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.board import assay_frame as B
from hil.framing import BadFrame, Frame, FrameDecoder, crc16, encode_frame, wire_size


def test_crc_check_value_both_sides():
    # CRC-16/CCITT-FALSE check value (catalogue of parametrised CRC algorithms): 0x29B1
    assert B.crc16(b"123456789") == 0x29B1 == crc16(b"123456789")


@given(st.binary(max_size=700))
def test_board_cobs_and_crc_match_libraries(data):
    assert bytes(B.cobs_encode(data)) == cobs.encode(data)
    assert bytes(B.cobs_decode(cobs.encode(data))) == data
    assert B.crc16(data) == crc16(data)


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=600))
def test_board_and_host_frames_are_the_same_bytes(ftype, seq, body):
    host = encode_frame(ftype, seq, body, lead=False)
    assert bytes(B.encode_frame(ftype, seq, body)) == host
    assert len(host) <= wire_size(len(body), lead=False)
    assert B.decode_frame(host[:-1]) == (ftype, seq, body)
    assert FrameDecoder().feed(host) == [Frame(ftype, seq, body)]


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_board_decoder_never_raises_on_garbage(block):
    got = B.decode_frame(block.replace(b"\x00", b"\x01"))
    assert isinstance(got, (int, tuple))


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=80), max_size=8), st.binary(max_size=200))
def test_host_decoder_finds_every_frame_between_garbage(bodies, garbage):
    """Frames (led by 0x00) separated by arbitrary garbage: each comes out, in order."""
    stream = b""
    for i, body in enumerate(bodies):
        stream += garbage[: 7 * i] + encode_frame(0x10, i, body)
    stream += garbage
    frames = [x for x in FrameDecoder().feed(stream) if isinstance(x, Frame) and x.ftype == 0x10]
    assert [(f.seq, f.body) for f in frames] == list(enumerate(bodies))


@pytest.mark.parametrize("body", [
    bytes(range(1, 200)),  # one COBS block
    bytes(range(256)) + bytes(range(8)),  # zeros inside, and a block of 254 (code 0xFF)
    bytes(40),  # all zeros
], ids=["one-block", "long-with-zeros", "zeros"])  # fmt: skip
def test_every_single_bit_error_is_rejected(body):
    """Flip each bit of a frame in turn (exhaustively): nothing is accepted.

    Without the length field, the delimiter flipped to 0x01 (then the next frame's 0x00)
    passed COBS and the CRC with one byte too many — see firmware/board/assay_frame.py."""
    frame = encode_frame(0x11, 7, body, lead=False)
    accepted = 0
    for bit in range(8 * len(frame)):
        damaged = bytearray(frame)
        damaged[bit // 8] ^= 1 << (bit % 8)
        for x in FrameDecoder().feed(bytes(damaged) + b"\x00"):
            if isinstance(x, Frame):
                assert x == Frame(0x11, 7, body)
                accepted += 1
        got = B.decode_frame(bytes(damaged[:-1]))
        assert not isinstance(got, tuple) or got == (0x11, 7, body)
    assert accepted == 0


def test_decoder_reports_text_and_overflow():
    d = FrameDecoder(max_block=32)
    out = d.feed(b"MicroPython v1.29 on linux\r\n>>> \x00" + b"\x55" * 100 + b"\x00")
    assert isinstance(out[0], BadFrame) and out[0].looks_like_text
    assert isinstance(out[1], BadFrame) and out[1].reason == "long"
    assert b">>> " in d.take_text()
    d.feed(b">>> ")
    assert d.pending_text() == b">>> "
