"""Scenario files: TOML in `seeds/scenarios/`, one source of truth for every setting.

    scenario = load_scenario("default", seed=7, duration="6 h", overrides={"instrument.noise": False})

`load_scenario` reads the TOML (stdlib `tomllib`), applies command-line overrides, validates
every key against `SCHEMA` (sim.schema: types, ranges, units, defaults), checks the
cross-field rules (periapsis above the surface, passes naming known stations, …) and
returns a `Scenario` with the resolved settings, the master seed and the per-module seeds
derived from it. Any mistake raises `ScenarioError` naming the file, the line where it can
be found and the dotted key, with what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.errors import AssayError
from sim.faults import FAULT_KINDS
from sim.scenario_keys import SCHEMA
from sim.schema import SchemaError, validate
from sim.timebase import parse_duration_ns, parse_epoch

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "seeds" / "scenarios"
# Modules that draw random numbers; each gets its own stream derived from the master seed.
SEEDED_MODULES = ("target", "instrument", "onboard", "upsets", "ground")


class ScenarioError(AssayError, ValueError):
    """A scenario cannot be used. Names file, line (when found) and key."""

    def __init__(self, path: str, key: str, message: str, line: int | None = None):
        self.path, self.key, self.line, self.detail = path, key, line, message
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {key}: {message}")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    text: str  # the TOML as read
    sha256: str
    config: dict  # resolved: defaults filled, durations and times in integer ns
    seed: int
    module_seeds: dict[str, int]
    overrides: dict

    @property
    def step_ns(self) -> int:
        return self.config["mission"]["step"]

    @property
    def duration_ns(self) -> int:
        return self.config["mission"]["duration"]

    @property
    def epoch(self):
        return self.config["mission"]["epoch"]

    def rng(self, module: str) -> np.random.Generator:
        """The random stream of one module (stable: depends on master seed and name only)."""
        return np.random.default_rng(_seed_sequence(self.seed, module))


def _seed_sequence(master: int, module: str) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=master, spawn_key=(zlib.crc32(module.encode()),))


def derive_seeds(master: int) -> dict[str, int]:
    """Per-module seeds as recorded in the report (the first 32-bit word of each stream)."""
    return {m: int(_seed_sequence(master, m).generate_state(1)[0]) for m in SEEDED_MODULES}


def resolve_path(name_or_path: str | Path) -> Path:
    """A shipped scenario name ('default') or a path to a .toml file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise ScenarioError(str(p), "(file)", "no such scenario file")
        return p
    candidate = SCENARIO_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        names = ", ".join(s["name"] for s in list_scenarios()) or "(none)"
        raise ScenarioError(str(name_or_path), "(scenario)", f"no shipped scenario of that name; shipped: {names}; or give a path to a .toml file")
    return candidate


