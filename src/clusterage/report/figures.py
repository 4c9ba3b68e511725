"""The paper's figures from the aggregated tables and the runs' records (PNG and PDF).

Every figure is drawn from what exists: a grid with only some of the paper's cases, or a sweep
still running, gives the same figure with the missing parts marked, never an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import matplotlib.transforms

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from clusterage.atomic import atomic_path  # noqa: E402
from clusterage.galaxies import TABLE1  # noqa: E402
from clusterage.grid import (  # noqa: E402
    LABELS,
    SETTING_PATTERNS,
    Setting,
    full_first,
    parse_occlusion,
    setting_parts,
)
from clusterage.metrics import scatter  # noqa: E402

SPLIT_STYLE = {"train": ("tab:blue", "o"), "validation": ("tab:orange", "s"), "test": ("tab:green", "D")}
SPLIT_LABEL = {"train": "train", "validation": "validation", "test": "test"}
CHANNEL_LABEL = {"five_band": "five-filter", "white_light": "white-light"}
CHANNEL_ORDER = ["five_band", "white_light"]
MASK_LABEL = {"inner": "inner mask", "outer": "outer mask"}
GROUP_LINESTYLE = [":", "--", "-.", (0, (5, 1, 1, 1))]
LOG_AGE = r"$\log(\mathrm{age}/\mathrm{yr})$"
UNIT_LABEL = {"px": "pixels", "pc": "pc"}


def diameter_label(unit: str = "px", mask: str = "inner") -> str:
    if mask == "outer":
        return f"outer-mask diameter $D$ (visible region, {UNIT_LABEL[unit]})"
    return f"mask diameter $D$ ({UNIT_LABEL[unit]})"


def _with_unit(table: pd.DataFrame) -> pd.DataFrame:
    """Tables written before masks could be in parsecs have no diameter_unit: pixels."""
    if "diameter_unit" in table.columns:
        unit = table["diameter_unit"].astype(object)
        return table.assign(diameter_unit=unit.where(unit.notna(), "px"))
    return table.assign(diameter_unit="px")


def _columns(data: pd.DataFrame) -> list[tuple[str, str]]:
    """Panel columns of a sweep figure: (sample, unit), pixels before parsecs."""
    pairs = data[["sample", "diameter_unit"]].drop_duplicates()
    order = {s: i for i, s in enumerate(_sample_order(pairs["sample"]))}
    return sorted(map(tuple, pairs.to_numpy()), key=lambda p: (order[p[0]], p[1] != "px"))


def _column_title(channels: str, sample: str, unit: str, sample_ranges) -> str:
    title = f"{CHANNEL_LABEL[channels]}, {sample_label(sample, sample_ranges)}"
    return title + ("\nmasks in parsecs" if unit == "pc" else "")


def _style():
    sns.set_theme(context="paper", style="ticks", font_scale=1.1)
    plt.rcParams.update({"savefig.dpi": 200, "figure.dpi": 100, "axes.spines.top": False,
                         "axes.spines.right": False, "legend.frameon": False})


def save(fig, paths) -> None:
    """Write each path atomically; the format follows the suffix."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), bbox_inches="tight")
    plt.close(fig)


