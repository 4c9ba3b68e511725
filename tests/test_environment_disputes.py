"""Ages disputed by the environment: the combined rule, its catalog, gallery, plan and scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import validated
from test_disputes import small_dataset  # noqa: F401  (a fixture)

from clusterage.analysis.disputes import DisputesError, ensemble
from clusterage.analysis.environment_disputes import (
    CATALOG_COLUMNS,
    flag,
    join,
    write_catalog,
)
from clusterage.plan import ConfigError, Plan
from clusterage.report.dispute_gallery import write_environment_gallery

ENV = "full/white_light/inner24/true"
CLUSTER = "full/five_band/none/true"


def _predictions(sed: dict, pred: dict) -> pd.DataFrame:
    return pd.DataFrame({"galaxy": "ngc628c", "cluster_id": list(sed), "split": "test",
                         "log_age_true": list(sed.values()),
                         "log_age_pred": [pred[c] for c in sed]})


def _ensembles(sed: dict, env_pred: dict, cluster_pred: dict):
    """The two models' ensemble tables (one seed each) over the same clusters."""
    env, _ = ensemble([_predictions(sed, env_pred)], ENV)
    clu, _ = ensemble([_predictions(sed, cluster_pred)], CLUSTER)
    return env, clu


@pytest.fixture
def constructed():
    """40 clusters whose two models scatter around the catalog, and two catalogued as old (9.0):
    #41, whose surroundings say young (6.5) while its colours agree with the catalog, the
    degeneracy's signature; and its control #42, whose surroundings say young too but whose
    colours also say young (the catalog is contradicted by both, not the degeneracy)."""
    rng = np.random.default_rng(3)
    sed = {c: float(a) for c, a in zip(range(1, 41), rng.uniform(6, 10, 40))} | {41: 9.0, 42: 9.0}
    env = {c: sed[c] + rng.normal(0, 0.6) for c in range(1, 41)} | {41: 6.5, 42: 6.5}
    clu = {c: sed[c] + rng.normal(0, 0.3) for c in range(1, 41)} | {41: 9.05, 42: 6.6}
    return sed, env, clu


def test_the_rule_flags_the_environment_against_agreeing_colours_and_not_its_control(constructed):
    env, clu = _ensembles(*constructed)
    out = flag(join(env, clu, ENV, CLUSTER), threshold=1.5, agree=1.0)
    assert 41 in set(out["cluster_id"]) and 42 not in set(out["cluster_id"])
    row = out.set_index("cluster_id").loc[41]
    assert row["environment_says"] == "younger" and row["environment_residual"] < -1.5
    assert abs(row["cluster_residual"]) <= 1.0
    assert out["rank"].tolist() == list(range(1, len(out) + 1))
    assert out["environment_residual"].abs().is_monotonic_decreasing


def test_the_cluster_model_alone_flags_the_control_not_the_degenerate_case(constructed):
    """What the environment adds: a threshold on the cluster model's residual finds #42, whose
    colours contradict the catalog, but cannot see #41, whose colours repeat the catalog."""
    env, clu = _ensembles(*constructed)
    joined = join(env, clu, ENV, CLUSTER)
    alone = set(joined.loc[joined["cluster_residual"].abs() > 1.5, "cluster_id"])
    assert 42 in alone and 41 not in alone


def test_models_trained_on_different_catalog_ages_are_refused(constructed):
    sed, env_pred, clu_pred = constructed
    env, _ = ensemble([_predictions(sed, env_pred)], ENV)
    clu, _ = ensemble([_predictions(sed | {7: sed[7] + 1.0}, clu_pred)], CLUSTER)
    with pytest.raises(DisputesError, match="cluster ngc628c #7 has SED age"):
        join(env, clu, ENV, CLUSTER)


def test_the_catalog_file_has_both_models_and_the_catalog_colours(constructed, tmp_path):
    env, clu = _ensembles(*constructed)
    for name, table in (("env", env), ("clu", clu)):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    for name, setting, s in (("env", ENV, 0.9), ("clu", CLUSTER, 0.3)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"setting": setting, "scatter": s}))
    colours = pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(1, 43),
                            "u_b_vega": 0.1, "v_i_vega": 1.2, "sed_ebv": 0.3})
    out = write_catalog(tmp_path / "env.csv", tmp_path / "env.json", tmp_path / "clu.csv",
                        tmp_path / "clu.json", tmp_path / "out.csv", threshold=1.5, agree=1.0,
                        colours=colours)
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written.columns) == CATALOG_COLUMNS and len(written) == len(out) >= 1
    assert 41 in set(written["cluster_id"]) and (written["v_i_vega"] == 1.2).all()


