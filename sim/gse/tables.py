"""Write decoded telemetry as tables: one CSV per table and/or one JSON document.

CSV columns are the union of the row keys in first-seen order (event rows carry each event's
own auxiliary fields); nested values (argument dicts, lists) are written as JSON text.
Reassembled products go to `products/<id>.json` with their arrays as lists.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np


def _plain(v):
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; CSV readers choke on it too
    if isinstance(v, np.floating | np.integer):
        return _plain(v.item())
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    return v


def _cell(v):
    v = _plain(v)
    if isinstance(v, dict | list):
        return json.dumps(v, separators=(",", ":"))
    return "" if v is None else v


def write_csv(rows: list[dict], path: Path) -> None:
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(keys))
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(v) for k, v in r.items()})


def write_tables(
    decoder, out_dir: Path, formats: tuple[str, ...], extra: dict | None = None
) -> list[Path]:
    """Write packets, every decoded table and the products; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {"packets": decoder.rows, **decoder.tables}
    if "csv" in formats:
        for name, rows in tables.items():
            p = out_dir / f"{name}.csv"
            write_csv(rows, p)
            written.append(p)
    if "json" in formats:
        p = out_dir / "decoded.json"
        doc = {"summary": {**decoder.summary(), **(extra or {})}, "tables": tables}
        p.write_text(json.dumps(_plain(doc), indent=1, allow_nan=False))
        written.append(p)
    if decoder.products:
        pdir = out_dir / "products"
        pdir.mkdir(exist_ok=True)
        for pid, product in sorted(decoder.products.items()):
            p = pdir / f"{pid}.json"
            p.write_text(json.dumps(_plain(product), indent=1, allow_nan=False))
            written.append(p)
    return written