def _placeholder(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10,
            color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


def sample_label(sample: str, ranges: dict | None = None) -> str:
    """'full sample' or 'no_extremes (7.0 <= log age <= 9.5)' from the config's samples."""
    r = (ranges or {}).get(sample) or {}
    lo, hi = r.get("min_log_age"), r.get("max_log_age")
    if lo is None and hi is None:
        return "full sample" if sample == "full" else f"sample '{sample}'"
    bounds = f"{lo:g} ≤ log age" if lo is not None else "log age"
    bounds += f" ≤ {hi:g}" if hi is not None else ""
    return f"{sample.replace('_', ' ')} ({bounds})"


def _sample_order(samples) -> list[str]:
    return full_first(samples)


def case_label(row) -> str:
    if row["case"] == "null_predictor":
        return "null predictor"
    parts = [CHANNEL_LABEL.get(row["channels"], row["channels"])]
    if row["mask"] != "none" and row["diameter"] > 0:
        unit = " pc" if row.get("diameter_unit") == "pc" else ""
        parts.append(f"{row['mask']} D={row['diameter']}{unit}")
    else:
        parts.append("no mask")
    if row.get("shuffled_labels"):
        parts.append("shuffled labels")
    return ", ".join(parts)


def _true(series) -> pd.Series:
    return series.astype(str).str.lower().isin(["true", "1"])


def sweeps(table: pd.DataFrame, extra_keys=(), add_unmasked=True) -> pd.DataFrame:
    """Rows of the mask sweeps; with ``add_unmasked`` the unmasked model is each sweep's D = 0
    (the same model for sweeps in pixels and in parsecs)."""
    keys = ["channels", "sample", *extra_keys]
    table = _with_unit(table[table["case"] != "null_predictor"])
    shuffled = _true(table["shuffled_labels"])
    masked = table[table["mask"].isin(["inner", "outer"]) & ~shuffled & (table["diameter"] > 0)]
    rows = [masked]
    if add_unmasked:
        unmasked = table[(table["diameter"] == 0) & ~shuffled].drop(columns="diameter_unit")
        for mask in ("inner", "outer"):
            sweep_keys = masked[masked["mask"] == mask][[*keys, "diameter_unit"]].drop_duplicates()
            base = unmasked.merge(sweep_keys, on=keys)
            rows.append(base.assign(mask=mask, diameter=0))
    out = pd.concat(rows, ignore_index=True)
    return out.drop_duplicates([*keys, "diameter_unit", "mask", "diameter", "split"])


def _panel_grid(channels, samples, width=4.4, height=3.3):
    nrow, ncol = max(len(channels), 1), max(len(samples), 1)
    fig, axes = plt.subplots(nrow, ncol, figsize=(width * ncol, height * nrow), squeeze=False)
    return fig, axes


def interval_err(rows: pd.DataFrame, value: str = "scatter_mean", low: str = "scatter_ci_low",
                 high: str = "scatter_ci_high", scale=1.0) -> np.ndarray:
    """Error bars of the 95% intervals, (2, N) distances below and above ``value``; 0 where a
    row has no interval (the train and validation splits, a table without interval columns)."""
    v = rows[value].to_numpy(float)
    if low not in rows or high not in rows:
        return np.zeros((2, len(v)))
    lo = rows[low].to_numpy(float) * scale
    hi = rows[high].to_numpy(float) * scale
    return np.nan_to_num(np.clip(np.vstack([v - lo, hi - v]), 0, None))


def _errorbar(ax, x, y, err, complete, colour, marker, label, ls="-", gid=None):
    """A curve with its 95% intervals as error bars (``err``: (2, N) from ``interval_err``);
    points with fewer seeds than asked get open symbols."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    container = ax.errorbar(x, y, yerr=err, color=colour,
                            ls=ls, lw=1.1, capsize=1.5, elinewidth=0.7, marker=None, label=None)
    container.lines[0].set_gid(gid)
    for artist in (container.lines[0], *container.lines[1], *container.lines[2]):
        artist.set_clip_on(False)
    complete = np.asarray(complete, dtype=bool)
    for sel, face in ((complete, colour), (~complete, "white")):
        if sel.any():  # (an empty line off the clip would still count in the layout at 0, 0)
            ax.plot(x[sel], y[sel], ls="none", marker=marker, ms=3.5, color=colour, mfc=face,
                    clip_on=False)
    ax.plot([], [], color=colour, marker=marker, ms=3.5, ls=ls, lw=1.1, label=label)


# The photometric aperture of the reference ages: radius 4 px, so D = 8 px splits a sweep into
# the zone where the cluster's own light still dominates and the zone of the environment.
APERTURE_DIAMETER_PX = 8
ZONES = {"inner": (f"cluster partly visible (D < {APERTURE_DIAMETER_PX} px)",
                   f"environment only (D ≥ {APERTURE_DIAMETER_PX} px)"),
         "outer": (f"cluster only (D < {APERTURE_DIAMETER_PX} px)",
                   f"cluster and environment (D ≥ {APERTURE_DIAMETER_PX} px)")}
ZONE_COLOURS = ("tab:green", "tab:orange")
ZONE_ALPHA = 0.14


def _x_range(diameters) -> tuple[float, float]:
    """The x axis of a sweep: from its first diameter to its last."""
    lo, hi = float(np.min(diameters)), float(np.max(diameters))
    return (lo, hi) if hi > lo else (lo - 1, hi + 1)


def _zones(ax, mask: str, xlim, label=False) -> None:
    """Shade the cluster zone (green) and the environment zone (orange) of a sweep."""
    lo, hi = xlim
    for k, (a, b) in enumerate(((lo, min(hi, APERTURE_DIAMETER_PX)),
                                (max(lo, APERTURE_DIAMETER_PX), hi))):
        if b > a:
            ax.axvspan(a, b, color=ZONE_COLOURS[k], alpha=ZONE_ALPHA, lw=0,
                       gid=("zone_cluster", "zone_environment")[k],
                       label=ZONES[mask][k] if label else None)


def _silhouettes(ax, mask: str, diameters, xlim, size: int = 112, n: int = 4) -> None:
    """Small pictures of the mask (hidden pixels black) at a few diameters of the sweep."""
    from clusterage.survey.inputs import visible_mask

    ds = sorted(set(int(d) for d in diameters))
    if len(ds) > n:
        ds = [ds[int(round(i))] for i in np.linspace(0, len(ds) - 1, n)]
    lo, hi = xlim
    width = 0.13
    for d in ds:
        fx = (d - lo) / (hi - lo)
        fx = min(max(fx, width / 2), 1 - width / 2)
        inset = ax.inset_axes([fx - width / 2, 0.985 - width * 1.1, width, width * 1.1])
        inset.imshow(visible_mask(size, mask, d), cmap="gray", vmin=0, vmax=1,
                     interpolation="nearest")
        inset.set_gid(f"silhouette_D{d}")
        inset.set_xticks([])
        inset.set_yticks([])
        for spine in inset.spines.values():
            spine.set_visible(True)
            spine.set_linewidth(0.5)
            spine.set_color("0.4")


def _sweep_panel(ax, pax, panel: pd.DataFrame, mask: str, xlim, silhouettes: bool = True,
                 unit: str = "px") -> bool:
    """One sweep: scatter per split with its null predictor (top), predictive power (below).
    The cluster / environment zones and the mask silhouettes are drawn for sweeps in pixels.

    Returns whether every point had all its seeds.
    """
    silhouettes = silhouettes and unit == "px"
    complete_all = True
    top = 0.0
    for split, (colour, marker) in SPLIT_STYLE.items():
        p = panel[panel["split"] == split].sort_values("diameter")
        if p.empty:
            continue
        err = interval_err(p)
        _errorbar(ax, p["diameter"], p["scatter_mean"], err,
                  p["complete"].astype(bool), colour, marker, SPLIT_LABEL[split],
                  gid=f"scatter_{split}")
        complete_all &= bool(p["complete"].astype(bool).all())
        top = np.nanmax([top, (p["scatter_mean"] + err[1]).max()])
        null = p["null_scatter"].dropna()
        if len(null):
            ax.axhline(null.iloc[0], color=colour, ls="--", lw=0.9, gid=f"null_{split}")
            top = max(top, float(null.max()))
    test = panel[panel["split"] == "test"].sort_values("diameter")
    # Head room for the mask silhouettes along the top.
    ax.set_ylim(0, (1.45 if silhouettes else 1.12) * top if np.isfinite(top) and top > 0 else 1)
    ax.set_xlim(*xlim)
    if unit == "px":
        _zones(ax, mask, xlim)
    if silhouettes:
        _silhouettes(ax, mask, panel["diameter"], xlim)
    power = test["predictive_power"].to_numpy(float)
    pax.plot(test["diameter"], power, color="0.1", lw=1.3, marker="o", ms=2.5, clip_on=False,
             gid="power")
    err = interval_err(test, "predictive_power", "predictive_power_ci_low", "predictive_power_ci_high")
    if err.any():
        pax.fill_between(test["diameter"].to_numpy(float), power - err[0], power + err[1],
                         color="0.1", alpha=0.15, lw=0, gid="power_interval")
    pax.axhline(0, color="0.5", lw=0.6)
    finite = np.concatenate([power - err[0], power + err[1]])
    finite = finite[np.isfinite(finite)]
    low = min(0.0, float(finite.min())) if len(finite) else 0.0
    high = max(1.0, float(finite.max())) if len(finite) else 1.0
    pad = 0.08 * (high - low)
    pax.set_ylim(low - pad, high + pad)  # never clipped: negative power (worse than null) shows
    pax.set_xlim(*xlim)
    if unit == "px":
        _zones(pax, mask, xlim)
    ax.tick_params(labelbottom=False)
    return complete_all


def _legend_handles(mask: str, with_power: bool = True):
    handles = [plt.Line2D([], [], color=c, marker=m, ms=3.5, lw=1.1, label=SPLIT_LABEL[s])
               for s, (c, m) in SPLIT_STYLE.items()]
    handles.append(plt.Line2D([], [], color="0.3", ls="--", lw=0.9,
                              label="null predictor (dashed, per split)"))
    for k in range(2):
        handles.append(matplotlib.patches.Patch(color=ZONE_COLOURS[k], alpha=ZONE_ALPHA,
                                                label=ZONES[mask][k]))
    return handles


def _legend_below(fig, handles, ncol: int):
    """The figure's legend under the panels, in as many columns as fit the figure's width."""
    width = fig.get_figwidth() * fig.dpi
    for n in range(min(ncol, len(handles)), 0, -1):
        legend = fig.legend(handles=handles, loc="outside lower center", ncol=n, fontsize=8,
                            handlelength=1.8, columnspacing=1.2)
        if legend.get_window_extent(fig.canvas.get_renderer()).width <= 0.97 * width or n == 1:
            return legend
        legend.remove()


def _sweep_grid(nrow: int, ncol: int, width=4.6, height=4.2):
    """Panels of sweeps: per cell a scatter axes over a smaller predictive-power axes."""
    fig = plt.figure(figsize=(max(width * ncol, 5.6), height * nrow + 0.9), layout="constrained")
    cells = fig.add_gridspec(nrow, ncol)
    axes = np.empty((nrow, ncol), dtype=object)
    paxes = np.empty((nrow, ncol), dtype=object)
    for i in range(nrow):
        for j in range(ncol):
            sub = cells[i, j].subgridspec(2, 1, height_ratios=[3, 1.15], hspace=0.04)
            axes[i, j] = fig.add_subplot(sub[0])
            paxes[i, j] = fig.add_subplot(sub[1], sharex=axes[i, j])
    return fig, axes, paxes


def plot_sweep(table: pd.DataFrame, mask: str, paths, sample_ranges: dict | None = None):
    """Paper Fig. 3 (inner) / Fig. 8 (outer): scatter against D per split, null, power.

    Panels: rows five-filter / white-light, columns one per sample. Each panel shows the mean
    scatter of the seeds (error bars: population std over seeds) for the training, validation
    and test sets with the null predictor of each split (dashed, same colour), the cluster and
    environment zones and mask silhouettes; below it, the predictive power retained,
    (b_test^2 - s_test^2) / b_test^2, on an axis that covers negative values. Returns the Figure.
    """
    _style()
    data = sweeps(table, add_unmasked=(mask == "inner"))
    data = data[data["mask"] == mask]
    channels = [c for c in CHANNEL_ORDER if c in set(data["channels"])]
    columns = _columns(data)
    if data.empty:
        fig, axes = _panel_grid(channels, columns)
        _placeholder(axes[0, 0], f"No {MASK_LABEL[mask]} sweep in this grid yet.")
        save(fig, paths)
        return fig
    fig, axes, paxes = _sweep_grid(len(channels), len(columns))
    xlims = {u: _x_range(data.loc[data["diameter_unit"] == u, "diameter"])
             for u in set(data["diameter_unit"])}
    any_incomplete = False
    for i, ch in enumerate(channels):
        for j, (sample, unit) in enumerate(columns):
            ax, pax = axes[i, j], paxes[i, j]
            panel = data[(data["channels"] == ch) & (data["sample"] == sample)
                         & (data["diameter_unit"] == unit)]
            title = _column_title(ch, sample, unit, sample_ranges)
            if panel.empty:
                _placeholder(ax, f"{title}:\nnot in this grid")
                pax.set_visible(False)
                continue
            any_incomplete |= not _sweep_panel(ax, pax, panel, mask, xlims[unit], unit=unit)
            ax.set_title(title, fontsize=10)
            ax.set_ylabel("scatter (dex)")
            pax.set_ylabel("predictive power\nretained", fontsize=8)
            if i == len(channels) - 1:
                pax.set_xlabel(diameter_label(unit, mask))
    handles = _legend_handles(mask)
    if any_incomplete:
        handles.append(plt.Line2D([], [], color="0.3", marker="o", mfc="white", ls="none",
                                  label="open: fewer seeds than asked"))
    _legend_below(fig, handles, ncol=3 if len(columns) == 1 else 4)
    save(fig, paths)
    return fig


def plot_scatter_vs_diameter(table: pd.DataFrame, paths):
    """Overview of every mask sweep of the grid, inner and outer, one panel each (Fig. 3 style).
    Returns the Figure."""
    _style()
    data = sweeps(table)
    panels = list(data.groupby(["mask", "channels", "sample", "diameter_unit"], sort=True))
    n = max(len(panels), 1)
    ncol = min(n, 2)
    nrow = int(np.ceil(n / ncol))
    if not panels:
        fig, axes = plt.subplots(figsize=(4.6, 3.4), squeeze=False)
        _placeholder(axes[0, 0], "No mask sweep in this grid.")
        save(fig, paths)
        return fig
    fig, axes, paxes = _sweep_grid(nrow, ncol)
    for k, ((mask, channels, sample, unit), panel) in enumerate(panels):
        ax, pax = axes.flat[k], paxes.flat[k]
        _sweep_panel(ax, pax, panel, mask, _x_range(panel["diameter"]), unit=unit)
        title = f"{CHANNEL_LABEL.get(channels, channels)}, {MASK_LABEL[mask]}, {sample_label(sample)}"
        ax.set_title(title + ("\nmasks in parsecs" if unit == "pc" else ""), fontsize=10)
        ax.set_ylabel("scatter (dex)")
        pax.set_ylabel("predictive power\nretained", fontsize=8)
        pax.set_xlabel(diameter_label(unit, mask))
    for k in range(len(panels), nrow * ncol):
        axes.flat[k].set_visible(False)
        paxes.flat[k].set_visible(False)
    masks = sorted(set(data["mask"]))
    handles = _legend_handles(masks[0])[:4]
    for mask in masks:
        for k in range(2):
            handles.append(matplotlib.patches.Patch(color=ZONE_COLOURS[k], alpha=ZONE_ALPHA,
                                                    label=f"{MASK_LABEL[mask]}: {ZONES[mask][k]}"))
    _legend_below(fig, handles, ncol=2 if ncol == 1 else 3)
    save(fig, paths)
    return fig


def _bar_rows(rows: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    r = rows.reset_index(drop=True)
    colours = {"five_band": "tab:purple", "white_light": "0.6", "": "0.15"}
    r["colour"] = [colours.get(c, "tab:blue") for c in r["channels"]]
    r["label"] = labels
    return r


def _draw_bars(ax, r: pd.DataFrame, null: float | None) -> None:
    """Horizontal bars, the first case at the bottom and the null predictor (last row) on top,
    as in the paper. A case without a model yet is written "not run"; a null predictor without
    its scores (it needs no training) "not scored yet"."""
    y = np.arange(1, len(r) + 1)
    have = r["scatter_mean"].notna().to_numpy()
    err = interval_err(r)
    bars = ax.barh(y[have], r.loc[have, "scatter_mean"], xerr=err[:, have],
                   color=r.loc[have, "colour"], edgecolor="black", linewidth=0.6, capsize=3,
                   height=0.7, gid="bars")
    for bar, case in zip(bars.patches, r.loc[have, "case"]):
        bar.set_gid(f"bar_{case}")
    tops = r["scatter_mean"].to_numpy(float) + err[1]
    if null is not None and np.isfinite(null):
        tops = np.append(tops, null)
    xmax = float(np.nanmax(tops)) if np.isfinite(tops).any() else 1.0
    beside = matplotlib.transforms.blended_transform_factory(ax.transAxes, ax.transData)
    for yi, (_, row) in zip(y, r.iterrows()):
        if not np.isfinite(row["scatter_mean"]):
            text = "not scored yet" if row["case"] == "null_predictor" else "not run"
            # clear of the axis line, so the words never sit on the frame
            ax.text(0.04, yi, text, transform=beside, va="center", ha="left", fontsize=8,
                    color="tab:red", style="italic", gid="not_run")
            continue
        note = f"{row['scatter_mean']:.2f}"
        if row["case"] != "null_predictor" and not row["complete"]:
            note += f"  ({row['n_seeds']}/{row['n_seeds_expected']} seeds)"
        ax.text(row["scatter_mean"] + err[1, yi - 1] + 0.015 * xmax, yi, note,
                va="center", ha="left", fontsize=8,
                color="tab:red" if "seeds" in note else "black")
    if null is not None and np.isfinite(null):
        ax.axvline(null, color="black", ls="--", lw=0.8, gid="null_line")
    ax.set_yticks(y, r["label"])
    ax.set_ylim(0.4, len(r) + 0.6)
    ax.set_xlim(0, 1.3 * xmax)
    ax.set_xlabel("test scatter (dex)")


# A bar of a bar chart: a setting's channels and occlusion, and '/shuffled' for shuffled labels.
BAR = re.compile(f"(?P<channels>{SETTING_PATTERNS['channels']})"
                 f"/(?P<occlusion>{SETTING_PATTERNS['occlusion']})(?P<shuffled>/{LABELS[1]})?")


def parse_bar(spec: str) -> dict:
    """'white_light/inner24/shuffled' -> channels, mask, diameter, unit, shuffled_labels
    ('inner24pc': 24 parsecs)."""
    m = BAR.fullmatch(spec) if isinstance(spec, str) else None
    if m is None:
        raise ValueError(f"not a bar: {spec!r}; a bar is channels/occlusion or "
                         f"channels/occlusion/{LABELS[1]}, e.g. white_light/inner24pc/{LABELS[1]}")
    return _bar(m["channels"], m["occlusion"], m["shuffled"] is not None)


def _bar(channels: str, occlusion: str, shuffled: bool) -> dict:
    mask, diameter, unit = parse_occlusion(occlusion)
    return {"channels": channels, "mask": mask, "diameter": diameter, "unit": unit,
            "shuffled_labels": shuffled}


def bar_label(number: int, bar: dict) -> str:
    text = CHANNEL_LABEL[bar["channels"]]
    unit = " pc" if bar.get("unit") == "pc" else ""
    text += ", no mask" if bar["diameter"] == 0 else f", {bar['mask']} mask D = {bar['diameter']}{unit}"
    if bar["shuffled_labels"]:
        text += ", shuffled labels"
    return f"{number}: {text}"


def plot_bar_chart(table: pd.DataFrame, chart: dict, paths, sample_ranges: dict | None = None,
                   split: str = "test"):
    """Paper Fig. 4 / Fig. 5: one bar per case (mean over seeds, error bars its 95% interval),
    case 1 at the bottom and the null predictor as the top case. Returns the Figure."""
    _style()
    rows = _with_unit(table[table["split"] == split])
    rows["channels"] = rows["channels"].fillna("")
    rows["shuffled_labels"] = _true(rows["shuffled_labels"])
    bars = [parse_bar(b) for b in chart["bars"]]
    samples = list(chart["samples"])
    height = 0.42 * (len(bars) + 1) + 1.2
    fig, axes = plt.subplots(1, len(samples), figsize=(5.6 * len(samples), height), squeeze=False,
                             sharey=False)
    for k, (ax, sample) in enumerate(zip(axes.flat, samples)):
        r = rows[rows["sample"] == sample]
        picked, labels = [], []
        for n, bar in enumerate(bars, start=1):
            hit = r[(r["channels"] == bar["channels"]) & (r["diameter"] == bar["diameter"])
                    & (r["shuffled_labels"] == bar["shuffled_labels"])
                    & (((r["mask"] == bar["mask"]) & (r["diameter_unit"] == bar["unit"]))
                       | (bar["diameter"] == 0))]
            picked.append(hit.iloc[0] if len(hit) else pd.Series(
                {"case": "", "channels": bar["channels"], "scatter_mean": np.nan,
                 "scatter_std": np.nan, "complete": False, "n_seeds": 0, "n_seeds_expected": 0}))
            labels.append(bar_label(n, bar))
        null_rows = r[r["case"] == "null_predictor"]
        null = float(null_rows["scatter_mean"].iloc[0]) if len(null_rows) else np.nan
        picked.append(null_rows.iloc[0] if len(null_rows) else pd.Series(
            {"case": "null_predictor", "channels": "", "scatter_mean": np.nan, "scatter_std": np.nan,
             "complete": False, "n_seeds": 0, "n_seeds_expected": 1}))
        labels.append(f"{len(bars) + 1}: null predictor (train-set mean age)")
        _draw_bars(ax, _bar_rows(pd.DataFrame(picked), labels), null)
        ax.set_title(sample_label(sample, sample_ranges), fontsize=10)
        if k > 0:
            ax.set_yticklabels([])
    fig.tight_layout()
    save(fig, paths)
    return fig


def plot_cases(table: pd.DataFrame, paths, split: str = "test", max_points: int = 3):
    """Every short case of the grid as a bar (sweeps longer than ``max_points`` are left to the
    sweep figures), with seed error bars and the null predictor on top. Returns the Figure."""
    _style()
    rows = table[table["split"] == split].copy()
    rows["channels"] = rows["channels"].fillna("")
    points = rows.groupby("case")["diameter"].nunique()
    rows = rows[rows["case"].map(points) <= max_points]
    rows["label"] = rows.apply(case_label, axis=1)
    rows = rows.drop_duplicates(["sample", "label"])
    null_last = rows["case"] == "null_predictor"
    rows = pd.concat([rows[~null_last], rows[null_last]])
    # A sample with no model of its own (only its null predictor, for a bar chart) gets no panel.
    modelled = set(rows.loc[~rows["case"].eq("null_predictor"), "sample"])
    samples = [s for s in _sample_order(rows["sample"]) if s in modelled] or ["full"]
    n_max = max([int((rows["sample"] == s).sum()) for s in samples] + [1])
    fig, axes = plt.subplots(1, len(samples), figsize=(5.6 * len(samples), 0.42 * n_max + 1.2),
                             squeeze=False)
    for ax, sample in zip(axes.flat, samples):
        r = rows[rows["sample"] == sample]
        if r.empty:
            _placeholder(ax, "No case with a few diameters in this grid.")
            continue
        null = r.loc[r["case"] == "null_predictor", "scatter_mean"]
        _draw_bars(ax, _bar_rows(r, list(r["label"])), float(null.iloc[0]) if len(null) else None)
        ax.set_xlabel(f"{split} scatter (dex)")
        ax.set_title(sample_label(sample), fontsize=10)
    fig.tight_layout()
    save(fig, paths)
    return fig


def setting_words(setting: str) -> str:
    """'full/white_light/inner24/true' -> 'white-light, inner mask D = 24' (the case in words);
    anything not a setting's name as it is."""
    try:
        parts = setting_parts(setting)
    except ValueError:
        return setting
    bar = _bar(parts["channels"], parts["occlusion"], parts["labels"] == LABELS[1])
    return bar_label(0, bar).split(": ", 1)[1]


def _binned_medians(t, y, bins) -> np.ndarray:
    """Median of y per bin of t (NaN where a bin holds fewer than 3 clusters)."""
    idx = np.digitize(t, bins) - 1
    return np.array([np.median(y[idx == i]) if (idx == i).sum() >= 3 else np.nan
                     for i in range(len(bins) - 1)])


def _table_interval(table: pd.DataFrame | None, run: dict, split: str) -> str:
    """', 95% interval [lo, hi]' of a run's setting in the scatter table; '' where it has none."""
    if table is None or "scatter_ci_low" not in table:
        return ""
    setting = Setting.from_name(run["setting"])
    rows = table[(table["split"] == split) & (table["sample"] == setting.sample)
                 & (table["channels"] == setting.channels) & (table["mask"] == "none")
                 & ~table["shuffled_labels"].astype(str).str.lower().eq("true")]
    if rows.empty or not np.isfinite(rows["scatter_ci_low"].iloc[0]):
        return ""
    r = rows.iloc[0]
    return f", 95% interval [{r['scatter_ci_low']:.2f}, {r['scatter_ci_high']:.2f}]"


def plot_predictions(runs: list[dict], paths, sample_ranges: dict | None = None,
                     split: str = "test", seed_runs: list[list[dict]] | None = None,
                     table: pd.DataFrame | None = None):
    """Paper Fig. 2: predicted vs true, residual vs true (test set), and loss per epoch.

    ``runs``: one dict per column with 'sample', 'setting', 'seed', 'predictions' and
    'history' (DataFrames as the train rule writes them); its model is the one drawn point by
    point. ``seed_runs`` (optional, one list per column): every seed's run of the same setting
    (dicts with 'seed', 'predictions', 'history'); their spread is shown as the test scatter's
    mean over seeds with its 95% interval (from ``table``, the scatter table, where given) and
    population std, the band of the seeds' binned median residuals and every seed's loss
    curves. Returns the Figure.
    """
    _style()
    ncol = max(len(runs), 1)
    fig, axes = plt.subplots(3, ncol, figsize=(4.5 * ncol, 11.0), squeeze=False,
                             gridspec_kw={"height_ratios": [1.25, 0.8, 0.8]})
    if not runs:
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 3))
        _placeholder(ax, "No unmasked model finished yet.")
    for j, run in enumerate(runs):
        seeds = [r for r in (seed_runs[j] if seed_runs else []) if r.get("predictions") is not None]
        if not any(r["seed"] == run["seed"] for r in seeds):
            seeds = [run, *seeds]
        pred = run["predictions"]
        p = pred[pred["split"] == split]
        t, y = p["log_age_true"].to_numpy(float), p["log_age_pred"].to_numpy(float)
        lo = np.floor(min(t.min(), y.min()) * 2) / 2 - 0.1 if len(t) else 5.9
        hi = np.ceil(max(t.max(), y.max()) * 2) / 2 + 0.1 if len(t) else 10.1
        alpha = 0.8 if len(t) < 200 else 0.35
        per_seed = []
        for r in seeds:
            q = r["predictions"][r["predictions"]["split"] == split]
            per_seed.append(scatter(q["log_age_pred"], q["log_age_true"]))
        ax = axes[0, j]
        ax.scatter(t, y, s=7, alpha=alpha, color="tab:purple", edgecolor="none", gid="predictions")
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.9, ls="--", label="1:1")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(f"reference (SED) {LOG_AGE}")
        ax.set_ylabel(f"predicted {LOG_AGE}")
        ax.set_title(f"{setting_words(run['setting'])}\n{sample_label(run['sample'], sample_ranges)}",
                     fontsize=9.5)
        interval = _table_interval(table, run, split)
        if len(per_seed) > 1:
            spread = (f"{split} scatter {np.mean(per_seed):.2f} dex{interval}\n"
                      f"(mean over {len(per_seed)} seeds, std {np.std(per_seed):.2f})\n"
                      f"points: seed {run['seed']}, {scatter(y, t):.2f} dex")
        else:
            spread = f"{split} scatter {scatter(y, t):.2f} dex\n(seed {run['seed']})"
        ax.text(0.04, 0.96, f"{spread}\nN = {len(t)} {split} clusters", transform=ax.transAxes,
                va="top", fontsize=8.5, gid="scatter_text")
        ax = axes[1, j]
        resid = y - t
        ax.scatter(t, resid, s=7, alpha=alpha, color="tab:purple", edgecolor="none", gid="residuals")
        ax.axhline(0, color="black", lw=0.9, ls="--")
        bins = np.arange(lo, hi + 0.25, 0.25)
        centres = 0.5 * (bins[:-1] + bins[1:])
        medians = []
        for r in seeds:
            q = r["predictions"][r["predictions"]["split"] == split]
            qt = q["log_age_true"].to_numpy(float)
            medians.append(_binned_medians(qt, q["log_age_pred"].to_numpy(float) - qt, bins))
        medians = np.array(medians)
        shown = _binned_medians(t, resid, bins)
        ok = np.isfinite(shown)
        if len(seeds) > 1 and ok.any():
            band = np.where(np.isfinite(medians), medians, shown)  # a bin too thin in one seed
            ax.fill_between(centres[ok], band.min(axis=0)[ok], band.max(axis=0)[ok], color="0.5",
                            alpha=0.3, lw=0, label=f"range of the {len(seeds)} seeds' medians",
                            gid="seed_band")
        if ok.any():
            ax.plot(centres[ok], shown[ok], color="black", lw=1.5, marker="o", ms=3,
                    label=f"binned median (seed {run['seed']})", gid="binned_median")
            ax.legend(loc="upper right", fontsize=7.5)
        ax.set_xlim(lo, hi)
        ax.set_xlabel(f"reference (SED) {LOG_AGE}")
        ax.set_ylabel("residual, predicted − reference (dex)")
        ax = axes[2, j]
        h = run["history"]
        if len(h):
            for r in seeds:
                if r["seed"] == run["seed"] or r.get("history") is None or not len(r["history"]):
                    continue
                ax.plot(r["history"]["epoch"], r["history"]["loss"], color=SPLIT_STYLE["train"][0],
                        lw=0.7, alpha=0.35, gid="loss_other_seed")
                ax.plot(r["history"]["epoch"], r["history"]["val_loss"],
                        color=SPLIT_STYLE["validation"][0], lw=0.7, alpha=0.35, gid="loss_other_seed")
            ax.plot(h["epoch"], h["loss"], color=SPLIT_STYLE["train"][0], label="training", gid="loss")
            ax.plot(h["epoch"], h["val_loss"], color=SPLIT_STYLE["validation"][0], label="validation",
                    gid="val_loss")
            if len(seeds) > 1:
                ax.plot([], [], color="0.5", lw=0.7, alpha=0.6, label="other seeds")
            best = int(h.loc[h["val_loss"].idxmin(), "epoch"])
            ax.axvline(best, color="0.4", ls=":", lw=1, label=f"best epoch ({best})")
            positive = h[["loss", "val_loss"]].to_numpy(float)
            if positive.min() > 0 and positive.max() / positive.min() > 20:
                ax.set_yscale("log")
            ax.legend(fontsize=7.5)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        else:
            _placeholder(ax, "no training history")
        ax.set_xlabel("epoch (passes through the training set)")
        ax.set_ylabel("MSE loss (scaled log age)")
    fig.tight_layout()
    save(fig, paths)
    return fig


