"""Store-and-forward end to end: across a missed pass, dropped and corrupted packets both ways
and a watchdog reset, the archive decodes with `spacepackets` alone — every CRC valid, every
APID's sequence counts contiguous — and nothing generated onboard is lost."""

from __future__ import annotations

import struct

import pytest
from spacepackets.ccsds.spacepacket import PacketId, PacketType, parse_space_packets
from spacepackets.ecss import PusTc, PusTm
from spacepackets.ecss.tc import InvalidTcCrc16Error
from spacepackets.ecss.tm import InvalidTmCrc16Error

from firmware.fsw.messages import CpuStall
from firmware.fsw.pus import SEQ_COUNT_MODULO, Apid
from firmware.fsw.store import TmStore
from sim.gse.decode import ApidTrack
from sim.gse.link import Pass
from tests.fsw.fsw_world import LOW, WATER, S, make_world, stored_tm

TM_APIDS = [Apid.CMD, Apid.EVT, Apid.HK, Apid.SCI, Apid.XFER]


def unwrap(counts14: list[int]) -> list[int]:
    """14-bit counts in arrival order → unbounded counts (independent of our decoder)."""
    out, last = [], None
    for c in counts14:
        if last is None:
            n = c
        else:
            d = (c - last) % SEQ_COUNT_MODULO
            n = last + (d - SEQ_COUNT_MODULO if d >= SEQ_COUNT_MODULO // 2 else d)
        out.append(n)
        last = n if last is None else max(last, n)
    return out


@pytest.fixture(scope="module")
def mission(tmp_path_factory):
    path = tmp_path_factory.mktemp("sf") / "telemetry.bin"
    passes = [
        Pass(300 * S, 900 * S),
        Pass(1500 * S, 2100 * S, missed=True),
        Pass(2700 * S, 3300 * S),
        Pass(4500 * S, 6500 * S),
    ]
    w = make_world(
        LOW + WATER,
        passes=passes,
        archive=path,
        drop_prob=0.03,
        corrupt_prob=0.02,
        uplink_corrupt_prob=0.2,
        seed=7,
    )
    # a hang between passes → watchdog
    w.env.inject.append((2500 * S, CpuStall(2500 * S, 30 * S)))
    w.run(4600)
    w.ground.send_and_wait("CLEAR_FAULTS", timeout_s=120)  # recover from the watchdog's SAFE
    w.ground.send_and_wait("SET_MODE", mode=1, timeout_s=60)
    w.ground.send_and_wait("SET_MODE", mode=2, timeout_s=60)
    w.ground.send_and_wait(
        "SET_MODE", mode=4, timeout_s=60
    )  # and downlink for the rest of the pass
    w.run(6100 - w.link.now_ns / S)
    w.link.drop_prob = w.link.corrupt_prob = 0.0  # a clean end of pass: > retransmit timeout + ack
    w.run(500)
    w.ground.archive.close()
    return w, path.read_bytes()


def test_archive_decodes_with_spacepackets_alone(mission):
    w, buf = mission
    ids = [PacketId(PacketType.TM, True, a) for a in TM_APIDS] + [
        PacketId(PacketType.TC, True, Apid.CMD)
    ]
    result = parse_space_packets(buf, ids)
    assert result.skipped_ranges == [] and sum(map(len, result.tm_list)) == len(buf)
    counts: dict[tuple[int, int], list[int]] = {}
    for raw in result.tm_list:
        try:
            p = (
                PusTc.unpack(raw) if raw[0] & 0x10 else PusTm.unpack(raw, timestamp_len=7)
            )  # CRC checked
        except (InvalidTcCrc16Error, InvalidTmCrc16Error):  # pragma: no cover - the assertion
            pytest.fail(f"CRC invalid in archive: {raw.hex()}")
        counts.setdefault((raw[0] >> 4 & 1, p.apid), []).append(p.seq_count)
    for (_tc, apid), seqs in counts.items():
        unique = sorted(set(unwrap(seqs)))
        assert unique == list(range(unique[-1] + 1)), f"APID {apid:#x} counts not contiguous from 0"
    assert {a for (tc, a) in counts if not tc} == set(TM_APIDS)


def test_nothing_generated_is_lost(mission):
    w, buf = mission
    stats = w.link.stats
    assert (
        stats["tm_lost_missed_pass"] > 100
        and stats["tm_dropped"] > 10
        and stats["tm_corrupted"] > 5
    )
    assert w.exe.params["sys.boot_count"] == 2  # the watchdog reset happened
    on_ground = {a: set(t.seen) for a, t in w.ground.decoder.tracks.items()}
    for apid in TM_APIDS:
        generated = w.exe.mass.counters.seq.get(int(apid), 0)
        onboard = {s.seq for s in w.exe.mass.tm.queues[int(apid)]}
        assert on_ground.get(int(apid), set()) | onboard == set(range(generated)), (
            f"APID {apid:#x} lost packets"
        )
    # the long last pass drained the store: what is left was made too late to be sent (after
    # the pass) or to be acknowledged (within the retransmission timeout + ack period)
    cut_ns = (6500 - w.exe.params["link.retransmit_s"] - 30) * S
    left = stored_tm(w.exe)
    assert left and all(tm.t_ns >= cut_ns for tm in left), [(tm.apid, tm.t_ns / S) for tm in left]


def test_products_arrive_whole_and_by_value(mission):
    w, _ = mission
    products = w.ground.decoder.products
    assert products and w.ground.decoder.summary()["incomplete_transfers"] == 0
    values = [p["value"] for p in products.values() if p["kind"] == "SPECTRUM"]
    assert max(values) >= 0.6  # the water finds were sent


def test_ack_and_track_handle_the_14_bit_wrap():
    store = TmStore(1 << 20)
    for n in range(16380, 16390):
        store.append(Apid.HK, n, struct.pack("!I", n) * 4)
    assert store.acknowledge(Apid.HK, 16382 % SEQ_COUNT_MODULO).removed == 3
    assert store.acknowledge(Apid.HK, 2).removed == 4  # 16383, 16384 (=0), 16385, 16386 (=2)
    assert [s.seq for s in store.queues[Apid.HK]] == [16387, 16388, 16389]
    assert store.acknowledge(Apid.HK, 9000).removed == 0  # matches nothing stored
    track = ApidTrack()
    for c in [16382, 16383, 0, 2, 1]:
        track.add(c, bytes([c % 256]))
    assert sorted(track.seen) == [16382, 16383, 16384, 16385, 16386] and track.gaps() == 0
