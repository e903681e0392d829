"""The virtual board behaves like a board: unmodified mpremote works, Ctrl-C, soft reset,
boot.py/main.py, a littlefs2 flash image, a small heap, a throttled UART."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path

import pytest

from hil.dut import Dut
from hil.link import LinkError
from hil.rawrepl import RawRepl, RawReplError
from hil.transport import open_transport
from hil.vboard import VBoardConfig, VirtualBoard, available
from tests.hil.hil_helpers import developer_inputs, expected_result

pytestmark = [pytest.mark.hil, pytest.mark.skipif(available() is not None, reason=str(available()))]
MPREMOTE = [sys.executable, "-m", "mpremote"]


def mpremote(port: str, *args: str) -> str:
    proc = subprocess.run([*MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    fs = tmp_path_factory.mktemp("vbfs")
    with VirtualBoard(VBoardConfig(fs_dir=fs)) as vb:
        yield vb


def test_unmodified_mpremote_works(board, tmp_path):
    """mpremote's automatic soft reset included (the Unix port would exit instead)."""
    src = tmp_path / "hello.py"
    src.write_text("print('hello from', __name__)\n")
    reboots = board.soft_reboots
    out = mpremote(board.port, "exec", "import sys, os; print(sys.platform, os.getcwd())")
    assert out.split() == ["linux", "/"]
    assert mpremote(board.port, "eval", "6 * 7").strip() == "42"
    out = mpremote(board.port, "cp", str(src), ":hello.py", "+", "exec", "import hello", "+", "ls")
    assert "hello from hello" in out and "hello.py" in out
    assert mpremote(board.port, "sha256sum", ":hello.py").split()[-1] == __import__("hashlib").sha256(src.read_bytes()).hexdigest()
    assert board.soft_reboots > reboots  # mpremote soft-reset the board and got it back


def test_ctrl_c_interrupts_running_code_but_not_a_harness(board):
    with open_transport(board.port) as t:
        repl = RawRepl(t)
        repl.enter()
        repl.start("while True:\n    pass")
        time.sleep(0.2)
        repl.enter()  # Ctrl-C reaches the busy loop as SIGINT
        assert repl.eval("'back'") == "'back'"
        # with kbd_intr(-1) (as in the harness), 0x03 is data: the board reads it back
        threading.Timer(0.3, t.write, args=(b"a\x03b",)).start()
        out = repl.exec("import micropython, sys\nmicropython.kbd_intr(-1)\n"
                        "b = sys.stdin.buffer.read(3)\nmicropython.kbd_intr(3)\nprint(b)", timeout_s=5)  # fmt: skip
        assert out.strip() == b"b'a\\x03b'"


def test_boot_and_main_run_at_hard_reset_not_in_raw_repl(board):
    fs = Path(board.config.fs_dir)
    (fs / "boot.py").write_text("BOOTED = 1\n")
    (fs / "main.py").write_text("print('main ran')\nMAIN = 1\n")
    try:
        with open_transport(board.port) as t:
            repl = RawRepl(t)
            repl.enter()
            repl.soft_reset()  # soft reset in the raw REPL: boot.py only, like a board
            assert repl.eval("('BOOTED' in globals(), 'MAIN' in globals())") == "(True, False)"
            board.hard_reset()
            banner, end = b"", time.monotonic() + 20  # a deadline, not a measurement
            while b"main ran" not in banner and time.monotonic() < end:
                banner += t.read_available(0.1)
            assert b"main ran" in banner
            repl.enter()
            assert repl.eval("MAIN") == "1"
    finally:
        (fs / "boot.py").unlink()
        (fs / "main.py").unlink()


def test_littlefs2_image_has_a_fixed_size_and_survives_restarts(tmp_path):
    with VirtualBoard(VBoardConfig(fs_dir=tmp_path / "fs", lfs2_bytes=64 * 1024)) as vb, open_transport(vb.port) as t:
        repl = RawRepl(t)
        repl.enter()
        repl.exec("f = open('a.bin', 'wb'); f.write(bytes(30000)); f.close()")
        with pytest.raises(RawReplError, match="ENOSPC|28|No space"):
            repl.exec("f = open('b.bin', 'wb'); f.write(bytes(40000)); f.close()")
        vb.hard_reset()
        time.sleep(0.3)
        repl.enter()
        assert repl.eval("__import__('os').stat('a.bin')[6]") == "30000"
        assert vb.image_path.stat().st_size == 64 * 1024
        assert not list((tmp_path / "fs").iterdir()), "files live in the image, not the folder"


def _start_with_heap(tmp_path, heap: str, mpy: bool) -> dict:
    r41, det, names = developer_inputs()
    dark = names.index("binzel2019/a053319.visnir.txt")  # thermal tail + C/X tie-break tables
    with open_transport(f"vboard:?heap={heap}&fs={tmp_path / (heap + str(mpy))}") as t:
        d = Dut(t)
        d.flash(mpy=mpy)
        info = d.start()
        assert d.classify(r41[dark], det[dark]).raw == expected_result(r41[dark], det[dark])
        d.stop()
        return info


def test_harness_fits_an_rp2040_heap_and_mpy_fits_in_a_quarter(tmp_path):
    """192 KB (an RP2040's free heap): both flavours run. 48 KB: compiling the sources on the
    board runs out of memory (a clear error), the mpy-cross output runs (measured: .py needs
    56 KB, .mpy 48 KB, with every table in use)."""
    assert _start_with_heap(tmp_path, "192K", mpy=False)["mem_free"] > 0
    assert _start_with_heap(tmp_path, "192K", mpy=True)["mem_free"] > 0
    with pytest.raises(LinkError, match="MemoryError.*flash with --mpy"):
        _start_with_heap(tmp_path, "48K", mpy=False)
    assert _start_with_heap(tmp_path, "48K", mpy=True)["mem_free"] > 0


def test_throttled_board_is_not_faster_than_its_uart(tmp_path):
    """115200 baud = 11520 bytes/s each way: a 4000-byte echo cannot come back sooner than
    its frames take on the wire (a lower bound: machine load can only make it slower)."""
    with open_transport(f"vboard:?fs={tmp_path}") as t:  # flash at full speed first
        Dut(t).flash()
    with open_transport(f"vboard:?baud=115200&fs={tmp_path}") as t:
        d = Dut(t)
        assert d.flash().count("written") == 0
        d.start()
        data = bytes(range(256)) * 15 + bytes(160)
        t0 = time.perf_counter()
        assert d.echo(data) == data
        assert time.perf_counter() - t0 >= 2 * len(data) * 10 / 115200
        d.stop()


def _tcp_bridge(pty_path: str) -> tuple[int, threading.Thread]:
    """A one-connection TCP ↔ pty bridge (what ser2net does in raw mode)."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run():
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        try:
            while True:
                r, _, _ = select.select([conn, fd], [], [], 5)
                if not r:
                    break
                if conn in r:
                    data = conn.recv(4096)
                    if not data:
                        break
                    os.write(fd, data)
                if fd in r:
                    conn.sendall(os.read(fd, 4096))
        finally:
            os.close(fd)
            conn.close()
            srv.close()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return port, th


def test_socket_url_reaches_the_same_board(board):
    """`socket://host:port` (a board behind ser2net / a lab server): same flasher, same link."""
    tcp_port, th = _tcp_bridge(board.port)
    with open_transport(f"socket://127.0.0.1:{tcp_port}") as t:
        d = Dut(t)
        d.flash()
        info = d.start()
        assert info["platform"] == "linux"
        assert d.echo(b"over tcp \x00\x03") == b"over tcp \x00\x03"
        d.stop()
    th.join(timeout=10)
