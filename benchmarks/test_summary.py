"""The `make bench` summary on a small hand-made result file, and the steal-time reading.

No timing here: the numbers are made up so that every ratio is known in advance.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.conftest import STEAL_MARK_SHARE, SYS_MARK_SHARE, disturbance, steal_seconds
from benchmarks.summary import main, summarise

SURVEY = "survey: raw → Bus-DeMeo class + Band I/II"
N = 1_000_000


def _bench(group: str, impl: str, median_s: float, n: int = N, **extra) -> dict:
    info = {"impl": impl, "n_spectra": n, "n_bands": 120, **extra}
    return {"group": group, "name": f"{group}-{impl}", "fullname": f"b::{group}::{impl}::{n}",
            "extra_info": info, "stats": {"median": median_s, "min": median_s}}  # fmt: skip


@pytest.fixture
def results(tmp_path):
    """A survey at 10^6 spectra: numpy 40 s, numba 1 thread 2 s, 2 threads 0.8 s (under
    12 % steal), and a read floor of 0.025 s."""
    data = {"machine_info": {"assay_loadavg": "1.00 / 1.20"}, "benchmarks": [
        _bench(SURVEY, "numpy", 40.0),
        _bench(SURVEY, "numba-1t", 2.0, steal_share=0.001),
        _bench(SURVEY, "numba", 0.8, steal_share=0.12),
        _bench("floor: read the input once", "numba", 0.025),
    ]}  # fmt: skip
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    return path


def test_summary_rates_ratios_and_targets(results):
    text = summarise(results)
    row = next(line for line in text.splitlines() if line.startswith(f"| {SURVEY}"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # numpy, numba 1 thread, numba all threads (under steal), × numpy, ÷ 1 thread, × floor
    assert cells[2:] == ["25.0 k/s", "500.0 k/s", "1.25 M/s ‡ 12%", "50.0", "2.50", "32.0"]
    assert "| Bus-DeMeo + bands (fused) ≥ 1 M spectra/s, all threads | 1.25 M/s at N=1,000,000 ‡ 12% | yes |" in text
    assert "| … and ≥ 40 × its numpy twin | 50.0× | yes |" in text
    assert "1.00 / 1.20" in text


def test_summary_marks_only_results_measured_under_steal(results):
    data = json.loads(results.read_text())
    data["benchmarks"][2]["extra_info"]["steal_share"] = STEAL_MARK_SHARE / 2
    results.write_text(json.dumps(data))
    assert "‡ " not in summarise(results).split("† numpy")[0]


def test_a_later_file_replaces_the_same_benchmark(results, tmp_path):
    rerun = tmp_path / "rerun.json"
    rerun.write_text(json.dumps({"benchmarks": [_bench(SURVEY, "numba", 1.6, steal_share=0.0)]}))
    text = summarise([results, rerun])
    assert "625.0 k/s |" in text and "‡ 12%" not in text


def test_main_names_a_missing_file(tmp_path, capsys):
    assert main([str(tmp_path / "none.json")]) == 1
    assert "none.json: no benchmark results; run `make bench` first" in capsys.readouterr().err


PROC_STAT = """cpu  4705 356 584 3699 23 0 23 1937 0 0
cpu0 1393 280 290 1815 5 0 16 970 0 0
intr 114930548 113199788 3 0 5 263 0 4 [...]
"""


def test_steal_seconds_reads_the_cpu_line():
    assert steal_seconds(PROC_STAT, 100) == pytest.approx(19.37)


@pytest.mark.parametrize("text", ["", "cpu0 1 2 3 4 5 6 7 8\n", "cpu  1 2 3 4 5 6 7\n"])
def test_steal_seconds_is_nan_without_the_field(text):
    assert math.isnan(steal_seconds(text, 100))


def test_a_reused_outputs_group_is_compared_with_its_pipelines_twin(results):
    data = json.loads(results.read_text())
    data["benchmarks"].append(_bench("survey, outputs reused (out=): raw → class + bands", "numba", 0.5))
    results.write_text(json.dumps(data))
    text = summarise(results)
    row = next(line for line in text.splitlines() if line.startswith("| survey, outputs reused"))
    assert [c.strip() for c in row.strip("|").split("|")][2:6] == ["25.0 k/s", "–", "2.00 M/s", "80.0"]
    assert "| … outputs reused (out=) ≥ 1 M spectra/s, all threads | 2.00 M/s at N=1,000,000 | yes |" in text
    assert "| … and ≥ 40 × its numpy twin | 80.0× | yes |" in text


def test_system_time_is_marked_apart_from_steal(results):
    data = json.loads(results.read_text())
    data["benchmarks"][1]["extra_info"]["sys_share"] = SYS_MARK_SHARE + 0.07
    results.write_text(json.dumps(data))
    row = next(line for line in summarise(results).splitlines() if line.startswith(f"| {SURVEY}"))
    assert [c.strip() for c in row.strip("|").split("|")][3:5] == ["500.0 k/s § 15%", "1.25 M/s ‡ 12%"]


def test_disturbance_shares_of_the_machine():
    # 2 s of wall on 2 cores: 0.4 s of steal is 10 %, 0.2 s of system time 5 %
    assert disturbance((10.0, 100.0, 1.0), (12.0, 100.4, 1.2), 2) == {"steal_share": 0.1, "sys_share": 0.05}
    assert disturbance((10.0, math.nan, 1.0), (12.0, math.nan, 1.2), 2) == {"sys_share": 0.05}
    assert disturbance((10.0, 1.0, 1.0), (10.0, 1.0, 1.0), 2) == {}


@given(st.text(alphabet=st.sampled_from("cpu 0123456789-x\n\t"), max_size=120))
def test_steal_seconds_on_any_text_gives_a_number_or_a_value_error(text):
    """The reader (`conftest._usage`) catches ValueError, so nothing else may escape."""
    try:
        value = steal_seconds(text, 100)
    except ValueError:
        return
    assert isinstance(value, float)
