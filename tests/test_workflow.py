"""The whole chain, end to end, through Snakemake on a tiny synthetic survey."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from runs import finished_run

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny run, shared with the other modules that read it (tests/runs.py)."""
    return finished_run(tmp_path_factory, "tests/configs/tiny.yaml")


@pytest.mark.slow
def test_tiny_run_writes_the_scatter_table(tiny_run):
    table = pd.read_csv(tiny_run / "results-tiny" / "tables" / "scatter.csv")
    cases = set(table["case"])
    assert cases == {"five_band", "white_light_inner", "white_light_outer", "null_predictor"}
    test = table[table["split"] == "test"]
    assert (test[test["case"] != "null_predictor"]["n_seeds"] == 2).all()
    assert test["complete"].all()
    assert (test["scatter_mean"] > 0).all()
    inner = test[test["case"] == "white_light_inner"]
    assert sorted(inner["diameter"]) == [0, 24]
    # Each case's null beside it is its sample's null predictor (the bar charts' no_extremes
    # sample gets one too, though no case of this config trains on it).
    nulls = test[test["case"] == "null_predictor"].set_index("sample")["scatter_mean"]
    assert set(nulls.index) == {"full", "no_extremes"}
    assert (test["null_scatter"] == test["sample"].map(nulls)).all()


