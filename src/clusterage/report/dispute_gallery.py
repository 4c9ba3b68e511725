"""The gallery of disputed ages: PNG pages and an HTML page for the report.

One row per disputed cluster, most discrepant first: its cutout in the five filters and in white
light (the asinh stretch of the survey figure, the cluster pixel marked), and its place on the
U-B vs V-I diagram over the BC03 tracks, with the track points of its SED and CNN ages and the
reddening vector from the younger of the two, so an age-extinction degeneracy shows at a glance.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from clusterage.analysis.disputes import DisputesError  # noqa: E402
from clusterage.analysis.environment_disputes import rule_text  # noqa: E402
from clusterage.atomic import atomic_path, write_text  # noqa: E402
from clusterage.galaxies import BANDS, diameter_pixels  # noqa: E402
from clusterage.grid import Setting  # noqa: E402
from clusterage.survey import dataset  # noqa: E402
from clusterage.survey.inputs import select_channels, visible_mask  # noqa: E402
from clusterage.synthetic.figures import (  # noqa: E402
    draw_reddening_vector,
    draw_tracks,
    show_stretched,
    track_colours,
)

PER_PAGE = 4


def load_cutouts(dataset_path, clusters: pd.DataFrame) -> np.ndarray:
    """The dataset's (n, size, size, 5) cutouts of the given (galaxy, cluster_id) rows."""
    if not len(clusters):
        return np.zeros((0, 0, 0, len(BANDS)), np.float32)
    table = dataset.read_clusters(dataset_path)
    present = set(table["galaxy"])
    lost = sorted(set(clusters["galaxy"]) - present)
    if lost:
        raise DisputesError(f"galaxy {lost[0]} of the disagreement catalog is not in the dataset "
                            f"{dataset_path} (it holds {', '.join(sorted(present))})")
    index = pd.Series(np.arange(len(table)),
                      index=pd.MultiIndex.from_frame(table[["galaxy", "cluster_id"]]))
    rows = []
    for g, c in zip(clusters["galaxy"], clusters["cluster_id"]):
        if (g, c) not in index.index:
            raise DisputesError(f"cluster {g} #{c} of the disagreement catalog is not in the "
                                f"dataset {dataset_path}")
        rows.append(int(index[(g, c)]))
    order = np.unique(rows)
    with h5py.File(dataset_path, "r") as f:
        images = f["images"][order]            # h5py reads increasing indices
    return images[np.searchsorted(order, rows)]


def draw_page(rows: pd.DataFrame, cutouts: np.ndarray, background: pd.DataFrame | None,
              out_png, title: str) -> None:
    """One PNG: a row per cluster, columns NUV..I, white light, colour-colour."""
    n = len(rows)
    fig, axes = plt.subplots(n, 7, figsize=(13.5, 2.05 * n + 0.5), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * 6 + [1.45]})
    half = cutouts.shape[1] / 2
    for r, (row, cut) in enumerate(zip(rows.itertuples(index=False), cutouts)):
        white = select_channels(cut[None], "white_light")[0, ..., 0]
        for b, image in enumerate([*(cut[..., k] for k in range(len(BANDS))), white]):
            ax = axes[r, b]
            show_stretched(ax, image)
            _mark_centre(ax, half - 0.5, cut.shape[0])
            if r == 0:
                ax.set_title(BANDS[b] if b < len(BANDS) else "white light", fontsize=9)
        axes[r, 0].set_ylabel(f"#{row.rank} {row.galaxy} {row.cluster_id}\n"
                              f"SED {row.sed_log_age:.2f}, CNN {row.cnn_mean:.2f} ± "
                              f"{row.cnn_spread:.2f}\nresidual {row.residual:+.1f}", fontsize=7.5)
        _colour_panel(axes[r, 6], row, background, legend=r == 0,
                      points=((row.sed_log_age, "s", "tab:orange", "SED age"),
                              (row.cnn_mean, "o", "tab:blue", "CNN age")))
    _save_page(fig, title, out_png)


def _save_page(fig, title: str, out_png) -> None:
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _mark_centre(ax, c: float, size: int) -> None:
    """Four ticks around the cluster pixel, leaving the cluster itself visible."""
    gap, length = size / 16, size / 8
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ax.plot([c + dx * gap, c + dx * (gap + length)], [c + dy * gap, c + dy * (gap + length)],
                color="tab:red", lw=1.2)


