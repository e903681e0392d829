"""The raw packet archive, `telemetry.bin`: every packet, in the order the ground handled it.

Format: CCSDS Space Packets back to back, nothing else — telecommands as sent and telemetry as
received — so any CCSDS tool (or `spacepackets.ccsds.parse_space_packets`) reads it without
our code. Packets are self-delimiting through their length field; a damaged file is read by
resynchronising: at each offset a candidate must have CCSDS version 0, the secondary-header
flag set, a length within `max_packet_len` and inside the file, and a valid CRC-16; bytes that
start no such packet are reported as skipped ranges with the reason, so every byte of the file
is accounted for (packets + skipped = file size) and nothing is lost silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from firmware.fsw.pus import MAX_PACKET_LEN, crc_ok, packet_length

MIN_PACKET_LEN = 13  # PUS-C TC with no application data: 6 + 5 + 2


class ArchiveError(OSError):
    """The archive file cannot be read or written; names the path and what to do."""


class ArchiveWriter:
    """Appends whole packets to an archive file (created or truncated on open)."""

    def __init__(self, path: str | os.PathLike, append: bool = False):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("ab" if append else "wb")
        except OSError as exc:
            raise ArchiveError(f"{self.path}: cannot open for writing ({exc.strerror})") from exc
        self.packets = 0
        self.bytes = 0

    def write(self, raw: bytes) -> None:
        raw = bytes(raw)
        if len(raw) < MIN_PACKET_LEN or packet_length(raw) != len(raw):
            raise ValueError(
                f"{self.path}: refusing to archive {len(raw)} bytes that are not one whole packet"
            )
        self._fh.write(raw)
        self.packets += 1
        self.bytes += len(raw)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MemoryArchive:
    """An archive kept in memory (the mission loop writes it into the run directory at the
    end, `save`); the same `write` checks as `ArchiveWriter`."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.packets = 0
        self.bytes = 0

    def write(self, raw: bytes) -> None:
        raw = bytes(raw)
        if len(raw) < MIN_PACKET_LEN or packet_length(raw) != len(raw):
            raise ValueError(f"refusing to archive {len(raw)} bytes that are not one whole packet")
        self.data += raw
        self.packets += 1
        self.bytes += len(raw)

    def save(self, path: str | os.PathLike) -> Path:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(bytes(self.data))
        except OSError as exc:
            raise ArchiveError(f"{p}: cannot write the archive ({exc.strerror})") from exc
        return p

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Skipped:
    offset: int
    length: int
    reason: str


@dataclass
class Scan:
    size: int
    packets: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, packet)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def skipped_bytes(self) -> int:
        return sum(s.length for s in self.skipped)


def _candidate(buf: bytes, i: int, max_len: int) -> tuple[int, str | None]:
    """(length, None) if a valid packet starts at i, else (0, why not)."""
    n = len(buf) - i
    if n < MIN_PACKET_LEN:
        return 0, f"{n} trailing bytes: too short for a packet"
    b0 = buf[i]
    if b0 >> 5 != 0:
        return 0, "not a CCSDS version-0 packet header"
    if not b0 & 0x08:
        return 0, "secondary header flag clear: not a PUS packet"
    length = packet_length(buf[i : i + 6])
    if length > max_len:
        return 0, f"length field {length} > max packet length {max_len}"
    if length < MIN_PACKET_LEN:
        return 0, f"length field {length} < minimum PUS packet {MIN_PACKET_LEN}"
    if length > n:
        return 0, f"packet of {length} bytes runs past the end of the data ({n} left): truncated"
    if not crc_ok(buf[i : i + length]):
        return 0, "CRC-16 mismatch"
    return length, None


def scan(buf: bytes, max_packet_len: int = MAX_PACKET_LEN) -> Scan:
    """Split `buf` into packets, resynchronising over damage (see module doc)."""
    buf = bytes(buf)
    out = Scan(size=len(buf))
    i = 0
    skip_start, skip_reason = None, ""
    while i < len(buf):
        length, why = _candidate(buf, i, max_packet_len)
        if length:
            if skip_start is not None:
                out.skipped.append(Skipped(skip_start, i - skip_start, skip_reason))
                skip_start = None
            out.packets.append((i, buf[i : i + length]))
            i += length
            continue
        if skip_start is None:
            skip_start, skip_reason = i, why or ""
        if len(buf) - i < MIN_PACKET_LEN:  # nothing further can hold a packet
            i = len(buf)
            break
        i += 1
    if skip_start is not None:
        out.skipped.append(Skipped(skip_start, len(buf) - skip_start, skip_reason))
    return out


def read_archive(path: str | os.PathLike, max_packet_len: int = MAX_PACKET_LEN) -> Scan:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise ArchiveError(
            f"{p}: no such archive (the mission loop writes <out>/telemetry.bin)"
        ) from exc
    except OSError as exc:
        raise ArchiveError(f"{p}: cannot read ({exc.strerror})") from exc
    return scan(data, max_packet_len)
