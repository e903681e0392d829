"""pytest plugin: run the HIL tests against a virtual or a real board.

    pytest tests/hil                              # default: a virtual board (vboard:)
    pytest tests/hil --port /dev/ttyACM0          # a Pico on USB
    HIL_PORT=socket://bench:4000 pytest tests/hil # a board behind ser2net
    pytest tests/hil --port vboard:?heap=192K --hil-mpy

Option `--port` (env HIL_PORT, default `vboard:`) takes any port string of
`hil.transport` (pyserial URLs, vboard:, qemu:microbit). If pytest-embedded is installed it
already owns `--port` with the same meaning; both plugins then share it.

Session fixtures, each built on the previous: `transport` (the open port) → `flashed` (a
`Dut` whose harness files are on the board, `.flash_report`) → `dut` (the harness running).
Markers: `hil` (talks to a board), `real_board` (skipped on virtual boards), `qemu`
(skipped, with what to install, when QEMU or the micro:bit firmware is missing).
"""

from __future__ import annotations

import os

import pytest

DEFAULT_PORT = "vboard:"
MARKERS = (
    "hil: talks to a board (virtual by default) over serial",
    "real_board: needs a physical board (--port)",
    "qemu: needs qemu-system-arm and the micro:bit firmware",
)


def pytest_addoption(parser) -> None:
    group = parser.getgroup("hil", "hardware in the loop (hil.pytest_plugin)")
    try:
        group.addoption("--port", default=None,
                        help="board port: device, pyserial URL, vboard: or qemu:microbit "
                             "(env HIL_PORT; default vboard:)")  # fmt: skip
    except ValueError:  # pytest-embedded registered --port already; same meaning
        pass
    group.addoption("--hil-mpy", action="store_true", help="flash precompiled .mpy files")


def pytest_configure(config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)


def port_from(config) -> str:
    return config.getoption("port", default=None) or os.environ.get("HIL_PORT") or DEFAULT_PORT


def pytest_collection_modifyitems(config, items) -> None:
    from hil.qemu import missing as qemu_missing
    from hil.transport import parse_port

    virtual = parse_port(port_from(config)).kind != "serial"
    why_qemu = qemu_missing()
    for item in items:
        if virtual and item.get_closest_marker("real_board"):
            item.add_marker(pytest.mark.skip(reason=f"needs a physical board: pytest --port /dev/ttyACM0 (now {port_from(config)})"))
        if why_qemu and item.get_closest_marker("qemu"):
            item.add_marker(pytest.mark.skip(reason=why_qemu))


@pytest.fixture(scope="session")
def hil_port(request) -> str:
    """The port string the session runs against."""
    return port_from(request.config)


@pytest.fixture(scope="session")
def transport(hil_port):
    """The open port (a spawned board for vboard:/qemu:), closed at the end of the session."""
    from hil.transport import open_transport
    from hil.vboard import available

    if hil_port.startswith("vboard:") and available():
        pytest.skip(f"vboard: needs the MicroPython Unix port: {available()}")
    t = open_transport(hil_port)
    yield t
    t.close()


@pytest.fixture(scope="session")
def flashed(request, transport):
    """A `Dut` with the harness flashed (sha256-verified); `.flash_report` says what changed."""
    from hil.dut import Dut

    d = Dut(transport)
    d.flash_report = d.flash(mpy=request.config.getoption("hil_mpy"))
    return d


@pytest.fixture(scope="session")
def dut(flashed):
    """The flashed board with the harness running (restarted if a test stopped it)."""
    if not flashed.running:
        flashed.start()
    yield flashed
    if flashed.running:
        try:
            flashed.stop()
        except Exception:  # the session is over; the board may be gone
            pass
