"""PUS services through the ground API on simulated time: scheduling (11) with abort on
failure, housekeeping (3), events (5), monitoring (12), parameters (20), test (17), products
(140); and the ground API's own promises (freshness, timeouts, no uplink without contact)."""

from __future__ import annotations

import pytest

from firmware.fsw import commands as cmds
from firmware.fsw.events import Ev
from firmware.fsw.modes import Mode
from firmware.fsw.params import pack_values, param_def
from firmware.fsw.schedule import encode_activities
from sim.gse.ground import CommandFailed, CommandTimeout, LinkDown, StaleTelemetry
from sim.gse.link import Pass
from tests.fsw.fsw_world import LOW, WATER, S, make_world


@pytest.fixture
def w():
    world = make_world(LOW, params={"auto.auto_downlink": 0})
    world.run(20)
    return world


def param_tc(g, name, value):
    return g.build("PARAM_SET", pack_values([(param_def(name).id, value)]))


def test_ping_and_the_archive_names_it(w):
    rep = w.ground.send_and_wait("PING")
    assert rep["report"] == "COMPLETE_OK" and rep["command"] == "PING"
    assert any(r.get("name") == "PING_REPLY" for r in w.ground.decoder.rows)


def test_time_tagged_sequence_runs_at_its_times(w):
    g, now = w.ground, w.link.now_ns
    seq = [
        (now + 30 * S, 1, param_tc(g, "hk.science_period_s", 120)),
        (now + 40 * S, 1, param_tc(g, "hk.fsw_period_s", 180)),
    ]
    g.send_and_wait("SCHEDULE_INSERT", encode_activities(seq, w.exe.config.epoch_unix_ms))
    assert w.exe.params["hk.science_period_s"] == 60  # not yet

    def done():
        rows = g.decoder.tables["verification"]
        return [
            r["t_ns"] for r in rows if r["report"] == "COMPLETE_OK" and r["command"] == "PARAM_SET"
        ]

    assert g.run_until(lambda: len(done()) == 2, 60, "both activities") and done() == [
        now + 30 * S,
        now + 40 * S,
    ]
    assert w.exe.params["hk.fsw_period_s"] == 180


def test_sequence_aborts_on_failure(w):
    g, now = w.ground, w.link.now_ns
    seq = [
        (now + 20 * S, 7, param_tc(g, "hk.science_period_s", 120)),
        (now + 30 * S, 7, g.build("PRODUCT_DOWNLINK", product_id=4242)),  # no such product: fails
        (now + 40 * S, 7, param_tc(g, "hk.fsw_period_s", 180)),  # must never run
        (now + 45 * S, 0, param_tc(g, "hk.essential_period_s", 20)),
    ]  # another group: runs
    g.send_and_wait("SCHEDULE_INSERT", encode_activities(seq, w.exe.config.epoch_unix_ms))
    ab = g.await_event("SEQUENCE_ABORTED", timeout_s=60)
    assert ab["group"] == 7 and ab["deleted"] == 1
    w.run(30)
    assert w.exe.params["hk.science_period_s"] == 120  # ran before the failure
    assert w.exe.params["hk.fsw_period_s"] == 60  # deleted with its group
    assert w.exe.params["hk.essential_period_s"] == 20
    fail = [r for r in g.decoder.tables["verification"] if r["command"] == "PRODUCT_DOWNLINK"]
    assert fail[-1]["report"] == "START_FAIL" and "4242" in fail[-1]["detail"]


