"""Executive mechanics: modes and their guards, rate groups with slip and missed-cycle
detection on the injected clock, the watchdog, parameters that survive a reset."""

from __future__ import annotations

import pytest

from firmware.fsw.events import Ev
from firmware.fsw.executive import Executive
from firmware.fsw.messages import CpuStall, LinkStatus, PowerStatus
from firmware.fsw.modes import TRANSITIONS, Guard, Mode, Reason
from firmware.fsw.params import Nvm, ParamStore
from tests.fsw.fsw_world import boot
from tests.spectra_fixtures import spectrum

S = 1_000_000_000


def events(exe, eid):
    return [r for r in exe.events.recent if r.id == eid]


def test_cold_boot_goes_idle_then_autonomy_starts_the_survey():
    exe = boot()
    changes = [
        (r.values["from_mode"], r.values["to_mode"], r.values["reason"])
        for r in events(exe, Ev.MODE_CHANGED)
    ]
    assert changes == [
        (Mode.IDLE, Mode.IDLE, Reason.BOOT),
        (Mode.IDLE, Mode.SURVEY, Reason.AUTONOMY),
    ]
    assert exe.instrument_state.power_on  # SURVEY entry action


def test_safe_is_left_only_by_command_and_every_mode_can_reach_safe():
    for m in Mode:
        if m is not Mode.SAFE:
            assert TRANSITIONS[(m, Mode.SAFE)] == ()
    exe = boot()
    exe.modes.request(Mode.SAFE, Reason.FDIR, exe.t_ns)
    assert not exe.instrument_state.power_on and not exe.schedule.enabled  # SAFE entry actions
    assert exe.modes.request(Mode.IDLE, Reason.AUTONOMY, exe.t_ns) == Guard.COMMAND_ONLY
    assert exe.modes.request(Mode.SURVEY, Reason.COMMAND, exe.t_ns) == Guard.NOT_ALLOWED
    refused = events(exe, Ev.MODE_REFUSED)
    assert [r.values["guard"] for r in refused] == [Guard.COMMAND_ONLY, Guard.NOT_ALLOWED]
    assert exe.modes.request(Mode.IDLE, Reason.COMMAND, exe.t_ns) == Guard.OK


def test_downlink_follows_the_pass_and_resumes_the_survey():
    exe = boot()
    t = exe.t_ns
    for k, up in enumerate([False, True, True, False, False]):
        t += S
        exe.ingest(LinkStatus(t, up, 64000.0))
        exe.update(t)
        assert exe.mode == (Mode.DOWNLINK if up else Mode.SURVEY), k


def test_slip_when_a_cycle_exceeds_its_budget_and_work_is_spread_over_cycles():
    """Each classification is modelled at cpu.classify_cost_us; ten observations at 0.3 s each
    cannot fit one 0.5 s cycle: the science task takes what fits (1 per cycle after the model
    check) and no cycle slips; a cost above the budget makes one slip."""
    exe = boot(**{"cpu.classify_cost_us": 300_000})
    from tests.fsw.fsw_world import Environment

    env = Environment(exe, ["demeo2009/a000005.sp28.txt"], spectrum)
    t = exe.t_ns
    for _ in range(10):
        exe.ingest(env.observe(t, 1.0))
    exe.update(t + S)
    fast = exe._groups["fast"]
    assert fast.slips == 0 and 0 < len(exe.science.queue) < 10
    exe.params.set("cpu.classify_cost_us", 900_000)  # one observation now overruns the budget
    exe.update(t + 2 * S)
    assert fast.slips == 1
    (slip,) = events(exe, Ev.RATE_GROUP_SLIP)
    assert slip.values["cost_us"] > slip.values["budget_us"] == 500_000


