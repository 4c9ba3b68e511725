"""Tables and figures: honest about gaps, drawn from partial grids, and the paper-sized run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, validated
from runs import finished_run, snakemake

from clusterage import grid
from clusterage.analysis import aggregate
from clusterage.analysis.uncertainty import Bootstrap
from clusterage.metrics import scatter
from clusterage.plan import Plan
from clusterage.report import figures

PNG = b"\x89PNG\r\n\x1a\n"


def small_config(results) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update({
        "results": str(results), "seeds": 2,
        "data": {"source": "synthetic", "galaxies": ["ngc3351", "ngc1433"]},
        "subsamples": {"near": ["ngc3351", "ic5332"], "far": ["ngc1433"]},
        "cases": [
            {"name": "wl_inner", "channels": "white_light", "sample": "full", "mask": "inner",
             "diameters": [0, 12]},
            {"name": "fb", "channels": "five_band", "sample": "full", "mask": "none"},
        ],
    })
    return validated(config)


def write_run(results, setting, seed, test_error=0.5):
    """A finished run: metrics.json and predictions.csv of 6 clusters per galaxy and split."""
    run = Path(grid.run_dir(str(results), setting, seed))
    run.mkdir(parents=True)
    rows = []
    for split in ("train", "validation", "test"):
        for galaxy, ages in (("ngc3351", [6.0, 7.0, 8.0]), ("ngc1433", [6.5, 9.0, 10.0])):
            for i, age in enumerate(ages):
                rows.append({"galaxy": galaxy, "cluster_id": i, "split": split,
                             "log_age_true": age, "log_age_pred": age + test_error * (1 + i)})
    pred = pd.DataFrame(rows)
    pred.to_csv(run / "predictions.csv", index=False)
    metrics = {f"scatter_{s}": scatter(p["log_age_pred"], p["log_age_true"])
               for s, p in pred.groupby("split")}
    (run / "metrics.json").write_text(json.dumps(metrics))
    return pred


def test_missing_runs_are_listed_with_the_cases_that_wait_for_them(tmp_path):
    config = small_config(tmp_path)
    write_run(tmp_path, "full/white_light/none/true", 0)
    write_run(tmp_path, "full/white_light/none/true", 1)
    write_run(tmp_path, "full/white_light/inner12/true", 0)
    missing = aggregate.missing_runs(Plan.of(config))
    assert sorted(zip(missing["setting"], missing["seed"])) == [
        ("full/five_band/none/true", 0), ("full/five_band/none/true", 1),
        ("full/white_light/inner12/true", 1)]
    assert set(missing["cases"]) == {"fb", "wl_inner"}
    _, table, _ = aggregate.collect(Plan.of(config), Bootstrap.from_config(config))
    test = table[(table["split"] == "test") & (table["case"] != "null_predictor")]
    by_d = test[test["case"] == "wl_inner"].set_index("diameter")
    assert by_d.loc[0, "complete"] and by_d.loc[0, "n_seeds"] == 2
    assert not by_d.loc[12, "complete"] and by_d.loc[12, "n_seeds"] == 1
    assert test[test["case"] == "fb"]["n_seeds"].tolist() == [0]


def test_group_scores_use_each_groups_own_null(tmp_path):
    config = small_config(tmp_path)
    pred = write_run(tmp_path, "full/white_light/none/true", 0, test_error=0.5)
    write_run(tmp_path, "full/white_light/none/true", 1, test_error=0.3)
    groups = aggregate.group_table(Plan.of(config), Bootstrap.from_config(config))
    row = groups[(groups["case"] == "wl_inner") & (groups["diameter"] == 0)].set_index("group")
    assert set(row.index) == {"near", "far"}
    train_mean = pred.loc[pred["split"] == "train", "log_age_true"].mean()
    near_truth = np.array([6.0, 7.0, 8.0])
    null_near = scatter(np.full(3, train_mean), near_truth)
    assert row.loc["near", "null_scatter"] == pytest.approx(null_near)
    s0 = scatter(near_truth + 0.5 * np.arange(1, 4), near_truth)
    s1 = scatter(near_truth + 0.3 * np.arange(1, 4), near_truth)
    assert row.loc["near", "scatter_mean"] == pytest.approx((s0 + s1) / 2)
    assert row.loc["near", "relative_error_pct"] == pytest.approx(100 * (s0 + s1) / 2 / null_near)
    assert row.loc["near", "n_clusters"] == 3 and row.loc["near", "complete"]


def test_seed_spread_is_the_population_std_as_in_the_paper(tmp_path):
    config = small_config(tmp_path) | {"seeds": 3}
    test_scatter = [write_run(tmp_path, "full/white_light/none/true", seed, test_error=e)
                    .pipe(lambda p: scatter(p.loc[p["split"] == "test", "log_age_pred"],
                                            p.loc[p["split"] == "test", "log_age_true"]))
                    for seed, e in enumerate([0.1, 0.3, 0.8])]
    write_run(tmp_path, "full/five_band/none/true", 0)
    _, table, _ = aggregate.collect(Plan.of(config), Bootstrap.from_config(config))
    test = table[table["split"] == "test"].set_index(["case", "diameter"])
    row = test.loc[("wl_inner", 0)]
    assert row["scatter_mean"] == pytest.approx(np.mean(test_scatter))
    assert row["scatter_std"] == pytest.approx(np.std(test_scatter))  # ddof 0
    assert row["scatter_std"] < np.std(test_scatter, ddof=1)
    assert np.isnan(test.loc[("fb", 0), "scatter_std"])  # one seed: no spread to report
    groups = aggregate.group_table(Plan.of(config), Bootstrap.from_config(config))
    near = groups[(groups["case"] == "wl_inner") & (groups["group"] == "near")].iloc[0]
    per_seed = [scatter(np.array([6.0, 7.0, 8.0]) + e * np.arange(1, 4), np.array([6.0, 7.0, 8.0]))
                for e in (0.1, 0.3, 0.8)]
    assert near["scatter_std"] == pytest.approx(np.std(per_seed))


def test_every_figure_is_drawn_from_a_partial_grid(tmp_path):
    config = small_config(tmp_path / "results")
    results = tmp_path / "results"
    pred = write_run(results, "full/white_light/none/true", 0)
    write_run(results, "full/white_light/inner12/true", 0)
    (results / "null").mkdir()
    (results / "null" / "full.json").write_text(json.dumps(
        {"train": 1.2, "validation": 1.1, "test": 1.3, "train_mean_log_age": 7.5}))
    _, table, _ = aggregate.collect(Plan.of(config), Bootstrap.from_config(config))
    groups = aggregate.group_table(Plan.of(config), Bootstrap.from_config(config))
    out = tmp_path / "figures"
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.3, 0.2, 0.15], "val_loss": [0.25, 0.2, 0.22]})
    runs = [{"sample": "full", "setting": "full/white_light/none/true", "seed": 0,
             "predictions": pred, "history": history}]
    clusters = pd.DataFrame({"galaxy": ["ngc3351"] * 3 + ["ngc1433"] * 3,
                             "log_age": [6.0, 7.0, 8.0, 6.5, 9.0, 10.0],
                             "distance_mpc": [9.96] * 3 + [18.63] * 3})
    draw = {
        "fig2": lambda p: figures.plot_predictions(runs, p),
        "fig2_empty": lambda p: figures.plot_predictions([], p),
        "fig3": lambda p: figures.plot_sweep(table, "inner", p),
        "fig8_none": lambda p: figures.plot_sweep(table, "outer", p),
        "fig5": lambda p: figures.plot_bar_chart(table, config["bar_charts"][1]
                                                 if "bar_charts" in config else
                                                 {"name": "x", "samples": ["full", "no_extremes"],
                                                  "bars": ["five_band/none", "white_light/inner12"]}, p),
        "fig6": lambda p: figures.plot_age_histograms(clusters, config["subsamples"], p),
        "fig7": lambda p: figures.plot_group_sweeps(groups, p),
        "fig7_empty": lambda p: figures.plot_group_sweeps(groups.iloc[:0], p),
        "overview": lambda p: figures.plot_scatter_vs_diameter(table, p),
        "cases": lambda p: figures.plot_cases(table, p),
    }
    for name, fn in draw.items():
        fn([out / f"{name}.png", out / f"{name}.pdf"])
        assert (out / f"{name}.png").read_bytes()[:8] == PNG, name
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-", name
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*"))


def test_a_bar_spec_names_its_setting():
    assert figures.parse_bar("white_light/inner24/shuffled") == {
        "channels": "white_light", "mask": "inner", "diameter": 24, "unit": "px",
        "shuffled_labels": True}
    assert figures.parse_bar("white_light/inner40pc") == {
        "channels": "white_light", "mask": "inner", "diameter": 40, "unit": "pc",
        "shuffled_labels": False}
    assert figures.parse_bar("five_band/none")["diameter"] == 0
    with pytest.raises(ValueError, match="'white_light/inner24/true'.*channels/occlusion"):
        figures.parse_bar("white_light/inner24/true")


def test_the_paper_config_plans_1625_trainings():
    out = snakemake(REPO, "-n", "--configfile", "config/paper.yaml", timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    stats = dict(line.split()[:2] for line in out.stdout.split("Job stats:")[1].splitlines()[3:]
                 if len(line.split()) == 2)
    assert stats["train"] == "1625"  # 4 x 41 inner + 4 x 40 outer + 1 shuffled, x 5 seeds
    assert stats["plot_bar_chart"] == "2"


PAPER_FIGURES = ["fig2_predictions", "fig3_inner_masks", "fig4_cases", "fig5_cases",
                 "fig6_age_distributions", "fig7_distance_subsamples", "fig8_outer_masks",
                 "scatter_vs_diameter", "cases"]


@pytest.fixture(scope="module")
def paper_small(tmp_path_factory):
    return finished_run(tmp_path_factory, "config/paper.yaml", "tests/configs/paper_small.yaml")


@pytest.mark.slow
def test_paper_small_draws_every_figure_and_the_report(paper_small):
    results = paper_small / "results-paper-small"
    for name in PAPER_FIGURES:
        assert (results / "figures" / f"{name}.png").read_bytes()[:8] == PNG, name
        assert (results / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-", name
    groups = pd.read_csv(results / "tables" / "scatter_by_group.csv")
    inner = groups[groups["case"] == "five_band_inner_full"]
    assert set(inner["group"]) == {"near", "far"}
    assert (inner["complete"]).all() and (inner["n_clusters"] > 0).all()
    assert pd.read_csv(results / "tables" / "missing_runs.csv").empty
    out = snakemake(paper_small, "--report", "report.html", "--configfile", "config/paper.yaml",
                    "tests/configs/paper_small.yaml", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    html = (paper_small / "report.html").read_text(errors="replace")
    for name in PAPER_FIGURES:
        assert f"{name}.png" in html, name


# --- each figure is drawn from the data it is given ------------------------------------------

NULLS = {"full": {"train": 1.20, "validation": 1.15, "test": 1.25},
         "no_extremes": {"train": 0.60, "validation": 0.62, "test": 0.58}}
RANGES = {"full": {}, "no_extremes": {"min_log_age": 7.0, "max_log_age": 9.5}}


def table_row(case, channels, sample, mask, diameter, split, mean, std=0.02, n=3, shuffled=False):
    b = NULLS[sample][split]
    return {"case": case, "channels": channels, "sample": sample, "mask": mask,
            "diameter": diameter, "diameter_unit": "px", "shuffled_labels": shuffled, "split": split,
            "scatter_mean": mean, "scatter_std": std, "n_seeds": n, "n_seeds_expected": 3,
            "complete": n == 3, "null_scatter": b, "predictive_power": (b**2 - mean**2) / b**2,
            "relative_error_pct": 100 * mean / b}


def sweep_table() -> pd.DataFrame:
    """Inner sweeps D = 0..24 and outer sweeps D = 4..24 (five-filter, full and no_extremes;
    white-light, full), and the null rows. The white-light test scatter at D = 24 is worse than
    the null predictor, so its predictive power is negative."""
    rows = []
    for ch, sample, base in (("five_band", "full", 0.5), ("five_band", "no_extremes", 0.3),
                             ("white_light", "full", 0.8)):
        for mask, ds in (("inner", [0, 4, 12, 24]), ("outer", [4, 12, 24])):
            for d in ds:
                for k, split in enumerate(("train", "validation", "test")):
                    mean = base * (0.7 + 0.15 * k) + d / 50
                    if ch == "white_light" and mask == "inner" and d == 24 and split == "test":
                        mean = 1.40
                    rows.append(table_row(f"{ch}_{mask}_{sample}", ch, sample, mask, d, split, mean,
                                          std=0.01 + d / 1000, n=2 if d == 24 else 3))
    for sample, splits in NULLS.items():
        for split, b in splits.items():
            rows.append(table_row("null_predictor", "", sample, "none", 0, split, b, std=0.0, n=1)
                        | {"n_seeds_expected": 1, "complete": True, "predictive_power": 0.0})
    return pd.DataFrame(rows, columns=aggregate.TABLE_COLUMNS)


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def renderer(fig):
    """A renderer of the (saved and closed) figure, drawn as it was saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def legend_inside_figure(fig, legend):
    box = legend.get_window_extent(renderer(fig))
    return box.x0 >= 0 and box.x1 <= fig.get_figwidth() * fig.dpi


