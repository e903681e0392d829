"""The archive and the offline decoder: `assay decode` on real archives, and hypothesis
fuzzing — random or corrupted bytes give clear errors or skipped-with-count, never a crash,
never silent loss (packets + skipped bytes = file size)."""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.cli import main as assay_main
from sim.gse.archive import MIN_PACKET_LEN, ArchiveWriter, read_archive, scan
from sim.gse.decode import Decoder
from sim.gse.link import Pass
from tests.fsw.fsw_world import LOW, WATER, S, make_world


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("dec") / "telemetry.bin"
    w = make_world([WATER[0]] + LOW, passes=[Pass(200 * S, 900 * S)], archive=path, seed=3)
    w.run(250)
    w.ground.send_and_wait("PING")
    w.run(700)
    w.ground.archive.close()
    return path, w


def test_assay_decode_writes_tables(archive, tmp_path, capsys):
    path, w = archive
    out = tmp_path / "out"
    assert assay_main(["decode", str(path), "--out", str(out), "--strict"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "packets.csv",
        "events.csv",
        "verification.csv",
        "hk_essential.csv",
        "science_events.csv",
        "products.csv",
        "commands.csv",
        "decoded.json",
        "products",
    } <= names
    rows = list(csv.DictReader((out / "packets.csv").open()))
    assert len(rows) == len(scan(path.read_bytes()).packets) == w.ground.archive.packets
    doc = json.loads((out / "decoded.json").read_text())
    assert doc["summary"]["skipped_bytes"] == 0 and doc["summary"]["bytes"] == path.stat().st_size
    hk = list(csv.DictReader((out / "hk_essential.csv").open()))
    assert {"t_ns", "mode", "battery.soc_frac"} <= set(hk[0])
    product_files = list((out / "products").glob("*.json"))
    assert product_files and any(
        json.loads(p.read_text())["kind"] == "SPECTRUM" for p in product_files
    )


def test_decode_reports_damage_and_strict_fails(archive, tmp_path):
    path, _ = archive
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # inside the first packets
    del data[3000:3010]  # a hole
    bad = tmp_path / "damaged.bin"
    bad.write_bytes(bytes(data) + b"\x00\x01\x02")  # and a truncated tail
    out = tmp_path / "out"
    assert assay_main(["decode", str(bad), "--out", str(out), "--quiet"]) == 0
    assert assay_main(["decode", str(bad), "--out", str(out), "--quiet", "--strict"]) == 1
    doc = json.loads((out / "decoded.json").read_text())
    reasons = {s["reason"] for s in doc["summary"]["skipped"]}
    assert doc["summary"]["skipped_bytes"] > 0 and any(
        "CRC" in r or "trailing" in r for r in reasons
    )


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert assay_main(["decode", str(tmp_path / "nope.bin")]) == 2
    assert "no such archive" in capsys.readouterr().err


def test_writer_refuses_partial_packets(tmp_path):
    with (
        ArchiveWriter(tmp_path / "a.bin") as w,
        pytest.raises(ValueError, match="not one whole packet"),
    ):
        w.write(b"\x08\x64\xc0\x00\x00\x20" + bytes(10))


def _accounted(s) -> None:
    assert sum(len(p) for _, p in s.packets) + s.skipped_bytes == s.size
    spans = sorted([(o, len(p)) for o, p in s.packets] + [(k.offset, k.length) for k in s.skipped])
    pos = 0
    for offset, length in spans:  # packets and skipped ranges tile the file exactly
        assert offset == pos and length > 0
        pos += length
    assert pos == s.size


@given(blob=st.binary(max_size=600))
@settings(max_examples=150, deadline=None)
def test_random_bytes_are_skipped_with_reasons_never_a_crash(blob):
    s = scan(blob)
    _accounted(s)
    dec = Decoder()
    for offset, raw in s.packets:
        dec.feed(raw, offset)
    assert len(dec.rows) == len(s.packets)


@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_corrupted_archives_lose_only_the_damaged_packets(archive, data):
    path, _ = archive
    good = path.read_bytes()
    clean = scan(good)
    buf = bytearray(good[:6000])
    n_edits = data.draw(st.integers(1, 4))
    for _ in range(n_edits):
        kind = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        at = data.draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "delete":
            del buf[at : at + data.draw(st.integers(1, 40))]
        else:
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=40))
    s = scan(bytes(buf))
    _accounted(s)
    dec = Decoder()
    for offset, raw in s.packets:
        row = dec.feed(raw, offset)
        assert "type" in row  # every accepted packet decodes to a row (maybe with an error)
    # every edit damages at most the packets it touches: most clean packets survive intact
    clean_set = {p for o, p in clean.packets if o + len(p) <= 6000}
    survivors = clean_set & {p for _, p in s.packets}
    assert len(survivors) >= len(clean_set) - 3 * n_edits  # a 40-byte cut can touch 3 packets
    assert all(len(p) >= MIN_PACKET_LEN for _, p in s.packets)


def test_read_archive_matches_the_ground_decoder(archive):
    path, w = archive
    s = read_archive(path)
    dec = Decoder()
    for offset, raw in s.packets:
        dec.feed(raw, offset)
    assert dec.summary()["apids"] == w.ground.decoder.summary()["apids"]
    assert dec.summary()["products"] == w.ground.decoder.summary()["products"] > 0


SERVICES = [1, 3, 5, 8, 11, 12, 13, 17, 20, 140, 99]


@given(
    service=st.sampled_from(SERVICES),
    subtype=st.integers(0, 255),
    data=st.binary(max_size=300),
    apid=st.sampled_from([0x64, 0x65, 0x66, 0x67, 0x68, 0x7FF]),
    tc=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_decoder_survives_any_payload_behind_a_valid_crc(service, subtype, data, apid, tc):
    """Well-framed packets with arbitrary content: a row, maybe with an error — no exception."""
    from firmware.fsw.pus import encode_tc, encode_tm

    raw = (
        encode_tc(apid, service, subtype, data, seq_count=1)
        if tc
        else encode_tm(apid, service, subtype, data, seq_count=1, msg_counter=0, t_ns=0)
    )
    dec = Decoder()
    row = dec.feed(raw, 0)
    assert row["type"] == ("TC" if tc else "TM")
    dec.summary()


def test_standalone_bench_writes_an_archive_assay_decode_reads(tmp_path, capsys):
    from sim.gse.standalone import main

    assert main(["--out", str(tmp_path), "--hours", "1"]) == 0
    assert "assay decode" in capsys.readouterr().out
    assert assay_main(["decode", str(tmp_path / "telemetry.bin"), "--quiet", "--strict"]) == 0
    assert (tmp_path / "telemetry_decoded" / "science_events.csv").exists()
