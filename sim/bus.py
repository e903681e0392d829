"""Message bus, module base class and recorders (the Basilisk pattern, in plain Python).

- A *message* is a frozen dataclass stamped with `t_ns` (see `sim.messages`).
- A *channel* has one message type; `publish` refuses any other type, so a wiring mistake
  fails at once instead of travelling as a wrong dict.
- Readers take the latest message of a channel (`read`), or every message published since
  they last looked (`drain`, for channels that carry many messages a step, e.g. events).
- A *recorder* keeps every message of a channel (or one every `min_interval_ns`) as rows of
  its scalar fields, for CSV output and plots. Any channel can be recorded.
- A *module* has `reset(t_ns)`, `update(t_ns)` and `quiet_until_ns(t_ns)`: the last tells
  the engine how long nothing will happen in it, so quiet stretches can be skipped.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

FOREVER_NS = 2**62


class BusError(TypeError):
    """A module published the wrong message type or read an unknown channel."""


class MessageBus:
    """Named, typed channels; latest-value reads; optional recording of any channel."""

    def __init__(self) -> None:
        self._types: dict[str, type] = {}
        self._latest: dict[str, Any] = {}
        self._log: dict[str, list] = defaultdict(list)
        self._cursor: dict[tuple[str, str], int] = {}
        self._keep_log: set[str] = set()
        self._recorders: dict[str, list[Recorder]] = defaultdict(list)

    def channel(self, name: str, msg_type: type, log: bool = False) -> None:
        """Declare a channel and its message type; `log` keeps every message for `drain`."""
        if name in self._types and self._types[name] is not msg_type:
            raise BusError(f"channel {name!r} already carries {self._types[name].__name__}")
        self._types[name] = msg_type
        if log:
            self._keep_log.add(name)

    def publish(self, name: str, msg: Any) -> None:
        expected = self._types.get(name)
        if expected is None:
            raise BusError(f"publish on undeclared channel {name!r}; declared: {sorted(self._types)}")
        if type(msg) is not expected:
            raise BusError(f"channel {name!r} carries {expected.__name__}, got {type(msg).__name__}")
        self._latest[name] = msg
        if name in self._keep_log:
            self._log[name].append(msg)
        for rec in self._recorders.get(name, ()):
            rec.offer(msg)

    def read(self, name: str) -> Any:
        """Latest message on `name`, or None if nothing was published yet."""
        if name not in self._types:
            raise BusError(f"read of undeclared channel {name!r}; declared: {sorted(self._types)}")
        return self._latest.get(name)

    def drain(self, name: str, reader: str) -> list:
        """Messages on a logged channel that `reader` has not seen yet."""
        if name not in self._keep_log:
            raise BusError(f"channel {name!r} is not logged; declare it with log=True")
        log = self._log[name]
        start = self._cursor.get((name, reader), 0)
        self._cursor[(name, reader)] = len(log)
        return log[start:]

    def history(self, name: str) -> list:
        """Every message of a logged channel, in order."""
        return list(self._log[name])

    def record(self, name: str, min_interval_ns: int = 0) -> Recorder:
        if name not in self._types:
            raise BusError(f"cannot record undeclared channel {name!r}")
        rec = Recorder(name, self._types[name], min_interval_ns)
        self._recorders[name].append(rec)
        return rec

    @property
    def recorders(self) -> list[Recorder]:
        return [r for recs in self._recorders.values() for r in recs]


class Recorder:
    """Rows of a channel's scalar fields (numbers, bools, short strings)."""

    def __init__(self, channel: str, msg_type: type, min_interval_ns: int = 0) -> None:
        self.channel = channel
        self.fields = [
            f.name for f in dataclasses.fields(msg_type) if _scalar_type(f.type)
        ]
        self.min_interval_ns = int(min_interval_ns)
        self.rows: list[tuple] = []
        self._last_t: int | None = None

    def offer(self, msg: Any) -> None:
        t = msg.t_ns
        if self._last_t is not None and t - self._last_t < self.min_interval_ns:
            return
        self._last_t = t
        self.rows.append(tuple(getattr(msg, f) for f in self.fields))

    def column(self, name: str) -> np.ndarray:
        i = self.fields.index(name)
        return np.array([row[i] for row in self.rows])


def _scalar_type(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text in ("int", "float", "bool", "str")


class Module:
    """Base class of every simulation module.

    `update(t_ns)` advances the module from its previous update to `t_ns` — one fixed step,
    or a longer skip over a quiet stretch — and publishes its messages stamped `t_ns`.
    `quiet_until_ns(t_ns)` returns the earliest time at which the module next needs a
    fine step (an event, a threshold, a scheduled action); the default, `t_ns`, means
    "never skip over me".
    """

    name: str = "module"

    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.t_ns = 0

    def reset(self, t_ns: int) -> None:
        self.t_ns = t_ns

    def update(self, t_ns: int) -> None:
        self.t_ns = t_ns

    def quiet_until_ns(self, t_ns: int) -> int:
        return t_ns
