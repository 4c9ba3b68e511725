"""The whole chain, end to end, through Snakemake on a tiny synthetic survey."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def copy_workflow(dest: Path) -> Path:
    for item in ("Snakefile", "workflow", "config", "envs", "tests/configs"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / item).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / item)
    return dest


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("workflow"))
    out = subprocess.run([SNAKEMAKE, "--cores", "2", "--configfile", "tests/configs/tiny.yaml"],
                         cwd=work, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    return work


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
    null = test[test["case"] == "null_predictor"]["scatter_mean"].iloc[0]
    assert (test["null_scatter"] == null).all()


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
        for name in ("predictions.csv", "history.csv", "metadata.json", "model.keras"):
            assert (run / name).stat().st_size > 0
    report = pd.read_csv(tiny_run / "results-tiny" / "dataset" / "ingest_report.csv")
    assert report["galaxy"].iloc[-1] == "all"
    assert report["n_kept"].iloc[-1] == report["n_kept"].iloc[:-1].sum()
    logs = list((tiny_run / "results-tiny" / "logs" / "train").rglob("*.log"))
    assert len(logs) == 8 and all("scatter train" in log.read_text() for log in logs)
    bench = list((tiny_run / "results-tiny" / "benchmarks" / "train").rglob("*.tsv"))
    assert len(bench) == 8


@pytest.mark.slow
def test_a_finished_run_has_nothing_left_to_do(tiny_run):
    out = subprocess.run([SNAKEMAKE, "-n", "--configfile", "tests/configs/tiny.yaml"],
                         cwd=tiny_run, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_tiny_run_explains_the_unmasked_models(tiny_run):
    results = tiny_run / "results-tiny"
    for channels in ("five_band", "white_light"):
        for seed in (0, 1):
            run = results / "attribution" / "full" / channels / "none" / "true" / f"seed{seed}"
            profiles = pd.read_csv(run / "profiles.csv")
            assert set(profiles["method"]) == {"integrated_gradients", "smoothgrad"}
            assert (profiles["r80"] > 0.999).all() and (profiles["r0"] >= 0).all()
            occlusion = pd.read_csv(run / "occlusion.csv")
            assert sorted(set(occlusion["mask"])) == ["inner", "outer"]
            assert occlusion["diameter"].max() == 80 and (occlusion["scatter"] > 0).all()
    table = pd.read_csv(results / "tables" / "attribution_profiles.csv")
    assert set(table["setting"]) == {"full/five_band/none/true", "full/white_light/none/true"}
    assert (table["n_seeds"] == 2).all()
    for name in ("attribution_maps", "attribution_profiles", "test_time_occlusion"):
        assert (results / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (results / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    logs = list((results / "logs" / "attribution").rglob("*.log"))
    assert len(logs) == 4 and all("IG completeness error" in log.read_text() for log in logs)
    assert len(list((results / "benchmarks" / "attribution").rglob("*.tsv"))) == 4
