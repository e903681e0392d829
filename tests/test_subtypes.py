"""Gaffey 1993 S-subtype zones (as re-created by SARA, Lindsay et al. 2015): the kernel equals
a matplotlib.path twin, the zones are SARA's, and the lab clusters fall where Gaffey et al.
put their meteorite analogues."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from firmware import s_subtypes as S
from firmware.errors import InputError
from tests.test_bands_lab import lab_bands


def _twin_mask(bar, bic):
    """Plain matplotlib: bit p set when polygon p contains the point."""
    m = S.load_model()
    out = np.zeros(bar.shape, np.int64)
    for p in range(len(m.names)):
        poly = MplPath(m.vertices[m.starts[p] : m.starts[p] + m.counts[p]])
        out |= poly.contains_points(np.column_stack([bar, bic])).astype(np.int64) << p
    return out


def test_zones_mask_equals_matplotlib_path():
    rng = np.random.default_rng(2)
    bar, bic = rng.uniform(-0.2, 3.2, 20000), rng.uniform(0.86, 1.14, 20000)
    m = S.load_model()
    got = S.zones_mask(bar, bic, m.starts, m.counts, m.vertices)
    np.testing.assert_array_equal(got, _twin_mask(bar, bic))
    assert np.count_nonzero(got) > 2000  # the test exercises the zones, not empty space
    nan = S.zones_mask(np.array([np.nan]), np.array([0.95]), m.starts, m.counts, m.vertices)
    assert nan[0] == 0


def test_zones_are_sara_s():
    m = S.load_model()
    assert m.zone_names == ("S(I)", "S(II)", "S(III)", "S(IV)", "S(V)", "S(VI)", "S(VII)", "BA")
    assert m.names.count("S(III)") == 2  # two lobes
    # the S(IV) boot is SARA's polygon, vertex for vertex
    p = m.names.index("S(IV)")
    boot = m.vertices[m.starts[p] : m.starts[p] + m.counts[p]]
    assert boot.shape == (8, 2) and tuple(boot[0]) == (0.25, 1.002) and tuple(boot[3]) == (1.16, 0.925)


def _where(group):
    b, rows = lab_bands()
    sel = np.array([r["group"] == group for r in rows]) & np.isfinite(b.bar) & (b.status[:, 0] == 0)
    m = S.load_model()
    masks = S.zones_mask(b.bar[sel], b.band1_centre_um[sel], m.starts, m.counts, m.vertices)
    names = [S._names(m, int(k)) for k in masks]
    return len(names), Counter(n for ns in names for n in ns)


@pytest.mark.parametrize(
    ("group", "zones", "share"),
    [
        ("H", {"S(IV)"}, 0.8),  # ordinary chondrites in the boot (measured 86 %)
        ("L", {"S(IV)"}, 0.8),  # (90 %)
        ("LL", {"S(IV)", "S(III)"}, 0.8),  # olivine-richer: boot or S(III) (86 %)
        ("OL", {"S(I)"}, 0.9),  # olivine (94 %)
        ("OPX", {"S(VI)", "S(VII)", "BA"}, 0.6),  # pyroxene zones (69 %)
        ("HED", {"BA", "S(VII)", "S(VI)"}, 0.5),  # basaltic achondrites (54 %)
    ],
)
def test_lab_clusters_fall_in_their_gaffey_zones(group, zones, share):
    n, count = _where(group)
    assert n >= 20
    assert sum(count[z] for z in zones) / n >= share, count


def test_subtype_near_a_boundary_lists_candidates():
    d = S.subtype(0.35, 0.975, 0.05, 0.01, "Sq")  # boot, near the lower S(III) lobe
    assert d["subtype"] == "S(IV)" and d["candidates"] == ["S(III)", "S(IV)"]
    assert d["reason"].startswith("within 1σ of a zone boundary")
    edge = S.subtype(0.9, 0.93, 0.05, 0.01, "Sq")  # boot foot, error box reaching below it
    assert edge["candidates"] == ["S(IV)"] and "outside every zone" in edge["reason"]
    assert S.subtype(0.7, 0.94, 0.01, 0.001, "S")["reason"] is None


def test_subtype_outside_every_zone_names_the_nearest():
    d = S.subtype(1.2, 1.10, cls="S")
    assert d["subtype"] is None and d["nearest"]["zone"] and "no Gaffey zone" in d["reason"]


def test_subtype_refuses_other_classes_and_missing_parameters():
    assert S.subtype(0.5, 0.95, cls="Xk")["reason"].startswith("S-subtypes describe")
    assert S.subtype(None, 0.95, cls="S")["subtype"] is None
    assert S.subtype(float("nan"), 0.95, cls="S")["subtype"] is None
    assert S.subtype(0.05, 1.07, cls="A")["subtype"] == "S(I)"
    assert "SARA" in S.subtype(0.7, 0.94, cls="S")["boundaries"]


def test_bad_zone_file_names_file_and_zone(tmp_path):
    p = tmp_path / "zones.toml"
    p.write_text('[[zone]]\nname = "S(I)"\nbox = { bar = [0.0, 0.2], bic_um = [1.05, 1.10] }\n'
                 '[[zone]]\nname = "S(X)"\npolygon = { bar = [0.1, 0.2], bic_um = [1.0, 1.0] }\n')
    with pytest.raises(InputError, match=r"zones.toml: zone #2 \(S\(X\)\)"):
        S.load_model(p)
    p.write_text("not toml [")
    with pytest.raises(InputError, match="zones.toml"):
        S.load_model(p)
