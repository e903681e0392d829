"""The spectrum reader: real MIT/SMASS quirks, CSV layouts, units, clear errors, fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.errors import SpectrumReadError
from firmware.reader import read_spectra
from tests.spectra_fixtures import SPECTRA_DIR, labels


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_every_real_file_reads_and_matches_its_label_row():
    for row in labels():
        s = read_spectra(SPECTRA_DIR / row["file"])[0]
        assert s.wavelength_um.size == int(row["n_points"]) - s.n_duplicates, row["file"]
        assert s.wavelength_um[0] == pytest.approx(float(row["wmin_um"]), abs=1e-4)
        assert s.wavelength_um[-1] == pytest.approx(float(row["wmax_um"]), abs=1e-4)
        assert np.all(np.diff(s.wavelength_um) > 0)
        assert np.all(s.reflectance > 0)


def test_cr_only_line_ends_and_lone_zero_padding_lines():
    # a000354.sp12 uses CR line ends and pads with lone 0.0000 lines
    s = read_spectra(SPECTRA_DIR / "demeo2009" / "a000354.sp12.txt")[0]
    assert s.wavelength_um.size > 400


def test_mixed_line_ends_mixed_columns_missing_and_padding(tmp_path):
    data = (
        b"0.45 0.90 0.01 1\r\n0.50 0.95 0.01\r0.55 1.00 0.01 1\n0.0000\n"
        b"0.60 -1 -1 0\n0.65 1.02\r\n0.70 nan 0.01 1\n"
    )
    s = read_spectra(_write(tmp_path, "mixed.txt", data))[0]
    np.testing.assert_allclose(s.wavelength_um, [0.45, 0.50, 0.55, 0.65])
    assert s.n_missing == 1  # the −1 reflectance
    assert s.n_dropped == 1  # the NaN
    assert s.error is not None and np.isnan(s.error[-1])  # 2-column line: error unknown


def test_unsorted_and_duplicates_are_sorted_and_averaged(tmp_path):
    data = b"0.60 1.2 0.02\n0.50 0.9 0.01\n0.60 1.0 0.02\n0.55 1.0 0.01\n"
    s = read_spectra(_write(tmp_path, "dup.txt", data))[0]
    np.testing.assert_allclose(s.wavelength_um, [0.50, 0.55, 0.60])
    np.testing.assert_allclose(s.reflectance, [0.9, 1.0, 1.1])
    np.testing.assert_allclose(s.error[-1], np.sqrt(2 * 0.02**2) / 2)
    assert s.was_unsorted and s.n_duplicates == 1
    assert any("sorted" in n for n in s.notes)


def test_nanometres_detected_and_overridden(tmp_path):
    p = _write(tmp_path, "nm.txt", b"450 0.9\n550 1.0\n650 1.1\n")
    np.testing.assert_allclose(read_spectra(p)[0].wavelength_um, [0.45, 0.55, 0.65])
    np.testing.assert_allclose(read_spectra(p, units="nm")[0].wavelength_um, [0.45, 0.55, 0.65])
    np.testing.assert_allclose(read_spectra(p, units="um")[0].wavelength_um, [450, 550, 650])


def test_csv_single_spectrum_with_error(tmp_path):
    p = _write(tmp_path, "one.csv", b"wavelength,reflectance,error\n0.5,0.9,0.01\n0.55,1.0,0.01\n")
    (s,) = read_spectra(p)
    assert s.source == str(p)
    np.testing.assert_allclose(s.error, [0.01, 0.01])


def test_csv_wide_gives_one_spectrum_per_column_named_by_id(tmp_path):
    p = _write(tmp_path, "wide.csv", b"wavelength_nm,ast1,ast2\n500,0.9,\n550,1.0,1.0\n600,1.1,1.2\n")
    a, b = read_spectra(p)
    assert (a.source, b.source) == (f"{p}#ast1", f"{p}#ast2")
    np.testing.assert_allclose(b.wavelength_um, [0.55, 0.60])


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b"0.5 0.9\n0.55 abc\n", 2, "expected 2"),
        (b"0.5 0.9\n0.55 1 2 3 4\n", 2, "5 columns"),
        (b"0.5 0.9\n0.7\n", 2, "lone number"),
        (b"", None, "no data lines"),
        (b"\x00\x01\x02", None, "binary"),
    ],
)
def test_unreadable_mit_files_name_file_line_and_expectation(tmp_path, content, line, words):
    p = _write(tmp_path, "bad.txt", content)
    with pytest.raises(SpectrumReadError) as info:
        read_spectra(p)
    assert str(p) in str(info.value) and words in str(info.value)
    assert info.value.line == line


def test_unreadable_csv_names_the_line_and_column(tmp_path):
    p = _write(tmp_path, "bad.csv", b"wavelength,reflectance\n0.5,0.9\n0.55,oops\n")
    with pytest.raises(SpectrumReadError, match=r"line 3: column 'reflectance'"):
        read_spectra(p)
    p = _write(tmp_path, "nohdr.csv", b"0.5,0.9\n0.55,1.0\n")
    with pytest.raises(SpectrumReadError, match="no header row"):
        read_spectra(p)


def test_missing_file_is_a_read_error(tmp_path):
    with pytest.raises(SpectrumReadError, match="cannot open"):
        read_spectra(tmp_path / "nope.txt")


_token = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(lambda f: f"{f:.5g}"),
    st.sampled_from(["-1", "0.0000", "nan", "inf", "x", "", "1e400", "#", ","]),
)
_line = st.lists(_token, min_size=0, max_size=6).map(" ".join)
_sep = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=30), sep=_sep, csv_ext=st.booleans())
def test_fuzz_reader_never_crashes(tmp_path, lines, sep, csv_ext):
    """Any text: either spectra that satisfy the invariants or a SpectrumReadError."""
    p = _write(tmp_path, "f.csv" if csv_ext else "f.txt", sep.join(lines).encode())
    try:
        spectra = read_spectra(p)
    except SpectrumReadError as exc:
        assert str(p) in str(exc)
        return
    for s in spectra:
        assert np.all(np.isfinite(s.wavelength_um)) and np.all(np.diff(s.wavelength_um) > 0)
        assert np.all(s.reflectance > 0) and np.all(np.isfinite(s.reflectance))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_fuzz_reader_on_random_bytes(tmp_path, data):
    p = _write(tmp_path, "b.txt", data)
    try:
        read_spectra(p)
    except SpectrumReadError:
        pass