@pytest.mark.slow
def test_tiny_run_writes_both_figures_as_png_and_pdf(tiny_run):
    figures = tiny_run / "results-tiny" / "figures"
    for name in ("scatter_vs_diameter", "cases"):
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (figures / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.slow
def test_tiny_run_keeps_per_run_records_and_logs(tiny_run):
    runs = sorted((tiny_run / "results-tiny" / "train").rglob("metrics.json"))
    assert len(runs) == 8  # 4 settings (D = 0 shared) x 2 seeds
    for metrics in runs:
        run = metrics.parent
        for name in ("predictions.csv", "history.csv", "metadata.json"):
            assert (run / name).stat().st_size > 0
        # Only the case that asks for it and the explained (unmasked) runs keep their weights;
        # the transient file is gone everywhere.
        kept = "five_band" in run.parts or "none" in run.parts
        assert (run / "model.weights.h5").exists() == kept, run
        assert not (run / "trained.weights.h5").exists()
        # White-light trainings read the one-channel view, five_band ones the packed dataset.
        meta = json.loads((run / "metadata.json").read_text())
        assert meta["dataset"]["view"] == ("white_light" if "white_light" in run.parts else None)
    assert not (tiny_run / "results-tiny" / "checkpoints").exists() or not any(
        (tiny_run / "results-tiny" / "checkpoints").rglob("*.keras"))
    report = pd.read_csv(tiny_run / "results-tiny" / "dataset" / "ingest_report.csv")
    assert report["galaxy"].iloc[-1] == "all"
    assert report["n_kept"].iloc[-1] == report["n_kept"].iloc[:-1].sum()
    logs = list((tiny_run / "results-tiny" / "logs" / "train").rglob("*.log"))
    assert len(logs) == 8 and all("scatter train" in log.read_text() for log in logs)
    for log in logs:  # each log starts with the run's own lines, not a library's start-up notice
        lines = log.read_text().splitlines()
        first = next(k for k, line in enumerate(lines) if " INFO    clusterage.train.training: full/" in line)
        assert all(" INFO    clusterage." in line for line in lines[:first + 1]), (log, lines[:first + 1])
    bench = list((tiny_run / "results-tiny" / "benchmarks" / "train").rglob("*.tsv"))
    assert len(bench) == 8


@pytest.mark.slow
def test_a_finished_run_has_nothing_left_to_do(tiny_run):
    out = subprocess.run([SNAKEMAKE, "-n", "--configfile", "tests/configs/tiny.yaml"],
                         cwd=tiny_run, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_a_run_ends_by_printing_the_test_table_and_where_things_are(tiny_run):
    printed = (tiny_run / "snakemake.stdout").read_text()
    assert "Summary of the run, test split" in printed
    table = pd.read_csv(tiny_run / "results-tiny" / "tables" / "scatter.csv")
    test = table[table["split"] == "test"]
    # The summary shows the samples the cases train on (a bar chart's other sample is its own).
    test = test[test["sample"].isin(test.loc[test["case"] != "null_predictor", "sample"])]
    lines = printed.splitlines()
    for _, r in test.iterrows():
        name = r["case"] if r["mask"] == "none" else f"{r['case']} (D = {r['diameter']})"
        line = next(line for line in lines if line.startswith(name + " "))
        assert f"{r['scatter_mean']:.3f}" in line and f"{r['null_scatter']:.3f}" in line, line
        assert f"[{r['scatter_ci_low']:.3f}, {r['scatter_ci_high']:.3f}]" in line, line
        if r["case"] != "null_predictor":
            assert f"{r['scatter_std']:.3f}" in line, line
    # the findings the grid can decide, by the intervals of differences.csv
    differences = pd.read_csv(tiny_run / "results-tiny" / "tables" / "differences.csv")
    assert {"null_predictor", "mask"} <= set(differences["comparison"])
    assert differences["paired"].all()  # one sample, one split: every comparison is paired
    assert (differences["ci_low"] <= differences["ci_high"]).all()
    for claim in ("colour helps", "white light beats the null",
                  "the environment alone beats the null"):
        line = next(line for line in lines if f": {claim}: " in line)
        assert line.split(":")[0].strip() in {"holds", "undecided", "CONTRADICTED"}, line
        assert "paired, seeds and clusters" in line, line
    assert "Figures (PNG and PDF): results-tiny/figures/" in printed
    assert "HTML report: results-tiny/report.html" in printed
    assert (tiny_run / "results-tiny" / "tables" / "summary.csv").is_file()


@pytest.mark.slow
def test_tiny_run_writes_the_disputed_ages(tiny_run):
    import json
    import math

    disputes = tiny_run / "results-tiny" / "disputes"
    ensembles = sorted(disputes.rglob("ensemble.csv"))
    assert len(ensembles) == 4  # one per setting
    for path in ensembles:
        table = pd.read_csv(path)
        summary = json.loads(path.with_suffix(".json").read_text())
        assert summary["n_clusters"] == len(table) > 0
        assert summary["n_clusters"] + summary["n_absent"] == summary["n_sample"]
        assert (table["n_models"] == 2).all() and (table["cnn_spread"] >= 0).all()
    five = disputes / "full" / "five_band" / "none" / "true"
    catalog = pd.read_csv(five / "disagreements.csv")
    pages = sorted((five / "gallery").glob("page*.png"))
    assert len(pages) == math.ceil(min(len(catalog), 48) / 4)
    assert "disputed" in (five / "gallery" / "index.html").read_text().lower()
    assert not (disputes / "full" / "white_light" / "none" / "true" / "disagreements.csv").exists()


@pytest.mark.slow
def test_tiny_run_explains_the_unmasked_models(tiny_run):
    results = tiny_run / "results-tiny"
    for channels in ("five_band", "white_light"):
        for seed in (0, 1):
            run = results / "attribution" / "full" / channels / "none" / "true" / f"seed{seed}"
            profiles = pd.read_csv(run / "profiles.csv")
            assert set(profiles["method"]) == {"integrated_gradients", "smoothgrad"}
            fractions = profiles[profiles["quantity"] == "abs_fraction"]
            assert (fractions["r80"] > 0.999).all() and (fractions["r0"] >= 0).all()
            signed = profiles[profiles["quantity"] == "signed_sum"]
            assert len(signed) == len(fractions) // 2 and set(signed["method"]) == {"integrated_gradients"}
            occlusion = pd.read_csv(run / "occlusion.csv")
            assert sorted(set(occlusion["mask"])) == ["inner", "outer"]
            assert occlusion["diameter"].max() == 80 and (occlusion["scatter"] > 0).all()
            # each cluster's occluded prediction, kept for the intervals, scores as the curve
            import h5py

            from clusterage.metrics import scatter
            with h5py.File(run / "maps.h5", "r") as f:
                masks = list(f["occlusion"].attrs["masks"])
                pred = f["occlusion/log_age_pred"][:]
                diameters = list(f["occlusion/diameters"][:])
                truth = f["clusters/log_age_true"][:]
            row = occlusion[(occlusion["mask"] == "outer") & (occlusion["diameter"] == 24)].iloc[0]
            got = scatter(pred[masks.index("outer"), diameters.index(24)], truth)
            assert abs(got - row["scatter"]) < 1e-5
    table = pd.read_csv(results / "tables" / "attribution_profiles.csv")
    assert set(table["setting"]) == {"full/five_band/none/true", "full/white_light/none/true"}
    assert (table["n_seeds"] == 2).all()
    spread = table[(table["quantity"] == "spread_share") & (table["r"] == 80)]
    assert len(spread) == 2 and ((spread["fraction_mean"] - 1).abs() < 1e-9).all()
    inside = table[table["r"] == 12]
    assert (inside["fraction_ci_low"] <= inside["fraction_mean"] + 1e-9).all()
    assert (inside["fraction_mean"] <= inside["fraction_ci_high"] + 1e-9).all()
    tto = pd.read_csv(results / "tables" / "test_time_occlusion.csv")
    assert tto["scatter_ci_low"].notna().all() and (tto["cost_ci_low"] <= tto["cost_ci_high"]).all()
    for name in ("attribution_maps", "attribution_profiles", "test_time_occlusion"):
        assert (results / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    logs = list((results / "logs" / "attribution").rglob("*.log"))
    assert len(logs) == 4 and all("IG completeness error" in log.read_text() for log in logs)
    assert len(list((results / "benchmarks" / "attribution").rglob("*.tsv"))) == 4
