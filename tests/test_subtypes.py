"""Gaffey 1993 S-subtypes (schematic reconstruction): kernel = matplotlib.path twin, the
fields tile the diagram, and the lab clusters fall where the README says."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from firmware import s_subtypes as S
from firmware.errors import InputError
from tests.test_bands_lab import lab_bands


def _twin(bar, bic):
    m = S.load_model()
    out = np.full(bar.shape, -1)
    for p in range(len(m.names)):
        poly = MplPath(m.vertices[m.starts[p] : m.starts[p] + m.counts[p]])
        inside = poly.contains_points(np.column_stack([bar, bic]))
        out[(out < 0) & inside] = p
    return out


def test_locate_equals_matplotlib_path_away_from_edges():
    rng = np.random.default_rng(2)
    bar, bic = rng.uniform(-0.2, 3.2, 5000), rng.uniform(0.86, 1.14, 5000)
    m = S.load_model()
    got = S.locate(bar, bic, m.starts, m.counts, m.vertices)
    # points within 1e-9 of an edge may go either way in either implementation
    np.testing.assert_array_equal(got, _twin(bar, bic))


def test_fields_tile_the_diagram_without_overlap():
    m = S.load_model()
    bar, bic = np.meshgrid(np.linspace(0.0005, 2.9995, 300), np.linspace(0.8805, 1.1195, 120))
    counts = np.zeros(bar.size, int)
    for p in range(len(m.names)):
        poly = MplPath(m.vertices[m.starts[p] : m.starts[p] + m.counts[p]])
        counts += poly.contains_points(np.column_stack([bar.ravel(), bic.ravel()]))
    assert np.all(counts == 1)
    assert m.names == ("S(I)", "S(II)", "S(III)", "S(IV)", "S(V)", "S(VI)", "S(VII)")


@pytest.mark.parametrize(("group", "field"), [("H", "S(IV)"), ("L", "S(IV)"), ("LL", "S(IV)"),
                                              ("OL", "S(I)"), ("OPX", "S(VI)")])  # fmt: skip
def test_lab_clusters_fall_in_their_fields(group, field):
    b, rows = lab_bands()
    sel = np.array([r["group"] == group for r in rows]) & np.isfinite(b.bar) & (b.status[:, 0] == 0)
    m = S.load_model()
    idx = S.locate(b.bar[sel], b.band1_centre_um[sel], m.starts, m.counts, m.vertices)
    assert np.mean(idx == m.names.index(field)) >= 0.8


def test_hed_without_olivine_diogenites_are_pyroxene_rich():
    b, rows = lab_bands()
    sel = np.array([r["group"] == "HED" and "Olivine" not in r["SubType"] for r in rows])
    sel &= np.isfinite(b.bar)
    m = S.load_model()
    idx = S.locate(b.bar[sel], b.band1_centre_um[sel], m.starts, m.counts, m.vertices)
    names = {m.names[i] for i in idx}
    assert names <= {"S(IV)", "S(V)", "S(VI)", "S(VII)"} and np.mean(idx == 5) >= 0.6


def test_subtype_reports_candidates_near_boundaries_and_refuses_other_classes():
    d = S.subtype(0.60, 0.97, 0.05, 0.005, "Sq")
    assert d["subtype"] in d["candidates"] and len(d["candidates"]) > 1
    assert S.subtype(0.5, 0.95, cls="Xk")["reason"].startswith("S-subtypes describe")
    assert S.subtype(None, 0.95, cls="S")["subtype"] is None
    assert "outside" in S.subtype(3.5, 0.95, cls="S")["reason"]
    assert "schematic" in d["boundaries"]


def test_bad_polygon_file_names_file_and_line(tmp_path):
    p = tmp_path / "poly.csv"
    p.write_text("subtype,vertex,bar,bic_um\nS(I),0,0.0,1.04\nS(I),1,zero,1.04\n")
    with pytest.raises(InputError, match=r"poly.csv, line 3"):
        S.load_model(p)
