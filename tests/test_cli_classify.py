"""`assay classify`: output shapes, exit codes, and the numba cache across processes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.cli import main
from firmware.mahlke_albedo import AlbedoFileError, read_albedo_file

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
    """A fresh `assay classify` process pays no JIT compile (Bus-DeMeo and Mahlke kernels):
    numba's cache is hit."""
    cmd = [sys.executable, "-m", "assay.cli", "classify", str(EXAMPLES / "a000001.sp41.txt"),
           "--taxonomy", "all"]  # fmt: skip
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1")
    subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)  # warm the cache
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    log = second.stdout + second.stderr
    assert "data loaded" in log
    assert "data saved" not in log, "a kernel was compiled again in the second process"


# ---- --taxonomy mahlke | all, --albedo, --albedo-file ------------------------------------

PSYCHE = str(EXAMPLES / "a000016.sp02.txt")  # Xk in Bus-DeMeo; M (Mk) with its albedo
NIR_ONLY = str(EXAMPLES / "a002059.sp258.txt")  # Bus-DeMeo refuses it, Mahlke does not


def _json_out(capsys, argv, code=0):
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_mahlke_json_has_the_bus_demeo_shape_plus_probabilities(capsys):
    (r,) = _json_out(capsys, ["classify", NIR_ONLY, "--taxonomy", "mahlke", "--format", "json"])
    assert r["source"].endswith("a002059.sp258.txt") and r["taxonomy"] == "mahlke"
    assert r["class"] == "S" and r["complex"] == "S" and r["reason"] is None
    assert set(r) >= {
        "confidence",
        "features",
        "flags",
        "probability",
        "probabilities",
        "z",
        "input",
    }
    assert len(r["probabilities"]) == 17 and abs(sum(r["probabilities"].values()) - 1) < 1e-9
    assert r["n_bins"] < 53 and any(f.startswith("partial_spectrum") for f in r["flags"])


def test_all_nests_mahlke_in_the_bus_demeo_record(capsys):
    records = _json_out(
        capsys, ["classify", PSYCHE, NIR_ONLY, "--taxonomy", "all", "--format", "json"]
    )
    psyche, nir = records
    assert psyche["taxonomy"] == "bus-demeo" and psyche["mahlke"]["taxonomy"] == "mahlke"
    assert psyche["mahlke"]["class"] == "Xk" and "source" not in psyche["mahlke"]
    assert nir["class"] is None and nir["reason"] and nir["mahlke"]["class"] == "S"


def test_albedo_splits_the_x_complex(capsys):
    (no_pv,) = _json_out(capsys, ["classify", PSYCHE, "--taxonomy", "mahlke", "--format", "json"])
    (with_pv,) = _json_out(capsys, ["classify", PSYCHE, "--taxonomy", "mahlke", "--format", "json",
                                    "--albedo", "0.16"])  # fmt: skip
    assert no_pv["class"] == "Xk" and no_pv["albedo"] is None
    assert with_pv["class"] == "Mk" and with_pv["albedo"] == 0.16
    (dark,) = _json_out(capsys, ["classify", PSYCHE, "--taxonomy", "mahlke", "--format", "json",
                                 "--albedo", "0.04"])  # fmt: skip
    assert dark["class_without_features"] == "P"


def test_albedo_file_matches_by_number_file_name_and_source(tmp_path, capsys):
    table = tmp_path / "albedo.csv"
    table.write_text("number,pV\n16,0.16\n4,0.40\n# a comment\n2059,\n")
    files = [
        PSYCHE,
        str(EXAMPLES / "a000004.sp02.txt"),
        NIR_ONLY,
        str(EXAMPLES / "a000001.sp41.txt"),
    ]
    out = _json_out(capsys, ["classify", *files, "--taxonomy", "mahlke", "--format", "json",
                             "--albedo-file", str(table)])  # fmt: skip
    assert [r["albedo"] for r in out] == [0.16, 0.40, None, None]
    by_name = tmp_path / "by_name.csv"
    by_name.write_text("file,albedo\na000016.sp02.txt,0.05\n")
    (r,) = _json_out(capsys, ["classify", PSYCHE, "--taxonomy", "mahlke", "--format", "json",
                              "--albedo-file", str(by_name)])  # fmt: skip
    assert r["albedo"] == 0.05 and r["class_without_features"] == "P"


