"""Large data transfer (PUS-C service 13): a product split into downlink part reports.

TM[13,1] first part, TM[13,2] intermediate parts, TM[13,3] last part; each carries the large
message transaction ID (u16, from the product ID), the part sequence number (u32, from 1)
and the part bytes. A product always travels as at least two parts (first and last), so the
ground knows where every transfer begins and ends. The ground reassembles by transaction ID
and checks the product's own CRC-32.
"""

from __future__ import annotations

import struct

PART = struct.Struct("!HI")  # transaction ID, part sequence number
FIRST, INTERMEDIATE, LAST = 1, 2, 3


def split(product_id: int, blob: bytes, part_bytes: int) -> list[tuple[int, bytes]]:
    """(subtype, source data) of every part report for `blob`, in order."""
    if part_bytes < 1:
        raise ValueError(f"part size must be ≥ 1 byte, got {part_bytes}")
    n = max(2, -(-len(blob) // part_bytes))
    size = -(-len(blob) // n)  # equal parts: no near-empty last part
    tid = product_id & 0xFFFF
    out = []
    for k in range(n):
        subtype = FIRST if k == 0 else LAST if k == n - 1 else INTERMEDIATE
        out.append((subtype, PART.pack(tid, k + 1) + blob[k * size : (k + 1) * size]))
    return out


def parse_part(data: bytes) -> tuple[int, int, bytes]:
    """(transaction ID, part number, bytes) of a TM[13,x] source data field."""
    if len(data) < PART.size:
        raise ValueError(
            f"TM[13,x] data of {len(data)} bytes: needs the {PART.size}-byte part header"
        )
    tid, seq = PART.unpack_from(data, 0)
    return tid, seq, bytes(data[PART.size :])


def parts_overhead_bytes(n_blob: int, part_bytes: int, header_bytes: int) -> int:
    """Bytes the parts of an `n_blob`-byte product occupy as packets (for admission checks)."""
    n = max(2, -(-n_blob // part_bytes))
    return n_blob + n * (header_bytes + PART.size)