def galaxy_names(keys) -> str:
    return ", ".join(TABLE1[k].name if k in TABLE1 else k for k in keys)


def plot_age_histograms(clusters: pd.DataFrame, groups: dict[str, list[str]], paths,
                        sample_ranges: dict | None = None):
    """Paper Fig. 6: log-age distributions of the galaxy groups (near and far), each as the
    fraction of its clusters per 0.1 dex bin, so groups of different sizes compare. The legend
    sits under the axes, where no line crosses it. Returns the Figure."""
    _style()
    fig, ax = plt.subplots(figsize=(7.0, 5.2), layout="constrained")
    bins = np.arange(5.95, 10.25, 0.1)
    colours = ["tab:blue", "tab:red", "tab:green", "tab:orange"]
    handles = []
    for k, (name, galaxies) in enumerate(groups.items()):
        sel = clusters[clusters["galaxy"].isin(galaxies)]
        colour = colours[k % len(colours)]
        ls = GROUP_LINESTYLE[k % len(GROUP_LINESTYLE)] if k else "-"
        if sel.empty:
            handles.append(plt.Line2D([], [], color=colour, ls=ls,
                                      label=f"{name}: no clusters in the data"))
            continue
        ages = sel["log_age"].to_numpy(float)
        d = sel["distance_mpc"]
        dist = f"{d.min():.1f} Mpc" if d.min() == d.max() else f"{d.min():.1f}–{d.max():.1f} Mpc"
        label = (f"{name}: {galaxy_names(sorted(set(sel['galaxy'])))}; "
                 f"{dist}; N = {len(ages)}, mean {ages.mean():.2f}")
        ax.hist(ages, bins=bins, weights=np.full(len(ages), 1.0 / len(ages)), histtype="step",
                lw=1.6, color=colour, ls=ls, gid=f"hist_{name}")
        ax.axvline(ages.mean(), color=colour, lw=0.8, ls="--", gid=f"mean_{name}")
        handles.append(plt.Line2D([], [], color=colour, ls=ls, lw=1.6, label=label))
    cuts = False
    for sample, r in (sample_ranges or {}).items():
        for bound in ("min_log_age", "max_log_age"):
            if (r or {}).get(bound) is not None:
                ax.axvline(r[bound], color="0.5", lw=0.8, ls=":", gid="age_cut")
                cuts = True
    if handles:
        handles.append(plt.Line2D([], [], color="0.3", lw=0.8, ls="--", label="mean log age"))
    if cuts:
        handles.append(plt.Line2D([], [], color="0.5", lw=0.8, ls=":",
                                  label="age cuts of the restricted sample"))
    if not groups:
        _placeholder(ax, "No galaxy groups configured ('subsamples').")
    ax.set_xlabel(f"reference (SED) {LOG_AGE}")
    ax.set_ylabel("fraction of the group's clusters per 0.1 dex")
    ax.set_xlim(5.9, 10.3)
    ax.set_ylim(bottom=0)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=1, fontsize=8)
    save(fig, paths)
    return fig