@pytest.mark.parametrize("mask", ["inner", "outer"])
def test_sweep_figures_draw_the_table(tmp_path, mask):
    from clusterage.survey.inputs import visible_mask

    table = sweep_table()
    fig = figures.plot_sweep(table, mask, [tmp_path / "f.png", tmp_path / "f.pdf"], RANGES)
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(panels) == {"five-filter, full sample",
                           "five-filter, no extremes (7 ≤ log age ≤ 9.5)",
                           "white-light, full sample"}
    first = 0 if mask == "inner" else 4
    for title, ax in panels.items():
        ch = "five_band" if title.startswith("five") else "white_light"
        sample = "full" if "full" in title else "no_extremes"
        rows = table[(table["channels"] == ch) & (table["sample"] == sample)
                     & ((table["mask"] == mask) | ((table["diameter"] == 0) & (mask == "inner")))]
        for split in ("train", "validation", "test"):
            r = rows[rows["split"] == split].sort_values("diameter")
            (line,) = by_gid(ax, f"scatter_{split}")
            assert list(line.get_xdata()) == list(r["diameter"])
            assert np.allclose(line.get_ydata(), r["scatter_mean"])
            (null,) = by_gid(ax, f"null_{split}")  # the null predictor of every split
            assert null.get_ydata()[0] == pytest.approx(NULLS[sample][split])
        assert ax.get_xlim()[0] == first  # the x axis starts at the first diameter
        (cluster_zone,) = by_gid(ax, "zone_cluster")
        assert cluster_zone.get_x() == first and cluster_zone.get_width() == 8 - first
        shown = {a.get_gid(): a for a in ax.child_axes}
        assert set(shown) == {f"silhouette_D{d}" for d in r["diameter"]}
        for d in r["diameter"]:
            image = shown[f"silhouette_D{d}"].get_images()[0].get_array()
            assert np.array_equal(np.asarray(image, bool), visible_mask(112, mask, d))
        # the predictive power in its own panel below, on an axis that shows every value
        (pax,) = [a for a in fig.axes if by_gid(a, "power") and a.get_shared_x_axes().joined(a, ax)]
        (power,) = by_gid(pax, "power")
        test = rows[rows["split"] == "test"].sort_values("diameter")
        assert np.allclose(power.get_ydata(), test["predictive_power"])
        lo, hi = pax.get_ylim()
        assert lo < test["predictive_power"].min() and hi > test["predictive_power"].max()
        assert pax.get_position().y1 <= ax.get_position().y0
    white = table[(table["case"] == "white_light_inner_full") & (table["split"] == "test")]
    assert mask == "outer" or white["predictive_power"].min() < 0  # the negative case is drawn
    (legend,) = fig.legends
    assert legend_inside_figure(fig, legend)


