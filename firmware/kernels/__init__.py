"""numba kernels of the spectral core: arithmetic on float arrays only, no Python objects.

Every kernel here takes arrays shaped (N spectra, B bands) and a wavelength axis in µm,
and marks invalid values with NaN (a mask travels as NaN, never as an exception).
Each has a plainly written numpy twin in `tests/twins/`.
"""
