"""`assay hil …` end to end on virtual boards (exit codes, output, errors that say what to do)."""

from __future__ import annotations

import json

import pytest

from assay.cli import main
from hil.vboard import available

pytestmark = [pytest.mark.hil, pytest.mark.skipif(available() is not None, reason=str(available()))]


def test_ports_lists_serial_and_virtual_targets(capsys):
    assert main(["hil", "ports", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {v["port"] for v in out["virtual"]} == {"vboard:", "qemu:microbit"}
    assert next(v for v in out["virtual"] if v["port"] == "vboard:")["available"]
    assert isinstance(out["serial"], list)


def test_flash_prints_what_it_did(capsys):
    assert main(["hil", "flash", "--port", "vboard:"]) == 0
    out = capsys.readouterr().out
    assert "written" in out and "assay_harness.py" in out and "linux:" in out


def test_check_runs_the_parity_suite(capsys, tmp_path):
    report = tmp_path / "parity.json"
    assert main(["hil", "check", "--port", "vboard:", "--limit", "40", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "parity 40/40" in out and "0 failed" in out
    data = json.loads(report.read_text())
    assert data["passed"] and data["n"] == 40 and data["disagreements"] == []


def test_bench_and_soak_report_json(capsys):
    assert main(["hil", "bench", "--port", "vboard:", "--frames", "4", "--frame-bytes", "1000", "--json"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["throughput"]["echoed_ok"] == 4 and bench["latency"]["n"] > 0
    assert main(["hil", "soak", "--port", "vboard:", "--requests", "60", "--ber", "1e-3"]) == 0
    soak = json.loads(capsys.readouterr().out)
    assert soak["undetected_wrong"] == 0 and soak["faults"]["bits_flipped"] > 0


def test_a_missing_port_is_a_clear_error(capsys):
    assert main(["hil", "flash", "--port", "/dev/ttyNOPE9"]) == 1
    err = capsys.readouterr().err
    assert "/dev/ttyNOPE9" in err and "assay hil ports" in err
    assert main(["hil", "check", "--port", "vboard:?ram=1"]) == 1
    assert "unknown vboard option 'ram'" in capsys.readouterr().err
