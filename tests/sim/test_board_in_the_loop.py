"""Processor in the loop (issue 8): `assay run --board PORT` — the simulated mission's flight
software classifies every observation on a MicroPython board and uses the board's answer.

In-process missions borrow the session's board (`--port`, default a virtual board) through
the same code path as the CLI (`sim.cli._fly`); the CLI itself runs against a board it
spawns (virtual ports only: a physical port is held by the session). Checked: every
observation sent is answered or reported failed; the flight software used the board's
answer (its class in observations.csv, its fixed-point PC scores in the stored products);
the host's answer is kept beside it; with a board that agrees the science outputs equal the
host-only run and two runs give the same bytes; a noisy or silent line never yields a guess.
"""

from __future__ import annotations

import csv
import hashlib
import json
from argparse import Namespace

import pytest

from assay.cli import main
from firmware.onboard import RESULT_STRUCT
from hil.dut import BoardClassifier
from hil.faults import FaultPlan
from hil.pil import BoardInTheLoop
from sim.cli import BOARD_FAILED_EXIT, _fly
from sim.mission import run_mission
from sim.outputs import TIMING_FILE
from sim.scenario import load_scenario

pytestmark = pytest.mark.hil
DURATION = "2 h"  # 360 observations of the default scenario's first daylight arc
SHORT = "30 min"  # for the faulty lines


def scenario(kind: str = "fsw", duration: str = DURATION):
    over = {"mission.compare_send_all": False, "spacecraft.computer.kind": kind}
    return load_scenario("default", duration=duration, overrides=over)


def fly(out, dut=None, *, kind="fsw", duration=DURATION, **pil_options):
    """One run directory, as `assay run [--board]` writes it; returns (exit code, board)."""
    board = None
    if dut is not None:
        board = BoardInTheLoop("session board", board=BoardClassifier.on_dut(dut), **pil_options)
    args = Namespace(quiet=True, no_plots=True, speed=None, board=board and board.port)
    try:
        code = _fly(scenario(kind, duration), out, args, board)
    finally:
        if board is not None:
            board.close()
    return code, board


def table(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def digests(d) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and p.name != TIMING_FILE}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dut):
    """The same seed flown on the host alone and twice with the board."""
    out = {}
    for label, board in (("host", None), ("board", dut), ("again", dut)):
        d = tmp_path_factory.mktemp(label)
        out[label] = (d, *fly(d, board))
    return out


def test_every_observation_is_classified_on_the_board(runs):
    d, code, _board = runs["board"]
    assert code == 0
    report = json.loads((d / "report.json").read_text())
    b = report["board"]
    obs, rows = table(d / "recordings" / "observations.csv"), table(d / "recordings" / "board.csv")
    sent = [o for o in obs if not o["reason"].startswith("FDIR")]  # quality rejects never classify
    assert len(sent) >= 300 and [int(r["obs_id"]) for r in rows] == [int(o["obs_id"]) for o in sent]
    assert b["spectra"] == b["answered"] == len(rows) and b["failed"] == 0 and b["lost"] is None
    by_id = {r["obs_id"]: r for r in rows}
    for o in sent:  # the flight software used the board's answer
        assert o["class"] == by_id[o["obs_id"]]["board_class"] and by_id[o["obs_id"]]["used"] == "board"
    assert b["agree"] + b["disagree"] == b["answered"] and len(b["disagreements"]) == b["disagree"]
    assert b["disagree"] == sum(r["host_class"] != r["board_class"] for r in rows) == 0
    assert b["info"]["model_sha"] and b["model_matches_host"] and b["fallback"] == "unclassified"
    assert report["onboard"]["classifier"] == "board session board" and "recordings/board.csv" in report["files"]
    assert "latency" not in json.dumps(b) and "mem_free" not in json.dumps(b)
    timing = json.loads((d / TIMING_FILE).read_text())["board"]
    assert timing["link"]["requests"] >= len(rows) and timing["link"]["failed"] == 0
    assert timing["latency"]["spectra"] == len(rows) and timing["latency"]["per_spectrum_ms"]["median"] > 0


def test_science_outputs_equal_the_host_run_when_the_board_agrees(runs):
    host, board = runs["host"][0], runs["board"][0]
    a, b = digests(host), digests(board)
    assert set(b) - set(a) == {"recordings/board.csv"}
    assert {k for k in a if a[k] != b[k]} == {"report.json"}  # observations, telemetry: same bytes
    ra, rb = (json.loads((x / "report.json").read_text()) for x in (host, board))
    assert {k for k in rb if ra.get(k) != rb[k]} == {"board", "onboard", "files"}
    assert ra["onboard"] | {"classifier": rb["onboard"]["classifier"]} == rb["onboard"]


def test_same_seed_same_bytes_with_the_board(runs):
    assert digests(runs["board"][0]) == digests(runs["again"][0])


def test_simple_loop_downlinks_the_boards_numbers(dut):
    """The simple loop classifies in batches; its result products carry the board's slope
    and PC scores (fixed point), not the host's."""
    with BoardInTheLoop("session board", board=BoardClassifier.on_dut(dut)) as pil:
        mission = run_mission(scenario("simple", "1 h"), classifier=pil)
    rows = {r["obs_id"]: r for r in pil.rows()}
    products = [p for p in mission.extra["onboard"].store.values() if p.kind == "result"]
    assert len(rows) >= 150 and all(r["answered"] for r in rows.values()) and len(products) >= 100
    differs = 0
    for p in products:
        f = RESULT_STRUCT.unpack(p.payload[: RESULT_STRUCT.size])
        r = rows[f[2]]
        board_pc = [round(r[f"board_pc{k}"] * 1e4) for k in range(1, 6)]
        assert list(f[13:18]) == board_pc and f[12] == round(r["board_slope"] * 1e4)
        differs += board_pc != [round(r[f"host_pc{k}"] * 1e4) for k in range(1, 6)]
    assert differs > 0  # the check can tell the two apart


