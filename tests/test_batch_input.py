"""The shared batch check: every batch API prepares its arrays the same way."""

import numpy as np
import pytest

from firmware import bands, busdemeo, mahlke
from firmware.batch_input import validate_batch
from firmware.errors import InputError


def test_unsorted_axis_moves_reflectance_and_error_columns_with_it():
    wl = np.array([1.0, 0.5, 2.0])
    refl = np.array([[10.0, 5.0, 20.0]])
    err = np.array([[0.1, 0.05, 0.2]])
    wl2, refl2, err2 = validate_batch(wl, refl, err)
    assert wl2.tolist() == [0.5, 1.0, 2.0]
    assert refl2.tolist() == [[5.0, 10.0, 20.0]]
    assert err2.tolist() == [[0.05, 0.1, 0.2]]
    assert refl2.flags.c_contiguous


def test_float32_kept_integers_promoted():
    wl = np.array([0.5, 1.0])
    assert validate_batch(wl, np.ones((2, 2), np.float32))[1].dtype == np.float32
    assert validate_batch(wl, np.ones((2, 2), np.int16))[1].dtype == np.float64


@pytest.mark.parametrize(
    ("wl", "refl", "err", "says"),
    [
        ([0.5, 1.0], np.ones(2), None, "(N spectra, B bands)"),
        ([0.5, 1.0, 1.5], np.ones((1, 2)), None, "(N spectra, B bands)"),
        ([0.5, np.nan], np.ones((1, 2)), None, "NaN or inf"),
        ([500.0, 1000.0], np.ones((1, 2)), None, "looks like nm"),
        ([0.5, 0.5], np.ones((1, 2)), None, "duplicate bands"),
        ([0.5, 1.0], np.ones((1, 2)), np.ones((2, 2)), "error must have"),
        (["a", "b"], np.ones((1, 2)), None, "must be numbers"),
    ],
)
def test_bad_batches_say_what_to_do(wl, refl, err, says):
    with pytest.raises(InputError) as info:
        validate_batch(np.asarray(wl), refl, err)
    assert says in str(info.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda wl, r: busdemeo.classify_batch(wl, r),
        lambda wl, r: bands.analyse_batch(wl, r),
        lambda wl, r: mahlke.classify_batch(wl, r),
    ],
    ids=["busdemeo", "bands", "mahlke"],
)
def test_every_batch_api_uses_it(call):
    with pytest.raises(InputError, match="looks like nm"):
        call(np.linspace(450.0, 2450.0, 41), np.ones((1, 41)))