def test_overview_of_sweeps_draws_each_sweep(tmp_path):
    table = sweep_table()
    fig = figures.plot_scatter_vs_diameter(table, [tmp_path / "o.png"])
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert len(panels) == 6  # 3 inner + 3 outer sweeps
    ax = panels["white-light, outer mask, full sample"]
    (line,) = by_gid(ax, "scatter_test")
    rows = table[(table["case"] == "white_light_outer_full") & (table["split"] == "test")]
    unmasked = table[(table["case"] == "white_light_inner_full") & (table["diameter"] == 0)
                     & (table["split"] == "test")]
    assert list(line.get_xdata()) == [0, 4, 12, 24]
    assert np.allclose(line.get_ydata(), [*unmasked["scatter_mean"], *rows["scatter_mean"]])
    assert all(legend_inside_figure(fig, legend) for legend in fig.legends)


def bar_table() -> pd.DataFrame:
    rows = [table_row("fb", "five_band", "full", "none", 0, "test", 0.55),
            table_row("wl", "white_light", "full", "none", 0, "test", 0.81, std=0.03),
            table_row("wl_in", "white_light", "full", "inner", 24, "test", 0.90, n=1, std=np.nan)]
    for sample in ("full", "no_extremes"):
        rows.append(table_row("null_predictor", "", sample, "none", 0, "test",
                              NULLS[sample]["test"], std=0.0, n=1))
    return pd.DataFrame(rows, columns=aggregate.TABLE_COLUMNS)


