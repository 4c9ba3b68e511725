"""Tables and figures: honest about gaps, drawn from partial grids, and the paper-sized run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from clusterage import aggregate, figures, grid
from clusterage.metrics import scatter
from conftest import REPO
from runs import finished_run, snakemake

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
    return config


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
    missing = aggregate.missing_runs(config)
    assert sorted(zip(missing["setting"], missing["seed"])) == [
        ("full/five_band/none/true", 0), ("full/five_band/none/true", 1),
        ("full/white_light/inner12/true", 1)]
    assert set(missing["cases"]) == {"fb", "wl_inner"}
    _, table, _ = aggregate.collect(config)
    test = table[(table["split"] == "test") & (table["case"] != "null_predictor")]
    by_d = test[test["case"] == "wl_inner"].set_index("diameter")
    assert by_d.loc[0, "complete"] and by_d.loc[0, "n_seeds"] == 2
    assert not by_d.loc[12, "complete"] and by_d.loc[12, "n_seeds"] == 1
    assert test[test["case"] == "fb"]["n_seeds"].tolist() == [0]


def test_group_scores_use_each_groups_own_null(tmp_path):
    config = small_config(tmp_path)
    pred = write_run(tmp_path, "full/white_light/none/true", 0, test_error=0.5)
    write_run(tmp_path, "full/white_light/none/true", 1, test_error=0.3)
    groups = aggregate.group_table(config)
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


def test_every_figure_is_drawn_from_a_partial_grid(tmp_path):
    config = small_config(tmp_path / "results")
    results = tmp_path / "results"
    pred = write_run(results, "full/white_light/none/true", 0)
    write_run(results, "full/white_light/inner12/true", 0)
    (results / "null").mkdir()
    (results / "null" / "full.json").write_text(json.dumps(
        {"train": 1.2, "validation": 1.1, "test": 1.3, "train_mean_log_age": 7.5}))
    _, table, _ = aggregate.collect(config)
    groups = aggregate.group_table(config)
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
        "channels": "white_light", "mask": "inner", "diameter": 24, "shuffled_labels": True}
    assert figures.parse_bar("five_band/none")["diameter"] == 0


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


def test_the_registry_names_each_figure_once_with_its_caption():
    from clusterage.figure_registry import BY_RULE, FIGURES, figure_files

    config = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    names = [name for name, _, _ in figure_files(config["bar_charts"])]
    assert names == ["scatter_vs_diameter", "cases", "fig2_predictions", "fig3_inner_masks",
                     "fig4_cases", "fig5_cases", "fig6_age_distributions",
                     "fig7_distance_subsamples", "fig8_outer_masks", "attribution_maps",
                     "attribution_profiles", "test_time_occlusion"]
    assert len(BY_RULE) == len(FIGURES)
    for figure in FIGURES:
        assert (REPO / "workflow" / "report" / f"{figure.caption}.rst").is_file(), figure
