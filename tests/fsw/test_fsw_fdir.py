"""Every FDIR path, driven stand-alone with real spectra and real packets: the fault is
detected, the response happens, and the spacecraft recovers (by itself or by command),
all observed from the ground through the archive-bound telemetry."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.fsw.fdir import Action, Fault
from firmware.fsw.messages import CpuStall
from firmware.fsw.modes import Mode
from firmware.fsw.pus import Apid
from firmware.taxonomy import load_demeo_model
from sim.gse.ground import CommandFailed
from sim.gse.link import Pass
from tests.fsw.fsw_world import LOW, WATER, S, make_world


def fresh_mode(w, mode, timeout_s=60):
    return w.ground.await_hk("mode", lambda v: v == mode, timeout_s=timeout_s, max_age_s=15)


def recover_to_survey(w):
    w.ground.send_and_wait("CLEAR_FAULTS")
    w.ground.send_and_wait("SET_MODE", mode=Mode.IDLE)
    w.ground.send_and_wait("SET_MODE", mode=Mode.SURVEY)
    fresh_mode(w, Mode.SURVEY)


def responses(w, since, fault):
    return [e["action"] for e in w.ground.events("FDIR_RESPONSE", since) if e["fault"] == fault]


@pytest.fixture
def world():
    w = make_world(LOW + WATER, obs_period_s=5.0, params={"auto.auto_downlink": 0})  # TT&C only
    w.run(30)
    assert w.exe.mode == Mode.SURVEY
    return w


def test_battery_low_safe_then_recovery_by_command(world):
    w, t0 = world, world.link.now_ns
    w.env.soc = 0.15
    safe = w.ground.await_event("SAFE_MODE_ENTERED", timeout_s=30)
    assert safe["fault"] == Fault.BATTERY_LOW
    assert fresh_mode(w, Mode.SAFE) == Mode.SAFE and not w.exe.instrument_state.power_on
    with pytest.raises(CommandFailed, match="still present.*BATTERY_LOW"):
        w.ground.send_and_wait("CLEAR_FAULTS")
    with pytest.raises(CommandFailed, match="FAULT_ACTIVE"):
        w.ground.send_and_wait("SET_MODE", mode=Mode.IDLE)
    w.env.soc = 0.8
    w.ground.await_event("MONITOR_CLEARED", timeout_s=30, since_ns=t0)
    recover_to_survey(w)
    assert w.exe.instrument_state.power_on


def test_spectrometer_overheating_switches_it_off(world):
    w = world
    w.env.spectrometer_c = 60.0
    assert (
        w.ground.await_event("SAFE_MODE_ENTERED", timeout_s=30)["fault"] == Fault.SPECTROMETER_TEMP
    )
    assert Action.INSTRUMENT_OFF in responses(w, 0, Fault.SPECTROMETER_TEMP)
    assert not w.exe.instrument_state.power_on
    w.env.spectrometer_c = 20.0
    w.run(10)
    recover_to_survey(w)


def test_storage_high_discards_the_least_valuable_products():
    w = make_world(
        LOW,
        passes=[],
        capacity_bytes=96 * 1024,
        obs_period_s=2.0,
        params={"auto.keep_low_value_raw": 1},
    )
    w.run(600)
    ev = [
        r
        for r in w.exe.events.recent
        if r.id.name in ("MONITOR_ALARM", "FDIR_RESPONSE", "PRODUCT_DISCARDED")
    ]
    names = [r.id.name for r in ev]
    assert "MONITOR_ALARM" in names and "PRODUCT_DISCARDED" in names
    purge = [
        r for r in ev if r.id.name == "FDIR_RESPONSE" and r.values["fault"] == Fault.STORAGE_HIGH
    ]
    assert purge and purge[0].values["action"] == Action.PURGE_LOW_VALUE
    assert w.exe.mass.fill_frac() <= w.exe.params["mon.storage_high_frac"] + 0.02
    assert w.exe.mode == Mode.SURVEY  # storage pressure is handled without safe mode


def test_stuck_spectrometer_transient_recovers_after_a_power_cycle(world):
    w, t0 = world, world.link.now_ns
    w.env.faults.add("stuck")
    w.ground.await_event("SPECTROMETER_STUCK", timeout_s=60)
    w.ground.await_event("FDIR_RESPONSE", timeout_s=10, since_ns=t0)
    w.env.faults.discard("stuck")  # the power cycle cleared it
    rec = w.ground.await_event(
        "FDIR_RECOVERED",
        timeout_s=60,
        since_ns=t0,
        where=lambda e: e["fault"] == Fault.SPECTROMETER_STUCK,
    )
    assert rec and w.exe.mode == Mode.SURVEY
    assert responses(w, t0, Fault.SPECTROMETER_STUCK) == [Action.POWER_CYCLE_INSTRUMENT]


def test_stuck_spectrometer_persistent_goes_safe_after_retries(world):
    w, t0 = world, world.link.now_ns
    w.env.faults.add("stuck")
    safe = w.ground.await_event("SAFE_MODE_ENTERED", timeout_s=300)
    assert safe["fault"] == Fault.SPECTROMETER_STUCK
    retries = int(w.exe.params["fdir.max_retries"])
    assert responses(w, t0, Fault.SPECTROMETER_STUCK) == [
        Action.POWER_CYCLE_INSTRUMENT
    ] * retries + [Action.SAFE_MODE]
    w.env.faults.discard("stuck")  # replaced by the spare readout (say): ground recovers
    recover_to_survey(w)
    w.ground.await_hk(
        "sci.classified",
        lambda v: v > w.exe.science.stats["classified"] - 1,
        timeout_s=60,
        max_age_s=70,
    )


def test_saturation_halves_the_integration_until_it_clears(world):
    w, t0 = world, world.link.now_ns
    w.env.faults.add("saturated")  # gain ×20: counts 3× full scale at the nominal integration
    rec = w.ground.await_event(
        "FDIR_RECOVERED",
        timeout_s=120,
        since_ns=t0,
        where=lambda e: e["fault"] == Fault.SPECTROMETER_SATURATED,
    )
    assert rec
    assert responses(w, t0, Fault.SPECTROMETER_SATURATED) == [Action.REDUCE_INTEGRATION] * 2
    scale = w.ground.await_hk(
        "instrument.integration_scale", lambda v: v < 1, timeout_s=30, max_age_s=15
    )
    assert scale == pytest.approx(0.25) and w.exe.mode == Mode.SURVEY


def test_noisy_spectra_are_kept_out_of_science(world):
    w, t0 = world, world.link.now_ns
    w.exe.params.set("auto.event_threshold", 0.0)  # any classified spectrum would be an event
    events_before = w.exe.autonomy.stats["science_events"]
    w.env.faults.add("noisy")
    w.ground.await_event("SPECTRUM_NOISY", timeout_s=60)
    w.run(120)
    assert responses(w, t0, Fault.SPECTROMETER_NOISY) == [Action.INCREASE_INTEGRATION] * 2
    assert w.exe.autonomy.stats["science_events"] == events_before  # nothing noisy got through
    assert w.exe.science.stats["quality_rejects"] >= 10
    w.env.faults.discard("noisy")
    w.ground.await_event(
        "FDIR_RECOVERED",
        timeout_s=60,
        since_ns=t0,
        where=lambda e: e["fault"] == Fault.SPECTROMETER_NOISY,
    )
    w.run(30)
    assert w.exe.autonomy.stats["science_events"] > events_before


@pytest.fixture
def live_model():
    """The classifier's live constants; restored from the seed files whatever happens."""
    from firmware.fsw.health import ModelMemory

    mem = ModelMemory()
    yield mem.model
    if not mem.verify():
        assert mem.reload()


