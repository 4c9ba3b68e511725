"""`snakemake --report` on a finished run: one HTML file with every figure and table."""

import pandas as pd
import pytest
import yaml

from runs import finished_run, snakemake

FIGURES = ["scatter_vs_diameter", "cases", "fig2_predictions", "fig3_inner_masks", "fig4_cases",
           "fig5_cases", "fig6_age_distributions", "fig7_distance_subsamples", "fig8_outer_masks",
           "disputed_ages"]
TABLES = ["scatter.csv", "scatter_per_seed.csv", "scatter_by_group.csv", "missing_runs.csv"]
ATTRIBUTION = ["attribution_maps", "attribution_profiles", "test_time_occlusion"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return finished_run(tmp_path_factory, "tests/configs/tiny.yaml")


@pytest.mark.slow
def test_report_lists_every_figure_and_table_with_captions(tiny):
    out = snakemake(tiny, "--report", "report.html", "--configfile", "tests/configs/tiny.yaml",
                    timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    html = (tiny / "report.html").read_text(errors="replace")
    for name in FIGURES:
        assert f"{name}.png" in html, name
    for name in TABLES:
        assert name in html, name
    # The disputed ages: the catalog and its gallery page.
    assert "disagreements.csv" in html and "Disputed ages" in html
    assert "gallery" in html
    for name in ATTRIBUTION:
        assert f"{name}.png" in html, name
    assert "attribution_profiles.csv" in html and "test_time_occlusion.csv" in html
    # Captions are rendered (the figure numbers come from workflow/report/*.rst).
    for caption in ("Figure 2", "Figure 3", "Figure 4", "Figure 5", "Figure 6", "Figure 7", "Figure 8"):
        assert caption in html, caption


@pytest.mark.slow
def test_partial_report_draws_a_sweep_still_going_without_training(tiny):
    config = yaml.safe_load((tiny / "tests/configs/tiny.yaml").read_text())
    config["cases"].append({"name": "white_light_outer_more", "channels": "white_light",
                            "sample": "full", "mask": "outer", "diameters": [24, 48]})
    grown = tiny / "tests/configs/tiny_grown.yaml"
    grown.write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(tiny, "--cores", "1", "-f", "partial_report", "--configfile", str(grown),
                    timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rule train" not in out.stdout
    partial = tiny / "results-tiny" / "partial"
    for name in FIGURES + ATTRIBUTION:
        assert (partial / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    missing = pd.read_csv(partial / "tables" / "missing_runs.csv")
    assert sorted(zip(missing["setting"], missing["seed"])) == [
        ("full/white_light/outer48/true", 0), ("full/white_light/outer48/true", 1)]
    table = pd.read_csv(partial / "tables" / "scatter.csv")
    more = table[(table["case"] == "white_light_outer_more") & (table["split"] == "test")]
    assert dict(zip(more["diameter"], more["n_seeds"])) == {24: 2, 48: 0}
    assert not (tiny / "results-tiny" / "train" / "full" / "white_light" / "outer48").exists()
