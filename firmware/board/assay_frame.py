"""Board side of the serial framing: COBS(payload ‖ CRC-16/CCITT-FALSE) ‖ 0x00.

Hand-written for MicroPython (the host uses the `cobs` and `crc` libraries; the tests check
these functions against them byte for byte). payload = type:u8 | seq:u8 | len:u16le | body.

Why the length: a delimiter damaged into 0x01 and followed by the next 0x00 makes COBS
append one zero byte, and CCITT-FALSE (no final xor) then always accepts payload‖crc_hi with
"CRC" crc_lo‖0x00 (feeding a CRC its own high byte leaves crc_lo·256). Found by the
exhaustive single-bit test (tests/hil/test_hil_frame.py); the length field rejects it.

* COBS (Cheshire & Baker 1999, IEEE/ACM Trans. Netw. 7(2)) removes every 0x00 from the frame,
  so 0x00 only ever delimits frames: a receiver resynchronises at the next 0x00 after any
  garbage, boot banner or lost byte. Overhead ≤ 1 byte per 254, plus the delimiter.
* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor; check value
  0x29B1 for b"123456789") is the CCSDS TM/TC frame error control field (CCSDS 132.0-B-3
  §4.1.6), appended big-endian. Computed byte-wise by shifts and xors (no 512-byte lookup
  table in a small board's RAM).
"""

# NAK reasons (body of a NAK frame, host: hil.protocol.NAK_REASONS)
NAK_CRC, NAK_COBS, NAK_TOO_LONG, NAK_TOO_SHORT, NAK_LENGTH = 1, 2, 3, 4, 5
HEADER = 4  # type, seq, body length (u16 little-endian)


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of `data` (bytes-like), continuing from `crc`."""
    for b in data:
        x = ((crc >> 8) ^ b) & 0xFF
        x ^= x >> 4
        crc = ((crc << 8) ^ (x << 12) ^ (x << 5) ^ x) & 0xFFFF
    return crc


def cobs_encode(data):
    """COBS-encode `data` (no delimiter added). Returns a bytearray."""
    n = len(data)
    out = bytearray(n + n // 254 + 1)
    code_at = 0
    code = 1
    o = 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
            continue
        out[o] = b
        o += 1
        code += 1
        if code == 0xFF:
            out[code_at] = code
            code_at = o
            o += 1
            code = 1
    out[code_at] = code
    return out[:o]


def cobs_decode(data):
    """Decode one COBS block (no delimiter). Returns a bytearray, or None if malformed."""
    n = len(data)
    out = bytearray(n)
    i = 0
    o = 0
    while i < n:
        code = data[i]
        if code == 0:
            return None
        i += 1
        end = i + code - 1
        if end > n:
            return None
        while i < end:
            b = data[i]
            if b == 0:
                return None
            out[o] = b
            o += 1
            i += 1
        if code < 0xFF and i < n:
            out[o] = 0
            o += 1
    return out[:o]


def encode_frame(ftype, seq, body=b""):
    """Wire bytes of one frame: COBS(type | seq | len | body | CRC16 big-endian) | 0x00."""
    n = len(body)
    payload = bytearray(n + HEADER + 2)
    payload[0] = ftype & 0xFF
    payload[1] = seq & 0xFF
    payload[2] = n & 0xFF
    payload[3] = n >> 8
    payload[HEADER:HEADER + n] = body
    crc = crc16(memoryview(payload)[:n + HEADER])
    payload[-2] = crc >> 8
    payload[-1] = crc & 0xFF
    out = cobs_encode(payload)
    out.append(0)
    return out


def decode_frame(block):
    """One delimited block (without its 0x00) → (type, seq, body) or a NAK reason (int)."""
    raw = cobs_decode(block)
    if raw is None:
        return NAK_COBS
    if len(raw) < HEADER + 2:
        return NAK_TOO_SHORT
    n = len(raw) - 2
    if crc16(memoryview(raw)[:n]) != (raw[n] << 8) | raw[n + 1]:
        return NAK_CRC
    if raw[2] | (raw[3] << 8) != n - HEADER:
        return NAK_LENGTH
    return raw[0], raw[1], bytes(raw[HEADER:n])