def test_corrupted_model_is_detected_reloaded_and_classifies_as_before(world, live_model):
    w, t0 = world, world.link.now_ns
    spectra = w.env.sent[-6:]
    pristine = [w.exe._classify(o).cls for o in spectra]
    # a single-event upset: the top exponent bit of one eigenvector coefficient in RAM
    word = live_model.eigenvectors.view(np.uint64)
    word[0, 7] ^= np.uint64(1) << np.uint64(62)
    assert [w.exe._classify(o).cls for o in spectra] != pristine  # the upset matters
    ev = w.ground.await_event("MODEL_CORRUPTED", timeout_s=30)
    assert ev["expected"] != ev["actual"]
    assert w.ground.await_event("MODEL_RELOADED", timeout_s=10, since_ns=t0)["ok"] == 1
    w.ground.await_event(
        "FDIR_RECOVERED",
        timeout_s=10,
        since_ns=t0,
        where=lambda e: e["fault"] == Fault.MODEL_CORRUPTED,
    )
    assert w.exe.model.current() == load_demeo_model().checksum == w.exe.model.golden
    assert [w.exe._classify(o).cls for o in spectra] == pristine
    assert w.exe.mode == Mode.SURVEY and w.exe.model.reloads == 1


class _DamagedSeeds:
    """A loader whose live model is good but whose seed store returns damaged constants,
    until `repaired` is set: reload cannot fix the RAM, FDIR must go SAFE."""

    def __init__(self):
        self.repaired = False
        self.live = load_demeo_model.__wrapped__()

    def __call__(self):
        return self.live

    def __wrapped__(self):
        fresh = load_demeo_model.__wrapped__()
        if not self.repaired:
            fresh.data_mean[0] += 1.0
        return fresh