def plot_group_sweeps(groups: pd.DataFrame, paths, mask: str = "inner",
                      sample_ranges: dict | None = None):
    """Paper Fig. 7: relative error (%) against D, each galaxy group against its own null
    (near dotted, far dashed), with the cluster and environment zones. Returns the Figure."""
    _style()
    data = sweeps(groups, extra_keys=("group",), add_unmasked=(mask == "inner")) if len(groups) else groups
    data = data[data["mask"] == mask] if len(data) else data
    channels = [c for c in CHANNEL_ORDER if c in set(data["channels"])] if len(data) else []
    columns = _columns(data) if len(data) else []
    fig, axes = _panel_grid(channels, columns)
    if data.empty:
        _placeholder(axes[0, 0], f"No {MASK_LABEL[mask]} sweep with clusters of the galaxy groups yet.")
        save(fig, paths)
        return fig
    names = list(dict.fromkeys(data["group"]))
    xlims = {u: _x_range(data.loc[data["diameter_unit"] == u, "diameter"])
             for u in set(data["diameter_unit"])}
    for i, ch in enumerate(channels):
        for j, (sample, unit) in enumerate(columns):
            ax = axes[i, j]
            panel = data[(data["channels"] == ch) & (data["sample"] == sample)
                         & (data["diameter_unit"] == unit)]
            if panel.empty:
                _placeholder(ax, f"{CHANNEL_LABEL[ch]}, {sample_label(sample, sample_ranges)}:\nnot in this grid")
                continue
            for k, name in enumerate(names):
                p = panel[panel["group"] == name].sort_values("diameter")
                if p.empty:
                    continue
                err = interval_err(p, "relative_error_pct", "relative_error_ci_low",
                                   "relative_error_ci_high")
                _errorbar(ax, p["diameter"], p["relative_error_pct"], err, p["complete"].astype(bool),
                          "black" if k < 2 else f"C{k}", "o" if k % 2 == 0 else "s",
                          f"{name} (N$_\\mathrm{{test}}$ = {int(p['n_clusters'].iloc[0])}, "
                          f"null {p['null_scatter'].iloc[0]:.2f} dex)",
                          ls=GROUP_LINESTYLE[k % len(GROUP_LINESTYLE)], gid=f"relative_error_{name}")
            ax.axhline(100, color="black", ls="--", lw=1, label="null predictor (100 %)",
                       gid="null_line")
            top = np.nanmax(panel["relative_error_pct"] + interval_err(
                panel, "relative_error_pct", "relative_error_ci_low", "relative_error_ci_high")[1])
            ax.set_ylim(0, max(115, float(top) * 1.05))
            ax.set_xlim(*xlims[unit])
            if unit == "px":
                _zones(ax, mask, xlims[unit])
            ax.set_title(_column_title(ch, sample, unit, sample_ranges), fontsize=10)
            ax.legend(fontsize=7, loc="best")
            if i == len(channels) - 1:
                ax.set_xlabel(diameter_label(unit, mask))
            if j == 0:
                ax.set_ylabel("relative error (% of null scatter)")
    if not data["complete"].astype(bool).all():
        fig.text(0.5, -0.02, "open symbols: fewer seeds than asked (sweep not finished)",
                 ha="center", va="top", fontsize=8, color="tab:red")
    fig.tight_layout()
    save(fig, paths)
    return fig


