"""The paper's figures, each listed once: file name, rule, what it is drawn from, caption, drawing.

The plot rules (workflow/rules/report.smk, one generated per entry), the report's file list and
the partial report all read this list. Light to import: matplotlib and pandas load only when a
figure is read or drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

# What a figure is drawn from (the keys of ``read``'s result):
#   scatter  - tables/scatter.csv, the tidy scatter table
#   groups   - tables/scatter_by_group.csv, the scatter per galaxy group
#   runs     - the unmasked models' predictions and loss curves (Fig. 2's runs), with every
#              seed's run of the same setting (``seed_runs``, their spread)
#   clusters - the dataset's cluster table (ages, galaxies)
#   disputes - the disputed-age settings' ensemble tables and disagreement catalogs
#   attribution - the explained runs' maps.h5 files, tables/attribution_profiles.csv,
#                 tables/test_time_occlusion.csv and tables/scatter.csv
NEEDS = ("scatter", "groups", "runs", "clusters", "disputes", "attribution")
CHART = "{chart}"  # the name of a figure drawn once per entry of the config's bar_charts


def _scatter_vs_diameter(fig, d, paths):
    fig.plot_scatter_vs_diameter(d["scatter"], paths)


def _cases(fig, d, paths):
    fig.plot_cases(d["scatter"], paths)


def _predictions(fig, d, paths):
    fig.plot_predictions(d["runs"], paths, d["ranges"],
                         seed_runs=[r.get("seed_runs", []) for r in d["runs"]], table=d.get("scatter"))


def _inner_sweep(fig, d, paths):
    fig.plot_sweep(d["scatter"], "inner", paths, d["ranges"])


def _bar_chart(fig, d, paths):
    fig.plot_bar_chart(d["scatter"], d["chart"], paths, d["ranges"])


def _age_histograms(fig, d, paths):
    fig.plot_age_histograms(d["clusters"], d["subsamples"], paths, d["ranges"])


def _distance_subsamples(fig, d, paths):
    fig.plot_group_sweeps(d["groups"], paths, "inner", d["ranges"])


def _outer_sweep(fig, d, paths):
    fig.plot_sweep(d["scatter"], "outer", paths, d["ranges"])


def _disputed_ages(fig, d, paths):
    fig.plot_disputed_ages(d["disputes"], paths)


def _attribution_maps(fig, d, paths):
    from .attribution_report import plot_maps

    plot_maps(d["attribution"]["maps"], paths, sample_ranges=d["ranges"])


def _attribution_profiles(fig, d, paths):
    from .attribution_report import plot_profiles

    plot_profiles(d["attribution"]["profiles"], paths, size=d["attribution"]["size"],
                  sample_ranges=d["ranges"])


def _test_time_occlusion(fig, d, paths):
    from .attribution_report import plot_occlusion

    plot_occlusion(d["attribution"]["occlusion"], d["scatter"], paths, d["ranges"])


@dataclass(frozen=True)
class Figure:
    name: str        # file name under <results>/figures/ (PNG and PDF); CHART: one per bar chart
    rule: str        # the Snakemake rule that draws it
    needs: str       # one of NEEDS
    caption: str     # workflow/report/<caption>.rst
    category: str    # the report's section
    paint: Callable  # paint(clusterage.report.figures, data, paths)

    def names(self, bar_charts: list[dict]) -> list[str]:
        """The figure's file names: one, or one per configured bar chart."""
        return [c["name"] for c in bar_charts] if self.name == CHART else [self.name]

    def draw(self, data: Mapping, paths) -> None:
        """Draw from ``read``'s data (plus ``chart`` for a bar chart) to ``paths`` (PNG, PDF)."""
        from . import figures

        self.paint(figures, data, paths)


FIGURES = (
    Figure("scatter_vs_diameter", "plot_scatter_vs_diameter", "scatter", "scatter_vs_diameter",
           "Overview", _scatter_vs_diameter),
    Figure("cases", "plot_cases", "scatter", "cases", "Overview", _cases),
    Figure("fig2_predictions", "plot_predictions", "runs", "fig2", "Figures", _predictions),
    Figure("fig3_inner_masks", "plot_inner_sweep", "scatter", "fig3", "Figures", _inner_sweep),
    Figure(CHART, "plot_bar_chart", "scatter", "bar_chart", "Figures", _bar_chart),
    Figure("fig6_age_distributions", "plot_age_histograms", "clusters", "fig6", "Figures",
           _age_histograms),
    Figure("fig7_distance_subsamples", "plot_distance_subsamples", "groups", "fig7", "Figures",
           _distance_subsamples),
    Figure("fig8_outer_masks", "plot_outer_sweep", "scatter", "fig8", "Figures", _outer_sweep),
    Figure("disputed_ages", "plot_disputed_ages", "disputes", "disputed_ages", "Disputed ages",
           _disputed_ages),
    Figure("attribution_maps", "plot_attribution_maps", "attribution", "attribution_maps",
           "Attribution", _attribution_maps),
    Figure("attribution_profiles", "plot_attribution_profiles", "attribution",
           "attribution_profiles", "Attribution", _attribution_profiles),
    Figure("test_time_occlusion", "plot_test_time_occlusion", "attribution", "test_time_occlusion",
           "Attribution", _test_time_occlusion),
)
BY_RULE = {f.rule: f for f in FIGURES}


