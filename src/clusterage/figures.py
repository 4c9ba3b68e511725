"""Figures from the aggregated scatter table, ready for a paper (PNG and PDF)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .atomic import atomic_path  # noqa: E402

SPLIT_STYLE = {"train": ("tab:blue", "o"), "validation": ("tab:orange", "s"), "test": ("tab:green", "D")}
CHANNEL_LABEL = {"five_band": "five-band", "white_light": "white-light"}
MASK_LABEL = {"inner": "inner mask", "outer": "outer mask"}


def _style():
    sns.set_theme(context="paper", style="ticks", font_scale=1.1)
    plt.rcParams.update({"savefig.dpi": 200, "figure.dpi": 100, "axes.spines.top": False,
                         "axes.spines.right": False})


def save(fig, paths) -> None:
    """Write each path atomically; the format follows the suffix."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), bbox_inches="tight")
    plt.close(fig)


def case_label(row) -> str:
    if row["case"] == "null_predictor":
        return "null predictor"
    parts = [CHANNEL_LABEL.get(row["channels"], row["channels"])]
    if row["mask"] != "none" and row["diameter"] > 0:
        parts.append(f"{row['mask']} D={row['diameter']}")
    else:
        parts.append("no mask")
    if row.get("shuffled_labels"):
        parts.append("shuffled labels")
    return ", ".join(parts)


def sweeps(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the mask sweeps, each with the unmasked model as its D = 0 point."""
    masked = table[table["mask"].isin(["inner", "outer"]) & ~table["shuffled_labels"].astype(bool)]
    rows = [masked]
    unmasked = table[((table["mask"] == "none") | (table["diameter"] == 0))
                     & (table["case"] != "null_predictor") & ~table["shuffled_labels"].astype(bool)]
    for (channels, sample, mask), _ in masked.groupby(["channels", "sample", "mask"]):
        base = unmasked[(unmasked["channels"] == channels) & (unmasked["sample"] == sample)]
        base = base.drop_duplicates(["split"]).assign(mask=mask, diameter=0)
        if not (masked[(masked["channels"] == channels) & (masked["sample"] == sample)
                       & (masked["mask"] == mask)]["diameter"] == 0).any():
            rows.append(base)
    out = pd.concat(rows, ignore_index=True)
    return out.drop_duplicates(["channels", "sample", "mask", "diameter", "split"])


def plot_scatter_vs_diameter(table: pd.DataFrame, paths) -> None:
    """Paper Fig. 3 / Fig. 8 style: scatter against mask diameter, null predictor dashed."""
    _style()
    data = sweeps(table)
    panels = data.groupby(["mask", "channels", "sample"], sort=True)
    n = max(len(panels), 1)
    ncol = min(n, 2)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
    for ax, ((mask, channels, sample), panel) in zip(axes.flat, panels):
        for split, (colour, marker) in SPLIT_STYLE.items():
            p = panel[panel["split"] == split].sort_values("diameter")
            ax.errorbar(p["diameter"], p["scatter_mean"], yerr=p["scatter_std"].fillna(0),
                        color=colour, marker=marker, ms=4, capsize=2, lw=1.2, label=split)
            null = p["null_scatter"].dropna()
            if split == "test" and len(null):
                ax.axhline(null.iloc[0], color="0.3", ls="--", lw=1, label="null predictor (test)")
        ax.set_title(f"{CHANNEL_LABEL.get(channels, channels)}, {MASK_LABEL[mask]}, sample '{sample}'")
        ax.set_xlabel("mask diameter D [pixels]")
        ax.set_ylabel("scatter [dex]")
        ax.set_ylim(bottom=0)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if len(panels):
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=4, frameon=False,
                   bbox_to_anchor=(0.5, 1.02))
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    save(fig, paths)


def plot_cases(table: pd.DataFrame, paths, split: str = "test") -> None:
    """Paper Fig. 4 / Fig. 5 style: one bar per case with seed error bars, and the null bar."""
    _style()
    rows = table[table["split"] == split].copy()
    rows["channels"] = rows["channels"].fillna("")
    rows["label"] = rows.apply(case_label, axis=1)
    rows = rows.drop_duplicates(["sample", "label"])
    samples = sorted(rows["sample"].unique())
    fig, axes = plt.subplots(1, len(samples), figsize=(max(4.5, 0.7 * rows["label"].nunique() + 2) * len(samples), 3.8),
                             squeeze=False)
    palette = {"five_band": "tab:purple", "white_light": "0.55", "": "0.15"}
    for ax, sample in zip(axes.flat, samples):
        r = rows[rows["sample"] == sample].reset_index(drop=True)
        colours = [palette.get(c, "tab:blue") for c in r["channels"]]
        ax.bar(r.index, r["scatter_mean"], yerr=r["scatter_std"].fillna(0), color=colours,
               capsize=3, edgecolor="black", linewidth=0.6)
        for i, row in r.iterrows():
            if not row["complete"]:
                ax.text(i, row["scatter_mean"], f"{row['n_seeds']}/{row['n_seeds_expected']}",
                        ha="center", va="bottom", fontsize=7, color="tab:red")
        ax.set_xticks(r.index, r["label"], rotation=35, ha="right")
        ax.set_ylabel(f"{split} scatter [dex]")
        ax.set_title(f"sample '{sample}'")
    fig.tight_layout()
    save(fig, paths)
