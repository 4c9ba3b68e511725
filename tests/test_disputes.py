"""Clusters whose catalog age the CNN disputes: ensemble table, catalog, gallery, bad inputs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from clusterage.analysis.disputes import (
    DisputesError,
    catalog_colours,
    catalog_root,
    ensemble,
    read_runs,
    write_catalog,
    write_ensemble,
)
from clusterage.report.dispute_gallery import write_gallery
from clusterage.survey import dataset
from clusterage.survey.catalog import CatalogError
from clusterage.survey.mast import GalaxyFiles


def _run(path, preds: dict, split_of: dict, sed: dict):
    """A run folder whose predictions.csv holds one row per cluster id."""
    path.mkdir(parents=True)
    pd.DataFrame({"galaxy": "ngc628c", "cluster_id": list(preds), "split": [split_of[c] for c in preds],
                  "log_age_true": [sed[c] for c in preds],
                  "log_age_pred": list(preds.values())}).to_csv(path / "predictions.csv", index=False)
    return path


@pytest.fixture
def runs(tmp_path):
    """Two seeds of a setting: ids 1-10 in the test split, 11-12 only in train."""
    sed = {c: 6.0 + 0.3 * c for c in range(1, 13)}
    split = {c: "test" if c <= 10 else "train" for c in sed}
    # seed 0 and seed 1 predict SED + offsets; cluster 3 is disputed (both seeds say 2 dex younger)
    off0 = {c: 0.1 * (-1) ** c for c in sed} | {3: -2.0}
    off1 = {c: -0.1 * (-1) ** c for c in sed} | {3: -2.2}
    a = _run(tmp_path / "seed0", {c: sed[c] + off0[c] for c in sed}, split, sed)
    b = _run(tmp_path / "seed1", {c: sed[c] + off1[c] for c in sed}, split, sed)
    return [a, b, tmp_path / "seed2"], sed


def test_ensemble_combines_the_seeds_test_predictions(runs, tmp_path, caplog):
    dirs, sed = runs
    with caplog.at_level(logging.INFO):
        table, summary = write_ensemble(dirs, "full/five_band/none/true", tmp_path / "e.csv",
                                        tmp_path / "e.json")
    assert list(table["cluster_id"]) == list(range(1, 11))     # train-only clusters are absent
    assert summary["n_sample"] == 12 and summary["n_clusters"] == 10 and summary["n_absent"] == 2
    assert summary["missing_runs"] == [str(dirs[2])]
    assert "2 were never in a test split" in summary["note"] and "were never" in caplog.text
    row = table.set_index("cluster_id").loc[3]
    assert row["sed_log_age"] == pytest.approx(sed[3])
    assert row["cnn_mean"] == pytest.approx(sed[3] - 2.1)
    assert row["cnn_spread"] == pytest.approx(0.1)           # population std of -2.0 and -2.2
    assert row["n_models"] == 2
    # the other clusters' seeds cancel: mean = SED, residual 0; scatter is 1.49 x median |diff|
    assert summary["scatter"] == pytest.approx(0.0)
    written = pd.read_csv(tmp_path / "e.csv")
    assert list(written.columns) == ["galaxy", "cluster_id", "sed_log_age", "cnn_mean",
                                     "cnn_spread", "n_models", "residual_dex", "residual"]
    assert json.loads((tmp_path / "e.json").read_text())["n_absent"] == 2


def test_residual_is_in_units_of_the_setting_scatter(tmp_path):
    sed = {c: 7.0 for c in range(1, 8)}
    split = {c: "test" for c in sed}
    preds = {1: 7.1, 2: 6.9, 3: 7.2, 4: 6.8, 5: 7.3, 6: 6.7, 7: 9.0}
    frames, _ = read_runs([_run(tmp_path / "s0", preds, split, sed)], "x")
    table, summary = ensemble(frames, "x")
    s = 1.49 * np.median(np.abs(np.array(list(preds.values())) - 7.0))
    assert summary["scatter"] == pytest.approx(s)
    np.testing.assert_allclose(table["residual"], (np.array(list(preds.values())) - 7.0) / s)
    assert (table["cnn_spread"] == 0).all()  # one model: no spread


def test_a_setting_without_finished_seeds_says_so(tmp_path):
    with pytest.raises(DisputesError, match="full/white_light/none/true: no finished seed"):
        read_runs([tmp_path / "seed0", tmp_path / "seed1"], "full/white_light/none/true")


def test_runs_on_different_datasets_are_refused(tmp_path):
    split = {1: "test"}
    a = _run(tmp_path / "a", {1: 7.0}, split, {1: 7.0})
    b = _run(tmp_path / "b", {1: 7.0}, split, {1: 8.0})
    frames, _ = read_runs([a, b], "s")
    with pytest.raises(DisputesError, match="ngc628c #1 has different SED ages"):
        ensemble(frames, "s")


def test_catalog_lists_the_disputed_cluster_first(runs, tmp_path):
    dirs, _ = runs
    write_ensemble(dirs, "s", tmp_path / "e.csv", tmp_path / "e.json")
    # scatter 0 in the fixture: make it 0.15 dex so residuals are finite
    t = pd.read_csv(tmp_path / "e.csv")
    t["residual"] = t["residual_dex"] / 0.15
    t.to_csv(tmp_path / "e.csv", index=False)
    summary = json.loads((tmp_path / "e.json").read_text()) | {"scatter": 0.15}
    (tmp_path / "e.json").write_text(json.dumps(summary))
    out = write_catalog(tmp_path / "e.csv", tmp_path / "e.json", tmp_path / "d.csv",
                        threshold=3.0, max_spread=1.0)
    assert list(out["cluster_id"]) == [3] and out["cnn_says"].iloc[0] == "younger"
    assert out["rank"].iloc[0] == 1
    # a spread larger than max_spread scatters keeps it out
    out = write_catalog(tmp_path / "e.csv", tmp_path / "e.json", tmp_path / "d.csv",
                        threshold=3.0, max_spread=0.5)
    assert out.empty


def test_a_threshold_that_flags_nothing_gives_an_empty_catalog(runs, tmp_path, caplog):
    dirs, _ = runs
    write_ensemble(dirs, "s", tmp_path / "e.csv", tmp_path / "e.json")
    with caplog.at_level(logging.INFO):
        out = write_catalog(tmp_path / "e.csv", tmp_path / "e.json", tmp_path / "d.csv",
                            threshold=1e6, max_spread=1.0)
    assert out.empty
    assert "no cluster disputed" in caplog.text and "the catalog is empty" in caplog.text
    written = pd.read_csv(tmp_path / "d.csv")
    assert written.empty and "residual" in written.columns


def _write_catalogs(data_dir, files, ids, drop=()):
    for (obs_rel, sed_rel), kind_ids in zip(files.catalog_relpaths(), (ids, [])):
        n = len(kind_ids)
        obs = {"ID_PHANGS_CLUSTER": np.asarray(kind_ids, np.int64)}
        for k, f in enumerate(files.filters):
            obs[f"PHANGS_{f}_VEGA"] = 20.0 + 0.1 * k + np.zeros(n)
        for c in drop:
            obs.pop(c)
        sed = {"ID_PHANGS_CLUSTER": np.asarray(kind_ids, np.int64),
               "PHANGS_EBV_MINCHISQ": np.full(n, 0.3)}
        for rel, cols in ((obs_rel, obs), (sed_rel, sed)):
            (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            Table(cols).write(data_dir / rel, overwrite=True)


def test_catalog_colours_and_a_missing_photometry_column(tmp_path):
    files = GalaxyFiles("ngc628c")
    _write_catalogs(tmp_path, files, [3, 5])
    c = catalog_colours({"ngc628c": files}, tmp_path)
    assert list(c["cluster_id"]) == [3, 5]
    np.testing.assert_allclose(c["u_b_vega"], -0.1)   # U 20.1 - B 20.2
    np.testing.assert_allclose(c["v_i_vega"], -0.1)
    np.testing.assert_allclose(c["sed_ebv"], 0.3)
    # The rules pass the catalog tables as inputs; their folder is found from the inputs.
    inputs = [tmp_path / rel for pair in files.catalog_relpaths() for rel in pair]
    assert catalog_root({"ngc628c": files}, inputs) == tmp_path
    with pytest.raises(DisputesError, match="missing from the inputs .*sed"):
        catalog_root({"ngc628c": files}, inputs[:1])
    with pytest.raises(DisputesError, match="no catalog input is the table .* of ngc628c"):
        catalog_root({"ngc628c": files}, [tmp_path / "other.fits"])
    _write_catalogs(tmp_path, files, [3, 5], drop=("PHANGS_F814W_VEGA",))
    with pytest.raises(CatalogError, match="lacks column.*PHANGS_F814W_VEGA"):
        catalog_colours({"ngc628c": files}, tmp_path)


@pytest.fixture
def small_dataset(tmp_path):
    rng = np.random.default_rng(0)
    n = 6
    images = rng.normal(1.0, 0.1, (n, 32, 32, 5)).astype(np.float32)
    images[:, 14:18, 14:18, :] += 5.0
    clusters = pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(1, n + 1),
                             "log_age": np.linspace(6, 9, n), "x": 0.0, "y": 0.0, "ra": 0.0,
                             "dec": 0.0, "cluster_class": 1, "distance_mpc": 9.84})
    path = tmp_path / "cutouts.h5"
    dataset.write(path, images, clusters, source="test", filters={"ngc628c": list("abcde")})
    return path


def _catalog_file(path, rows):
    cols = ["rank", "galaxy", "cluster_id", "sed_log_age", "cnn_mean", "cnn_spread", "n_models",
            "residual_dex", "residual", "cnn_says", "u_b_vega", "v_i_vega", "sed_ebv"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)


SUMMARY = {"setting": "full/five_band/none/true", "scatter": 0.4, "n_clusters": 6, "n_absent": 30,
           "n_sample": 36}


def test_gallery_pages_and_html(small_dataset, tmp_path):
    rows = [[r, "ngc628c", c, 7.3, 6.1, 0.1, 2, -1.2, -3.0 - r, "younger", 0.5, 1.0, 0.1]
            for r, c in enumerate([4, 2, 6, 1, 5], start=1)]
    rows[1][10] = np.nan   # a cluster without photometry is drawn, and says so
    _catalog_file(tmp_path / "d.csv", rows)
    (tmp_path / "e.json").write_text(json.dumps(SUMMARY))
    pages = write_gallery(tmp_path / "d.csv", tmp_path / "e.json", small_dataset, tmp_path / "g",
                          threshold=3, max_spread=1, max_clusters=5)
    assert pages == ["page01.png", "page02.png"]                   # 4 per page
    for p in pages:
        assert (tmp_path / "g" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "g" / "index.html").read_text()
    assert "5 of the 6 clusters with an out-of-sample prediction" in page
    assert all(f'src="{p}"' in page for p in pages)
    # at most max_clusters are drawn; the html says how many were left out
    pages = write_gallery(tmp_path / "d.csv", tmp_path / "e.json", small_dataset, tmp_path / "g2",
                          threshold=3, max_spread=1, max_clusters=2)
    assert pages == ["page01.png"]
    assert "the 2 most discrepant are shown" in (tmp_path / "g2" / "index.html").read_text()


def test_gallery_of_an_empty_catalog_says_so(small_dataset, tmp_path):
    _catalog_file(tmp_path / "d.csv", [])
    (tmp_path / "e.json").write_text(json.dumps(SUMMARY))
    pages = write_gallery(tmp_path / "d.csv", tmp_path / "e.json", small_dataset, tmp_path / "g",
                          threshold=3, max_spread=1, max_clusters=48)
    assert pages == []
    assert "No cluster disputed: none of the 6 clusters" in (tmp_path / "g" / "index.html").read_text()


def test_gallery_names_a_galaxy_missing_from_the_dataset(small_dataset, tmp_path):
    _catalog_file(tmp_path / "d.csv", [[1, "ngc1566", 4, 7.3, 6.1, 0.1, 2, -1.2, -3.0, "younger",
                                        0.5, 1.0, 0.1]])
    (tmp_path / "e.json").write_text(json.dumps(SUMMARY))
    with pytest.raises(DisputesError, match="galaxy ngc1566 of the disagreement catalog is not in "
                                            "the dataset"):
        write_gallery(tmp_path / "d.csv", tmp_path / "e.json", small_dataset, tmp_path / "g",
                      threshold=3, max_spread=1, max_clusters=48)


def _clusters(n, seed=0, spread=3000.0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"galaxy": np.where(np.arange(n) % 3, "ngc628c", "ngc1566"),
                         "cluster_id": np.arange(1, n + 1), "log_age": rng.uniform(6, 10, n),
                         "x": rng.uniform(0, spread, n), "y": rng.uniform(0, spread, n)})


@pytest.mark.parametrize("group", ["none", "overlap"])
def test_folds_give_every_cluster_one_out_of_sample_prediction(group):
    from clusterage.grid import SplitSpec
    from clusterage.survey import overlap
    from clusterage.survey.splits import SPLITS, fold_rows, split_labels, split_rows

    n, k = 203, 5
    clusters = _clusters(n)
    spec = SplitSpec(group=group)
    fixed = split_rows(clusters, spec)
    tests = []
    for fold in range(k):
        s = fold_rows(fixed, clusters, spec, 112, k, fold)
        parts = [set(s[name].tolist()) for name in SPLITS]
        assert sum(map(len, parts)) == n and set().union(*parts) == set(range(n))  # a partition
        rest = n - len(s["test"])
        assert abs(len(s["validation"]) - 0.15 / 0.85 * rest) <= (1 if group == "none" else 0.1 * rest)
        if group == "overlap":   # no test cutout shares pixels with a training cutout
            hit = overlap.overlapping_train(clusters, split_labels(n, s), 112)
            assert not hit.any()
        tests.append(s["test"])
    together = np.concatenate(tests)
    assert sorted(together.tolist()) == list(range(n))            # each cluster tested once
    if group == "none":
        assert {len(t) for t in tests} <= {40, 41}
        # the folds cut the fixed split's own (shuffled) order
        np.testing.assert_array_equal(together, np.concatenate([fixed[x] for x in SPLITS]))
    with pytest.raises(ValueError, match="fold 5 is not one of the 5 folds"):
        fold_rows(fixed, clusters, spec, 112, 5, 5)
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_rows(fixed, clusters, spec, 112, 1, 0)


def _plan(tmp_path, extra: dict):
    """Dry-run the demo in a copy of the workflow with ``extra`` config; its stdout+stderr."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml
    from runs import copy_workflow

    work = copy_workflow(tmp_path / "wf")
    (work / "extra.yaml").write_text(yaml.safe_dump(extra))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    out = subprocess.run([snakemake, "-n", "--configfile", "extra.yaml"], cwd=work,
                         capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout + out.stderr


def _job_count(text: str, rule: str) -> int:
    import re

    return int(re.search(rf"^{rule}\s+(\d+)$", text, flags=re.M).group(1))


def test_cross_validation_trains_k_models_per_seed_as_ordinary_train_jobs(tmp_path):
    code, plain = _plan(tmp_path / "a", {})
    assert code == 0, plain[-2000:]
    code, cv = _plan(tmp_path / "b", {"disputes": {
        "folds": 3, "environment": {"settings": ["full/white_light/inner24/true"]}}})
    assert code == 0, cv[-2000:]
    # the demo: 4 settings x 2 seeds; cross-validation adds 3 folds x 2 seeds of the cluster
    # model (five_band) and of the environment model disputed against it, and no other
    assert _job_count(plain, "train") == 8 and _job_count(cv, "train") == 20
    for fold in range(3):
        for setting in ("five_band/none", "white_light/inner24"):
            assert f"train/full/{setting}/true/fold{fold}of3/seed1/predictions.csv" in cv
    assert "of3/" not in plain and "white_light/none/true/fold" not in cv
    assert _job_count(cv, "environment_disagreements") == _job_count(cv, "environment_gallery") == 1
    assert "environment_disagreements" not in plain


@pytest.mark.parametrize("extra, needle", [
    ({"disputes": {"settings": ["full/five_band/outer9/true"]}}, "disputes.settings"),
    ({"disputes": {"threshold": -1}}, "threshold"),
    ({"disputes": {"folds": -2}}, "folds"),
])
def test_bad_disputes_config_stops_before_any_job(tmp_path, extra, needle):
    code, text = _plan(tmp_path, extra)
    assert code != 0 and needle in text and "Job stats" not in text, text[-2000:]


@pytest.mark.parametrize("cluster_seen", [True, False], ids=["cluster_model", "environment_model"])
def test_cross_validation_models_cover_every_cluster_once(tmp_path, cluster_seen):
    """k fold models of one seed, of the cluster model and of an environment-only one: every
    cluster of the sample has exactly one out-of-sample prediction of each, so the ensemble table
    has no absent cluster."""
    from test_training import make_dataset

    from clusterage.grid import Hyper, Setting
    from clusterage.train.training import train

    setting = (Setting("five_band", "full") if cluster_seen
               else Setting("white_light", "full", "inner", 8))

    data = make_dataset(tmp_path / "d.h5", n=45, size=24)
    hyper = Hyper(conv_filters=(2, 2, 2), dense_units=(4,), learning_rate=3e-3, batch_size=16,
                  epochs=1, patience=1, rotations=1)
    runs = []
    for fold in range(3):
        out = tmp_path / f"fold{fold}of3" / "seed0"
        train(data, out, setting, seed=0, hyper=hyper, fold=(fold, 3))
        meta = json.loads((out / "metadata.json").read_text())
        assert (meta["split"]["fold"], meta["split"]["folds"]) == (fold, 3)
        assert meta["split"]["n_test"] == 15
        runs.append(out)
    table, summary = write_ensemble(runs, setting.name, tmp_path / "e.csv", tmp_path / "e.json")
    assert summary["n_sample"] == summary["n_clusters"] == 45 and summary["n_absent"] == 0
    assert (table["n_models"] == 1).all()


@pytest.mark.slow
def test_planted_sed_errors_are_enriched_in_the_catalog(tmp_path_factory):
    """End to end on a small survey whose planted errors are blatant (young clusters catalogued
    1000x older, tests/configs/disputes.yaml): the workflow, which never reads the planted ids,
    lists them far above their base rate. The test's model is tiny and barely trained, so this
    checks that the chain finds what was planted, not the CNN's skill (docs/known-answer.md
    measures that with the demo model)."""
    from runs import finished_run

    from clusterage.analysis.uncertainty import Bootstrap
    from clusterage.checks.planted import evaluate

    work = finished_run(tmp_path_factory, "tests/configs/disputes.yaml")
    results = work / "results-disputes"
    rows, scatters = evaluate(results, "full/five_band/none/true", thresholds=(),
                              boot=Bootstrap(1000, 0.95, 0))
    run = rows.iloc[0]
    assert run["n_planted"] >= 5, run
    assert run["n_flagged_planted"] >= 3, run
    # precision above the base rate: the 95% interval of their difference lies above 0
    assert run["precision_minus_base_rate"] == "above 0", run
    assert run["precision_ci_low"] <= run["precision"] <= run["precision_ci_high"], run
    # the planted errors inflate the scatter against the catalog
    assert scatters["scatter_vs_catalog"] > scatters["scatter_vs_catalog_without_planted"]
    gallery = results / "disputes" / "full" / "five_band" / "none" / "true" / "gallery"
    assert (gallery / "page01.png").is_file()
    # the workflow never read the truth: no rule has it as input
    log = "\n".join(p.read_text() for p in (work / ".snakemake" / "log").glob("*.log"))
    assert "input:" in log and "sed_errors/" not in "".join(
        line for line in log.splitlines() if line.strip().startswith("input:"))


def test_partial_report_draws_the_disputes_of_the_runs_finished_so_far(runs, tmp_path):
    from clusterage.analysis.disputes import current
    from clusterage.report.figure_registry import BY_RULE

    dirs, _ = runs
    d = current("full/five_band/none/true", dirs, threshold=3.0, max_spread=1.0)
    assert d["summary"]["missing_runs"] == [str(dirs[2])] and d["summary"]["n_runs"] == 2
    assert current("s", [tmp_path / "nothing"], threshold=3.0, max_spread=1.0) is None
    figure = BY_RULE["plot_disputed_ages"]
    for name, data in (("some", [d]), ("none", [])):
        paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
        figure.draw({"disputes": data}, paths)
        assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_precision_and_recall_of_a_flagged_list_carry_intervals_against_the_base_rate():
    from clusterage.analysis.uncertainty import Bootstrap
    from clusterage.checks.planted import score

    table = pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(200)})
    errors = table.iloc[:10]                                   # base rate 0.05
    boot = Bootstrap(1000, 0.95, 0)
    good = score(table, table.iloc[:12], errors, boot)         # 10 of 12 flagged are planted
    assert good["precision"] == pytest.approx(10 / 12) and good["recall"] == 1.0
    assert good["precision_minus_base_rate"] == "above 0"
    assert good["precision_ci_low"] < good["precision"] < good["precision_ci_high"]
    chance = score(table, table.iloc[::20], errors, boot)      # 1 of 10 flagged: chance
    assert chance["precision_minus_base_rate"] == "contains 0"
    none = score(table, table.iloc[100:104], errors, boot)      # 0 of 4: no rate can be told
    assert none["precision_minus_base_rate"] == "no interval (0 of 4 flagged are planted)"
