"""The board harness: framed requests in, framed answers out, over the REPL's serial stream.

Start it from the raw REPL (`import assay_harness; assay_harness.serve()`) or from main.py.
It disables Ctrl-C (`micropython.kbd_intr(-1)`: a 0x03 inside a binary frame must not raise
KeyboardInterrupt), announces itself with a ready byte 0x00 and a HELLO frame, answers until
QUIT, and restores Ctrl-C on the way out, whatever happens — so mpremote can always get back in.

Requests (type, body) → answer type | 0x80 with the same sequence number:
  PING 0x01 ()                          → ()
  INFO 0x02 ()                          → JSON: firmware, platform, free memory, model sha
  ECHO 0x03 (bytes)                     → the same bytes
  CLASSIFY 0x10 (fmt, flags, 41 values) → one result (RESULT layout)
  BATCH 0x11 (fmt, n, n × (flags, 41 values)) → n results
  QUIT 0x0F ()                          → () then back to the REPL
fmt 0 = int16 little-endian (−32768 = no data), 1 = float32 little-endian (NaN = no data);
flags bit 0/1/2 = e/h/k feature detected (measured by the host on the raw spectrum).
Board-initiated frames: HELLO 0x70 (seq 0; protocol u8 + version text) when serving starts,
NAK 0x7E (seq 0; reason u8) for a frame that fails COBS, CRC or length. A request the board
cannot serve gets ERR 0xFF (same seq; code u8 + text saying what was wrong). A repeated
sequence number and type (the host's retry) is answered from a one-frame cache, without
running the command twice.
"""

# ruff: noqa: UP031 — MicroPython 1.9 (the micro:bit firmware) has no f-strings

import sys

try:
    import ustruct as struct
except ImportError:
    import struct
try:
    import ujson as json
except ImportError:
    import json

if "." in __name__:
    from . import assay_bdm as bdm
    from . import assay_frame as fr
    from . import assay_model as model
else:
    import assay_bdm as bdm
    import assay_frame as fr
    import assay_model as model

VERSION = "1.0.0"
PROTOCOL = 1
PING, INFO, ECHO, CLASSIFY, BATCH, QUIT = 0x01, 0x02, 0x03, 0x10, 0x11, 0x0F
HELLO, NAK, ERR = 0x70, 0x7E, 0xFF
REPLY = 0x80
FMT_INT16, FMT_FLOAT32 = 0, 1
VALUE_SIZE = (2, 4)
VALUE_CODE = ("h", "f")
# result: status u8, class i8 (−1 none), bits u8 (1 w, 2 tree indeterminate, 4 edge filled,
# 8 thermal tail removed), tail temperature u8 (K / 2), slope i32 Q24, PC′1..5 i32 Q24
RESULT = "<bbBBiiiiii"
RESULT_SIZE = struct.calcsize(RESULT)  # 28
# ERR codes (host: hil.protocol.ERR_CODES)
E_UNKNOWN, E_LENGTH, E_FORMAT, E_INTERNAL = 1, 2, 3, 4
MAX_PAYLOAD = 4096


