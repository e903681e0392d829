"""Telecommands: a malformed, corrupted or out-of-range TC is rejected with a failure report
and never executed; a good one gets accepted → started → completed."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.fsw import commands as cmds
from firmware.fsw.events import Ev
from firmware.fsw.messages import PowerStatus
from firmware.fsw.modes import Mode
from firmware.fsw.params import pack_values, param_def
from firmware.fsw.pus import Apid, FailCode, Verif, decode_tc, encode_tc
from tests.fsw.fsw_world import boot, verification

S = 1_000_000_000
HK_PERIOD = param_def("hk.essential_period_s")


def tc(service, subtype, data=b"", seq=0, apid=Apid.CMD):
    return encode_tc(apid, service, subtype, data, seq_count=seq)


def send(exe, raw, dt_s=1):
    t = exe.t_ns + dt_s * S
    exe.receive_tc(raw, t)
    exe.update(t)
    rid = int.from_bytes(raw[:4], "big") & 0x1FFFFFFF if len(raw) >= 4 else None
    return [r for r in verification(exe) if r[0] == rid]


def snapshot(exe):
    return (
        dict(exe.params.values),
        exe.mode,
        exe.nvm.writes,
        len(exe.schedule.activities),
        dict(exe.mass.products.items),
        exe.instrument.power_on,
        frozenset(exe.events.disabled),
    )


def set_param(value, seq=0):
    return tc(20, 3, pack_values([(HK_PERIOD.id, value)]), seq)


def test_good_tc_gets_accept_start_complete():
    exe = boot()
    reports = send(exe, set_param(5))
    assert [r[1] for r in reports] == [Verif.ACCEPT_OK, Verif.START_OK, Verif.COMPLETE_OK]
    assert exe.params["hk.essential_period_s"] == 5


def _flip(raw, bit):
    b = bytearray(raw)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


CASES = {
    "corrupted CRC": (_flip(set_param(5), 8 * 12 + 3), FailCode.BAD_CRC, "CRC"),
    "out of range": (
        set_param(9999),
        FailCode.ARG_OUT_OF_RANGE,
        "hk.essential_period_s=9999.0 outside [1, 3600] s",
    ),
    "wrong APID": (
        tc(20, 3, pack_values([(HK_PERIOD.id, 5)]), apid=0x200),
        FailCode.BAD_APID,
        "APID",
    ),
    "unknown subtype": (tc(20, 99, b""), FailCode.UNKNOWN_COMMAND, "TC[20,99]"),
    "unknown service": (tc(42, 1, b""), FailCode.UNKNOWN_COMMAND, "TC[42,1]"),
    "truncated args": (tc(3, 31, b"\x01\x00"), FailCode.ARG_MALFORMED, "expected 3"),
    "extra args": (tc(3, 31, b"\x01\x00\x05\xff"), FailCode.ARG_MALFORMED, "expected 3"),
    "bad mode": (
        tc(8, 1, cmds.encode_function("SET_MODE", mode=9)),
        FailCode.ARG_OUT_OF_RANGE,
        "mode=9",
    ),
    "unknown function": (tc(8, 1, struct.pack("!H", 999)), FailCode.NOT_FOUND, "function ID 999"),
    "NaN latitude": (
        tc(
            8,
            1,
            cmds.encode_function(
                "REQUEST_OBSERVATION", lat_deg=float("nan"), lon_deg=0.0, integration_scale=2.0
            ),
        ),
        FailCode.ARG_OUT_OF_RANGE,
        "not finite",
    ),
    "unknown parameter": (
        tc(20, 3, struct.pack("!HHH", 1, 777, 5)),
        FailCode.NOT_FOUND,
        "unknown parameter 777",
    ),
    "read-only parameter": (
        tc(20, 3, pack_values([(50, 3)])),
        FailCode.NOT_ALLOWED_IN_MODE,
        "read-only",
    ),
    "half-bad parameter list": (
        tc(20, 3, pack_values([(HK_PERIOD.id, 5), (10, 7.0)])),
        FailCode.ARG_OUT_OF_RANGE,
        "mon.battery_low_soc",
    ),
    "empty event list": (tc(5, 6, b"\x00"), FailCode.ARG_OUT_OF_RANGE, "empty"),
    "schedule with a bad activity": (None, FailCode.ARG_OUT_OF_RANGE, "activity 1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_tc_is_rejected_and_never_executed(case):
    exe = boot()
    raw, code, detail = CASES[case]
    if raw is None:  # a sequence whose second activity is out of range: refused whole
        from firmware.fsw.schedule import encode_activities

        good, bad = set_param(7, seq=1), set_param(0, seq=2)
        raw = tc(
            11,
            4,
            encode_activities([(10 * S, 1, good), (20 * S, 1, bad)], exe.config.epoch_unix_ms),
        )
    before = snapshot(exe)
    reports = send(exe, raw)
    assert before == snapshot(exe), "a rejected TC changed the state"
    assert reports, "no verification report"
    (rid, subtype, got, text) = reports[-1]
    assert subtype in (Verif.ACCEPT_FAIL, Verif.START_FAIL) and got == code, reports
    assert detail in text
    assert not any(r[1] in (Verif.COMPLETE_OK, Verif.START_OK) for r in reports)
    exe.update(exe.t_ns + 30 * S)  # nothing scheduled runs later either
    assert exe.params["hk.essential_period_s"] == before[0][HK_PERIOD.id]


def test_state_guard_fails_at_start_not_acceptance():
    exe = boot(**{"auto.auto_survey": 0})
    exe.ingest(PowerStatus(exe.t_ns, 0.30, 7.0))  # above the SAFE limit, below the science one
    exe.update(exe.t_ns + S)
    assert exe.mode == Mode.IDLE
    reports = send(exe, tc(8, 1, cmds.encode_function("SET_MODE", mode=Mode.SURVEY)))
    assert [r[1] for r in reports] == [Verif.ACCEPT_OK, Verif.START_FAIL]
    assert reports[-1][2] == FailCode.GUARD_FAILED and "LOW_BATTERY" in reports[-1][3]
    assert exe.mode == Mode.IDLE


def test_not_allowed_in_mode():
    exe = boot()
    send(exe, tc(8, 1, cmds.encode_function("SET_MODE", mode=Mode.SAFE)))
    assert exe.mode == Mode.SAFE
    reports = send(
        exe,
        tc(
            8,
            1,
            cmds.encode_function(
                "REQUEST_OBSERVATION", lat_deg=0.0, lon_deg=0.0, integration_scale=2.0
            ),
            seq=1,
        ),
    )
    assert reports[-1][1:3] == (Verif.START_FAIL, FailCode.NOT_ALLOWED_IN_MODE)
    assert not exe.autonomy.pending


def test_too_short_to_address_raises_an_event():
    exe = boot()
    before = snapshot(exe)
    send(exe, b"\x18\x64\xc0")
    assert before == snapshot(exe)
    assert exe.events.counts.get(Ev.TC_REJECTED) == 1


def test_every_command_and_function_has_a_handler():
    exe = boot()
    assert set(exe.dispatcher.bindings) == set(cmds.BY_KEY)
    from firmware.fsw import services

    src = __import__("inspect").getsource(services)
    for f in cmds.FUNCTIONS.values():
        assert f'name == "{f.name}"' in src, f"function {f.name} has no branch in services.perform"


@given(flips=st.lists(st.integers(0, 8 * 16 - 1), min_size=1, max_size=3, unique=True))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_corrupted_uplink_never_executes(flips):
    """Any 1–3 bit flips of a valid TC (CRC-16 detects all errors of ≤ 3 bits in short
    packets): rejected, state untouched."""
    exe = _shared_exe()
    raw = set_param(5, seq=9)
    bad = raw
    for bit in flips:
        bad = _flip(bad, bit)
    before = snapshot(exe)
    exe.receive_tc(bad, exe.t_ns)
    exe.update(exe.t_ns + S)
    assert before == snapshot(exe)
    assert exe.dispatcher.stats["completed"] == 0


@given(blob=st.binary(max_size=64))
@settings(max_examples=80, deadline=None)
def test_random_bytes_never_crash_or_execute(blob):
    exe = _shared_exe()
    before = snapshot(exe)
    try:
        decode_tc(blob)
        valid = True
    except ValueError:
        valid = False
    exe.receive_tc(blob, exe.t_ns)
    exe.update(exe.t_ns + S)
    if not valid:
        assert before == snapshot(exe)


_EXE = []


def _shared_exe():
    if not _EXE:
        _EXE.append(boot(**{"auto.auto_survey": 0}))
    return _EXE[0]


@given(
    key=st.sampled_from(sorted(cmds.BY_KEY)), data=st.binary(max_size=40), seq=st.integers(0, 16383)
)
@settings(max_examples=300, deadline=None)
def test_any_payload_for_any_command_is_handled_without_internal_errors(key, data, seq):
    """Well-framed TCs of every dictionary command with arbitrary application data: each is
    rejected or executed with its reports, and no handler hits an unexpected exception."""
    exe = _shared_exe()
    before = exe.dispatcher.stats["accepted"] + exe.dispatcher.stats["rejected"]
    exe.receive_tc(tc(*key, data, seq=seq), exe.t_ns)
    exe.update(exe.t_ns + S)
    stats = exe.dispatcher.stats
    assert stats["accepted"] + stats["rejected"] == before + 1
    assert stats["internal_errors"] == 0, exe.dispatcher.history[-1]


@pytest.mark.parametrize("where", ["check", "execute"])
def test_a_bug_in_a_handler_fails_that_command_and_keeps_flying(where):
    exe = boot()
    d = exe.dispatcher

    def buggy(*_args):
        raise ZeroDivisionError("planted")

    ok = d.bindings[(17, 1)]
    if where == "check":
        d.bind("PING", ok.execute, check=buggy)
    else:
        d.bind("PING", buggy)
    reports = send(exe, tc(17, 1, seq=1))
    fail = Verif.START_FAIL if where == "check" else Verif.COMPLETE_FAIL
    assert [r[1] for r in reports if r[1] == fail] == [fail]
    (row,) = [r for r in reports if r[1] == fail]
    assert row[2] == FailCode.EXECUTION_FAILED and "ZeroDivisionError: planted" in row[3]
    assert d.stats["internal_errors"] == 1 and d.stats["failed"] == 1
    d.bind("PING", ok.execute)  # the next command still runs
    assert Verif.COMPLETE_OK in [r[1] for r in send(exe, tc(17, 1, seq=2))]
