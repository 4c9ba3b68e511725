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
from matplotlib.patches import Circle  # noqa: E402

from clusterage.atomic import atomic_path  # noqa: E402
from clusterage.galaxies import BANDS, PIXEL_SCALE_ARCSEC, TABLE1, pc_per_pixel  # noqa: E402

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


APERTURE_RADIUS_PX = 4  # the PHANGS photometric aperture (paper Fig. 1: radius 4 px, 0.14")
STRETCH = "asinh stretch per cutout (softening 3 sigma of the noise, 1st-99.8th percentile)"


def asinh_stretch(cut: np.ndarray) -> tuple[np.ndarray, float]:
    """The displayed image of one cutout and its upper limit: asinh((x - p1) / (3 sigma))."""
    noise = 1.4826 * np.median(np.abs(cut - np.median(cut))) + 1e-6
    lo, hi = np.percentile(cut, [1, 99.8])
    soft = 3.0 * noise
    return np.arcsinh((cut - lo) / soft), float(np.arcsinh((hi - lo) / soft))


def show_stretched(ax, cut: np.ndarray, visible: np.ndarray | None = None) -> None:
    """One cutout in ``ax`` with the stretch of :func:`asinh_stretch`, without ticks; with
    ``visible`` (a boolean map), the pixels outside it drawn in flat blue (hidden by a mask)."""
    shown, top = asinh_stretch(np.asarray(cut, float))
    cmap = "gray_r"
    if visible is not None:
        shown = np.where(visible, shown, np.nan)
        cmap = plt.get_cmap("gray_r").with_extremes(bad="#c6dbef")
    ax.imshow(shown, origin="lower", cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _scale_bar(ax, distance_mpc: float, arcsec: float = 1.0) -> None:
    """A bar of ``arcsec`` in the lower left, labelled in arcsec and parsecs at the distance."""
    length = arcsec / PIXEL_SCALE_ARCSEC
    pc = length * pc_per_pixel(distance_mpc)
    x0, y0 = 6, 7
    ax.plot([x0, x0 + length], [y0, y0], color="black", lw=2, solid_capstyle="butt",
            gid="scale_bar")
    ax.text(x0, y0 + 4, f'{arcsec:g}" = {pc:.0f} pc', ha="left", va="bottom", fontsize=6.5,
            color="black", gid="scale_bar_label",
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=0.5))


def draw_example_cutouts(data_dir, target: str, truth: pd.DataFrame, files=None,
                         log_ages=(6.0, 7.0, 8.0, 9.0, 10.0)):
    """Paper Fig. 1 style: rows clusters of increasing age, columns the five filters.

    Each panel is centred on the cluster, with the 4 px photometric aperture as a red circle;
    the first column carries a 1" scale bar in arcsec and parsecs. Returns the Figure.
    """
    from clusterage.survey.mast import GalaxyFiles

    files = files or GalaxyFiles(target)
    picks = pick_by_age(truth, log_ages)
    if picks.empty:
        raise ValueError(f"{target}: no fully covered cluster to show")
    info = TABLE1.get(target)
    name = info.name if info else target
    half = CUTOUT // 2
    fig, axes = plt.subplots(len(picks), 5, figsize=(7.2, 1.5 * len(picks) + 0.4), squeeze=False)
    images = [fits.getdata(Path(data_dir) / files.image_relpath(b), memmap=True) for b in range(5)]
    for r, (_, c) in enumerate(picks.iterrows()):
        x, y = int(round(c["x"])), int(round(c["y"]))
        centre = (half + c["x"] - x, half + c["y"] - y)  # the cluster within the cutout
        for b, im in enumerate(images):
            cut = np.asarray(im[y - half : y + half, x - half : x + half], float)
            shown, top = asinh_stretch(cut)
            ax = axes[r, b]
            ax.imshow(shown, origin="lower", cmap="gray_r", vmin=0, vmax=top,
                      interpolation="nearest")
            ax.add_patch(Circle(centre, APERTURE_RADIUS_PX, fill=False, color="red", lw=0.8,
                                gid="aperture"))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{BANDS[b]} ({files.filters[b]})", fontsize=8)
        axes[r, 0].set_ylabel(f"log t = {c['log_age']:.2f}\nE(B-V) = {c['ebv']:.2f}", fontsize=7)
    if info:
        _scale_bar(axes[-1, 0], info.distance_mpc)
    size = CUTOUT * PIXEL_SCALE_ARCSEC
    extent = f'{size:.2f}"' + (f" = {size / PIXEL_SCALE_ARCSEC * pc_per_pixel(info.distance_mpc):.0f} pc"
                               f" at {info.distance_mpc:g} Mpc" if info else "")
    fig.suptitle(f"{name} (simulated): clusters centred in {CUTOUT} x {CUTOUT} px cutouts "
                 f"({extent})\n{STRETCH}; red circle: the {APERTURE_RADIUS_PX} px "
                 f'({APERTURE_RADIUS_PX * PIXEL_SCALE_ARCSEC:.2f}") photometric aperture',
                 fontsize=8)
    fig.tight_layout()
    return fig


def plot_example_cutouts(data_dir, target: str, truth: pd.DataFrame, out_png, files=None,
                         log_ages=(6.0, 7.0, 8.0, 9.0, 10.0)) -> list[Path]:
    """Draw ``draw_example_cutouts`` to ``out_png`` and the PDF beside it."""
    return _save(draw_example_cutouts(data_dir, target, truth, files, log_ages), out_png)


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