def figure_files(bar_charts: list[dict]) -> list[tuple[str, Figure, dict | None]]:
    """Every figure file in report order: (name, figure, its bar chart or None)."""
    charts = {c["name"]: dict(c) for c in bar_charts}
    return [(name, f, charts.get(name) if f.name == CHART else None)
            for f in FIGURES for name in f.names(bar_charts)]


def _read_run(folder: Path) -> dict:
    import pandas as pd

    return {"predictions": pd.read_csv(folder / "predictions.csv"),
            "history": pd.read_csv(folder / "history.csv")}


def read_runs(runs: list[dict], finished_only: bool = False) -> list[dict]:
    """Each run (``dir`` = its folder) with its predictions and history tables, and as
    ``seed_runs`` every seed's run of ``seed_dirs`` (``seed``, ``dir``) read the same way; with
    ``finished_only``, runs without metrics.json (not finished) are left out."""
    def finished(folder: Path) -> bool:
        return not finished_only or (folder / "metrics.json").is_file()

    out = []
    for run in runs:
        folder = Path(run["dir"])
        if not finished(folder):
            continue
        seed_runs = [{"seed": s["seed"], **_read_run(Path(s["dir"]))}
                     for s in run.get("seed_dirs", []) if finished(Path(s["dir"]))]
        out.append({**run, **_read_run(folder), "seed_runs": seed_runs})
    return out


def read_disputes(disputes: list[dict]) -> list[dict]:
    """Each disputed-age setting (``dir``: its folder under <results>/disputes) with its
    ensemble table, summary and disagreement catalog."""
    import json

    import pandas as pd

    out = []
    for d in disputes:
        folder = Path(d["dir"])
        out.append({**d, "table": pd.read_csv(folder / "ensemble.csv"),
                    "summary": json.loads((folder / "ensemble.json").read_text()),
                    "catalog": pd.read_csv(folder / "disagreements.csv")})
    return out


def read_attribution(maps, profiles_csv, occlusion_csv, size: int = 112) -> dict:
    """The explained runs' maps files, profile and occlusion tables, and the cutout size."""
    import h5py
    import pandas as pd

    maps = [str(m) for m in maps]
    if maps:
        with h5py.File(maps[0], "r") as f:
            size = int(f["visible"].shape[-1])  # (H, W), or (N, H, W) for masks in parsecs
    return {"maps": maps, "profiles": pd.read_csv(profiles_csv),
            "occlusion": pd.read_csv(occlusion_csv), "size": size}


def read(files: Mapping[str, str], *, sample_ranges: Mapping, runs=None, subsamples=None,
         chart=None, disputes=None) -> dict:
    """A figure's data from its files (keys of NEEDS: ``scatter``, ``groups``, ``clusters``;
    ``maps``, ``attribution_profiles`` and ``test_time_occlusion`` for ``attribution``) and its
    runs (Fig. 2), galaxy groups (Fig. 6), bar chart and disputed-age settings."""
    import pandas as pd

    data = {"ranges": {k: dict(v or {}) for k, v in sample_ranges.items()}}
    for key in ("scatter", "groups"):
        if key in files:
            data[key] = pd.read_csv(files[key])
    if "clusters" in files:
        from clusterage.survey.dataset import read_clusters

        data["clusters"] = read_clusters(files["clusters"])
    if "attribution_profiles" in files:
        data["attribution"] = read_attribution(files.get("maps", []), files["attribution_profiles"],
                                               files["test_time_occlusion"])
    if runs is not None:
        data["runs"] = read_runs(runs)
    if subsamples is not None:
        data["subsamples"] = {k: list(v) for k, v in subsamples.items()}
    if chart is not None:
        data["chart"] = dict(chart)
    if disputes is not None:
        data["disputes"] = read_disputes(disputes)
    return data
