"""Figures of the synthetic survey: example cutouts (paper Fig. 1 style) and a colour-colour plot.

Each figure is written as PNG and PDF (same stem), atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from astropy.io import fits  # noqa: E402

from ..atomic import atomic_path  # noqa: E402
from ..galaxies import BANDS  # noqa: E402
from . import ssp  # noqa: E402

CUTOUT = 112


def _save(fig, out_png) -> list[Path]:
    out_png = Path(out_png)
    paths = [out_png, out_png.with_suffix(".pdf")]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=200, bbox_inches="tight")
    plt.close(fig)
    return paths


def pick_by_age(truth: pd.DataFrame, log_ages=(6.0, 7.0, 8.0, 9.0, 10.0)) -> pd.DataFrame:
    """The fully covered cluster nearest to each requested log age (no repeats)."""
    pool = truth[truth["full_coverage"].astype(bool)].copy()
    rows = []
    for a in log_ages:
        if pool.empty:
            break
        i = (pool["log_age"] - a).abs().idxmin()
        rows.append(pool.loc[i])
        pool = pool.drop(index=i)
    return pd.DataFrame(rows)


def show_stretched(ax, cut: np.ndarray) -> None:
    """One cutout, asinh stretch softened at 3 noise sigmas (robust MAD), 1st-99.8th percentile."""
    cut = np.asarray(cut, float)
    noise = 1.4826 * np.median(np.abs(cut - np.median(cut))) + 1e-6
    lo, hi = np.percentile(cut, [1, 99.8])
    soft = 3.0 * noise
    ax.imshow(np.arcsinh((cut - lo) / soft), origin="lower", cmap="gray_r",
              vmin=0, vmax=np.arcsinh((hi - lo) / soft), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_example_cutouts(data_dir, target: str, truth: pd.DataFrame, out_png, files=None,
                         log_ages=(6.0, 7.0, 8.0, 9.0, 10.0)) -> list[Path]:
    """Rows: clusters of increasing age; columns: the five filters; asinh stretch per cutout."""
    from ..mast import GalaxyFiles

    files = files or GalaxyFiles(target)
    picks = pick_by_age(truth, log_ages)
    if picks.empty:
        raise ValueError(f"{target}: no fully covered cluster to show")
    half = CUTOUT // 2
    fig, axes = plt.subplots(len(picks), 5, figsize=(7.2, 1.5 * len(picks)), squeeze=False)
    images = [fits.getdata(Path(data_dir) / files.image_relpath(b), memmap=True) for b in range(5)]
    for r, (_, c) in enumerate(picks.iterrows()):
        x, y = int(round(c["x"])), int(round(c["y"])),
        cuts = [np.asarray(im[y - half : y + half, x - half : x + half], float) for im in images]
        for b, cut in enumerate(cuts):
            ax = axes[r, b]
            show_stretched(ax, cut)
            if r == 0:
                ax.set_title(f"{BANDS[b]} ({files.filters[b]})", fontsize=8)
        axes[r, 0].set_ylabel(f"log t = {c['log_age']:.2f}\nE(B-V) = {c['ebv']:.2f}", fontsize=7)
    fig.suptitle(f"{target}: synthetic clusters, {CUTOUT}x{CUTOUT} px cutouts", fontsize=9)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_colour_colour(catalog: pd.DataFrame, out_png, log_age=None,
                       age_label: str = "true log(age / yr)") -> list[Path]:
    """U-B vs V-I (Vega) of catalogued clusters over the BC03 tracks (Z = 0.02 and 0.004) and
    the CCM89 reddening vector for E(B-V) = 0.5.

    ``catalog``: a table with PHANGS_F336W/F438W/F555W/F814W_VEGA (one obs table or several
    concatenated); ``log_age`` (optional, one per row) colours the points.
    """
    need = [f"PHANGS_{f}_VEGA" for f in ("F336W", "F438W", "F555W", "F814W")]
    missing = [c for c in need if c not in catalog.columns]
    if missing:
        raise ValueError(f"catalog lacks columns {missing}")
    ub = catalog["PHANGS_F336W_VEGA"] - catalog["PHANGS_F438W_VEGA"]
    vi = catalog["PHANGS_F555W_VEGA"] - catalog["PHANGS_F814W_VEGA"]
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    if log_age is not None:
        sc = ax.scatter(vi, ub, c=np.asarray(log_age), s=5, cmap="viridis", alpha=0.8, lw=0)
        fig.colorbar(sc, ax=ax, label=age_label)
    else:
        ax.scatter(vi, ub, s=5, color="0.3", alpha=0.6, lw=0)
    draw_tracks(ax)
    draw_reddening_vector(ax, 1.3, -1.6)
    ax.set_xlabel("V - I (F555W - F814W, Vega)")
    ax.set_ylabel("U - B (F336W - F438W, Vega)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, out_png)


def track_colours(log_age, z: str = "0.02") -> tuple[np.ndarray, np.ndarray]:
    """V-I and U-B (Vega) of the BC03 SSP of metallicity ``z`` at the given log ages."""
    t = ssp.ssp_table(z)
    a = np.clip(np.asarray(log_age, float), t["log_age_yr"].min(), t["log_age_yr"].max())
    return (np.interp(a, t["log_age_yr"], t["V-I_Vega"]),
            np.interp(a, t["log_age_yr"], t["U-B_Vega"]))


def draw_tracks(ax, fontsize: float = 7, limits: bool = True) -> None:
    """The BC03 tracks in U-B vs V-I (Vega; Z = 0.02 solid with log ages marked, Z = 0.004
    dashed), on the axes' usual window (U-B increasing downwards)."""
    for z, style in (("0.02", "-"), ("0.004", "--")):
        t = ssp.ssp_table(z)
        ax.plot(t["V-I_Vega"], t["U-B_Vega"], style, color="crimson", lw=1.2,
                label=f"BC03 SSP, Z = {z}")
        if z == "0.02":
            for a in (6.0, 7.0, 8.0, 9.0, 10.0):
                row = t.iloc[(t["log_age_yr"] - a).abs().argmin()]
                ax.annotate(f"{a:g}", (row["V-I_Vega"], row["U-B_Vega"]), fontsize=fontsize,
                            color="crimson", xytext=(3, 3), textcoords="offset points")
    if limits:
        ax.set_xlim(-1.0, 2.5)
        ax.set_ylim(1.0, -2.2)


def draw_reddening_vector(ax, x0: float, y0: float, ebv: float = 0.5, fontsize: float = 7,
                          label: bool = True) -> None:
    """The CCM89 reddening vector for ``ebv`` from (V-I, U-B) = (x0, y0)."""
    k = ssp.extinction_k("CCM89") * 3.1 * ebv
    ax.annotate("", xy=(x0 + k[3] - k[4], y0 + k[1] - k[2]), xytext=(x0, y0),
                arrowprops=dict(arrowstyle="->", color="k"))
    if label:
        ax.text(x0, y0 - 0.15, f"E(B-V) = {ebv:g}", fontsize=fontsize)