def _colour_panel(ax, row, background: pd.DataFrame | None, legend: bool, points) -> None:
    """U-B vs V-I: the catalogued clusters, the BC03 tracks, the track point of each of
    ``points`` ((log age, marker, colour, label)) and the cluster itself."""
    if background is not None and len(background):
        ax.scatter(background["v_i_vega"], background["u_b_vega"], s=2, color="0.75", lw=0)
    draw_tracks(ax, fontsize=6)
    for age, marker, colour, label in points:
        x, y = track_colours(age)
        ax.plot(x, y, marker=marker, ms=6, mfc="none", mew=1.5, color=colour, ls="none",
                label=label)
    # Dust moves the younger solution along this vector towards the older one's colours.
    x, y = track_colours(min(age for age, *_ in points))
    draw_reddening_vector(ax, float(x), float(y), 0.5, fontsize=6, label=False)
    if np.isfinite(row.u_b_vega) and np.isfinite(row.v_i_vega):
        ax.plot(row.v_i_vega, row.u_b_vega, marker="*", ms=11, color="k", ls="none",
                label="cluster")
    else:
        ax.text(0.5, 0.05, "no U-B, V-I photometry", transform=ax.transAxes, fontsize=7,
                ha="center")
    ax.tick_params(labelsize=6)
    ax.set_xlabel("V - I (Vega)", fontsize=7, labelpad=1)
    ax.set_ylabel("U - B (Vega)", fontsize=7, labelpad=1)
    if legend:
        ax.legend(fontsize=5.5, loc="upper right", handlelength=1, borderpad=0.2,
                  labelspacing=0.2)


def _draw_pages(shown: pd.DataFrame, cutouts: np.ndarray, out_dir: Path, heading: str,
                total: int, draw) -> list[str]:
    """page01.png, page02.png, ...: ``draw(rows, cutouts, png, title)`` for each PER_PAGE rows."""
    pages = []
    for start in range(0, len(shown), PER_PAGE):
        name = f"page{start // PER_PAGE + 1:02d}.png"
        draw(shown.iloc[start:start + PER_PAGE], cutouts[start:start + PER_PAGE], out_dir / name,
             f"{heading}: disputed ages {start + 1}-{min(start + PER_PAGE, len(shown))} of {total}")
        pages.append(name)
    return pages


def write_gallery(catalog_path, summary_path, dataset_path, out_dir, *, threshold: float,
                  max_spread: float, max_clusters: int, background: pd.DataFrame | None = None):
    """index.html and page01.png, page02.png, ... of the most discrepant ``max_clusters``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = pd.read_csv(catalog_path)
    summary = json.loads(Path(summary_path).read_text())
    shown = catalog.head(max_clusters)
    cutouts = load_cutouts(dataset_path, shown)
    pages = _draw_pages(shown, cutouts, out_dir, summary["setting"], len(catalog),
                        lambda rows, cuts, png, title: draw_page(rows, cuts, background, png, title))
    line = _headline(catalog, summary, threshold, max_spread, len(shown))
    logging.getLogger(__name__).info("%s", line)
    write_text(out_dir / "index.html", _html(summary["setting"], line, shown, pages))
    return pages


def _headline(catalog, summary, threshold, max_spread, n_shown) -> str:
    rule = (f"|residual| > {threshold:g} scatters ({threshold * summary['scatter']:.2f} dex) and a "
            f"spread over the models of at most {max_spread:g} scatters")
    base = (f"{summary['n_clusters']} clusters with an out-of-sample prediction "
            f"({summary['n_absent']} of the sample's {summary['n_sample']} have none)")
    if not len(catalog):
        return f"No cluster disputed: none of the {base} has {rule}."
    shown = f"; the {n_shown} most discrepant are shown" if n_shown < len(catalog) else ""
    return f"{len(catalog)} of the {base} have {rule}{shown}."


def _html(setting: str, line: str, shown: pd.DataFrame, pages: list[str]) -> str:
    cols = ["rank", "galaxy", "cluster_id", "sed_log_age", "cnn_mean", "cnn_spread", "residual",
            "cnn_says", "u_b_vega", "v_i_vega", "sed_ebv"]
    return _page_html(
        f"Disputed ages: {setting}", "Clusters whose catalog age the CNN disputes",
        f"""<p>Setting <code>{html.escape(setting)}</code>. {html.escape(line)}</p>
<p>Residual = (CNN mean - SED log age) / scatter; negative: the CNN finds the cluster younger
than its catalog age. Each row: the cutout in five filters and in white light (asinh stretch, the
cluster pixel marked by red ticks), and U-B vs V-I with the BC03 tracks, the cluster (star), the track points
of the SED age (square) and of the CNN age (circle), and the E(B-V) = 0.5 reddening vector from
the younger of the two.</p>""", shown, cols, pages)


def _page_html(title: str, heading: str, intro: str, shown: pd.DataFrame, columns: list[str],
               pages: list[str]) -> str:
    """A gallery's index.html: ``intro`` (HTML), the table of the shown clusters, the pages."""
    table = shown[columns].to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="",
                                   border=0) if len(shown) else ""
    images = "\n".join(f'<p><img src="{p}" alt="{p}" style="max-width:100%"></p>' for p in pages)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{padding:2px 8px;text-align:right}}</style>