def result_bytes(res):
    st, cls, w, indet, filled, slope, pc, thermal = res
    bits = (1 if w else 0) | (2 if indet else 0) | (4 if filled else 0) | (8 if thermal else 0)
    if pc is None:
        pc = (0, 0, 0, 0, 0)
    return struct.pack(RESULT, st, cls, bits, thermal // 2, slope, pc[0], pc[1], pc[2], pc[3], pc[4])


def _classify(fmt, flags, body, offset):
    n = model.N_GRID
    values = struct.unpack_from("<%d%s" % (n, VALUE_CODE[fmt]), body, offset)
    if fmt == FMT_INT16:
        return bdm.classify_int(values, flags)
    return bdm.classify_float(values, flags)


class Harness:
    """The protocol state machine, independent of the byte stream (testable on CPython)."""

    def __init__(self, write, max_payload=MAX_PAYLOAD):
        self.write = write
        self.max_payload = max_payload
        self.buf = bytearray()
        self.overflow = False
        self.running = True
        self.last_seq = -1
        self.last_type = -1
        self.last_reply = None
        self.counts = [0, 0, 0]  # frames answered, NAKs sent, cached replies

    def hello(self):
        self.write(b"\x00")
        self.write(fr.encode_frame(HELLO, 0, bytes([PROTOCOL]) + VERSION.encode()))

    def feed(self, data):
        """Take bytes from the stream; answer every complete frame."""
        for b in data:
            if b != 0:
                if len(self.buf) < self.max_payload + 8:
                    self.buf.append(b)
                else:
                    self.overflow = True
                continue
            if self.overflow:
                self.overflow = False
                self.buf = bytearray()
                self._nak(fr.NAK_TOO_LONG)
            elif self.buf:
                block = self.buf
                self.buf = bytearray()
                self._frame(block)
            if not self.running:
                return

    def _nak(self, reason):
        self.counts[1] += 1
        self.write(fr.encode_frame(NAK, 0, bytes([reason])))

    def _frame(self, block):
        got = fr.decode_frame(block)
        if type(got) is int:
            self._nak(got)
            return
        ftype, seq, body = got
        if seq == self.last_seq and ftype == self.last_type and self.last_reply is not None:
            self.counts[2] += 1
            self.write(self.last_reply)
            return
        try:
            rtype, rbody = self.handle(ftype, body)
        except Exception as exc:  # answer, never die: the host reports it
            rtype, rbody = ERR, bytes([E_INTERNAL]) + repr(exc).encode()[:200]
        reply = fr.encode_frame(rtype, seq, rbody)
        self.last_seq, self.last_type, self.last_reply = seq, ftype, reply
        self.counts[0] += 1
        self.write(reply)

    def handle(self, ftype, body):
        """One request → (answer type, answer body)."""
        if ftype == PING:
            return PING | REPLY, b""
        if ftype == ECHO:
            return ECHO | REPLY, body
        if ftype == INFO:
            return INFO | REPLY, json.dumps(info()).encode()
        if ftype == CLASSIFY:
            return self._classify_one(body)
        if ftype == BATCH:
            return self._batch(body)
        if ftype == QUIT:
            self.running = False
            return QUIT | REPLY, b""
        return ERR, bytes([E_UNKNOWN]) + ("unknown request type 0x%02x" % ftype).encode()

    def _check_fmt(self, body):
        if len(body) < 2:
            return _err(E_LENGTH, "body of %d bytes: expected at least fmt and a count/flags byte" % len(body))
        if body[0] not in (FMT_INT16, FMT_FLOAT32):
            return _err(E_FORMAT, "fmt %d: expected 0 (int16) or 1 (float32)" % body[0])
        return None

    def _classify_one(self, body):
        bad = self._check_fmt(body)
        if bad:
            return bad
        fmt = body[0]
        want = 2 + model.N_GRID * VALUE_SIZE[fmt]
        if len(body) != want:
            return _err(E_LENGTH, "CLASSIFY body of %d bytes: expected %d (fmt %d)" % (len(body), want, fmt))
        return CLASSIFY | REPLY, result_bytes(_classify(fmt, body[1], body, 2))

    def _batch(self, body):
        bad = self._check_fmt(body)
        if bad:
            return bad
        fmt, n = body[0], body[1]
        rec = 1 + model.N_GRID * VALUE_SIZE[fmt]
        if len(body) != 2 + n * rec:
            return _err(E_LENGTH, "BATCH body of %d bytes: expected 2 + %d x %d (fmt %d)" % (len(body), n, rec, fmt))
        out = bytearray()
        for k in range(n):
            at = 2 + k * rec
            out += result_bytes(_classify(fmt, body[at], body, at + 1))
        return BATCH | REPLY, bytes(out)


def _err(code, text):
    return ERR, bytes([code]) + text.encode()


def info():
    """What the board is and what it runs (INFO answer)."""
    d = {
        "firmware": VERSION, "protocol": PROTOCOL, "platform": sys.platform,
        "implementation": sys.implementation.name,
        "version": ".".join(str(v) for v in sys.implementation.version[:3]),
        "model_sha": model.MODEL_SHA, "source_checksum": model.SOURCE_CHECKSUM,
        "max_payload": MAX_PAYLOAD, "q_r": model.Q_R, "q_pc": model.Q_PC,
    }  # fmt: skip
    try:
        import gc

        gc.collect()
        d["mem_free"] = gc.mem_free()
        d["mem_alloc"] = gc.mem_alloc()
    except AttributeError:  # CPython
        d["mem_free"] = None
    return d


def serve(read_into=None, write=None):
    """Answer frames on the REPL stream (or the given byte I/O) until QUIT."""
    if write is None:
        out = sys.stdout.buffer
        write = out.write
    if read_into is None:
        read_into = sys.stdin.buffer.readinto
    try:
        import micropython

        micropython.kbd_intr(-1)
    except (ImportError, AttributeError):
        micropython = None
    h = Harness(write)
    one = bytearray(1)
    try:
        h.hello()
        while h.running:
            n = read_into(one)
            if n:
                h.feed(one)
            elif n == 0:  # end of stream: nobody is listening any more
                break
    finally:
        if micropython is not None:
            micropython.kbd_intr(3)
    return h.counts
