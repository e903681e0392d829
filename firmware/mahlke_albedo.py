"""Albedo input of the Mahlke taxonomy: one pV for all spectra, or a CSV table of them.

An albedo CSV has a header naming a key column (`source`, `file`, `name`, `number`, `key`,
`asteroid` or `designation`) and an albedo column (`albedo`, `pv`, `p_v`), case-insensitive.
A spectrum takes the row whose key equals its source path, its file name, the id after `#`
of a wide-CSV column, or the asteroid number / designation of an MIT file name
(`a000004.sp02.txt` → 4, `au2002AV.visnir.txt` → 2002AV). Keys compare without spaces,
underscores, parentheses and leading zeros. An empty albedo cell means "unknown".

pV is the visual geometric albedo, a fraction in (0, 1]; 1 < value ≤ 100 is refused with a
hint that it looks like a percentage. Bad files raise `AlbedoFileError` naming file and line.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import AssayError

_KEY_COLUMNS = ("source", "file", "name", "number", "key", "asteroid", "designation")
_ALBEDO_COLUMNS = ("albedo", "pv", "p_v")
_MIT_NAME = re.compile(r"^a(?:u(?P<desig>[0-9]{4}[A-Z]{2}[0-9]*)|(?P<number>[0-9]{6,7}))[._]")
MAX_ALBEDO = 1.0  # geometric albedo is a fraction (firmware.mahlke refuses larger values too)


class AlbedoFileError(AssayError, ValueError):
    """An albedo CSV could not be used. Names the file, the line and what to do."""

    def __init__(self, path: str, message: str, line: int | None = None):
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class AlbedoTable:
    """Albedo pV by key (source path, file name, asteroid number or designation)."""

    path: str
    by_key: dict[str, float | None]

    def lookup(self, source: str) -> tuple[float | None, str | None]:
        """(pV or None, the key that matched or None) for a spectrum's source."""
        for key in _candidate_keys(source):
            for k in (key, _normal_key(key)):
                if k in self.by_key:
                    return self.by_key[k], k
        return None, None


def _candidate_keys(source: str) -> list[str]:
    base = Path(source.split("#", 1)[0]).name
    keys = [source, base, source.split("#", 1)[-1]]
    m = _MIT_NAME.match(base)
    if m and m.group("number"):
        keys.append(str(int(m.group("number"))))
    elif m and m.group("desig"):
        keys.append(m.group("desig").upper())
    return keys


def _normal_key(text: str) -> str:
    """Keys compare without spaces/underscores and case; numbers without leading zeros."""
    k = text.strip().replace(" ", "").replace("_", "")
    k = k[1:-1] if k.startswith("(") and k.endswith(")") else k
    return (
        str(int(k))
        if k.isdigit()
        else k.upper()
        if re.fullmatch(r"[0-9]{4}[A-Za-z]{2}[0-9]*", k)
        else k
    )


def read_albedo_file(path: str | Path) -> AlbedoTable:
    """Parse an albedo CSV (see the module docstring); raises AlbedoFileError naming the line."""
    p = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise AlbedoFileError(p, f"cannot open file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise AlbedoFileError(p, "not UTF-8 text: expected a CSV with a header row") from None
    lines = [(i, ln) for i, ln in enumerate(re.split(r"\r\n|\r|\n", text), start=1)
             if ln.strip() and not ln.lstrip().startswith("#")]  # fmt: skip
    if not lines:
        raise AlbedoFileError(p, "empty: expected a header such as 'number,albedo'")
    try:
        rows = [(i, next(csv.reader([ln]))) for i, ln in lines]
    except csv.Error as exc:
        raise AlbedoFileError(p, f"malformed CSV ({exc})") from None
    (hline, header), body = rows[0], rows[1:]
    names = [h.strip().lower() for h in header]
    key_col = next((names.index(k) for k in _KEY_COLUMNS if k in names), None)
    alb_col = next((names.index(k) for k in _ALBEDO_COLUMNS if k in names), None)
    if key_col is None or alb_col is None:
        raise AlbedoFileError(
            p, f"header {header} needs a key column ({', '.join(_KEY_COLUMNS)}) and an albedo "
            f"column ({', '.join(_ALBEDO_COLUMNS)})", hline,
        )  # fmt: skip
    table: dict[str, float | None] = {}
    for line, row in body:
        if len(row) != len(header):
            raise AlbedoFileError(
                p, f"{len(row)} fields: expected {len(header)} as in the header", line
            )
        key, cell = row[key_col].strip(), row[alb_col].strip()
        if not key:
            raise AlbedoFileError(p, f"empty {names[key_col]!r}", line)
        value = _parse_albedo(p, line, cell)
        for k in {key, _normal_key(key)}:
            if k in table and table[k] != value:
                raise AlbedoFileError(p, f"{key!r} given twice with different albedos", line)
            table[k] = value
    return AlbedoTable(p, table)


def _parse_albedo(path: str, line: int, cell: str) -> float | None:
    if cell == "" or cell.lower() in ("nan", "na", "none", "null"):
        return None
    try:
        v = float(cell)
    except ValueError:
        raise AlbedoFileError(path, f"albedo {cell[:40]!r} is not a number", line) from None
    if not 0.0 < v <= MAX_ALBEDO:
        hint = f" (a percentage? write {v / 100:g})" if 1.0 < v <= 100.0 else ""
        raise AlbedoFileError(
            path, f"albedo {cell!r} is not a geometric albedo pV in (0, 1]{hint}", line
        )
    return v
