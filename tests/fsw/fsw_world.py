"""The stand-alone bench (`sim.gse.standalone`) with the developer spectra of
`tests/data/spectra/`, and helpers to look inside the executive."""

from __future__ import annotations

from firmware.fsw.executive import Executive
from firmware.fsw.messages import PowerStatus, ThermalStatus
from firmware.fsw.params import Nvm
from firmware.fsw.store import MassMemory
from sim.gse import standalone
from sim.gse.standalone import FULL_SCALE_DN, Environment, S, World  # noqa: F401
from tests.spectra_fixtures import spectrum

# Real spectra by what autonomy should make of them (classes checked in test_fsw_autonomy).
WATER = ["demeo2009/a000013.sp41.txt", "demeo2009/a000038.sp23.txt"]  # Ch, Cgh (0.7 µm band)
LOW = [
    "demeo2009/a000005.sp28.txt",
    "demeo2009/a000007.sp28.txt",
    "demeo2009/a000014.sp25.txt",
    "demeo2009/a000004.sp02.txt",
]  # S, S, S, V


def make_world(files=None, **kw) -> World:
    """`standalone.make_world` over files of tests/data/spectra (default: LOW)."""
    return standalone.make_world(list(files or LOW), load=spectrum, **kw)


def stored_tm(exe: Executive, apid: int | None = None) -> list:
    """Every TM packet still in the executive's store (decoded), in sequence order per APID."""
    from firmware.fsw.pus import decode_tm

    out = []
    for a, q in exe.mass.tm.queues.items():
        if apid is None or a == apid:
            out += [decode_tm(s.raw, exe.config.epoch_unix_ms) for s in q]
    return out


def verification(exe: Executive) -> list[tuple[int, int, int | None, str]]:
    """(request ID, report subtype, failure code, detail) of every stored TM[1,x]."""
    from firmware.fsw.pus import Apid, decode_verification

    rows = []
    for tm in stored_tm(exe, Apid.CMD):
        if tm.service == 1:
            v = decode_verification(tm.subtype, tm.data)
            rows.append((v.request_id, tm.subtype, v.code, v.detail.decode()))
    return rows


def boot(**params) -> Executive:
    """An executive booted at t=0 with nominal battery and temperatures."""
    exe = Executive(nvm=Nvm(), mass=MassMemory())
    for name, value in params.items():
        exe.params.set(name, value)
    exe.reset(0)
    exe.ingest(PowerStatus(0, 0.8, 8.0))
    exe.ingest(ThermalStatus(0, 10.0, 25.0))
    exe.update(0)
    return exe