def load_scenario(name_or_path: str | Path = "default", *, seed: int | None = None,
                  duration: str | int | float | None = None,
                  overrides: dict | None = None) -> Scenario:  # fmt: skip
    path = resolve_path(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _line_of_decode_error(exc)
        raise ScenarioError(str(path), "(syntax)", f"not valid TOML: {exc}", line) from None
    overrides = dict(overrides or {})
    if seed is not None:
        overrides["mission.seed"] = seed
    if duration is not None:
        overrides["mission.duration"] = duration
    data = copy.deepcopy(raw)
    for key, value in overrides.items():
        _set_dotted(data, key, value, str(path))
    try:
        config = validate(data, SCHEMA, epoch=_epoch_or_none(data))
        _cross_checks(config)
    except SchemaError as exc:
        raise ScenarioError(str(path), exc.key, exc.detail, _find_line(text, exc.key)) from None
    config["mission"].setdefault("name", "")
    name = config["mission"]["name"] or path.stem
    config["mission"]["name"] = name
    master = config["mission"]["seed"]
    return Scenario(
        name=name, path=str(path), text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(), config=config, seed=master,
        module_seeds=derive_seeds(master), overrides={k: _plain(v) for k, v in overrides.items()},
    )  # fmt: skip


def list_scenarios() -> list[dict]:
    """Shipped scenarios: name, description, duration (as written) and path."""
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            mission = tomllib.loads(path.read_text(encoding="utf-8")).get("mission", {})
        except tomllib.TOMLDecodeError as exc:
            mission = {"description": f"(unreadable: {exc})"}
        out.append({
            "name": path.stem, "path": str(path),
            "description": str(mission.get("description", "")),
            "duration": str(mission.get("duration", "")),
        })  # fmt: skip
    return out


def _set_dotted(data: dict, key: str, value, path: str) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ScenarioError(path, key, f"override: {part!r} is not a table")
        node = nxt
    node[parts[-1]] = value


def _cross_checks(c: dict) -> None:
    m, t, o = c["mission"], c["target"], c["orbit"]
    if m["step"] > m["duration"]:
        raise SchemaError("mission.step", "is longer than mission.duration")
    if m["duration"] % m["step"]:
        raise SchemaError("mission.duration", "must be a whole number of mission.step")
    periapsis = o["semi_major_axis_m"] * (1 - o["eccentricity"])
    if periapsis <= t["radius_m"]:
        raise SchemaError("orbit.semi_major_axis_m", f"periapsis {periapsis:g} m is inside the body (radius {t['radius_m']:g} m): raise it or lower orbit.eccentricity")
    inst = c["instrument"]
    if inst["band_max_um"] <= inst["band_min_um"]:
        raise SchemaError("instrument.band_max_um", "must be above instrument.band_min_um")
    if inst["cadence"] % m["step"]:
        raise SchemaError("instrument.cadence", "must be a whole number of mission.step")
    p = c["spacecraft"]["power"]
    if not p["safe_soc"] < p["resume_soc"]:
        raise SchemaError("spacecraft.power.resume_soc", "must be above spacecraft.power.safe_soc (hysteresis)")
    names = [s["name"] for s in c["ground"]["stations"]]
    if len(set(names)) != len(names):
        raise SchemaError("ground.stations", f"station names must be unique, got {names}")
    for i, ps in enumerate(c["ground"]["passes"]):
        if ps["station"] not in names:
            raise SchemaError(f"ground.passes[{i}].station", f"{ps['station']!r} is not a station; stations: {', '.join(names)}")
    for i, f in enumerate(c["faults"]):
        if f["kind"] == "missed_pass" and f["station"] and f["station"] not in names:
            raise SchemaError(f"faults[{i}].station", f"{f['station']!r} is not a station; stations: {', '.join(names)}")
    units = [u["name"] for u in t["surface"]["units"]]
    if len(set(units)) != len(units):
        raise SchemaError("target.surface.units", f"unit names must be unique, got {units}")
    assert set(FAULT_KINDS) >= {f["kind"] for f in c["faults"]}
    _computer_checks(c)


def _computer_checks(c: dict) -> None:
    """Onboard parameters and telecommands name things the flight software knows."""
    from firmware.fsw import commands as cmds
    from firmware.fsw.params import BY_NAME, ParamError

    comp = c["spacecraft"]["computer"]
    fsw = comp["kind"] == "fsw"
    for name, value in comp["params"].items():
        where = f"spacecraft.computer.params.{name}"
        if name not in BY_NAME:
            close = difflib.get_close_matches(name, list(BY_NAME), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SchemaError(where, f"no such onboard parameter{hint}; see firmware.fsw.params.PARAMS")
        try:
            BY_NAME[name].check(value)
        except (ParamError, TypeError, ValueError) as exc:
            raise SchemaError(where, str(exc)) from None
    if not fsw and c["commands"]:  # parameters, the baseline comparison, an uplink fault: unused (reported)
        raise SchemaError("spacecraft.computer.kind", "[[commands]] need the flight executive: set kind = \"fsw\"")
    for i, cmd in enumerate(c["commands"]):
        where = f"commands[{i}]"
        for key in ("data_hex", "raw_hex"):
            try:
                bytes.fromhex(cmd[key])
            except ValueError:
                raise SchemaError(f"{where}.{key}", f"not hexadecimal: {cmd[key]!r}") from None
        if cmd["raw_hex"]:
            continue
        name = cmd["command"]
        spec = cmds.BY_NAME.get(name)
        func = cmds.FUNCTION_BY_NAME.get(name)
        if spec is None and func is None:
            known = sorted(cmds.BY_NAME) + sorted(cmds.FUNCTION_BY_NAME)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SchemaError(f"{where}.command", f"unknown command {name!r}{hint}; known: {', '.join(known)}")
        if name == "PARAM_SET":  # its args are parameter name = value
            bad = sorted(set(cmd["args"]) - set(BY_NAME))
            if bad:
                raise SchemaError(f"{where}.args", f"unknown parameters {bad}")
        elif not cmd["data_hex"]:
            if spec is not None and spec.variable:
                raise SchemaError(f"{where}.data_hex", f"{name} has a variable layout ({spec.variable}): give data_hex")
            wanted = [a.name for a in (func or spec).args]
            if sorted(cmd["args"]) != sorted(wanted):
                raise SchemaError(f"{where}.args", f"{name} takes {wanted or 'no arguments'}, got {sorted(cmd['args'])}")
        if not cmd["data_hex"]:
            from sim.gse.ops import check_encodable

            try:
                check_encodable(name, cmd["args"])
            except ValueError as exc:
                raise SchemaError(f"{where}.args", str(exc)) from None


def _find_line(text: str, key: str) -> int | None:
    """Best effort: the line where the last part of a dotted key is set (or its table)."""
    parts = [re.sub(r"\[\d+\]$", "", p) for p in key.split(".")]
    leaf = parts[-1]
    index = re.findall(r"\[(\d+)\]", key)
    section = ".".join(parts[:-1])
    lines = text.splitlines()
    in_section, seen = not section, -1
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", s)
        if header:
            name = header.group(1)
            if name == section:
                seen += 1
                want = int(index[-1]) if index and s.startswith("[[") else seen
                in_section = seen == want
            else:
                in_section = False
            if ".".join(parts) == name:
                return n
            continue
        if in_section and re.match(rf"^{re.escape(leaf)}\s*=", s):
            return n
    return None


def _epoch_or_none(data: dict):
    """The mission epoch if it can be read (times elsewhere are offsets from it)."""
    try:
        return parse_epoch(data["mission"]["epoch"])
    except (KeyError, TypeError, ValueError):
        return None


def _line_of_decode_error(exc: Exception) -> int | None:
    m = re.search(r"line (\d+)", str(exc))
    return int(m.group(1)) if m else None


def _plain(value):
    return value if isinstance(value, bool | int | float | str) else str(value)


def duration_arg(value: str) -> int:
    """argparse type for --duration."""
    return parse_duration_ns(value)