def test_bar_chart_has_the_null_on_top_and_marks_what_was_not_run(tmp_path):
    table = bar_table()
    chart = {"name": "fig5_cases", "samples": ["full", "no_extremes"],
             "bars": ["five_band/none", "white_light/none", "white_light/inner24",
                      "white_light/outer12"]}
    fig = figures.plot_bar_chart(table, chart, [tmp_path / "b.png"], RANGES)
    full, restricted = [ax for ax in fig.axes if ax.get_title()]
    bars = {p.get_gid(): p for p in full.patches if p.get_gid()}
    assert bars["bar_fb"].get_width() == pytest.approx(0.55)
    assert bars["bar_wl"].get_width() == pytest.approx(0.81)
    assert bars["bar_wl_in"].get_width() == pytest.approx(0.90)
    assert bars["bar_null_predictor"].get_width() == pytest.approx(1.25)
    centre = {k: p.get_y() + p.get_height() / 2 for k, p in bars.items()}
    assert centre["bar_null_predictor"] > max(v for k, v in centre.items() if k != "bar_null_predictor")
    assert centre["bar_fb"] < centre["bar_wl"] < centre["bar_wl_in"]  # case 1 at the bottom
    labels = [t.get_text() for t in full.get_yticklabels()]
    assert labels[-1] == "5: null predictor (train-set mean age)" and labels[0].startswith("1: ")
    # the case not in the grid: "not run", clear of the axis line
    (missing,) = by_gid(full, "not_run")
    assert missing.get_text() == "not run" and missing.get_position()[0] >= 0.03
    assert missing.get_position()[1] == pytest.approx(4)
    # the null of a sample nothing was trained on is still a bar, never "not run"
    restricted_bars = {p.get_gid(): p for p in restricted.patches if p.get_gid()}
    assert restricted_bars["bar_null_predictor"].get_width() == pytest.approx(0.58)
    assert [t.get_text() for t in by_gid(restricted, "not_run")] == ["not run"] * 4
    # without its scores the null predictor says so (it needs no training)
    fig = figures.plot_bar_chart(table[table["sample"] == "full"], chart, [tmp_path / "c.png"])
    texts = [t.get_text() for t in by_gid(fig.axes[1], "not_run")]
    assert texts == ["not run"] * 4 + ["not scored yet"]


