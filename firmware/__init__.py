"""Assay firmware: the onboard spectral core and the software around it.

    from firmware import read_spectra, classify, classify_batch
    spectrum = read_spectra("a000004.sp02.txt")[0]
    result = classify(spectrum.wavelength_um, spectrum.reflectance)   # result.cls == "V"
    verdict = assess_spectrum(spectrum, bus_demeo=result).to_dict()   # bands, mineralogy, prospect

Names are resolved lazily so that importing a sub-module (e.g. the board harness or the
flight executive) does not load numba.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "read_spectra": ("firmware.reader", "read_spectra"),
    "Spectrum": ("firmware.reader", "Spectrum"),
    "classify": ("firmware.busdemeo", "classify"),
    "classify_batch": ("firmware.busdemeo", "classify_batch"),
    "classify_spectrum": ("firmware.busdemeo", "classify_spectrum"),
    "BusDeMeoResult": ("firmware.busdemeo", "BusDeMeoResult"),
    "SpectrumReadError": ("firmware.errors", "SpectrumReadError"),
    "classify_mahlke": ("firmware.mahlke", "classify"),
    "classify_batch_mahlke": ("firmware.mahlke", "classify_batch"),
    "MahlkeResult": ("firmware.mahlke", "MahlkeResult"),
    "analyse_bands": ("firmware.bands", "analyse"),
    "analyse_bands_batch": ("firmware.bands", "analyse_batch"),
    "assess": ("firmware.assessment", "assess"),
    "assess_spectrum": ("firmware.assessment", "assess_spectrum"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'firmware' has no attribute {name!r}")
