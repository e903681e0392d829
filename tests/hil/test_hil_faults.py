"""Link fault tests (issue 8 must-show): bit flips at BER 10⁻³, dropped and inserted bytes,
garbage bursts, a board reset in the middle — 0 undetected corrupt frames, every request
answered or reported failed.

The faults are injected into the real byte stream between the real link and a real board
(`hil.faults.FaultyTransport` around a virtual board running the harness). Every answer the
link accepts is checked against what it must be: an ECHO returns its payload, a CLASSIFY
returns the 28 bytes the board module computes on CPython (bit-exact).
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware.board import assay_harness as H
from hil import protocol as P
from hil.dut import Dut
from hil.faults import FaultPlan, FaultyTransport
from hil.link import LinkError, Request
from hil.transport import open_transport
from hil.vboard import available
from tests.hil.hil_helpers import developer_inputs, expected_result

pytestmark = [pytest.mark.hil, pytest.mark.skipif(available() is not None, reason=str(available()))]
N_REQUESTS = 120


@pytest.fixture(scope="module")
def board_fs(tmp_path_factory):
    """A board folder flashed once (with and without autostart main.py later)."""
    fs = tmp_path_factory.mktemp("faultfs")
    with open_transport(f"vboard:?fs={fs}") as t:
        Dut(t).flash()
    return fs


def workload(seed: int, n: int = N_REQUESTS):
    """Mixed requests with the answer each must get: ECHOs of 1–96 random bytes and
    CLASSIFYs of real spectra."""
    rng = np.random.default_rng(seed)
    r41, det, _ = developer_inputs()
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            data = rng.integers(0, 256, int(rng.integers(1, 97)), dtype=np.uint8).tobytes()
            out.append((Request(H.ECHO, data, answer_len=len(data), exact_len=len(data)), data))
        else:
            i = int(rng.integers(0, len(r41)))
            body = P.classify_body(r41[i], det[i])
            req = Request(H.CLASSIFY, body, answer_len=H.RESULT_SIZE, exact_len=H.RESULT_SIZE)
            out.append((req, expected_result(r41[i], det[i])))
    return out


def run(board_fs, plan: FaultPlan, *, autostart: bool, window: int = 1, retries: int = 20):
    with open_transport(f"vboard:?fs={board_fs}") as t:
        d = Dut(t, retries=retries, base_timeout_s=0.2)
        d.flash(autostart=autostart)
        d.start()
        faulty = FaultyTransport(t, plan)
        d.link.t = faulty  # the same link, now over a noisy line
        d.repl.t = faulty  # and restarts through the raw REPL too
        items = workload(plan.seed)
        answers = d.link.exchange([r for r, _ in items], window=window)
        wrong = [i for i, ((_, want), got) in enumerate(zip(items, answers, strict=True))
                 if not isinstance(got, Exception) and got != want]  # fmt: skip
        failed = [a for a in answers if isinstance(a, Exception)]
        assert all(isinstance(a, LinkError) for a in failed)
        return {"wrong": wrong, "failed": len(failed), "answered": len(answers) - len(failed),
                "stats": d.link.stats.to_dict(), "faults": faulty.counts, "restarts": d.restarts}  # fmt: skip


def check(out, min_answered: float = 0.95):
    assert out["wrong"] == [], f"undetected corrupt answers at {out['wrong']}: {out}"
    assert out["answered"] + out["failed"] == N_REQUESTS
    assert out["answered"] >= min_answered * N_REQUESTS, out


def test_bit_errors_at_1e_3(board_fs):
    out = run(board_fs, FaultPlan(ber=1e-3, seed=1), autostart=False)
    check(out)
    assert out["faults"].bits_flipped >= 100, out["faults"]
    s = out["stats"]
    assert s["naks"] + s["bad_frames"] + s["timeouts"] > 0 and s["retries"] > 0


def test_dropped_inserted_bytes_and_garbage_bursts(board_fs):
    plan = FaultPlan(drop_rate=2e-3, insert_rate=2e-3, burst_rate=0.05, seed=2)
    out = run(board_fs, plan, autostart=False)
    check(out)
    f = out["faults"]
    assert f.bytes_dropped > 0 and f.bytes_inserted > 0 and f.bursts > 0, f


def test_reset_into_the_repl_is_recovered(board_fs):
    """No main.py: after the reset the board sits at its REPL; the link sees the banner,
    the Dut starts the harness again, the lost request is sent again."""
    out = run(board_fs, FaultPlan(reset_after_tx_bytes=3000, seed=3), autostart=False)
    check(out, min_answered=1.0)
    assert out["faults"].resets == 1 and out["stats"]["resets"] >= 1 and out["restarts"] >= 1


def test_reset_with_autostart_is_recovered(board_fs):
    """main.py serves at boot: the new harness's HELLO tells the link to resend."""
    out = run(board_fs, FaultPlan(reset_after_tx_bytes=3000, seed=4), autostart=True)
    check(out, min_answered=1.0)
    assert out["faults"].resets == 1 and out["stats"]["resets"] >= 1 and out["restarts"] == 0


def test_everything_at_once_pipelined(board_fs):
    plan = FaultPlan(ber=1e-3, drop_rate=1e-3, insert_rate=1e-3, burst_rate=0.03,
                     reset_after_tx_bytes=6000, seed=5)  # fmt: skip
    out = run(board_fs, plan, autostart=True, window=2)
    check(out, min_answered=0.9)
