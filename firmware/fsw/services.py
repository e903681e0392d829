"""PUS service handlers: bind every command of the dictionary to the executive's parts.

Each binding states where a command may run (modes), what must hold before it starts
(`check`, reported as a start failure) and what it does (`execute`, a completion failure if it
raises). Argument layouts and ranges come from `firmware.fsw.commands`.
"""

from __future__ import annotations

import struct

from firmware.fsw.commands import (
    CommandError,
    decode_acks,
    decode_function,
    decode_ids,
)
from firmware.fsw.events import EVENTS
from firmware.fsw.housekeeping import STRUCTURES
from firmware.fsw.modes import Guard, Mode, Reason
from firmware.fsw.params import PARAMS, ParamError, pack_values, unpack_values
from firmware.fsw.pus import Apid, FailCode, Service
from firmware.fsw.schedule import decode_activities

CATALOGUE_ROW = struct.Struct("!IBfIq")  # product ID, kind, value, bytes, created t_ns
CATALOGUE_MAX_ROWS = 150  # one packet
SCIENCE_MODES = (Mode.IDLE, Mode.SURVEY, Mode.PROSPECT)
GROUND_REQUEST_VALUE = 2.0  # above any autonomy value: the ground asked for it


def _param_error(exc: ParamError) -> CommandError:
    return CommandError(exc.code, str(exc))