def test_safe_mode_disables_the_schedule_and_due_activities_expire(w):
    g, now = w.ground, w.link.now_ns
    seq = [
        (now + 30 * S, 3, param_tc(g, "hk.fsw_period_s", 180)),
        (now + 40 * S, 3, g.build("PING")),
    ]
    g.send_and_wait("SCHEDULE_INSERT", encode_activities(seq, w.exe.config.epoch_unix_ms))
    g.send_and_wait("SET_MODE", mode=Mode.SAFE)
    g.await_event("SEQUENCE_ABORTED", timeout_s=60)
    assert w.exe.params["hk.fsw_period_s"] == 60 and w.exe.schedule.expired == 1
    assert not w.exe.schedule.activities
    with pytest.raises(CommandFailed, match="SCHEDULE_ENABLE not allowed in mode 0"):
        g.send_and_wait("SCHEDULE_ENABLE")


def test_housekeeping_one_shot_period_and_disable(w):
    g = w.ground
    g.send_and_wait("HK_DISABLE", sid=2)
    n = len(g.decoder.tables.get("hk_science", []))
    w.run(130)
    assert len(g.decoder.tables.get("hk_science", [])) == n
    g.send_and_wait("HK_ONE_SHOT", sid=2)
    w.run(3)
    assert len(g.decoder.tables["hk_science"]) == n + 1
    g.send_and_wait("HK_SET_PERIOD", sid=1, period_s=30)
    assert w.exe.params["hk.essential_period_s"] == 30


def test_event_reporting_can_be_disabled_but_fdir_still_acts(w):
    g, t0 = w.ground, w.link.now_ns
    ids = [Ev.MONITOR_ALARM, Ev.SAFE_MODE_ENTERED]
    g.send_and_wait("EVENT_REPORT_DISABLE", cmds.encode_ids(ids))
    w.env.soc = 0.1
    w.run(30)
    assert w.exe.mode == Mode.SAFE  # the onboard reaction does not depend on reporting
    assert not g.events("SAFE_MODE_ENTERED", t0) and g.events("MODE_CHANGED", t0)
    with pytest.raises(CommandFailed, match="unknown event IDs \\[999\\]"):
        g.send_and_wait("EVENT_REPORT_ENABLE", cmds.encode_ids([999]))


def test_monitoring_limits_are_commandable_and_persist(w):
    g = w.ground
    g.send_and_wait("PMON_MODIFY", pmon_id=1, low=0.9, high=0.0, repetitions=2)  # battery: low only
    assert w.exe.params["mon.battery_low_soc"] == pytest.approx(0.9)
    alarm = g.await_event("MONITOR_ALARM", timeout_s=30, where=lambda e: e["pmon_id"] == 1)
    assert alarm["limit"] == pytest.approx(0.9) and alarm["value"] == pytest.approx(0.8)
    assert any(r["state"] == "BELOW_LOW" for r in g.decoder.tables["monitoring"])
    with pytest.raises(CommandFailed, match="low 20.0 must be below high 10.0"):
        g.send_and_wait("PMON_MODIFY", pmon_id=2, low=20.0, high=10.0, repetitions=3)


def test_parameter_report_and_set(w):
    g = w.ground
    g.send_and_wait("PARAM_SET", pack_values([(param_def("auto.event_threshold").id, 0.5)]))
    g.send_and_wait("PARAM_REPORT", cmds.encode_ids([param_def("auto.event_threshold").id, 50]))
    w.run(3)
    got = {r["name"]: r["value"] for r in g.decoder.tables["parameters"]}
    assert got["auto.event_threshold"] == pytest.approx(0.5) and got["sys.boot_count"] == 1


def test_catalogue_downlink_request_and_delete():
    w = make_world(
        [WATER[0]] + LOW,
        params={"auto.auto_downlink": 0, "auto.keep_low_value_raw": 1, "auto.max_reobs": 0},
    )
    w.run(200)
    g = w.ground
    g.send_and_wait("CATALOGUE_REPORT")
    g.send_and_wait("SET_MODE", mode=Mode.DOWNLINK)  # science APIDs flow only in DOWNLINK
    w.run(5)
    cat = g.decoder.tables["catalogue"]
    low = [r for r in cat if r["value"] < w.exe.params["auto.downlink_min_value"]]
    assert low and all(a["value"] >= b["value"] for a, b in zip(cat, cat[1:], strict=False))
    pid = low[0]["product_id"]
    g.send_and_wait("PRODUCT_DOWNLINK", product_id=pid)  # a low-value spectrum, on request
    g.run_until(lambda: pid in g.decoder.products, 60, "requested product")
    other = low[1]["product_id"]
    g.send_and_wait("PRODUCT_DELETE", product_id=other)
    with pytest.raises(CommandFailed, match=f"product {other} is not in the store"):
        g.send_and_wait("PRODUCT_DOWNLINK", product_id=other)


