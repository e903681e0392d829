"""PNG figures of a run (matplotlib, Agg backend, no timestamp metadata: byte-reproducible).

surface_map.png — truth units | onboard class per map cell (majority of the onboard
results) | right or wrong per cell; power.png — state of charge, array output and
load, modes; storage.png — store fill, produced/downlinked/dropped, pass windows;
spectra.png — one observation per unit with its error, the unit's true spectrum and the
class template the onboard result points to; accuracy_snr.png — accuracy by SNR bin.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from firmware.taxonomy import CLASS_INDEX, load_demeo_model  # noqa: E402
from firmware.validation import strip_w  # noqa: E402
from sim.timebase import NS_PER_H  # noqa: E402

PNG_META = {"Software": None}  # no version string, no timestamp: same bytes every run
UNIT_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
                "#ff9da7", "#9c755f", "#bab0ac"]  # fmt: skip


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=90, metadata=PNG_META)
    plt.close(fig)


def surface_map(mission, rows, path: Path) -> None:
    s = mission.surface
    n_units = len(s.units)
    colours = [UNIT_COLOURS[i % len(UNIT_COLOURS)] for i in range(n_units)]
    extent = (-180, 180, -90, 90)
    fig, axes = plt.subplots(3, 1, figsize=(9, 12), constrained_layout=True)
    axes[0].imshow(s.unit_map, origin="lower", extent=extent, cmap=ListedColormap(colours),
                   vmin=-0.5, vmax=n_units - 0.5, aspect="auto", interpolation="nearest")  # fmt: skip
    for i, u in enumerate(s.units):
        axes[0].plot([], [], "s", color=colours[i], label=f"{u.name} ({u.truth_class})")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    axes[0].set_title("surface truth: composition units")
    # onboard classes at the boresight positions the flight software recorded
    votes: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for x in rows:
        if x["verdict"] != "lost":
            i, j = (int(v) for v in s.cell_of(x["lat_deg"], x["lon_deg"]))
            votes[(i, j)][strip_w(x["class"]) or "—"] += 1
    on_ground = sum(x["result_on_ground"] for x in rows)
    classes = sorted({c for v in votes.values() for c in v})
    # a class gets the colour of the unit whose true class it is; others get greys
    unit_colour = {}
    for i, u in enumerate(s.units):
        unit_colour.setdefault(u.truth_class, colours[i])
    greys = iter(plt.get_cmap("Greys")(np.linspace(0.35, 0.85, max(len(classes), 1))))
    cmap = ListedColormap([unit_colour[c] if c in unit_colour else next(greys) for c in classes] or ["w"])
    grid = np.full(s.unit_map.shape, np.nan)
    right = np.full(s.unit_map.shape, np.nan)
    truth_of_unit = [u.truth_class for u in s.units]
    for (i, j), v in votes.items():
        best = sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        grid[i, j] = classes.index(best)
        right[i, j] = 1.0 if best == truth_of_unit[s.unit_map[i, j]] else 0.0
    axes[1].imshow(grid, origin="lower", extent=extent, cmap=cmap, vmin=-0.5,
                   vmax=max(len(classes), 1) - 0.5, aspect="auto", interpolation="nearest")  # fmt: skip
    for k, c in enumerate(classes):
        axes[1].plot([], [], "s", color=cmap.colors[k], label=c)
    if classes:
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, ncol=2)
    axes[1].set_title(f"onboard class per cell (majority of {sum(sum(v.values()) for v in votes.values())} results; "
                      f"{on_ground} of them on the ground)")
    axes[2].imshow(right, origin="lower", extent=extent, cmap=ListedColormap(["#d62728", "#2ca02c"]),
                   vmin=0, vmax=1, aspect="auto", interpolation="nearest")  # fmt: skip
    lat = [x["lat_deg"] for x in rows]
    lon = [x["lon_deg"] for x in rows]
    axes[2].plot(lon, lat, ".", ms=1, color="k", alpha=0.3)
    axes[2].set_title("cell majority class = true class (green) / not (red); dots: observations")
    for ax in axes:
        ax.set_xlabel("longitude (deg)")
        ax.set_ylabel("latitude (deg)")
    _save(fig, path)


def _shade_modes(ax, mission) -> None:
    rec = mission.recorders["computer"]
    if not rec.rows:
        return
    t = rec.column("t_ns") / NS_PER_H
    modes = rec.column("mode")
    colours = {"SURVEY": "#59a14f", "PROSPECT": "#b07aa1", "DOWNLINK": "#4e79a7", "SAFE": "#e15759"}
    start = 0
    for k in range(1, len(modes) + 1):
        if k == len(modes) or modes[k] != modes[start]:
            if modes[start] in colours:
                ax.axvspan(t[start], t[min(k, len(t) - 1)], color=colours[modes[start]], alpha=0.12, lw=0)
            start = k


def power_plot(mission, path: Path) -> None:
    rec = mission.recorders["power"]
    t = rec.column("t_ns") / NS_PER_H
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, constrained_layout=True)
    a1.plot(t, rec.column("soc") * 100, color="k")
    p = mission.scenario.config["spacecraft"]["power"]
    for key, style in (("safe_soc", ":"), ("min_soc_observe", "--")):
        a1.axhline(p[key] * 100, ls=style, color="grey", lw=0.8, label=key)
    a1.set_ylabel("state of charge (%)")
    a1.legend(fontsize=7, loc="lower left")
    a2.plot(t, rec.column("solar_w"), label="array output", color="#f28e2b")
    a2.plot(t, rec.column("load_w"), label="mean load", color="#4e79a7")
    a2.set_ylabel("W")
    a2.set_xlabel("mission time (h)")
    a2.legend(fontsize=7)
    for ax in (a1, a2):
        _shade_modes(ax, mission)
    a1.set_title("power (shaded: green SURVEY, purple PROSPECT, blue DOWNLINK, red SAFE)")
    _save(fig, path)


def storage_plot(mission, path: Path) -> None:
    rec = mission.recorders["storage"]
    t = rec.column("t_ns") / NS_PER_H
    fig, ax = plt.subplots(figsize=(9, 4), constrained_layout=True)
    kb = 1e-3
    ax.plot(t, rec.column("used_bytes") * kb, color="k", label="held")
    ax.plot(t, rec.column("produced_bytes") * kb, label="produced (cumulative)")
    ax.plot(t, rec.column("downlinked_bytes") * kb, label="downlinked (cumulative)")
    ax.plot(t, rec.column("dropped_bytes") * kb, label="removed: no room, superseded, damaged (cumulative)")
    if rec.column("repackaged_bytes").any():
        ax.plot(t, rec.column("repackaged_bytes") * kb, ls="--", label="repackaged as packets (cumulative)")
    ax.axhline(mission.storage.capacity * kb, ls=":", color="grey", label="capacity")
    for w in mission.comms.windows:
        ax.axvspan(w.start_ns / NS_PER_H, w.end_ns / NS_PER_H, color="#4e79a7", alpha=0.12, lw=0)
    ax.set_xlabel("mission time (h)")
    ax.set_ylabel("kB")
    ax.set_title("onboard storage and downlink (shaded: pass windows)")
    ax.legend(fontsize=7)
    _save(fig, path)


def spectra_plot(mission, rows, path: Path, per_unit: int = 1) -> None:
    frames = {f.obs_id: f for f in mission.bus.history("frame")}
    model = load_demeo_model()
    bands = mission.instrument.bands_um
    i055 = mission.instrument.i055
    picks = []
    for u in mission.surface.units:
        cand = [x for x in rows if x["unit"] == u.name and x["class"] and x["purity"] >= 0.999]
        cand.sort(key=lambda x: -x["snr_median"])
        picks += [(u, x) for x in cand[:per_unit]]
    n = max(len(picks), 1)
    cols = 2
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(10, 2.6 * ((n + 1) // 2)),
                             squeeze=False, constrained_layout=True)  # fmt: skip
    for ax, (u, x) in zip(axes.flat, picks, strict=False):
        f = frames[x["obs_id"]]
        refl = np.asarray(f.reflectance, dtype=float)
        err = np.asarray(f.error, dtype=float)
        norm = refl[i055]
        ax.fill_between(bands, (refl - err) / norm, (refl + err) / norm, color="#4e79a7", alpha=0.25, lw=0)
        ax.plot(bands, refl / norm, color="#4e79a7", lw=0.8, label="observed (1σ)")
        true = mission.surface.unit_spectra[u.index]
        ax.plot(bands, true / true[i055], color="k", lw=1, label=f"truth: {u.truth_class}")
        base = strip_w(x["class"])
        if base in CLASS_INDEX:
            ax.plot(model.grid_um, model.template_mean[CLASS_INDEX[base]], "o-", ms=2, lw=0.8,
                    color="#e15759", label=f"template: {x['class']}")  # fmt: skip
        ax.set_title(f"{u.name} — obs {x['obs_id']}, SNR {x['snr_median']:.0f}", fontsize=8)
        ax.legend(fontsize=6)
        ax.set_xlabel("µm", fontsize=7)
    for ax in list(axes.flat)[len(picks):]:
        ax.axis("off")
    _save(fig, path)


def accuracy_plot(report: dict, path: Path) -> None:
    bins = report["accuracy"]["per_snr"]
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    if bins:
        labels = [f"{b['snr_min']}–{b['snr_max'] if b['snr_max'] is not None else '∞'}" for b in bins]
        x = np.arange(len(bins))
        ax.bar(x - 0.2, [b["exact"] or 0 for b in bins], 0.4, label="exact class")
        ax.bar(x + 0.2, [b["complex"] or 0 for b in bins], 0.4, label="complex")
        for k, b in enumerate(bins):
            ax.text(k, 1.02, f"n={b['classified']}", ha="center", fontsize=7)
        ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("median band SNR")
    ax.set_ylabel("accuracy vs surface truth")
    if bins:
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no classified observations", ha="center", transform=ax.transAxes)
    _save(fig, path)


def write_plots(mission, rows, report: dict, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / n for n in ("surface_map.png", "power.png", "storage.png", "spectra.png", "accuracy_snr.png")]
    surface_map(mission, rows, paths[0])
    power_plot(mission, paths[1])
    storage_plot(mission, paths[2])
    spectra_plot(mission, rows, paths[3])
    accuracy_plot(report, paths[4])
    return paths
