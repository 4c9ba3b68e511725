"""`snakemake --report` on a finished run: one HTML file with every figure and table."""

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest
import yaml
from runs import finished_run, snakemake

FIGURES = ["scatter_vs_diameter", "cases", "fig2_predictions", "fig3_inner_masks", "fig4_cases",
           "fig5_cases", "fig6_age_distributions", "fig7_distance_subsamples", "fig8_outer_masks",
           "disputed_ages"]
TABLES = ["scatter.csv", "scatter_per_seed.csv", "scatter_by_group.csv", "missing_runs.csv",
          "summary.csv", "differences.csv"]
ATTRIBUTION = ["attribution_maps", "attribution_profiles", "test_time_occlusion"]
SURVEY_FIGURES = ["survey_example_cutouts", "survey_colour_colour"]


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


# Appended to a copy of the report: in the report's own app, open every image result as a reader
# clicking its eye button would (app.setView with the result's data, the navbar on the result's
# description), wait until the browser has decoded the picture, and write what was shown into
# the page for --dump-dom.
BROWSER_CHECK = """
<script>
(async function () {
  const wait = (ms) => new Promise((done) => setTimeout(done, ms));
  const shown = {};
  for (let i = 0; i < 600 && typeof app === "undefined"; i++) await wait(50);  // React renders
  for (const [path, entry] of Object.entries(results)) {
    if (!(entry.mime_type || "").startsWith("image/")) continue;
    app.setView({navbarMode: "resultinfo", content: "img", contentPath: entry.data_uri,
                 resultPath: path});
    let img;
    for (let i = 0; i < 200; i++) {
      await wait(50);
      img = Array.from(document.querySelectorAll("#app img")).find((x) => x.src === entry.data_uri);
      if (img && img.complete && document.querySelector("#app nav").innerText.toLowerCase().includes("description")) break;
    }
    shown[path] = {caption: (entry.caption || "").length, width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0,
                   visible: img ? img.getBoundingClientRect().width > 0 : false,
                   text: document.querySelector("#app nav").innerText.slice(0, 4000)};
  }
  const pre = document.createElement("pre");
  pre.id = "browser-check";
  pre.textContent = JSON.stringify(shown);
  document.body.appendChild(pre);
})();
</script>
"""


def chromium():
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


def shown_in_browser(report, work):
    """What a headless Chromium shows for each image result of ``report``."""
    page = work / "report-check.html"
    head, body_end, tail = report.read_text().rpartition("</body>")  # the page's own, the last
    page.write_text(head + BROWSER_CHECK + body_end + tail)
    out = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--window-size=1400,1000",
                          "--virtual-time-budget=600000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=600)
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', out.stdout, re.S)
    assert found, f"no result from the browser: {out.stderr[-2000:]}"
    import html as html_lib

    return json.loads(html_lib.unescape(found.group(1)))


@pytest.mark.slow
def test_a_browser_shows_every_figure_of_the_report_with_its_caption(tiny):
    if chromium() is None:
        pytest.skip("no Chromium (Debian: apt-get install chromium; .ci/run installs it)")
    report = tiny / "report.html"
    if not report.is_file():
        out = snakemake(tiny, "--report", "report.html", "--configfile", "tests/configs/tiny.yaml",
                        timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    shown = shown_in_browser(report, tiny)
    names = {p.split("/")[-1]: v for p, v in shown.items()}
    gallery = {n for n in names if re.fullmatch(r"page\d+\.png", n)}  # the disputed ages' pages
    expected = [f"{n}.png" for n in FIGURES + SURVEY_FIGURES + ATTRIBUTION]
    assert sorted(set(names) - gallery) == sorted(expected)
    for name, view in names.items():
        assert view["width"] > 200 and view["height"] > 100 and view["visible"], name
        assert view["caption"] > 100, name
    # each picture is shown beside its caption, in the paper's words
    for name, view in names.items():
        description = view["text"].partition("DESCRIPTION")[2]
        assert len(description.strip()) > 100, name
    numbers = {"fig2_predictions": 2, "fig3_inner_masks": 3, "fig4_cases": 4, "fig5_cases": 5,
               "fig6_age_distributions": 6, "fig7_distance_subsamples": 7, "fig8_outer_masks": 8}
    for name, number in numbers.items():
        assert f"Figure {number}." in names[f"{name}.png"]["text"], name
    assert "Blackout (inner-mask) experiments" in names["fig3_inner_masks.png"]["text"]
    assert "photometric aperture" in names["survey_example_cutouts.png"]["text"]


@pytest.mark.slow
def test_partial_report_draws_a_sweep_still_going_without_training(tiny, tmp_path):
    tiny = shutil.copytree(tiny, tmp_path / "work", symlinks=True)  # the shared run stays as it was
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
