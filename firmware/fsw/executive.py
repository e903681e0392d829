"""The flight executive: boots the flight software, runs its rate groups on the injected
clock, and is the single door between the software and its environment.

Environment → software: `receive_tc(raw, t_ns)` (the radio), `ingest(message)` (sensors:
`Observation`, `PowerStatus`, `ThermalStatus`, `LinkStatus`, `NavStatus`, and the `CpuStall`
fault).
Software → environment: `transmit(t_ns, budget_bytes)` (packets for the radio), `mode`,
`instrument` (commanded spectrometer state), `pop_requests()` (re-observation requests).
Drive it with `reset(t_ns)` once, then `update(t_ns)` as simulated time advances (the
simulator may skip ahead to `next_due_ns()`).

What survives a reset is what would on a spacecraft: the `Nvm` (parameters, boot count) and
the `MassMemory` (telemetry store, sequence counters, products). A watchdog expiry reboots the
software in place: every volatile component is rebuilt and the boot goes to SAFE. A host that
watches the software (events, science results) registers `boot_hooks`: each is called with
the executive whenever a software image is built (at start and after every reboot).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from firmware.fsw import messages as msg
from firmware.fsw.autonomy import Autonomy, busdemeo_value
from firmware.fsw.dispatcher import Dispatcher
from firmware.fsw.events import Ev, EventLog
from firmware.fsw.fdir import Fdir, Instrument
from firmware.fsw.health import ModelMemory
from firmware.fsw.housekeeping import NS_PER_S, DataPool, Housekeeping
from firmware.fsw.modes import Guard, Mode, ModeManager, Reason
from firmware.fsw.monitoring import Monitoring
from firmware.fsw.params import Nvm, ParamStore
from firmware.fsw.products import Product, ProductStore
from firmware.fsw.pus import DEFAULT_EPOCH_UNIX_MS, Apid
from firmware.fsw.rategroups import RateGroup, Scheduler, Watchdog
from firmware.fsw.schedule import Schedule
from firmware.fsw.science import Science, classify_one
from firmware.fsw.storage import Storage
from firmware.fsw.store import MassMemory

SCRUB_COST_NS_PER_KIB = 10_000  # modelled: CRC over 1 KiB of mass memory on a small MCU
SCRUB_BYTES_PER_CYCLE = 2 * 1024  # scrub rate: 2 KiB per slow cycle (a 4 MiB store in ~6 h)


class ResetCause(IntEnum):
    POWER_ON = 0
    WATCHDOG = 1
    COMMAND = 2
    BROWNOUT = 3  # the bus could not hold the computer up


@dataclass(frozen=True)
class Config:
    epoch_unix_ms: int = DEFAULT_EPOCH_UNIX_MS
    fast_period_ns: int = NS_PER_S  # 1 Hz: commands, schedule, science, HK, monitoring
    fast_budget_ns: int = NS_PER_S // 2
    slow_period_ns: int = 10 * NS_PER_S  # 0.1 Hz: autonomy timeouts, model scrub, store
    slow_budget_ns: int = 2 * NS_PER_S
    product_share: float = 0.85  # of mass memory products may fill (the rest: telemetry)
    rx_queue: int = 32


def default_classify(obs):
    """Bus-DeMeo on one observation (see `science.classify_one`)."""
    return classify_one(obs.wavelength_um, obs.reflectance, obs.error, source=f"obs{obs.obs_id}")


class Executive:
    def __init__(
        self,
        config: Config | None = None,
        *,
        nvm: Nvm | None = None,
        mass: MassMemory | None = None,
        classify: Callable | None = None,
        value: Callable | None = None,
        cpu_clock: Callable[[], int] | None = None,
        model_loader: Callable | None = None,
    ):
        self.config = config or Config()
        self.nvm = nvm if nvm is not None else Nvm()
        self.mass = mass if mass is not None else MassMemory()
        if self.mass.products is None:
            self.mass.products = ProductStore()
        self._classify = classify or default_classify
        self._value = value or busdemeo_value
        self._cpu_clock = cpu_clock
        self._model_loader = model_loader
        self._inputs: dict[type, object] = {}  # last sensor messages: the hardware keeps them
        self.boots = 0
        self.t_ns = 0
        self.boot_hooks: list[Callable[[Executive], None]] = []
        self._build()

    # --- construction of the volatile software image ---------------------------------------

    def _build(self) -> None:
        self.params = ParamStore(self.nvm)
        self._params_loaded = self.params.load()
        self.pool = DataPool()
        self.storage = Storage(self.mass, self.config.epoch_unix_ms, self.config.product_share)
        self.events = EventLog(self)
        self.storage.events = self.events
        self.modes = ModeManager(
            self.events,
            {
                "no_fault": lambda: not self.fdir.latched,
                "soc_safe_exit": lambda: self._soc() >= self.params["mode.safe_exit_soc"],
                "soc_science": lambda: self._soc() >= self.params["mode.science_min_soc"],
                "instrument_ok": lambda: self.fdir.instrument_ok(),
                "model_ok": lambda: self.fdir.model_verified or self.fdir.check_model(self.t_ns),
                "link_up": lambda: self.link.up,
                "reobs_pending": lambda: bool(self.autonomy.pending),
            },
        )
        self.dispatcher = Dispatcher(self, self.events, lambda: self.modes.mode)
        self.hk = Housekeeping(self, self.pool, self.params, lambda: self.link.up)
        self.monitoring = Monitoring(self, self.pool, self.params, self.events)
        self.schedule = Schedule(self.events)
        self.instrument = Instrument()
        self.model = ModelMemory(self._model_loader)
        self.fdir = Fdir(
            params=self.params,
            events=self.events,
            model=self.model,
            instrument=self.instrument,
            request_mode=self.modes.request,
            in_violation=self.monitoring.in_violation,
            purge=self.purge_products,
        )
        self.autonomy = Autonomy(
            params=self.params,
            events=self.events,
            sink=self,
            products=self.mass.products,
            store_product=self.store_product,
            request_mode=self.modes.request,
            mode=lambda: self.modes.mode,
        )
        self.science = Science(self)
        self.rx: deque[bytes] = deque()
        self.rx_dropped = 0
        self._resume, self._resume_reason = Mode.IDLE, Reason.BOOT
        self._link_was_up = False
        self._next_model_check_ns = 0
        self.watchdog = Watchdog(int(self.params["fdir.watchdog_timeout_s"] * NS_PER_S))
        c = self.config
        fast = RateGroup(
            1,
            "fast",
            c.fast_period_ns,
            c.fast_budget_ns,
            kicks_watchdog=True,
            tasks=[
                self._task_commands,
                self.science.task,
                self._task_modes,
                self._task_downlink,
                self._task_publish,
            ],
        )
        slow = RateGroup(2, "slow", c.slow_period_ns, c.slow_budget_ns, tasks=[self._task_slow])
        self.scheduler = Scheduler([fast, slow], self.events, self.watchdog, self._cpu_clock)
        self._groups = {"fast": fast, "slow": slow}
        from firmware.fsw.services import bind_services

        bind_services(self)
        self.modes.on_entry[Mode.SAFE].append(self._enter_safe)
        for m in (Mode.SURVEY, Mode.PROSPECT):
            self.modes.on_entry[m].append(self._instrument_on)
            self.modes.on_exit[m].append(self._instrument_off)
        self.modes.on_entry[Mode.DOWNLINK].append(lambda t: self.autonomy.close_summary(t))
        for hook in self.boot_hooks:
            hook(self)

    @property
    def link(self) -> msg.LinkStatus:
        return self._inputs.get(msg.LinkStatus) or msg.LinkStatus(0, False, 0.0)

    def _footprint_lit(self) -> bool:
        """Navigation's word on the nadir footprint (no navigation input: assume lit)."""
        nav = self._inputs.get(msg.NavStatus)
        return nav is None or nav.footprint_lit

    def _soc(self) -> float:
        s = self.pool.sample("battery.soc_frac")
        return s[0] if s is not None else float("nan")

    # --- boot ------------------------------------------------------------------------------

    def reset(self, t_ns: int, cause: ResetCause = ResetCause.POWER_ON) -> None:
        """Boot: count it, restore inputs, raise BOOT, enter IDLE (cold start) or SAFE."""
        self.t_ns = t_ns
        self.boots += 1
        self.params.set_system("sys.boot_count", self.params["sys.boot_count"] + 1)
        self.params.set_system("sys.reset_cause", int(cause))
        self.scheduler.reset(t_ns)
        self.hk.reset(t_ns)
        for m in self._inputs.values():
            self._publish_input(m)
        self.events.raise_(
            t_ns, Ev.BOOT, boot_count=int(self.params["sys.boot_count"]), reset_cause=cause
        )
        if not self._params_loaded:
            a, b = self.params.banks_ok
            self.events.raise_(t_ns, Ev.PARAMS_DEFAULTED, bank_a_ok=a, bank_b_ok=b)
        self.fdir.on_boot(t_ns, watchdog=cause == ResetCause.WATCHDOG)
        self.modes.boot(t_ns, Mode.IDLE if cause == ResetCause.POWER_ON else Mode.SAFE)
        self._next_model_check_ns = t_ns

    def update(self, t_ns: int) -> None:
        """Advance the software to `t_ns`: run every due cycle; reboot if the watchdog fires."""
        while (reset_at := self.scheduler.run_until(t_ns)) is not None:
            self.reboot(reset_at, ResetCause.WATCHDOG)
        self.t_ns = t_ns

    def reboot(self, t_ns: int, cause: ResetCause) -> None:
        """Processor reset (watchdog, brown-out): RAM is lost — every volatile component is
        rebuilt from NVM and mass memory — and the boot goes to SAFE."""
        self.t_ns = t_ns
        self._build()
        self.reset(t_ns, cause)

    def next_due_ns(self) -> int:
        return min(self.scheduler.next_due_ns(), self.watchdog.deadline_ns)

    # --- inputs ----------------------------------------------------------------------------

    def receive_tc(self, raw: bytes, t_ns: int) -> None:
        """The radio hands over one received TC; it is processed in the next fast cycle."""
        if len(self.rx) >= self.config.rx_queue:
            self.rx_dropped += 1
            return
        self.rx.append(bytes(raw))

    def ingest(self, message) -> None:
        if isinstance(message, msg.Observation):
            self.science.ingest(message)
        elif isinstance(message, msg.CpuStall):
            self.scheduler.stall(message.t_ns, message.duration_ns)
        elif isinstance(
            message, (msg.PowerStatus, msg.ThermalStatus, msg.LinkStatus, msg.NavStatus)
        ):
            self._inputs[type(message)] = message
            self._publish_input(message)
        else:
            raise TypeError(f"the executive does not take {type(message).__name__} messages")

    def _publish_input(self, m) -> None:
        if isinstance(m, msg.PowerStatus):
            self.pool.set("battery.soc_frac", m.soc_frac, m.t_ns)
            self.pool.set("battery.bus_voltage_v", m.bus_voltage_v, m.t_ns)
        elif isinstance(m, msg.ThermalStatus):
            self.pool.set("temp.spectrometer_c", m.spectrometer_c, m.t_ns)
            self.pool.set("temp.obc_c", m.obc_c, m.t_ns)
        elif isinstance(m, msg.LinkStatus):
            self.pool.set("link.up", float(m.up), m.t_ns)

    # --- outputs ---------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self.modes.mode

    @property
    def instrument_state(self) -> msg.InstrumentState:
        return msg.InstrumentState(self.instrument.power_on, self.instrument.integration_scale)

    def pop_requests(self) -> list[msg.ObservationRequest]:
        return self.autonomy.pop_requests()

    def transmit(self, t_ns: int, budget_bytes: int) -> list[bytes]:
        """Packets for the radio now, at most `budget_bytes`. Whenever the link is up the TT&C
        traffic flows (command reports, events, housekeeping), so the ground always sees the
        effect of its commands; science and product parts only in DOWNLINK mode. Below
        `link.tx_min_soc` the transmitter is shed (the receiver stays on)."""
        if not self.link.up or self._soc() < self.params["link.tx_min_soc"]:
            return []
        apids = {Apid.CMD, Apid.EVT, Apid.HK}
        if self.modes.mode == Mode.DOWNLINK:
            apids |= {Apid.SCI, Apid.XFER}
        retransmit_ns = int(self.params["link.retransmit_s"] * NS_PER_S)
        return self.mass.tm.transmit(t_ns, budget_bytes, {int(a) for a in apids}, retransmit_ns)

    # --- telemetry sink and product store (policy in firmware.fsw.storage) ---------------

    def tm(self, apid: int, service: int, subtype: int, data: bytes, t_ns: int) -> bool:
        return self.storage.tm(apid, service, subtype, data, t_ns)

    def store_product(self, product: Product) -> bool:
        return self.storage.store_product(product)

    def purge_products(self, target_ppm: int) -> int:
        return self.storage.purge_products(target_ppm, self.t_ns)

    # --- mode actions ----------------------------------------------------------------------

    def _enter_safe(self, t_ns: int) -> None:
        self.instrument.power_on = False
        self.instrument.restart_at_ns = None
        self.schedule.enabled = False
        self.science.queue.clear()
        self.autonomy.close_summary(t_ns)

    def _instrument_on(self, t_ns: int) -> None:
        self.instrument.power_on = self.fdir.instrument_ok()

    def _instrument_off(self, t_ns: int) -> None:
        self.instrument.power_on = False

    def request_mode(self, to: Mode, reason: Reason, t_ns: int) -> Guard:
        return self.modes.request(to, reason, t_ns)

    # --- rate-group tasks (each returns its modelled cost in ns) ---------------------------

    def _task_commands(self, t_ns: int) -> int:
        n = 0
        while self.rx:
            self.dispatcher.handle(self.rx.popleft(), t_ns)
            n += 1
        n += self.schedule.release_due(t_ns, self.dispatcher.handle)
        return 200_000 * n  # modelled: 0.2 ms per command

    def _task_modes(self, t_ns: int) -> int:
        modes, mode = self.modes, self.modes.mode
        if self.instrument.restart_at_ns is not None and t_ns > self.instrument.restart_at_ns:
            self.instrument.restart_at_ns = None
            self.instrument.power_on = (
                mode in (Mode.SURVEY, Mode.PROSPECT) and self.fdir.instrument_ok()
            )
        up, rising = self.link.up, self.link.up and not self._link_was_up
        self._link_was_up = up
        # a pass: antenna to Earth — at its start, or later once no ground command holds the
        # mode (e.g. after a recovery handed the spacecraft back to autonomy mid-pass)
        if (
            up
            and self.params["auto.auto_downlink"]
            and mode in (Mode.IDLE, Mode.SURVEY, Mode.PROSPECT)
            and (rising or modes.reason != Reason.COMMAND)
        ):
            if modes.check(Mode.DOWNLINK, Reason.LINK) == Guard.OK:
                self._resume, self._resume_reason = mode, modes.reason
                modes.request(Mode.DOWNLINK, Reason.LINK, t_ns)
        elif mode == Mode.DOWNLINK and not up:  # the pass is over (a commanded one too)
            if modes.reason == Reason.COMMAND:
                back = Mode.IDLE
            elif self._resume != Mode.PROSPECT or self.autonomy.pending:
                back = self._resume
            else:
                back = Mode.SURVEY
            if modes.check(back, Reason.LINK) != Guard.OK:
                back = Mode.IDLE
            # a mode the ground had commanded (e.g. parked in IDLE) is its standing order
            held = modes.reason != Reason.COMMAND and self._resume_reason == Reason.COMMAND
            modes.request(back, Reason.COMMAND if held and back == self._resume else Reason.LINK, t_ns)
        elif mode == Mode.SURVEY and self.params["auto.auto_survey"] and not self._footprint_lit():
            modes.request(Mode.IDLE, Reason.AUTONOMY, t_ns)  # night side: nothing to survey
        elif (
            mode == Mode.IDLE
            and self.params["auto.auto_survey"]
            and modes.reason != Reason.COMMAND
            and self._footprint_lit()
        ):
            if modes.check(Mode.SURVEY, Reason.AUTONOMY) == Guard.OK:
                modes.request(Mode.SURVEY, Reason.AUTONOMY, t_ns)
        return 50_000

    def _task_downlink(self, t_ns: int) -> int:
        if self.modes.mode != Mode.DOWNLINK:
            return 0
        return self.science.feed_downlink(t_ns)

    def _task_publish(self, t_ns: int) -> int:
        # the storage monitor needs the fill every cycle; the rest only when a report is due
        self.pool.set("store.fill_frac", self.mass.fill_frac(), t_ns)
        if self.hk.due(t_ns):
            self.science.publish(t_ns)
        n = self.hk.tick(t_ns)
        self.monitoring.tick(t_ns)
        return 100_000 + 100_000 * n

    def _task_slow(self, t_ns: int) -> int:
        self.autonomy.tick(t_ns)
        cost = 100_000
        if t_ns >= self._next_model_check_ns and not self.params["auto.send_all"]:
            self._next_model_check_ns = t_ns + int(
                self.params["fdir.model_check_period_s"] * NS_PER_S
            )
            self.fdir.check_model(t_ns)
            cost += self.science.MODEL_CHECK_COST_NS
        self.storage.maintain()
        before = self.storage.scrubbed_bytes
        self.storage.scrub(t_ns, SCRUB_BYTES_PER_CYCLE)
        return cost + SCRUB_COST_NS_PER_KIB * ((self.storage.scrubbed_bytes - before) // 1024)
