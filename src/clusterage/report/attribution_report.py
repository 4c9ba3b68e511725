"""Tables and figures of the attributions: seed-averaged radial profiles, mean maps by age range
and filter, and test-time occlusion beside the retrained occlusion sweep (docs/attribution.md)."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from clusterage.analysis.aggregate import seed_spread
from clusterage.analysis.attribution import (
    ADDITIVE_METHODS,
    AGE_RANGES,
    INNER_RADIUS,
    METHOD_LABEL,
    METHODS,
    OCCLUSION_COLUMNS,
    PROFILE_QUANTITIES,
    pixel_radius,
    profile_radii,
    spread_share,
)
from clusterage.analysis.attribution_intervals import (
    at,
    occlusion_replicates,
    profile_replicates,
)
from clusterage.analysis.uncertainty import Bootstrap
from clusterage.atomic import atomic_path
from clusterage.grid import SETTING_PARTS, Setting, setting_parts


def _setting_columns(frame: pd.DataFrame) -> pd.DataFrame:
    parts = pd.DataFrame([setting_parts(s) for s in frame["setting"]], index=frame.index,
                         columns=list(SETTING_PARTS))
    return pd.concat([frame, parts], axis=1)


def seeds_text(n) -> str:
    return f"{int(n)} seed" + ("" if int(n) == 1 else "s")


def setting_title(setting: str, sample_ranges: dict | None = None) -> str:
    """'full/white_light/none/true' -> 'white-light, no mask, full sample' (a figure's words)."""
    from .figures import sample_label, setting_words

    sample = Setting.from_name(setting).sample
    return f"{setting_words(setting)}, {sample_label(sample, sample_ranges)}"


PROFILE_COLUMNS = ["setting", "sample", "channels", "occlusion", "labels", "method", "quantity",
                   "r", "fraction_mean", "fraction_std", "fraction_ci_low", "fraction_ci_high",
                   "n_seeds", "n_clusters"]
OCCLUSION_TABLE_COLUMNS = ["setting", "sample", "channels", "occlusion", "labels", "mask", "diameter",
                           "scatter_mean", "scatter_std", "scatter_ci_low", "scatter_ci_high",
                           "cost_ci_low", "cost_ci_high", "n_seeds", "n"]
# What a profile measures, in a figure's words; "within r" or "beyond r = ..." follows.
QUANTITY_LABEL = {"abs_fraction": "share of |attribution|",
                  "spread_share": "share of the predictions' spread across clusters"}


def _radius_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("r") and c[1:].isdigit()]


def seed_profiles(profile_files) -> pd.DataFrame:
    """Per setting, method, quantity, seed and radius r, one run's profile value:

    - ``abs_fraction``: the cumulative fraction of |attribution| within r, mean over the test
      clusters;
    - ``spread_share``: the share of the spread of the run's predictions over its test clusters
      carried by the pixels within r (``attribution.spread_share`` of the clusters' signed sums;
      additive methods only).

    Columns: setting, method, quantity, seed, r, fraction, n_clusters. Profiles written before the
    signed sums existed (no ``quantity`` column) give the ``abs_fraction`` rows only.
    """
    frames = [pd.read_csv(f) for f in profile_files]
    frames = [f if "quantity" in f.columns else f.assign(quantity="abs_fraction")
              for f in frames if len(f)]
    columns = ["setting", "method", "quantity", "seed", "r", "fraction", "n_clusters"]
    if not frames:
        return pd.DataFrame(columns=columns)
    per_cluster = pd.concat(frames, ignore_index=True)
    rcols = _radius_columns(per_cluster)
    radii = [int(c[1:]) for c in rcols]
    rows = []
    for (setting, method, quantity, seed), t in per_cluster.groupby(
            ["setting", "method", "quantity", "seed"], sort=False):
        if quantity == "abs_fraction":
            values, name = t[rcols].mean().to_numpy(), "abs_fraction"
        elif quantity == "signed_sum":
            values, name = spread_share(t[rcols].to_numpy()), "spread_share"
        else:
            raise ValueError(f"profiles of {setting} seed {seed}: unknown quantity {quantity!r} "
                             f"(expected one of {', '.join(PROFILE_QUANTITIES)})")
        rows.append(pd.DataFrame({"setting": setting, "method": method, "quantity": name,
                                  "seed": seed, "r": radii, "fraction": values, "n_clusters": len(t)}))
    return pd.concat(rows, ignore_index=True)[columns]


