"""The split: the paper's exact split on any row order, grouped splits without shared pixels."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import validated

from clusterage import plan
from clusterage.galaxies import TABLE1
from clusterage.grid import SplitSpec
from clusterage.metrics import null_predictor
from clusterage.survey import dataset, overlap, reference
from clusterage.survey.ingest import null_predictor_for_sample
from clusterage.survey.splits import SPLITS, overlap_report, split_labels, split_rows

PAPER_NULL = {"full": ({}, (1.2200, 1.0721, 1.2200)),
              "no_extremes": ({"min_log_age": 7.0, "max_log_age": 9.5}, (0.5676, 0.5632, 0.6138))}
DEFAULT_GALAXIES = list(TABLE1)   # the schema's default data.galaxies order


def _catalog_order(galaxy_order, drop=0, rng=None) -> pd.DataFrame:
    """The reference clusters as our ingest orders them: galaxies in config order, then id."""
    t = reference.table()
    if drop:
        t = t.drop(index=rng.choice(len(t), drop, replace=False))
    t["rank"] = t["key"].map({g: i for i, g in enumerate(galaxy_order)})
    t = t.sort_values(["rank", "cluster_id"], ignore_index=True)
    rng = np.random.default_rng(0)
    return pd.DataFrame({"galaxy": t["key"], "cluster_id": t["cluster_id"], "log_age": t["log_age"],
                         "x": rng.uniform(0, 20000, len(t)), "y": rng.uniform(0, 20000, len(t))})


def _keys(clusters, rows):
    sel = clusters.iloc[rows]
    return set(zip(sel["galaxy"], sel["cluster_id"]))


def _null(clusters, rows):
    r = null_predictor(clusters["log_age"].to_numpy(float), rows)
    return r["train"], r["validation"], r["test"]


@pytest.mark.parametrize("sample", list(PAPER_NULL))
@pytest.mark.parametrize("order_seed", [None, 1, 2])
def test_paper_order_gives_the_authors_split_whatever_the_galaxy_order(sample, order_seed):
    sample_range, expected = PAPER_NULL[sample]
    galaxies = (DEFAULT_GALAXIES if order_seed is None
                else list(np.random.default_rng(order_seed).permutation(DEFAULT_GALAXIES)))
    clusters = _catalog_order(galaxies)
    rows = split_rows(clusters, SplitSpec(order="paper"), sample_range)
    np.testing.assert_allclose(_null(clusters, rows), expected, atol=5e-5)
    # Cluster by cluster, the split the authors' own rows give.
    authors = reference.table().rename(columns={"galaxy": "label", "key": "galaxy"})
    expected_rows = split_rows(authors, SplitSpec(order="catalog"), sample_range)
    for name in SPLITS:
        assert _keys(clusters, rows[name]) == _keys(authors, expected_rows[name])


def test_catalog_order_is_not_the_papers_split():
    """Our ingest's row order shuffled as-is: the per-split numbers are not the paper's."""
    clusters = _catalog_order(DEFAULT_GALAXIES)
    rows = split_rows(clusters, SplitSpec(order="catalog"))
    np.testing.assert_allclose(_null(clusters, rows), (1.1600, 1.2047, 1.2047), atol=5e-5)


def test_paper_clusters_keep_their_split_when_some_are_missing_and_new_ones_are_appended(caplog):
    rng = np.random.default_rng(3)
    full = _catalog_order(DEFAULT_GALAXIES)
    authors = {name: _keys(full, r) for name, r in split_rows(full, SplitSpec(order="paper")).items()}
    clusters = _catalog_order(DEFAULT_GALAXIES, drop=40, rng=rng)
    new = pd.DataFrame({"galaxy": "ngc1365", "cluster_id": 900001 + np.arange(30),
                        "log_age": rng.uniform(6, 10, 30), "x": 0.0, "y": 0.0})
    clusters = pd.concat([clusters, new], ignore_index=True)
    with caplog.at_level(logging.WARNING):
        rows = split_rows(clusters, SplitSpec(order="paper", unlisted="append"))
    assert "30 cluster(s)" in caplog.text and "ngc1365 900001" in caplog.text
    got = {name: _keys(clusters, r) for name, r in rows.items()}
    new_keys = set(zip(new["galaxy"], new["cluster_id"]))
    for name in SPLITS:
        assert got[name] - new_keys <= authors[name]
    assert sum(len(r) for r in rows.values()) == len(clusters)
    assert [len(got[n] & new_keys) for n in SPLITS] == [21, 4, 5]   # 70/15/15 of 30


def test_unlisted_clusters_stop_the_paper_split_when_asked():
    clusters = _catalog_order(DEFAULT_GALAXIES)
    clusters.loc[5, "cluster_id"] = 777777
    with pytest.raises(ValueError, match=r"1 cluster\(s\).*ngc5068 777777"):
        split_rows(clusters, SplitSpec(order="paper", unlisted="stop"))


def test_null_predictor_of_the_workflow_on_a_dataset_in_another_galaxy_order(tmp_path):
    galaxies = list(np.random.default_rng(7).permutation(DEFAULT_GALAXIES))
    clusters = _catalog_order(galaxies)
    for col, value in (("ra", 0.0), ("dec", 0.0), ("cluster_class", 1), ("distance_mpc", 10.0)):
        clusters[col] = value
    path = tmp_path / "cutouts.h5"
    dataset.write(path, np.zeros((len(clusters), 16, 16, 5), np.float32), clusters,
                  source="synthetic", filters={})
    for sample, (sample_range, expected) in PAPER_NULL.items():
        out = null_predictor_for_sample(path, tmp_path / f"{sample}.json", sample_range,
                                        SplitSpec(order="paper"), tmp_path / f"{sample}.csv")
        np.testing.assert_allclose([out["train"], out["validation"], out["test"]], expected, atol=5e-5)
        report = pd.read_csv(tmp_path / f"{sample}.csv")
        assert report["galaxy"].iloc[-1] == "all" and len(report) == 16
        assert report["test_overlapping_train_overlap"].sum() == 0


# --- grouped splits -------------------------------------------------------------------------

def _clumpy(n_groups=300, seed=0, galaxies=("ngc628c", "ngc3627", "ngc5068")) -> pd.DataFrame:
    """Clusters in tight clumps (overlapping cutouts) and loners, over a few galaxies."""
    rng = np.random.default_rng(seed)
    parts = []
    for g in galaxies:
        size = rng.integers(1, 8, n_groups)
        cx, cy = rng.uniform(0, 30000, (2, n_groups))
        k = np.repeat(np.arange(n_groups), size)
        parts.append(pd.DataFrame({"galaxy": g, "x": cx[k] + rng.normal(0, 40, k.size),
                                   "y": cy[k] + rng.normal(0, 40, k.size)}))
    t = pd.concat(parts, ignore_index=True)
    t["cluster_id"] = t.groupby("galaxy").cumcount() + 1
    t["log_age"] = rng.uniform(6, 10, len(t))
    return t


def _brute_pairs(t, size):
    g = t["galaxy"].to_numpy()
    x, y = np.rint(t["x"].to_numpy()), np.rint(t["y"].to_numpy())
    m = (g[:, None] == g[None, :]) & (abs(x[:, None] - x[None, :]) < size) & (abs(y[:, None] - y[None, :]) < size)
    return set(zip(*np.nonzero(np.triu(m, 1))))


def test_overlapping_pairs_and_components_match_brute_force():
    t = _clumpy(200)
    i, j = overlap.pairs(t, 112)
    assert set(zip(i, j)) == _brute_pairs(t, 112) and len(i) > 100
    label = overlap.components(len(t), i, j)
    # Same label <=> connected: every pair shares a label, and labels are minimal members.
    assert np.all(label[i] == label[j])
    assert np.all(label[label] == label) and np.all(label <= np.arange(len(t)))
    # A long chain in scrambled order is one component.
    perm = np.random.default_rng(1).permutation(1000)
    assert np.unique(overlap.components(1000, perm[:-1], perm[1:])).tolist() == [0]


def test_overlap_split_shares_no_pixels_between_splits_and_keeps_the_fractions():
    t = _clumpy()
    rows = split_rows(t, SplitSpec(group="overlap"), cutout_size=112)
    labels = split_labels(len(t), rows)
    i, j = overlap.pairs(t, 112)
    assert len(i) > 0 and np.all(labels[i] == labels[j])
    assert sorted(np.concatenate(list(rows.values()))) == list(range(len(t)))
    got = np.array([len(rows[n]) for n in SPLITS]) / len(t)
    np.testing.assert_allclose(got, (0.70, 0.15, 0.15), atol=0.01)


def test_grouped_splits_do_not_depend_on_row_or_galaxy_order_but_on_the_seed():
    t = _clumpy()
    shuffled = t.sample(frac=1.0, random_state=5).reset_index(drop=True)
    for group, extra in (("overlap", {}), ("galaxy", {"test_galaxies": ("ngc5068",)})):
        a = split_rows(t, SplitSpec(group=group, **extra))
        b = split_rows(shuffled, SplitSpec(group=group, **extra))
        c = split_rows(t, SplitSpec(group=group, seed=43, **extra))
        for name in SPLITS:
            assert _keys(t, a[name]) == _keys(shuffled, b[name])
        assert _keys(t, a["train"]) != _keys(t, c["train"])


def test_galaxy_split_holds_the_named_galaxies_out_for_test():
    t = _clumpy()
    rows = split_rows(t, SplitSpec(group="galaxy", test_galaxies=("ngc5068",)))
    assert set(t["galaxy"].iloc[rows["test"]]) == {"ngc5068"}
    assert "ngc5068" not in set(t["galaxy"].iloc[np.concatenate([rows["train"], rows["validation"]])])
    labels = split_labels(len(t), rows)
    i, j = overlap.pairs(t, 112)
    assert np.all(labels[i] == labels[j])
    n_tv = len(rows["train"]) + len(rows["validation"])
    assert len(rows["train"]) / n_tv == pytest.approx(0.70 / 0.85, abs=0.01)


def test_overlap_report_counts_test_cutouts_that_share_pixels_with_training_ones():
    t = _clumpy()
    spec = SplitSpec(test_galaxies=("ngc628c",))
    report = overlap_report(t, spec, cutout_size=112).set_index("galaxy")
    labels = split_labels(len(t), split_rows(t, spec, cutout_size=112))
    leaking = set()
    for a, b in _brute_pairs(t, 112):
        for p, q in ((a, b), (b, a)):
            if labels[p] == "test" and labels[q] == "train":
                leaking.add(p)
    for g in t["galaxy"].unique():
        expected = sum(t["galaxy"].iloc[p] == g for p in leaking)
        assert report.loc[g, "test_overlapping_train_none"] == expected
    assert report.loc["all", "test_overlapping_train_none"] > 0
    assert report.loc["all", "test_overlapping_train_overlap"] == 0
    assert report.loc["all", "test_overlapping_train_galaxy"] == 0
    assert report.loc["ngc628c", "test_galaxy"] == int((t["galaxy"] == "ngc628c").sum())


def test_split_config_errors_name_the_key():
    base = {"cases": [{"name": "a", "channels": "five_band", "sample": "full", "mask": "none"}],
            "samples": {"full": {}}, "data": {"galaxies": ["ngc628c", "ngc5068"]}}
    with pytest.raises(plan.ConfigError, match="test_galaxies"):
        plan.build(validated({**base, "split": {"group": "galaxy"}}))
    with pytest.raises(plan.ConfigError, match=r"split.test_galaxies \['ngc1365'\]"):
        plan.build(validated({**base, "split": {"group": "galaxy", "test_galaxies": ["ngc1365"]}}))
    with pytest.raises(ValueError, match="split.order"):
        SplitSpec.from_config({"order": "authors"})