@pytest.mark.parametrize(("text", "expect"), [
    ("asteroid\n16\n", "needs a key column"),
    ("number,albedo\n16,0.16\n17,high\n", "line 3: albedo 'high' is not a number"),
    ("number,albedo\n16,16\n", "line 2: albedo '16' is not a geometric albedo pV in (0, 1] (a percentage? write 0.16)"),
    ("number,albedo\n16,0.1,7\n", "line 2: 3 fields: expected 2"),
    ("number,albedo\n16,0.1\n016,0.2\n", "line 3: '016' given twice with different albedos"),
    ("number,albedo\n,0.1\n", "line 2: empty 'number'"),
    ("", "empty: expected a header"),
])  # fmt: skip
def test_bad_albedo_file_exits_2_naming_file_line_and_fix(tmp_path, capsys, text, expect):
    bad = tmp_path / "albedo.csv"
    bad.write_text(text)
    assert main(["classify", PSYCHE, "--taxonomy", "mahlke", "--albedo-file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and expect in err, err


def test_bad_albedo_value_and_missing_file_exit_2(tmp_path, capsys):
    assert main(["classify", PSYCHE, "--taxonomy", "mahlke", "--albedo", "25"]) == 2
    assert "not a geometric albedo" in capsys.readouterr().err
    missing = tmp_path / "none.csv"
    assert main(["classify", PSYCHE, "--taxonomy", "mahlke", "--albedo-file", str(missing)]) == 2
    assert f"{missing}: cannot open file" in capsys.readouterr().err


def test_albedo_with_bus_demeo_feeds_the_metal_verdict(capsys):
    assert main(["classify", PSYCHE, "--format", "json", "--mc", "0"]) == 0
    without = json.loads(capsys.readouterr().out)[0]["prospect"]["metal"]["likelihood"]
    assert main(["classify", PSYCHE, "--albedo", "0.15", "--format", "json", "--mc", "0"]) == 0
    out = json.loads(capsys.readouterr().out)[0]["prospect"]["metal"]
    assert (without, out["likelihood"]) == ("moderate", "high") and "albedo" in out["reason"]


def test_every_record_carries_bands_mineralogy_and_prospect(capsys):
    assert main(["classify", PSYCHE, NIR_ONLY, "--taxonomy", "all", "--format", "json",
                 "--mc", "8"]) == 0  # fmt: skip
    for rec in json.loads(capsys.readouterr().out):
        assert {"bands", "mineralogy", "prospect"} <= set(rec)
        assert {"water", "metal", "silicates", "score", "evidence"} <= set(rec["prospect"])
    assert main(["classify", PSYCHE, NIR_ONLY, "--format", "csv", "--mc", "0"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[1]["band1_centre_um"] and rows[1]["silicates"] in ("possible", "moderate", "high")
    assert main(["classify", PSYCHE]) == 0
    assert "W:no M:mod S:no" in capsys.readouterr().out


def test_geometry_options_reach_the_corrections(capsys):
    assert main(["classify", NIR_ONLY, "--format", "json", "--mc", "0", "--phase-angle", "30",
                 "--heliocentric-au", "2.5", "--albedo", "0.25"]) == 0  # fmt: skip
    m = json.loads(capsys.readouterr().out)[0]["mineralogy"]
    assert m["phase"]["phase_angle_deg"] == 30.0
    assert m["temperature"]["heliocentric_distance_au"] == 2.5
    assert 150 < m["temperature"]["temperature_k"] < 200


@pytest.mark.parametrize("bad", [["--phase-angle", "200"], ["--temperature", "-3"],
                                 ["--heliocentric-au", "0"], ["--mc", "-1"]])  # fmt: skip
def test_bad_geometry_options_exit_2_naming_the_option(capsys, bad):
    assert main(["classify", PSYCHE, *bad]) == 2
    assert bad[0] in capsys.readouterr().err


def test_mahlke_and_all_csv_and_table_formats(capsys):
    assert main(["classify", PSYCHE, NIR_ONLY, "--taxonomy", "mahlke", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["class"] for r in rows] == ["Xk", "S"] and float(rows[1]["P_S"]) > 0.5
    assert main(["classify", PSYCHE, NIR_ONLY, "--taxonomy", "all", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["bd_class"] == "X" and rows[0]["mahlke_class"] == "Xk"
    assert rows[1]["bd_class"] == "" and rows[1]["bd_reason"] and rows[1]["mahlke_class"] == "S"
    assert main(["classify", PSYCHE, NIR_ONLY, "--taxonomy", "all"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["source", "bus-demeo", "cplx", "mahlke"]
    assert "Xk" in table[1] and "bus-demeo: Bus-DeMeo needs" in table[2]


def test_mahlke_refusal_is_reported_not_raised(tmp_path, capsys):
    short = tmp_path / "short.txt"
    short.write_text("".join(f"{0.50 + 0.01 * i:.3f} {1 + 0.01 * i:.3f}\n" for i in range(8)))
    (r,) = _json_out(capsys, ["classify", str(short), "--taxonomy", "mahlke", "--format", "json"])
    assert r["class"] is None and "at least 5 of its 53 bins" in r["reason"]


# ---- the albedo CSV parser, fuzzed -----------------------------------------------------------

_cells = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.lists(_cells, min_size=1, max_size=4), max_size=6),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_albedo_parser_never_crashes(tmp_path, rows, newline):
    """Any text: a table, or an AlbedoFileError naming the file — nothing else escapes."""
    path = tmp_path / "fuzz.csv"
    path.write_bytes(newline.join(",".join(r) for r in rows).encode("utf-8", "surrogatepass"))
    try:
        table = read_albedo_file(path)
    except AlbedoFileError as exc:
        assert str(path) in str(exc)
    else:
        assert all(v is None or 0 < v <= 1 for v in table.by_key.values())


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(st.integers(1, 10**6), st.one_of(st.none(), st.floats(1e-4, 1.0)), min_size=1)
)
def test_albedo_parser_round_trips(tmp_path, table):
    path = tmp_path / "ok.csv"
    path.write_text(
        "Number,pV\n" + "".join(f"{k},{'' if v is None else repr(v)}\n" for k, v in table.items())
    )
    parsed = read_albedo_file(path)
    for k, v in table.items():
        assert parsed.lookup(f"a{k:06d}.sp01.txt") == (v, str(k))
