"""`out=`: a batch call writes into the arrays of an earlier result instead of new ones (its
first N rows when it was made for more spectra: a survey's shorter last chunk).

The reused arrays must come back holding exactly what a fresh call returns — every entry
rewritten, none left from the earlier call — and a result that does not fit is refused with
a message that says what to pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.data import make_inputs
from firmware import bands, busdemeo
from firmware.errors import InputError

N = 200


@pytest.fixture(scope="module")
def spectra():
    """Two different batches on one axis; the second has the per-spectrum path's rows too
    (holes, a flat row, too few points, all missing) and the block path's complete rows."""
    axis, x, _ = make_inputs(2 * N)
    a = np.array(x[:N], dtype=np.float32)
    b = np.array(x[N:], dtype=np.float32)
    b[0:5, 30:40] = np.nan
    b[5:8] = 0.1
    b[8:10, 6:] = np.nan
    b[10:12] = np.nan
    b[12:14, 60:] = -1.0
    return axis, a, b


def _arrays(result) -> dict[str, np.ndarray]:
    """Every array of a result (or of a survey's pair of results), by field name."""
    parts = result if isinstance(result, tuple) else (result,)
    return {f"{k}.{f.name}": getattr(p, f.name) for k, p in enumerate(parts)
            for f in dataclasses.fields(p) if isinstance(getattr(p, f.name), np.ndarray)}  # fmt: skip


def _poison(result) -> None:
    """Overwrite every output array with values no call writes, so a skipped entry shows."""
    for a in busdemeo.previous_outputs(result):
        a[...] = {"f": 12345.0, "i": 77, "b": True}[a.dtype.kind]


CALLS = {
    "classify_batch": busdemeo.classify_batch,
    "classify_classes": busdemeo.classify_classes,
    "survey_batch": bands.survey_batch,
}


@pytest.mark.parametrize("rows", [N, 37], ids=["same-size", "shorter-last-chunk"])
@pytest.mark.parametrize("name", CALLS)
def test_out_is_rewritten_whole_and_equals_a_fresh_call(spectra, name, rows):
    """A call on as many spectra as `out` rewrites all of it; a shorter one its first rows."""
    axis, a, b = spectra
    call = CALLS[name]
    first = call(axis, a)
    _poison(first)
    again = call(axis, b[:rows], out=first)
    fresh = call(axis, b[:rows])
    got, want, reused = _arrays(again), _arrays(fresh), _arrays(first)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        assert np.array_equal(got[key], value, equal_nan=True), key
        if value.strides and 0 not in value.strides:  # not the survey's read-only NaN views
            assert np.shares_memory(got[key], reused[key]), f"{key} was not written into out="
    assert len(got["0.status"]) == rows


def test_out_from_another_size_or_call_is_refused(spectra):
    axis, a, _ = spectra
    classes = busdemeo.classify_classes(axis, a)
    with pytest.raises(InputError, match=r"out= holds the outputs of classify_classes on 200 "
                       r"spectra; this call is classify_batch on 200"):  # fmt: skip
        busdemeo.classify_batch(axis, a, out=classes)
    with pytest.raises(InputError, match=r"survey_batch on 200: pass the result of the same "
                       r"function on at least as many spectra, or out=None"):  # fmt: skip
        bands.survey_batch(axis, a, out=bands.survey_batch(axis, a[:199]))
    with pytest.raises(InputError, match=r"out= must be the result of an earlier .* got dict"):
        busdemeo.classify_classes(axis, a, out={})


def test_a_result_built_elsewhere_is_not_reusable(spectra):
    axis, a, _ = spectra
    grid = busdemeo.classify_grid(np.ones((3, busdemeo.DEMEO_GRID_UM.size)), np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="got BatchResult"):
        busdemeo.classify_batch(axis, a, out=grid)


def test_read_only_out_is_refused(spectra):
    axis, a, _ = spectra
    first = busdemeo.classify_classes(axis, a)
    first._outputs[0].flags.writeable = False
    with pytest.raises(InputError, match="out= holds the outputs of classify_classes on 200"):
        busdemeo.classify_classes(axis, a, out=first)
