"""Scenario keys of the flight executive: onboard parameters, time-tagged commands, the
computer kind. A mistake is an error naming the key and what is allowed — never a command
silently not sent or a parameter silently not set."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.mission import fsw_params
from sim.report import build_report
from sim.scenario import ScenarioError, load_scenario
from tests.sim.conftest import fly


def error_of(**overrides) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario("default", overrides=overrides)
    return info.value


def test_onboard_parameters_are_checked_against_the_flight_table():
    e = error_of(**{"spacecraft.computer.params": {"auto.event_treshold": 0.4}})
    assert e.key == "spacecraft.computer.params.auto.event_treshold" and "auto.event_threshold" in e.detail
    e = error_of(**{"spacecraft.computer.params": {"fdir.max_retries": 99}})
    assert "fdir.max_retries" in e.detail and "[0, 10]" in e.detail
    e = error_of(**{"spacecraft.computer.params": {"sys.boot_count": 3}})
    assert "read-only" in e.detail


def test_commands_name_a_known_command_with_its_arguments():
    e = error_of(commands=[{"at": "1 h", "command": "CLEAR_FAULT"}])
    assert e.key == "commands[0].command" and "CLEAR_FAULTS" in e.detail
    e = error_of(commands=[{"at": "1 h", "command": "SET_MODE", "args": {"mod": 2}}])
    assert e.key == "commands[0].args" and "['mode']" in e.detail
    e = error_of(commands=[{"at": "1 h", "command": "SCHEDULE_INSERT"}])
    assert e.key == "commands[0].data_hex" and "variable layout" in e.detail
    e = error_of(commands=[{"at": "1 h", "command": "PING", "raw_hex": "zz"}])
    assert e.key == "commands[0].raw_hex"
    e = error_of(commands=[{"at": "1 h", "command": "PARAM_SET", "args": {"no.such": 1}}])
    assert e.key == "commands[0].args" and "no.such" in e.detail
    e = error_of(commands=[{"at": "1 h", "command": "SET_MODE", "args": {"mode": 300}}])
    assert e.key == "commands[0].args" and "cannot encode" in e.detail  # not even a byte
    e = error_of(commands=[{"at": "1 h", "command": "SET_MODE", "args": {"mode": "SLEEP"}}])
    assert "SURVEY" in e.detail
    e = error_of(commands=[{"at": "1 h", "command": "PARAM_SET", "args": {"fdir.max_retries": 2.5}}])
    assert e.key == "commands[0].args" and "type B" in e.detail  # never rounded silently
    # a value that fits its field but not the onboard range is the spacecraft's to refuse
    assert load_scenario("default", overrides={"commands": [{"at": "1 h", "command": "SET_MODE", "args": {"mode": 9}}]})


def test_commands_need_the_executive_and_its_settings_are_reported_unused_otherwise():
    e = error_of(**{"spacecraft.computer.kind": "simple"}, commands=[{"at": "1 h", "command": "PING"}])
    assert e.key == "spacecraft.computer.kind" and "fsw" in e.detail
    m = fly(duration="1 h", overrides={"spacecraft.computer.kind": "simple"})
    onboard = build_report(m)["onboard"]
    assert onboard["kind"] == "simple" and "spacecraft.computer.params.hk.offline_factor" in onboard["unused_settings"]


def test_mission_settings_become_onboard_parameters():
    c = load_scenario("default").config
    p = fsw_params(c)
    power = c["spacecraft"]["power"]
    assert p["mon.battery_low_soc"] == power["safe_soc"] and p["mode.safe_exit_soc"] == power["resume_soc"]
    assert p["cpu.classify_cost_us"] == 20_000
    # a retransmission timeout beyond the round trip: 2 × 599 s light time at 1.2 au + ack + margin
    assert 2 * 598 + 30 < p["link.retransmit_s"] < 2 * 600 + 120
    assert p["hk.essential_period_s"] == 30  # the scenario's own parameters win


NAMES = st.sampled_from(["PING", "SET_MODE", "HK_SET_PERIOD", "PARAM_SET", "CLEAR_FAULTS", "RAW"])
ENTRY = st.fixed_dictionaries(
    {"at": st.one_of(st.text(max_size=8), st.integers(-5, 10**6)), "command": st.one_of(NAMES, st.text(max_size=16))},
    optional={
        "args": st.dictionaries(st.sampled_from(["mode", "sid", "period_s", "x", "fdir.max_retries"]),
                                st.one_of(st.integers(), st.floats(), st.text(max_size=4), st.booleans())),
        "data_hex": st.text(max_size=8), "raw_hex": st.text("0123456789abcdefxz", max_size=12),
        "retries": st.integers(-3, 30), "bogus": st.integers(),
    },
)  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(st.lists(ENTRY, max_size=3))
def test_any_command_list_gives_a_scenario_or_a_clear_error(entries):
    try:
        load_scenario("default", overrides={"commands": entries})
    except ScenarioError as exc:
        assert exc.key.startswith("commands") and exc.detail
