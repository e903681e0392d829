"""The whole-array numpy Bus-DeMeo (the benchmarks' numpy baseline) agrees with the kernel."""

import numpy as np

from firmware.busdemeo import classify_batch
from tests.spectra_fixtures import shared_axis_batch
from tests.twins.numpy_pipeline import NumpyBusDeMeo


def test_numpy_pipeline_agrees_with_the_fused_kernel_on_real_spectra():
    axis, x = shared_axis_batch(n=300, edge_cases=False, seed=11, range_um=(0.45, 2.45))
    x = x[~np.isnan(x).any(axis=1)]  # the numpy version takes complete spectra only
    assert len(x) > 200
    cls, w, slope, pc = NumpyBusDeMeo(axis).classify(x)
    got = classify_batch(axis, x)
    np.testing.assert_allclose(slope, got.slope, rtol=1e-5)
    np.testing.assert_allclose(pc, got.pc, atol=1e-5)
    # classes: equal except where a feature depth sits on a detection threshold (float32 input,
    # different summation order, a dense argmin versus Newton-polished minima)
    assert np.mean(cls == got.class_index) >= 0.98
    assert np.mean(w == got.w) >= 0.98


def test_numpy_thermal_tail_removal_agrees_with_the_kernel():
    from firmware.kernels.thermal import thermal_model, thermal_tail_one
    from firmware.taxonomy import DEMEO_GRID_UM
    from tests.test_core_twins import _thermal_cases

    x = _thermal_cases()
    x = x[~np.isnan(x).any(axis=1)]
    got = NumpyBusDeMeo(DEMEO_GRID_UM).remove_thermal_tail(x)
    want = x.copy()
    removed = [thermal_tail_one(row, DEMEO_GRID_UM, *thermal_model(DEMEO_GRID_UM))[0] for row in want]
    assert sum(a > 0 for a in removed) >= 8
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