def plot_disputed_ages(disputes: list[dict], paths) -> None:
    """CNN mean against SED log age of each disputed-age setting's ensemble, the disputed
    clusters marked, the 1:1 line and the +- threshold x scatter band.

    ``disputes``: per setting a dict with ``setting``, ``table`` (ensemble), ``catalog``
    (disagreement catalog), ``summary`` (ensemble.json) and ``threshold``.
    """
    _style()
    n = max(len(disputes), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 4.2), squeeze=False)
    if not disputes:
        _placeholder(axes[0, 0], "No disagreement catalog in this grid\n(disputes.settings).")
        save(fig, paths)
        return fig
    for ax, d in zip(axes[0], disputes):
        table, catalog, s = d["table"], d["catalog"], d["summary"]["scatter"]
        ax.errorbar(table["sed_log_age"], table["cnn_mean"], yerr=table["cnn_spread"], fmt="o",
                    ms=2.5, color="0.55", elinewidth=0.5, lw=0, label="clusters")
        lo = float(np.nanmin([table["sed_log_age"].min(), table["cnn_mean"].min(), 6.0])) - 0.2
        hi = float(np.nanmax([table["sed_log_age"].max(), table["cnn_mean"].max(), 10.0])) + 0.2
        line = np.array([lo, hi])
        ax.plot(line, line, color="black", lw=1)
        band = d["threshold"] * s
        ax.fill_between(line, line - band, line + band, color="0.85", zorder=0,
                        label=f"within {d['threshold']:g} scatters")
        for says, colour in (("younger", "tab:blue"), ("older", "tab:red")):
            c = catalog[catalog["cnn_says"] == says]
            if len(c):
                ax.plot(c["sed_log_age"], c["cnn_mean"], "o", ms=5, mfc="none", mew=1.3,
                        color=colour, label=f"disputed: CNN {says} ({len(c)})")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(f"SED (catalog) {LOG_AGE}")
        ax.set_ylabel(f"CNN mean {LOG_AGE}")
        summary = d["summary"]
        ax.set_title(f"{d['setting']}\n{len(catalog)} of {summary['n_clusters']} disputed "
                     f"({summary['n_absent']} never out of sample)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    save(fig, paths)
    return fig