def test_unrepairable_model_goes_safe_and_recovers_by_command():
    from firmware.fsw.executive import Executive
    from firmware.fsw.params import Nvm
    from firmware.fsw.store import MassMemory

    loader = _DamagedSeeds()
    w = make_world(LOW, start=False)
    w.exe.params.set("auto.auto_downlink", 0)
    w.exe = w.link.exe = w.env.exe = Executive(nvm=Nvm(), mass=MassMemory(), model_loader=loader)
    w.link.start(0)
    w.run(30)
    loader.live.template_mean[3, 10] *= 1.5  # RAM corrupted, and the seed copy is bad too
    safe = w.ground.await_event("SAFE_MODE_ENTERED", timeout_s=120)
    assert safe["fault"] == Fault.MODEL_CORRUPTED
    reloads = [e["ok"] for e in w.ground.events("MODEL_RELOADED")]
    assert reloads == [0] * int(w.exe.params["fdir.max_retries"])
    with pytest.raises(CommandFailed, match="RELOAD_MODEL"):
        w.ground.send_and_wait("RELOAD_MODEL")
    loader.repaired = True  # e.g. the seed file re-uplinked
    w.ground.send_and_wait("RELOAD_MODEL")
    recover_to_survey(w)


def test_watchdog_reset_boots_safe_and_recovers_by_command(world):
    w, t0 = world, world.link.now_ns
    w.env.inject.append((t0 + 5 * S, CpuStall(t0 + 5 * S, 120 * S)))
    boot = w.ground.await_event("BOOT", timeout_s=60)
    assert boot["reset_cause"] == 1 and boot["boot_count"] == 2
    assert w.ground.await_hk(
        "fdir.active_faults", lambda v: v & (1 << Fault.WATCHDOG_RESET), timeout_s=30, max_age_s=15
    )
    assert fresh_mode(w, Mode.SAFE) == Mode.SAFE
    recover_to_survey(w)
    assert w.ground.latest("fdir.active_faults", max_age_s=15) == 0


def test_saturation_from_a_band_count_without_raw_counts():
    from firmware.fsw.health import saturated_fraction

    assert saturated_fraction(None, None, n_saturated=12, n_bands=100) == pytest.approx(0.12)
    assert saturated_fraction(None, None) == 0.0
    assert saturated_fraction(np.array([1, 65535, 65535, 3]), 65535) == 0.5


def test_upset_in_stored_data_is_scrubbed_and_the_stream_keeps_flowing():
    """A bit flipped in a stored packet (and in a stored product): the scrub replaces the
    packet by an event under the same APID and count — without it the ground would drop the
    bad copy at every retransmission and that APID would stall — and drops the product."""
    w = make_world([WATER[0]] + LOW, passes=[Pass(900 * S, 1500 * S)], obs_period_s=5.0)
    w.run(600)
    hk = w.exe.mass.tm.queues[Apid.HK]
    victim = hk[3]
    bad = bytearray(victim.raw)
    bad[25] ^= 0x04
    victim.raw = bytes(bad)
    product = next(iter(w.exe.mass.products.items.values()))
    blob = bytearray(product.blob)
    blob[60] ^= 0x80
    product.blob = bytes(blob)
    w.run(900)
    seen = w.ground.decoder.tracks[Apid.HK].seen
    assert victim.seq in seen and w.ground.decoder.tracks[Apid.HK].gaps() == 0
    report = seen[victim.seq]
    assert report[7] == 5  # an event report took the damaged packet's place
    lost = w.ground.events("STORED_DATA_CORRUPTED")
    assert {(e["kind"], e["id"]) for e in lost} >= {(0, victim.seq), (1, product.product_id)}
    assert product.product_id not in w.ground.decoder.products
    assert w.ground.decoder.summary()["errors"] == 0
