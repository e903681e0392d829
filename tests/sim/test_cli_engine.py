"""`assay run` / `assay scenarios`, the engine's stepping and pacing, and the typed bus."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from assay.cli import main
from sim.bus import FOREVER_NS, BusError, MessageBus, Module
from sim.cli import parse_overrides
from sim.engine import Engine, Pacer


def test_scenarios_lists_the_shipped_ones(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ("default", "survey", "hard"):
        assert f"\n{name} " in "\n" + out
    assert main(["scenarios", "--keys"]) == 0
    keys = capsys.readouterr().out
    assert "orbit.eccentricity" in keys and "instrument.noise_scale" in keys and "[[faults]]" in keys


def test_run_writes_a_run_directory_quietly(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "default", "--duration", "1 h", "--seed", "5", "--no-plots", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    report = json.loads((out / "report.json").read_text())
    assert report["seed"] == 5 and report["simulation"]["duration_s"] == 3600.0
    assert report["scenario"]["overrides"] == {"mission.seed": 5, "mission.duration": "1 h"}
    assert (out / "timing.json").exists() and (out / "recordings" / "observations.csv").exists()
    assert (out / "scenario.toml").read_text().startswith("# Default mission")


def test_run_default_directory_and_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--duration", "30 min", "--seed", "3", "--no-plots",
                 "--set", "instrument.noise=false"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (tmp_path / "runs" / "default-3" / "report.json").exists()
    assert "accuracy vs surface truth" in out and "real time" in out and "timing.json" in out


def test_wrong_scenario_key_names_the_key_and_what_is_allowed(tmp_path, capsys):
    code = main(["run", "--set", "orbit.eccentrcity=0.1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert "orbit.eccentrcity" in err and "did you mean 'eccentricity'" in err and "semi_major_axis_m" in err
    assert not (tmp_path / "x").exists()


def test_run_errors_are_clean(capsys):
    assert main(["run", "no-such-mission"]) == 2
    err = capsys.readouterr().err
    assert "no-such-mission" in err and "shipped:" in err and "survey" in err and "path to a .toml" in err
    assert main(["run", "--duration", "ten"]) == 2
    assert "mission.duration" in capsys.readouterr().err
    assert main(["run", "--speed", "-1", "--duration", "10 s"]) == 2
    assert "--speed" in capsys.readouterr().err


def test_parse_overrides():
    assert parse_overrides(["a.b=1", "c.d=false", "e.f=\"x y\"", "g.h=word", "i.j=[1, 2]"]) == {
        "a.b": 1, "c.d": False, "e.f": "x y", "g.h": "word", "i.j": [1, 2]}  # fmt: skip
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["novalue"])


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s


def test_pacer_holds_simulated_time_to_speed_times_wall_time():
    fake = FakeClock()
    pacer = Pacer(50.0, clock=fake.clock, sleep=fake.sleep)
    pacer.wait(0)
    fake.now += 0.05  # the step itself took 50 ms of wall time
    pacer.wait(10 * 10**9)  # 10 s simulated at ×50 = 0.2 s of wall time
    assert fake.sleeps == [pytest.approx(0.15)]
    fake.now += 1.0  # running late: never sleep to catch up backwards
    pacer.wait(20 * 10**9)
    assert len(fake.sleeps) == 1
    assert Pacer(None).wait(10**12) is None
    with pytest.raises(ValueError, match="speed"):
        Pacer(0.0)


@dataclass(frozen=True, slots=True)
class Tick:
    t_ns: int
    value: int


class Recorder(Module):
    """Updates are logged; an event is pending at `event_ns`."""

    def __init__(self, bus, event_ns):
        super().__init__(bus)
        self.event_ns, self.seen = event_ns, []

    def update(self, t_ns):
        super().update(t_ns)
        self.seen.append(t_ns)
        if t_ns >= self.event_ns:
            self.event_ns = FOREVER_NS

    def quiet_until_ns(self, t_ns):
        return self.event_ns


def test_engine_skips_to_the_grid_and_never_past_an_event():
    s = 10**9
    m = Recorder(MessageBus(), event_ns=95 * s)
    stats = Engine(MessageBus(), [m], 10 * s, 200 * s).run()
    assert m.seen == [0, 90 * s, 100 * s, 200 * s]  # last grid point before 95 s, then the first after
    assert stats.skips == 2 and stats.fine_steps == 1
    m2 = Recorder(MessageBus(), event_ns=95 * s)
    Engine(MessageBus(), [m2], 10 * s, 200 * s, event_skipping=False).run()
    assert m2.seen == [k * 10 * s for k in range(21)]
    m3 = Recorder(MessageBus(), event_ns=FOREVER_NS)
    Engine(MessageBus(), [m3], 10 * s, 200 * s, max_skip_ns=60 * s).run()
    assert m3.seen == [0, 60 * s, 120 * s, 180 * s, 200 * s]


def test_bus_is_typed_and_records():
    bus = MessageBus()
    bus.channel("tick", Tick, log=True)
    rec = bus.record("tick", min_interval_ns=10)
    for t in range(0, 30, 5):
        bus.publish("tick", Tick(t, t * 2))
    assert bus.read("tick") == Tick(25, 50)
    assert [m.t_ns for m in bus.drain("tick", "a")] == [0, 5, 10, 15, 20, 25]
    assert bus.drain("tick", "a") == [] and len(bus.drain("tick", "b")) == 6
    assert rec.fields == ["t_ns", "value"] and rec.rows == [(0, 0), (10, 20), (20, 40)]
    with pytest.raises(BusError, match="carries Tick"):
        bus.publish("tick", object())
    with pytest.raises(BusError, match="undeclared"):
        bus.publish("nope", Tick(0, 0))
    with pytest.raises(BusError, match="undeclared"):
        bus.read("nope")
    with pytest.raises(BusError, match="already carries"):
        bus.channel("tick", int)


def test_a_mission_without_observations_still_reports(tmp_path, capsys):
    out = tmp_path / "dark"
    # terminator orbit: the Sun is never within 70° of the zenith under the spacecraft
    assert main(["run", "--set", "orbit.raan_deg=90", "--duration", "2 h", "--out", str(out)]) == 0
    assert "no observation was made" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["observations"]["taken"] == 0 and report["accuracy"]["overall"]["exact"] is None
    assert len(list((out / "plots").glob("*.png"))) == 5