def test_freshness_never_passes_on_a_stale_sample(w):
    g = w.ground
    assert g.latest("temp.spectrometer_c", max_age_s=15) == pytest.approx(10.0)
    w.env.mute.add("thermal")  # the sensor stops reporting; onboard keeps the old value
    w.run(60)
    with pytest.raises(StaleTelemetry, match="flagged invalid onboard"):
        g.latest("temp.spectrometer_c", max_age_s=15)
    assert w.exe.monitoring.pmons[2].state.name == "UNCHECKED"  # no limit check on stale data
    with pytest.raises(StaleTelemetry, match="s old"):
        g.latest("mode", max_age_s=0.5)  # HK every 10 s: the newest is older than half a second
    # await_hk ignores samples taken before the call, even if they satisfy the predicate
    before = g.hk["mode"]
    assert before[0] == Mode.SURVEY
    value = g.await_hk("mode", lambda v: v == Mode.SURVEY, timeout_s=30, max_age_s=15)
    assert value == Mode.SURVEY and g.hk["mode"][1] > before[1]


def test_timeouts_and_link_down_are_clear():
    w = make_world(LOW, passes=[Pass(0, 60 * S)], params={"auto.auto_downlink": 0})
    w.run(10)
    with pytest.raises(CommandTimeout, match="event FIND_CONFIRMED within 5 s"):
        w.ground.await_event("FIND_CONFIRMED", timeout_s=5)
    w.run(60)
    with pytest.raises(LinkDown, match="no ground contact"):
        w.ground.send("PING")


def test_uplink_corruption_is_refused_and_retried(w):
    g = w.ground
    w.link.corrupt_next_uplink = -3  # a bit of the CRC field: the request ID stays readable
    rep = g.send_and_wait("SET_MODE", mode=Mode.IDLE)
    assert rep["report"] == "COMPLETE_OK" and w.exe.mode == Mode.IDLE
    fails = [r for r in g.decoder.tables["verification"] if r["report"] == "ACCEPT_FAIL"]
    assert len(fails) == 1 and fails[0]["code"] == "BAD_CRC"
    assert w.exe.dispatcher.stats["rejected"] == 1


def test_schedule_report_and_monitor_switches(w):
    g, now = w.ground, w.link.now_ns
    seq = [(now + 300 * S, 2, g.build("PING")), (now + 200 * S, 0, g.build("HK_ONE_SHOT", sid=3))]
    g.send_and_wait("SCHEDULE_INSERT", encode_activities(seq, w.exe.config.epoch_unix_ms))
    g.send_and_wait("SCHEDULE_REPORT")
    w.run(3)
    rows = g.decoder.tables["schedule"]
    assert [(r["release_ns"], r["group"], r["command"]) for r in rows] == [
        (now + 200 * S, 0, "HK_ONE_SHOT"),
        (now + 300 * S, 2, "PING"),
    ]
    g.send_and_wait("PMON_DISABLE", cmds.encode_ids([1], "B"))
    w.env.soc = 0.1
    w.run(20)
    assert w.exe.mode == Mode.SURVEY  # the battery monitor is off: no alarm, no SAFE
    g.send_and_wait("PMON_ENABLE", cmds.encode_ids([1], "B"))
    assert g.await_event("SAFE_MODE_ENTERED", timeout_s=30)["fault"] == 0