def test_stall_misses_cycles_and_the_watchdog_reboots_into_safe():
    nvm = Nvm()
    exe = Executive(nvm=nvm)
    exe.reset(0)
    exe.ingest(PowerStatus(0, 0.8))
    exe.update(3 * S)
    exe.ingest(CpuStall(3 * S + 1, 2 * S))  # shorter than the 5 s watchdog: cycles missed only
    exe.update(8 * S)
    assert exe._groups["fast"].missed >= 1 and events(exe, Ev.CYCLES_MISSED)
    assert exe.params["sys.boot_count"] == 1
    exe.ingest(CpuStall(8 * S + 1, 60 * S))  # a hang: no kick for 5 s → reset
    exe.update(20 * S)
    assert exe.params["sys.boot_count"] == 2 and exe.params["sys.reset_cause"] == 1
    assert exe.mode == Mode.SAFE
    (boot_ev,) = events(exe, Ev.BOOT)  # the log is volatile: only this boot's events
    # last kick at the end of the 8 s cycle (+ its modelled cost), watchdog timeout 5 s
    assert 13 * S < boot_ev.t_ns < 13 * S + 10_000_000
    assert exe.fdir.latched and exe.modes.check(Mode.IDLE, Reason.COMMAND) == Guard.FAULT_ACTIVE


def test_parameters_survive_a_reset_and_a_corrupted_bank():
    nvm = Nvm()
    exe = Executive(nvm=nvm)
    exe.reset(0)
    exe.params.set("auto.prospect_threshold", 0.7)
    exe.params.set("hk.essential_period_s", 7)
    again = Executive(nvm=nvm)
    assert again.params["auto.prospect_threshold"] == pytest.approx(0.7)
    assert again.params["hk.essential_period_s"] == 7
    # an upset in the newest bank: the older one (one commit behind) is used, not defaults
    gen = again.params.generation
    bank = gen % 2
    nvm.flip_bit(bank * (len(nvm.data) // 2) + 20, 3)
    third = ParamStore(nvm)
    assert third.load() and third.generation == gen - 1
    assert third["auto.prospect_threshold"] == pytest.approx(0.7)  # set before the last commit
    assert third["hk.essential_period_s"] == 10  # the last commit was lost with its bank


def test_both_banks_corrupt_gives_defaults_and_an_event():
    nvm = Nvm()
    exe = Executive(nvm=nvm)
    exe.reset(0)
    exe.params.set("hk.essential_period_s", 7)
    for bank in (0, 1):
        nvm.flip_bit(bank * (len(nvm.data) // 2) + 1, 0)  # the magic word
    exe2 = Executive(nvm=nvm)
    exe2.reset(0)
    assert exe2.params["hk.essential_period_s"] == 10
    (ev,) = events(exe2, Ev.PARAMS_DEFAULTED)
    assert ev.values == {"bank_a_ok": 0, "bank_b_ok": 0}


def test_brownout_reboot_keeps_nvm_and_mass_memory():
    exe = boot()
    exe.update(30 * S)
    stored, counts = exe.mass.tm.packets, dict(exe.mass.counters.seq)
    from firmware.fsw.executive import ResetCause

    exe.reboot(31 * S, ResetCause.BROWNOUT)
    assert (
        exe.mode == Mode.SAFE
        and exe.params["sys.boot_count"] == 2
        and exe.params["sys.reset_cause"] == 3
    )
    assert exe.mass.tm.packets > stored  # nothing lost, the boot added its events
    assert all(exe.mass.counters.seq[a] >= n for a, n in counts.items())  # counts continue
    assert not exe.fdir.latched  # a brown-out is not a software fault: SET_MODE alone recovers
    assert exe.modes.check(Mode.IDLE, Reason.COMMAND) == Guard.OK


def test_a_board_clock_measures_cycle_cost_instead_of_the_model():
    """With `cpu_clock` injected (a board's tick counter), a cycle costs what the clock says:
    here a counter advancing 0.3 s per read makes every cycle cost 0.3 s (no slip at 0.5 s)."""
    ticks = iter(range(0, 10**15, 300_000_000))
    exe = Executive(cpu_clock=lambda: next(ticks))
    exe.reset(0)
    exe.update(5 * S)
    fast = exe._groups["fast"]
    assert fast.last_cost_ns == 300_000_000 and fast.slips == 0
    assert fast.budget_ns == 500_000_000


def test_next_due_tells_the_simulator_when_to_call_again():
    exe = boot()
    exe.update(3 * S + 10)
    assert exe.next_due_ns() == 4 * S
    exe.ingest(CpuStall(3 * S + 20, 2 * S))
    assert exe.next_due_ns() == 5 * S + 20