def test_every_sample_of_a_bar_chart_gets_its_null_predictor(tmp_path):
    config = small_config(tmp_path) | {"bar_charts": [
        {"name": "fig5_cases", "samples": ["full", "no_extremes"], "bars": ["five_band/none"]}]}
    from clusterage.plan import null_samples

    assert null_samples(config) == ["full", "no_extremes"]
    (tmp_path / "null").mkdir()
    for sample, splits in NULLS.items():
        (tmp_path / "null" / f"{sample}.json").write_text(json.dumps(splits))
    _, table, _ = aggregate.collect(Plan.of(config), Bootstrap.from_config(config))
    null = table[(table["case"] == "null_predictor") & (table["split"] == "test")]
    assert dict(zip(null["sample"], null["scatter_mean"])) == {"full": 1.25, "no_extremes": 0.58}


def test_cases_overview_has_the_null_on_top(tmp_path):
    fig = figures.plot_cases(bar_table(), [tmp_path / "c.png"])
    # no_extremes holds only its null predictor (a bar chart's): no panel of its own
    assert [a.get_title() for a in fig.axes] == ["full sample"]
    ax = fig.axes[0]
    bars = {p.get_gid(): p for p in ax.patches if p.get_gid()}
    assert {k: round(p.get_width(), 3) for k, p in bars.items()} == {
        "bar_fb": 0.55, "bar_wl": 0.81, "bar_wl_in": 0.9, "bar_null_predictor": 1.25}
    assert max(bars.values(), key=lambda p: p.get_y()).get_gid() == "bar_null_predictor"