</head><body>
<h1>{html.escape(heading)}</h1>
{intro}
{table}
{images}
</body></html>
"""


def draw_environment_page(rows: pd.DataFrame, cutouts: np.ndarray, setting: Setting,
                          background: pd.DataFrame | None, out_png, title: str) -> None:
    """One PNG: a row per cluster, its white light whole, with the cluster hidden (what the
    environment model sees) and with the surroundings hidden, and U-B vs V-I with the catalog's
    and both models' ages."""
    n = len(rows)
    fig, axes = plt.subplots(n, 4, figsize=(9.0, 2.15 * n + 0.5), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.45]})
    size = cutouts.shape[1] if len(cutouts) else 0
    diameters = (diameter_pixels(setting.diameter, rows["galaxy"]) if setting.unit == "pc"
                 else np.full(n, float(setting.diameter)))
    for r, (row, cut, d) in enumerate(zip(rows.itertuples(index=False), cutouts, diameters)):
        white = select_channels(cut[None], "white_light")[0, ..., 0]
        views = (("white light", None), (f"surroundings only ({setting.occlusion})", "inner"),
                 ("cluster only", "outer"))
        for b, (label, mask) in enumerate(views):
            ax = axes[r, b]
            show_stretched(ax, white, None if mask is None else visible_mask(size, mask, d))
            _mark_centre(ax, size / 2 - 0.5, size)
            if r == 0:
                ax.set_title(label, fontsize=9)
        axes[r, 0].set_ylabel(f"#{row.rank} {row.galaxy} {row.cluster_id}\n"
                              f"catalog {row.sed_log_age:.2f}\n"
                              f"surroundings {row.environment_mean:.2f} "
                              f"({row.environment_residual:+.1f})\n"
                              f"cluster {row.cluster_mean:.2f} ({row.cluster_residual:+.1f})",
                              fontsize=7.5)
        _colour_panel(axes[r, 3], row, background, legend=r == 0,
                      points=((row.sed_log_age, "s", "tab:orange", "catalog (SED) age"),
                              (row.cluster_mean, "o", "tab:blue", "cluster model"),
                              (row.environment_mean, "^", "tab:green", "surroundings model")))
    _save_page(fig, title, out_png)


def write_environment_gallery(catalog_path, summary_path, cluster_summary_path, dataset_path,
                              out_dir, *, threshold: float, agree: float, max_clusters: int,
                              background: pd.DataFrame | None = None) -> list[str]:
    """index.html and page01.png, ... of the first ``max_clusters`` clusters the environment
    disputes (largest environment residual first)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = pd.read_csv(catalog_path)
    summary = json.loads(Path(summary_path).read_text())
    cluster_summary = json.loads(Path(cluster_summary_path).read_text())
    setting = Setting.from_name(summary["setting"])
    shown = catalog.head(max_clusters)
    cutouts = load_cutouts(dataset_path, shown)
    pages = _draw_pages(shown, cutouts, out_dir,
                        f"{summary['setting']} against {cluster_summary['setting']}", len(catalog),
                        lambda rows, cuts, png, title: draw_environment_page(
                            rows, cuts, setting, background, png, title))
    rule = rule_text(threshold, agree, summary["scatter"], cluster_summary["scatter"])
    count = (f"{len(catalog)} of the {summary['n_clusters']} clusters with out-of-sample "
             f"predictions are disputed by their surroundings"
             + (f"; the first {len(shown)} are shown." if len(shown) < len(catalog) else "."))
    logging.getLogger(__name__).info("%s", count)
    cols = ["rank", "galaxy", "cluster_id", "sed_log_age", "environment_mean",
            "environment_residual", "cluster_mean", "cluster_residual", "environment_says",
            "u_b_vega", "v_i_vega", "sed_ebv"]
    write_text(out_dir / "index.html", _page_html(
        f"Ages disputed by the environment: {summary['setting']}",
        "Clusters whose surroundings dispute their catalog age",
        f"""<p>Surroundings model <code>{html.escape(summary['setting'])}</code>, cluster model
<code>{html.escape(cluster_summary['setting'])}</code>. {html.escape(rule)}</p>
<p>{html.escape(count)} Residuals are (model mean - SED log age) in scatters of that model;
negative: the model finds the cluster younger than its catalog age.</p>""", shown, cols, pages))
    return pages