def _curve_intervals(curves: dict, key: tuple, axis_values, boot: Bootstrap) -> tuple[list, list]:
    curve = curves.get(key)
    if curve is None:
        nan = [np.nan] * len(axis_values)
        return nan, nan
    lo, hi = zip(*(boot.interval(at(curve, v)) for v in axis_values))
    return list(lo), list(hi)


def profile_table(profile_files, boot: Bootstrap) -> pd.DataFrame:
    """Per setting, method, quantity (``seed_profiles``) and radius: mean and population standard
    deviation (ddof 0, as the scatter tables; NaN for one seed) over seeds, and the 95% interval
    (seeds and test clusters redrawn). Columns: PROFILE_COLUMNS."""
    per_seed = seed_profiles(profile_files)
    if per_seed.empty:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    keys = ["setting", "method", "quantity", "r"]
    out = (per_seed.groupby(keys, sort=False)
           .agg(fraction_mean=("fraction", "mean"), fraction_std=("fraction", seed_spread),
                n_seeds=("fraction", "count"), n_clusters=("n_clusters", "max")).reset_index())
    curves = profile_replicates(profile_files, boot)
    out["fraction_ci_low"], out["fraction_ci_high"] = np.nan, np.nan
    for key, idx in out.groupby(["setting", "method", "quantity"], sort=False).groups.items():
        lo, hi = _curve_intervals(curves, key, out.loc[idx, "r"], boot)
        out.loc[idx, "fraction_ci_low"], out.loc[idx, "fraction_ci_high"] = lo, hi
    return _setting_columns(out)[PROFILE_COLUMNS]


def outside_share(profile_files, radius: int = INNER_RADIUS) -> pd.DataFrame:
    """Per setting, method, quantity and seed: the share beyond ``radius`` (one minus the profile
    at ``radius``), of |attribution| and of the predictions' spread."""
    per_seed = seed_profiles(profile_files)
    at = per_seed[per_seed["r"] == radius].copy()
    at["outside"] = 1.0 - at["fraction"]
    return at[["setting", "method", "quantity", "seed", "outside"]].reset_index(drop=True)


def occlusion_table(occlusion_files, maps_files, boot: Bootstrap) -> pd.DataFrame:
    """Test-time occlusion per setting, mask and diameter: scatter mean and population standard
    deviation (ddof 0; NaN for one seed) over seeds, the 95% interval of the scatter and of the
    mask's cost (the scatter at D less the unmasked one, paired: same models, same clusters)."""
    frames = [pd.read_csv(f) for f in occlusion_files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=OCCLUSION_TABLE_COLUMNS)
    runs = pd.concat(frames, ignore_index=True)[OCCLUSION_COLUMNS]
    out = (runs.groupby(["setting", "mask", "diameter"])
           .agg(scatter_mean=("scatter", "mean"), scatter_std=("scatter", seed_spread),
                n_seeds=("scatter", "count"), n=("n", "max")).reset_index())
    curves = occlusion_replicates(maps_files, boot)
    for col in ("scatter_ci_low", "scatter_ci_high", "cost_ci_low", "cost_ci_high"):
        out[col] = np.nan
    for key, idx in out.groupby(["setting", "mask"], sort=False).groups.items():
        curve = curves.get(key)
        if curve is None:
            continue
        for i in idx:
            reps = at(curve, out.at[i, "diameter"])
            out.loc[i, ["scatter_ci_low", "scatter_ci_high"]] = boot.interval(reps)
            out.loc[i, ["cost_ci_low", "cost_ci_high"]] = boot.interval(reps - at(curve, 0))
    return _setting_columns(out)[OCCLUSION_TABLE_COLUMNS]


def write_tables(profile_files, occlusion_files, maps_files, profiles_csv, occlusion_csv,
                 boot: Bootstrap) -> None:
    for table, path in ((profile_table(profile_files, boot), profiles_csv),
                        (occlusion_table(occlusion_files, maps_files, boot), occlusion_csv)):
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")


def mean_maps(map_files, method: str = "integrated_gradients") -> dict:
    """Per setting: the mean |attribution| maps by age range, averaged over seeds."""
    out: dict[str, dict] = {}
    for path in map_files:
        with h5py.File(path, "r") as f:
            setting = f.attrs["setting"]
            entry = out.setdefault(setting, {"maps": [], "bands": list(f.attrs["bands"]),
                                             "counts": f[method]["n_by_age"][()],
                                             "visible": f["visible"][()]})
            entry["maps"].append(f[method]["mean_abs_by_age"][()])
    for entry in out.values():
        with np.errstate(invalid="ignore"):
            entry["mean"] = np.nanmean(np.stack(entry["maps"]), axis=0) if entry["maps"] else None
        entry["n_seeds"] = len(entry.pop("maps"))
    return out