def prediction_runs(seeds=(0, 1, 2)):
    truth = np.repeat(np.linspace(6.0, 10.0, 10), 8)  # 4 test clusters per age
    out = []
    for seed in seeds:
        noise = np.random.default_rng(seed).normal(0, 0.2 + 0.1 * seed, len(truth))
        split = np.array(["train", "validation", "test", "test"] * 20)
        pred = pd.DataFrame({"galaxy": "ngc5068", "cluster_id": np.arange(len(truth)),
                             "split": split, "log_age_true": truth, "log_age_pred": truth + noise})
        history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [0.3, 0.2, 0.1 + seed / 100],
                                "val_loss": [0.3, 0.25, 0.2]})
        out.append({"seed": seed, "predictions": pred, "history": history})
    return out


def test_fig2_shows_one_model_with_the_seeds_spread_and_says_what_it_is(tmp_path):
    seeds = prediction_runs()
    run = {"sample": "full", "setting": "full/five_band/none/true", **seeds[0]}
    table = pd.DataFrame([{"split": "test", "sample": "full", "channels": "five_band", "mask": "none",
                           "shuffled_labels": False, "scatter_ci_low": 0.41, "scatter_ci_high": 0.66}])
    fig = figures.plot_predictions([run], [tmp_path / "p.png"], RANGES, seed_runs=[seeds], table=table)
    top = fig.axes[0]
    assert top.get_title() == "five-filter, no mask\nfull sample"
    test = seeds[0]["predictions"][seeds[0]["predictions"]["split"] == "test"]
    (points,) = by_gid(top, "predictions")
    assert np.allclose(points.get_offsets(), test[["log_age_true", "log_age_pred"]].to_numpy())
    per_seed = [scatter(s["predictions"].query("split == 'test'")["log_age_pred"],
                        s["predictions"].query("split == 'test'")["log_age_true"]) for s in seeds]
    (text,) = by_gid(top, "scatter_text")
    assert (f"test scatter {np.mean(per_seed):.2f} dex, 95% interval [0.41, 0.66]\n(mean over 3 "
            f"seeds, std {np.std(per_seed):.2f})") in text.get_text()
    assert "N = 40 test clusters" in text.get_text()
    assert by_gid(fig.axes[1], "seed_band")  # the seeds' binned medians
    assert len(by_gid(fig.axes[2], "loss_other_seed")) == 4  # two other seeds, two curves each
    (loss,) = by_gid(fig.axes[2], "loss")
    assert list(loss.get_ydata()) == list(seeds[0]["history"]["loss"])
    assert figures.setting_words("no_extremes/white_light/inner24/shuffled") == (
        "white-light, inner mask D = 24, shuffled labels")


def test_fig6_draws_fractions_with_a_legend_no_line_crosses(tmp_path):
    clusters = pd.DataFrame({"galaxy": ["ngc3351"] * 10 + ["ngc1433"] * 30,
                             "log_age": np.r_[np.full(10, 7.02), np.linspace(6.0, 9.9, 30)],
                             "distance_mpc": [9.96] * 10 + [18.63] * 30})
    fig = figures.plot_age_histograms(clusters, {"near": ["ngc3351"], "far": ["ngc1433"]},
                                      [tmp_path / "h.png"], RANGES)
    ax = fig.axes[0]
    for name in ("near", "far"):
        (hist,) = by_gid(ax, f"hist_{name}")
        steps = hist.get_xy()[:, 1]
        assert steps.max() <= 1.0
    (near,) = by_gid(ax, "hist_near")
    assert near.get_xy()[:, 1].max() == pytest.approx(1.0)  # all 10 in one bin: fraction 1
    (legend,) = fig.legends
    r = renderer(fig)
    assert not legend.get_window_extent(r).overlaps(ax.get_window_extent(r))
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[0] == "near: NGC 3351; 10.0 Mpc; N = 10, mean 7.02"
    assert ax.get_ylabel() == "fraction of the group's clusters per 0.1 dex"