def test_the_environment_gallery_shows_both_models_and_says_the_rule(small_dataset, tmp_path):  # noqa: F811
    rows = [[r, "ngc628c", c, 9.0, 6.5, 0.2, -2.5 - r / 10, 9.05, 0.1, 0.1, "younger", 0.5, 1.0,
             0.4] for r, c in enumerate([3, 5], start=1)]
    pd.DataFrame(rows, columns=CATALOG_COLUMNS).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "e.json").write_text(json.dumps({"setting": "full/white_light/inner12/true",
                                                 "scatter": 1.0, "n_clusters": 6}))
    (tmp_path / "c.json").write_text(json.dumps({"setting": CLUSTER, "scatter": 0.4}))
    pages = write_environment_gallery(tmp_path / "d.csv", tmp_path / "e.json", tmp_path / "c.json",
                                      small_dataset, tmp_path / "g", threshold=1.5, agree=1.0,
                                      max_clusters=48)
    assert pages == ["page01.png"]
    assert (tmp_path / "g" / "page01.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "g" / "index.html").read_text()
    assert "more than 1.5 of its scatters (1.50 dex)" in page and "(0.40 dex)" in page
    assert "2 of the 6 clusters" in page and CLUSTER in page


def _config(tmp_path, environment: dict, **disputes):
    config = validated({"results": str(tmp_path),
        "cases": [{"name": "five_band", "channels": "five_band", "sample": "full", "mask": "none"},
                  {"name": "wl_inner", "channels": "white_light", "sample": "full",
                   "mask": "inner", "diameters": [12, 24]}],
        "disputes": {"environment": environment, **disputes}})
    return Plan.of(config)


def test_the_plan_cross_validates_the_environment_models_beside_the_cluster_model(tmp_path):
    plan = _config(tmp_path, {"settings": [ENV]}, folds=5)
    assert plan.disputed == [CLUSTER] and plan.environment == [ENV]
    assert plan.cross_validated == [CLUSTER, ENV]
    assert _config(tmp_path, {}).environment == []


@pytest.mark.parametrize("environment, disputes, needle", [
    ({"settings": ["full/white_light/inner40/true"]}, {}, "no setting of the grid"),
    ({"settings": ["full/five_band/none/true"]}, {}, "sees the cluster"),
    ({"settings": [ENV]}, {"settings": [ENV]}, "also the cluster model"),
])
def test_a_bad_environment_setting_is_refused_naming_it(tmp_path, environment, disputes, needle):
    with pytest.raises(ConfigError, match=needle):
        _config(tmp_path, environment, **disputes)


def test_the_scorer_puts_the_three_rules_side_by_side(constructed, tmp_path):
    from clusterage.analysis.uncertainty import Bootstrap
    from clusterage.checks.planted import evaluate_environment

    env, clu = _ensembles(*constructed)
    for setting, table in ((ENV, env), (CLUSTER, clu)):
        (tmp_path / "disputes" / setting).mkdir(parents=True)
        table.to_csv(tmp_path / "disputes" / setting / "ensemble.csv", index=False)
    flagged = flag(join(env, clu, ENV, CLUSTER), 1.5, 1.0)
    flagged.to_csv(tmp_path / "disputes" / ENV / "environment_disagreements.csv", index=False)
    truth = tmp_path / "survey" / "synthetic-truth"
    (truth / "sed_errors").mkdir(parents=True)
    pd.DataFrame({"galaxy": "ngc628c", "cluster_id": np.arange(1, 43), "log_age": 7.0}).to_csv(
        truth / "ngc628c.csv", index=False)
    pd.DataFrame({"galaxy": "ngc628c", "cluster_id": [41], "kind": ["young_dusty"]}).to_csv(
        truth / "sed_errors" / "ngc628c.csv", index=False)
    rows = evaluate_environment(tmp_path, ENV, CLUSTER, threshold=1.5, agree=1.0,
                                thresholds=(1.5,), boot=Bootstrap(200, 0.95, 0))
    assert rows["rule"].tolist() == ["combined", "combined", "environment", "cluster"]
    combined, _, environment, cluster = rows.to_dict("records")
    assert combined["n_flagged_planted"] == 1 and combined["recall"] == 1.0
    assert cluster["n_flagged_planted"] == 0                 # the colours repeat the wrong fit
    assert combined["precision"] >= environment["precision"]
    assert {"precision_ci_low", "precision_ci_high", "base_rate"} <= set(rows.columns)