@pytest.mark.parametrize(("kind", "fallback"), [("fsw", "unclassified"), ("simple", "host")])
def test_noisy_line_every_observation_answered_or_reported(tmp_path, dut, kind, fallback):
    """BER 10⁻³ both ways on the line to the board, through a whole (short) mission."""
    code, pil = fly(tmp_path, dut, kind=kind, duration=SHORT, fallback=fallback,
                    faults=FaultPlan(ber=1e-3, seed=5))  # fmt: skip
    b = json.loads((tmp_path / "report.json").read_text())["board"]
    timing = json.loads((tmp_path / TIMING_FILE).read_text())["board"]
    obs = {o["obs_id"]: o for o in table(tmp_path / "recordings" / "observations.csv")}
    rows = table(tmp_path / "recordings" / "board.csv")
    assert timing["injected"]["bits_flipped"] > 100 and timing["link"]["retries"] > 0
    assert len(rows) == b["spectra"] >= 80 and b["answered"] + b["failed"] == b["spectra"]
    assert code == (BOARD_FAILED_EXIT if b["failed"] else 0)
    for r in rows:
        o = obs[r["obs_id"]]
        if r["answered"] == "1":  # 0 undetected corruption: the board agrees on every one
            assert r["board_class"] == r["host_class"] == o["class"] and not r["why"]
        elif fallback == "host":  # the host's answer, and said so
            assert r["used"] == "host" and r["why"] and o["class"] == r["host_class"]
        else:  # left unclassified through the executive's classifier-failure path
            assert r["used"] == "none" and r["why"] and o["class"] == ""
            assert o["reason"] == "classifier failed: ClassifierNoAnswer"
    if kind == "fsw":
        events = table(tmp_path / "recordings" / "events.csv")
        assert sum(e["text"].startswith("CLASSIFY_FAILED") for e in events) == b["failed"]


def test_a_lost_board_leaves_the_rest_unclassified(tmp_path, dut):
    saved = dut.link.retries, dut.link.base_timeout_s
    dut.link.retries, dut.link.base_timeout_s = 1, 0.05  # fail fast (a deadline only)
    try:
        code, pil = fly(tmp_path, dut, duration=SHORT, faults=FaultPlan(drop_rate=1.0))
    finally:
        dut.link.retries, dut.link.base_timeout_s = saved
    b = json.loads((tmp_path / "report.json").read_text())["board"]
    obs = table(tmp_path / "recordings" / "observations.csv")
    rows = table(tmp_path / "recordings" / "board.csv")
    assert code == BOARD_FAILED_EXIT and b["lost"]["why"].startswith("no answer at all")
    assert b["answered"] == 0 and b["failed"] == b["spectra"] == len(rows) == len(obs) >= 80
    assert all(o["class"] == "" and o["reason"] == "classifier failed: ClassifierNoAnswer" for o in obs)
    whys = [r["why"] for r in rows]
    assert whys[:3] == ["no valid answer after 2 attempts"] * 3
    assert {w.split(":")[0] for w in whys[3:]} == {"board lost"}
    events = table(tmp_path / "recordings" / "events.csv")
    assert sum(e["text"].startswith("CLASSIFY_FAILED") for e in events) == len(obs)
    dut.ping()


# -- the command line ----------------------------------------------------------------------
def test_cli_flies_with_a_board(tmp_path, hil_port, capsys):
    if not hil_port.startswith("vboard:"):
        pytest.skip(f"the session holds {hil_port}; the CLI spawns its own virtual board")
    code = main(["run", "--duration", "1 h", "--board", hil_port, "--out", str(tmp_path), "--no-plots"])
    out = capsys.readouterr()
    assert code == 0, out.err
    line = next(x for x in out.out.splitlines() if x.startswith(f"board {hil_port}"))
    assert " 0 failed" in line and "0 disagreement" in line and "retries" in line
    b = json.loads((tmp_path / "report.json").read_text())["board"]
    assert b["port"] == hil_port and b["spectra"] == b["answered"] >= 150
    assert (tmp_path / "recordings" / "board.csv").exists()


@pytest.mark.parametrize("port", ["/dev/ttyNOPE", "socket://127.0.0.1:1", "vboard:?bogus=1"])
def test_cli_unreachable_board_is_a_clear_error(tmp_path, capsys, port):
    out = tmp_path / "run"
    code = main(["run", "--duration", "10 min", "--board", port, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not out.exists()  # nothing flown
    assert f"--board {port}: cannot reach the board" in err and "assay hil ports" in err


def test_cli_board_options_are_checked(tmp_path, capsys):
    assert main(["run", "--board-ber", "1e-3", "--out", str(tmp_path / "a"), "--quiet"]) == 2
    assert "--board-ber needs --board" in capsys.readouterr().err
    assert main(["run", "--board", "vboard:", "--board-ber", "0.7", "--out", str(tmp_path / "b")]) == 2
    assert "bit-error rate" in capsys.readouterr().err
    assert main(["run", "--board", "vboard:", "--board-retries", "-1", "--out", str(tmp_path / "b")]) == 2
    assert "--board-retries -1" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