def test_fig7_draws_each_groups_relative_error(tmp_path):
    table = sweep_table()
    rows = []
    for group, factor in (("near", 1.1), ("far", 0.9)):
        g = table[(table["split"] == "test") & (table["case"] != "null_predictor")].copy()
        g["group"], g["n_clusters"] = group, 12
        g["relative_error_pct"] *= factor
        rows.append(g)
    groups = pd.concat(rows).reindex(columns=aggregate.GROUP_COLUMNS)
    fig = figures.plot_group_sweeps(groups, [tmp_path / "g.png"], "inner", RANGES)
    ax = [a for a in fig.axes if a.get_title() == "five-filter, full sample"][0]
    for group in ("near", "far"):
        (line,) = by_gid(ax, f"relative_error_{group}")
        want = groups[(groups["case"] == "five_band_inner_full") & (groups["group"] == group)
                      & (groups["mask"] == "inner")].sort_values("diameter")
        assert np.allclose(line.get_ydata(), want["relative_error_pct"])
    assert ax.get_xlim()[0] == 0
    (null,) = by_gid(ax, "null_line")
    assert null.get_ydata()[0] == 100 and null.get_linestyle() == "--"


def test_the_registry_names_each_figure_once_with_its_caption():
    from clusterage.report.figure_registry import BY_RULE, FIGURES, figure_files

    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    names = [name for name, _, _ in figure_files(config["bar_charts"])]
    assert names == ["scatter_vs_diameter", "cases", "fig2_predictions", "fig3_inner_masks",
                     "fig4_cases", "fig5_cases", "fig6_age_distributions",
                     "fig7_distance_subsamples", "fig8_outer_masks", "disputed_ages",
                     "attribution_maps", "attribution_profiles", "test_time_occlusion"]
    assert len(BY_RULE) == len(FIGURES)
    for figure in FIGURES:
        assert (REPO / "workflow" / "report" / f"{figure.caption}.rst").is_file(), figure


def test_masks_in_parsecs_get_their_own_panels_and_axes_beside_pixels(tmp_path, monkeypatch):
    """Fig. 7 (and Figs. 3, 8 and the overview) draw a parsec sweep beside the pixel sweep."""
    config = small_config(tmp_path)
    config["cases"].append({"name": "wl_inner_pc", "channels": "white_light", "sample": "full",
                            "mask": "inner", "diameters_pc": [0, 24]})
    validated(config)
    for setting in ("full/white_light/none/true", "full/white_light/inner12/true",
                    "full/white_light/inner24pc/true"):
        write_run(tmp_path, setting, 0)
    (tmp_path / "null").mkdir()
    (tmp_path / "null" / "full.json").write_text(json.dumps({"train": 1.2, "validation": 1.1, "test": 1.3}))
    _, table, _ = aggregate.collect(Plan.of(config), Bootstrap.from_config(config))
    groups = aggregate.group_table(Plan.of(config), Bootstrap.from_config(config))
    pc = table[(table["case"] == "wl_inner_pc") & (table["split"] == "test")]
    assert sorted(zip(pc["diameter"], pc["diameter_unit"])) == [(0, "pc"), (24, "pc")]
    assert set(groups.loc[groups["case"] == "wl_inner_pc", "diameter_unit"]) == {"pc"}
    drawn = []
    monkeypatch.setattr(figures, "save", lambda fig, paths: drawn.append(fig))
    figures.plot_group_sweeps(groups, [])
    figures.plot_sweep(table, "inner", [])
    figures.plot_scatter_vs_diameter(table, [])
    for fig in drawn:
        labels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
        assert any("(pixels)" in x for x in labels) and any("(pc)" in x for x in labels), labels
    fig7 = drawn[0].axes
    pc_panel = next(ax for ax in fig7 if "(pc)" in ax.get_xlabel())
    assert "parsecs" in pc_panel.get_title()
    assert max(np.max(line.get_xdata()) for line in pc_panel.get_lines() if len(line.get_xdata())) == 24
    assert figures.case_label(pc.iloc[-1]) == "white-light, inner D=24 pc"