def plot_maps(map_files, paths, method: str = "integrated_gradients",
              sample_ranges: dict | None = None) -> None:
    """One row per (setting, filter), one column per age range; a colour scale per setting."""
    import matplotlib.pyplot as plt

    from .figures import _placeholder, _style, save

    _style()
    maps = mean_maps(map_files, method)
    rows = [(s, b) for s, e in maps.items() for b in range(len(e["bands"]))]
    ncol = len(AGE_RANGES)
    fig, axes = plt.subplots(max(len(rows), 1), ncol, figsize=(2.3 * ncol + 0.8, 2.2 * max(len(rows), 1)),
                             squeeze=False)
    if not rows:
        for ax in axes.ravel():
            _placeholder(ax, "no attribution maps")
    images = {}
    for i, (setting, band) in enumerate(rows):
        entry = maps[setting]
        size = entry["mean"].shape[1]
        vmax = np.nanpercentile(entry["mean"], 99.5) if np.isfinite(entry["mean"]).any() else 1.0
        for k, (label, _, _) in enumerate(AGE_RANGES):
            ax = axes[i, k]
            if entry["counts"][k] == 0:
                _placeholder(ax, f"no test cluster\n{label}")
                continue
            images[setting] = ax.imshow(entry["mean"][k, :, :, band], cmap="magma", vmin=0,
                                        vmax=vmax, origin="lower")
            ax.add_patch(plt.Circle((size // 2, size // 2), INNER_RADIUS, fill=False, ls="--",
                                    lw=0.7, color="cyan"))
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0 or rows[i - 1][0] != setting:
                ax.set_title(f"{label} (n = {entry['counts'][k]})", fontsize=9)
            if k == 0:
                name = setting_title(setting, sample_ranges).replace(", ", ",\n", 1)
                band_name = f"{entry['bands'][band]} filter" if len(entry["bands"]) > 1 else ""
                ax.set_ylabel(f"{name}\n{band_name}".strip(), fontsize=8)
        if setting in images and (i + 1 == len(rows) or rows[i + 1][0] != setting):
            fig.colorbar(images[setting], ax=[axes[j, ncol - 1] for j, r in enumerate(rows) if r[0] == setting],
                         label="mean |attribution| (dex per pixel)", shrink=0.8)
    fig.suptitle(f"Where the models read the age: mean |{METHOD_LABEL[method]}| by true age "
                 f"(dashed: r = {INNER_RADIUS} px, an inner mask of D = {2 * INNER_RADIUS})", fontsize=10)
    with plt.rc_context({"savefig.dpi": 110}):  # many image panels: keep the PNG small
        save(fig, paths)


def uniform_profile(size: int) -> np.ndarray:
    """Cumulative fraction within r of a map that attributes the same to every pixel."""
    d = np.ceil(pixel_radius(size)).astype(int).ravel()
    counts = np.bincount(d, minlength=len(profile_radii(size)))
    return np.cumsum(counts) / counts.sum()


PROFILE_PANELS = tuple((m, "abs_fraction") for m in METHODS) + tuple(
    (m, "spread_share") for m in ADDITIVE_METHODS)


def _band(t: pd.DataFrame, name: str):
    """A curve's 95% interval band (``<name>_ci_low/high``); a table written without intervals
    gives the seed spread instead."""
    if f"{name}_ci_low" in t and t[f"{name}_ci_low"].notna().any():
        return t[f"{name}_ci_low"], t[f"{name}_ci_high"]
    mean, std = t[f"{name}_mean"], t[f"{name}_std"].fillna(0)
    return mean - std, mean + std


def plot_profiles(table: pd.DataFrame, paths, size: int = 112,
                  sample_ranges: dict | None = None) -> None:
    """Radial profiles, mean over seeds and its 95% interval (band): the cumulative |attribution|
    within r, one panel per method, and the share of the predictions' spread read within r (Integrated
    Gradients)."""
    import matplotlib.pyplot as plt

    from .figures import _placeholder, _style, save

    _style()
    if "quantity" not in table.columns:
        table = table.assign(quantity="abs_fraction")
    fig, axes = plt.subplots(1, len(PROFILE_PANELS), figsize=(4.6 * len(PROFILE_PANELS), 3.6),
                             squeeze=False)
    for ax, (method, quantity) in zip(axes[0], PROFILE_PANELS):
        rows = table[(table["method"] == method) & (table["quantity"] == quantity)]
        if rows.empty:
            _placeholder(ax, "no attribution profiles")
            continue
        for setting, t in rows.groupby("setting", sort=False):
            t = t.sort_values("r")
            line, = ax.plot(t["r"], t["fraction_mean"], lw=1.3,
                            label=f"{setting_title(setting, sample_ranges)} ({seeds_text(t['n_seeds'].max())})")
            ax.fill_between(t["r"], *_band(t, "fraction"), alpha=0.25, color=line.get_color(), lw=0)
        if quantity == "abs_fraction":
            ax.plot(profile_radii(size), uniform_profile(size), color="0.5", ls=":", lw=1,
                    label="uniform over the cutout")
            ax.set_ylim(0, 1.02)
            ax.set_title(METHOD_LABEL[method])
        else:
            ax.axhline(1.0, color="0.5", ls=":", lw=1)
            ax.set_title(f"{METHOD_LABEL[method]}: what moves the prediction")
        ax.axvline(INNER_RADIUS, color="0.3", ls="--", lw=0.7,
                   label=f"r = {INNER_RADIUS} pixels (inner mask D = {2 * INNER_RADIUS})")
        ax.set_xlabel("radius $r$ from the cluster (pixels)")
        ax.set_ylabel(QUANTITY_LABEL[quantity] + " within $r$", fontsize=8.5)
        ax.legend(fontsize=7, loc="lower right")
    save(fig, paths)


def plot_occlusion(occlusion: pd.DataFrame, scatter_table: pd.DataFrame, paths,
                   sample_ranges: dict | None = None) -> None:
    """Paper Fig. 3 style: test scatter against D, retrained per diameter (points, from the
    sweep) and the unmasked model with masks applied at inference only (lines)."""
    import matplotlib.pyplot as plt

    from .figures import (
        CHANNEL_LABEL,
        MASK_LABEL,
        _placeholder,
        _style,
        interval_err,
        sample_label,
        save,
        sweeps,
    )

    _style()
    keys = occlusion[["sample", "channels"]].drop_duplicates().values.tolist()
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.8 * max(len(keys), 1), 3.6), squeeze=False)
    if not keys:
        _placeholder(axes[0, 0], "no unmasked model explained: no test-time occlusion")
    test = scatter_table[scatter_table["split"] == "test"]
    # Test-time masks are in pixels: the retrained points are the sweeps in pixels.
    retrained = sweeps(test) if not test.empty else test
    if len(retrained):
        retrained = retrained[retrained["diameter_unit"] == "px"]
    colours = {"inner": "tab:red", "outer": "tab:blue"}
    for ax, (sample, channels) in zip(axes[0], keys):
        for mask in ("inner", "outer"):
            t = occlusion[(occlusion["sample"] == sample) & (occlusion["channels"] == channels)
                          & (occlusion["mask"] == mask)].sort_values("diameter")
            ax.plot(t["diameter"], t["scatter_mean"], color=colours[mask], lw=1.2,
                    label=f"{MASK_LABEL[mask]}, test time ({seeds_text(t['n_seeds'].max())})")
            ax.fill_between(t["diameter"], *_band(t, "scatter"), color=colours[mask], alpha=0.2, lw=0)
            r = retrained[(retrained["sample"] == sample) & (retrained["channels"] == channels)
                          & (retrained["mask"] == mask)].sort_values("diameter") if len(retrained) else retrained
            if len(r) and (r["diameter"] > 0).any():
                ax.errorbar(r["diameter"], r["scatter_mean"], yerr=interval_err(r),
                            color=colours[mask], ls="none", marker="o", ms=4, capsize=2,
                            label=f"{MASK_LABEL[mask]}, retrained per D")
        null = test[(test["case"] == "null_predictor") & (test["sample"] == sample)]["scatter_mean"]
        if len(null):
            ax.axhline(null.iloc[0], color="0.4", ls="--", lw=0.8, label="null predictor")
        ax.set_xlabel(r"mask diameter $D$ (pixels)")
        ax.set_ylabel("test scatter (dex)")
        ax.set_title(f"{CHANNEL_LABEL.get(channels, channels)}, {sample_label(sample, sample_ranges)}",
                     fontsize=10)
        ax.legend(fontsize=7)
    save(fig, paths)
