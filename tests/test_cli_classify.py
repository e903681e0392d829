"""`assay classify`: output shapes, exit codes, and the numba cache across processes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from assay.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "seeds" / "examples"


def test_json_has_the_documented_fields(capsys):
    assert main(["classify", str(EXAMPLES / "a000004.sp02.txt"), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["source"].endswith("a000004.sp02.txt")
    assert record["class"] == "V" and record["complex"] == "V"
    assert isinstance(record["slope"], float) and len(record["pc"]) == 5
    assert len(record["templates"]) == 3 and record["templates"][0]["class"] == "V"
    assert set(record["features"]) == {"e", "h", "k"}


def test_wide_csv_ids_and_refusals_in_json(capsys):
    files = [str(EXAMPLES / "demeo2009_class_means_nm.csv"), str(EXAMPLES / "a002059.sp258.txt")]
    assert main(["classify", *files, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    by_source = {r["source"].split("/")[-1]: r for r in records}
    assert by_source["demeo2009_class_means_nm.csv#S_mean"]["class"] == "S"
    refused = by_source["a002059.sp258.txt"]
    assert refused["class"] is None and refused["reason"]


def test_csv_and_table_formats(capsys):
    assert main(["classify", str(EXAMPLES / "a000001.sp41.txt"), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["class"] == "C" and rows[0]["complex"] == "C"
    assert main(["classify", str(EXAMPLES / "a000013.sp41.txt")]) == 0
    assert "Ch" in capsys.readouterr().out


def test_unreadable_file_gives_nonzero_exit_and_names_it(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("0.5 0.9\nnot numbers\n")
    assert main(["classify", str(bad), str(EXAMPLES / "a000001.sp41.txt")]) == 1
    captured = capsys.readouterr()
    assert f"{bad}, line 2" in captured.err
    assert "a000001" in captured.out  # the readable file is still classified


def test_second_process_loads_compiled_kernels_from_the_cache():
    """A fresh `assay classify` process pays no JIT compile: numba's cache is hit."""
    cmd = [sys.executable, "-m", "assay.cli", "classify", str(EXAMPLES / "a000001.sp41.txt")]
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1")
    subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)  # warm the cache
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    log = second.stdout + second.stderr
    assert "data loaded" in log
    assert "data saved" not in log, "a kernel was compiled again in the second process"