def bind_services(exe) -> None:
    d = exe.dispatcher
    tm = exe.tm

    # --- 17: test ----------------------------------------------------------------------------
    d.bind("PING", lambda a, tc, t: tm(Apid.CMD, Service.TEST, 2, b"", t))

    # --- 3: housekeeping ---------------------------------------------------------------------
    def hk_enable(on):
        return lambda a, tc, t: exe.hk.enabled.__setitem__(a["sid"], on)

    d.bind("HK_ENABLE", hk_enable(True))
    d.bind("HK_DISABLE", hk_enable(False))
    d.bind("HK_ONE_SHOT", lambda a, tc, t: exe.hk.report(a["sid"], t))

    def hk_period(a, tc, t):
        try:
            exe.params.set(STRUCTURES[a["sid"]].period_param, a["period_s"])
        except ParamError as exc:
            raise _param_error(exc) from exc

    d.bind("HK_SET_PERIOD", hk_period)

    # --- 5: events ---------------------------------------------------------------------------
    def event_ids(cmd):
        def parse(data):
            ids = decode_ids(cmd, data)
            unknown = [i for i in ids if i not in EVENTS]
            if unknown:
                raise CommandError(FailCode.NOT_FOUND, f"{cmd}: unknown event IDs {unknown}")
            return {"ids": ids}

        return parse

    d.bind(
        "EVENT_REPORT_ENABLE",
        lambda a, tc, t: exe.events.disabled.difference_update(a["ids"]),
        parse=event_ids("EVENT_REPORT_ENABLE"),
    )
    d.bind(
        "EVENT_REPORT_DISABLE",
        lambda a, tc, t: exe.events.disabled.update(a["ids"]),
        parse=event_ids("EVENT_REPORT_DISABLE"),
    )

    # --- 8: function management --------------------------------------------------------------
    def parse_function(data):
        f, args = decode_function(data)
        return {"function": f.name, **args}

    def check_function(a, t):
        name = a["function"]
        if name == "SET_MODE":
            guard = exe.modes.check(Mode(a["mode"]), Reason.COMMAND)
            if guard != Guard.OK:
                raise CommandError(
                    FailCode.GUARD_FAILED,
                    f"SET_MODE {exe.mode.name}→{Mode(a['mode']).name} refused: {guard.name}",
                )
        elif (
            name in ("SPECTROMETER_POWER", "REQUEST_OBSERVATION") and exe.mode not in SCIENCE_MODES
        ):
            raise CommandError(
                FailCode.NOT_ALLOWED_IN_MODE, f"{name} not allowed in {exe.mode.name}"
            )

    def perform(a, tc, t):
        name = a["function"]
        if name == "SET_MODE":
            if exe.modes.request(Mode(a["mode"]), Reason.COMMAND, t) != Guard.OK:
                raise CommandError(
                    FailCode.GUARD_FAILED, "SET_MODE: refused by a guard at execution"
                )
        elif name == "RELOAD_MODEL":
            if not exe.model.reload():
                raise CommandError(
                    FailCode.EXECUTION_FAILED, "RELOAD_MODEL: checksum still wrong after reload"
                )
        elif name == "CLEAR_FAULTS":
            left = exe.fdir.clear(t)
            if left:
                raise CommandError(
                    FailCode.EXECUTION_FAILED,
                    f"CLEAR_FAULTS: still present: {[f.name for f in left]}",
                )
        elif name == "SPECTROMETER_POWER":
            exe.instrument.power_on = bool(a["on"]) and exe.fdir.instrument_ok()
        elif name == "REQUEST_OBSERVATION":
            exe.autonomy.request_observation(t, a["lat_deg"], a["lon_deg"], a["integration_scale"])
        elif name == "CLOSE_SUMMARY":
            auto = exe.autonomy
            if auto.classmap.n_obs and not auto.close_summary(t):
                raise CommandError(
                    FailCode.RESOURCE_FULL, "CLOSE_SUMMARY: no room for the summary product"
                )
        elif name == "RESUME_AUTONOMY":  # the ground hands the mode back: survey, downlink
            if exe.mode not in (Mode.IDLE, Mode.SURVEY):
                raise CommandError(
                    FailCode.NOT_ALLOWED_IN_MODE,
                    f"RESUME_AUTONOMY in {exe.mode.name}: only from IDLE or SURVEY",
                )
            exe.modes.hand_over(Reason.AUTONOMY, t)
        elif name == "VERIFY_MODEL":
            if not exe.fdir.check_model(t):
                raise CommandError(
                    FailCode.EXECUTION_FAILED, "VERIFY_MODEL: model corrupted and not repaired"
                )
        else:  # FUNCTIONS and this switch are kept in step by tests/fsw
            raise CommandError(FailCode.NOT_FOUND, f"no handler for function {name}")

    d.bind("PERFORM_FUNCTION", perform, parse=parse_function, check=check_function)

    # --- 11: time-based scheduling -----------------------------------------------------------
    sched = exe.schedule
    epoch = exe.config.epoch_unix_ms
    d.bind(
        "SCHEDULE_ENABLE",
        lambda a, tc, t: setattr(sched, "enabled", True),
        modes=SCIENCE_MODES + (Mode.DOWNLINK,),
    )
    d.bind("SCHEDULE_DISABLE", lambda a, tc, t: setattr(sched, "enabled", False))
    d.bind("SCHEDULE_RESET", lambda a, tc, t: sched.reset())
    d.bind(
        "SCHEDULE_INSERT",
        lambda a, tc, t: sched.insert(a["items"]),
        parse=lambda data: {"items": decode_activities(data, epoch)},
        check=lambda a, t: sched.validate_insert(a["items"], d.validate, t),
    )
    d.bind("SCHEDULE_DELETE_GROUP", lambda a, tc, t: sched.delete_group(a["group"]))
    d.bind(
        "SCHEDULE_REPORT", lambda a, tc, t: tm(Apid.CMD, Service.SCHEDULING, 10, sched.report(), t)
    )

    # --- 12: on-board monitoring -------------------------------------------------------------
    mon = exe.monitoring

    def pmon_ids(cmd):
        def parse(data):
            ids = decode_ids(cmd, data, "B")
            unknown = [i for i in ids if i not in mon.pmons]
            if unknown:
                raise CommandError(FailCode.NOT_FOUND, f"{cmd}: unknown PMON IDs {unknown}")
            return {"ids": ids}

        return parse

    def pmon_set(on):
        def run(a, tc, t):
            for i in a["ids"]:
                mon.pmons[i].enabled = on

        return run

    d.bind("PMON_ENABLE", pmon_set(True), parse=pmon_ids("PMON_ENABLE"))
    d.bind("PMON_DISABLE", pmon_set(False), parse=pmon_ids("PMON_DISABLE"))

    def pmon_check(a, t):
        if a["pmon_id"] not in mon.pmons:
            raise CommandError(FailCode.NOT_FOUND, f"PMON_MODIFY: unknown PMON {a['pmon_id']}")

    def pmon_modify(a, tc, t):
        try:
            mon.modify(a["pmon_id"], a["low"], a["high"], a["repetitions"])
        except ValueError as exc:  # ParamError is a ValueError too
            raise CommandError(
                getattr(exc, "code", FailCode.ARG_OUT_OF_RANGE), f"PMON_MODIFY: {exc}"
            ) from exc

    d.bind("PMON_MODIFY", pmon_modify, check=pmon_check)
    d.bind("PMON_FUNCTION_ENABLE", lambda a, tc, t: setattr(mon, "function_enabled", True))
    d.bind("PMON_FUNCTION_DISABLE", lambda a, tc, t: setattr(mon, "function_enabled", False))

    # --- 20: parameters ----------------------------------------------------------------------
    def parse_param_ids(data):
        ids = decode_ids("PARAM_REPORT", data)
        unknown = [i for i in ids if i not in PARAMS]
        if unknown:
            raise CommandError(FailCode.NOT_FOUND, f"PARAM_REPORT: unknown parameter IDs {unknown}")
        return {"ids": ids}

    d.bind(
        "PARAM_REPORT",
        lambda a, tc, t: tm(
            Apid.CMD,
            Service.PARAMETER,
            2,
            pack_values([(i, exe.params.values[i]) for i in a["ids"]]),
            t,
        ),
        parse=parse_param_ids,
    )

    def parse_param_values(data):
        try:
            items = unpack_values(data)
            for pid, v in items:  # range checks at acceptance: never half-applied
                PARAMS[pid].check(v)
        except ParamError as exc:
            raise _param_error(exc) from exc
        return {"items": items}

    def param_set(a, tc, t):
        exe.params.set_many(a["items"])

    d.bind("PARAM_SET", param_set, parse=parse_param_values)

    # --- 140: prospecting products -----------------------------------------------------------
    products = exe.mass.products

    def catalogue(a, tc, t):
        rows = products.catalogue()[:CATALOGUE_MAX_ROWS]
        data = struct.pack("!H", len(rows)) + b"".join(
            CATALOGUE_ROW.pack(p.product_id, p.kind, p.value, len(p.blob), p.created_ns)
            for p in rows
        )
        tm(Apid.SCI, Service.PROSPECT, 2, data, t)

    def product_exists(a, t):
        if a["product_id"] not in products.items:
            raise CommandError(FailCode.NOT_FOUND, f"product {a['product_id']} is not in the store")

    def downlink(a, tc, t):
        products.items[a["product_id"]].value = GROUND_REQUEST_VALUE

    d.bind("CATALOGUE_REPORT", catalogue)
    d.bind("PRODUCT_DOWNLINK", downlink, check=product_exists)
    d.bind(
        "PRODUCT_DELETE", lambda a, tc, t: products.remove(a["product_id"]), check=product_exists
    )

    def parse_acks(data):
        acks = decode_acks(data)
        unknown = sorted(set(acks) - set(exe.mass.tm.queues))
        if unknown:
            raise CommandError(FailCode.NOT_FOUND, f"TM_ACKNOWLEDGE: no stored APIDs {unknown}")
        return {"acks": acks}

    d.bind(
        "TM_ACKNOWLEDGE",
        lambda a, tc, t: [exe.mass.tm.acknowledge(ap, s) for ap, s in a["acks"].items()],
        parse=parse_acks,
    )
