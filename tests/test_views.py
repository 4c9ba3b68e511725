"""A training job reads only its sample's rows and its channels, and sees the same input as if it
had read the whole dataset."""

import numpy as np
import pytest
from test_training import make_dataset

from clusterage.grid import Hyper, Setting, SplitSpec
from clusterage.survey import dataset, inputs, views
from clusterage.train.training import prepare_splits, sample_split, split_inputs

NO_EXTREMES = {"min_log_age": 7.0, "max_log_age": 9.5}


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("views")
    path = make_dataset(tmp / "cutouts.h5", n=90, size=24)
    views.write_white_light(path, tmp / "white_light.h5")
    return path, tmp / "white_light.h5"


def test_the_white_light_view_is_the_mean_of_the_five_filters_bit_for_bit(packed):
    path, view = packed
    images, clusters, attrs = dataset.read(path)
    wl, wl_clusters, wl_attrs = dataset.read(view)
    assert wl.shape == images.shape[:3] + (1,) and wl.dtype == np.float32
    np.testing.assert_array_equal(wl, inputs.select_channels(images, "white_light"))
    assert wl_clusters.equals(clusters)
    assert wl_attrs["view"] == "white_light"
    assert wl_attrs["content_sha256"] == attrs["content_sha256"]  # names the data it was made from
    assert view.stat().st_size < path.stat().st_size / 4


def test_rows_are_read_in_runs_and_equal_the_whole_array_indexed(packed):
    path, _ = packed
    images, _, _ = dataset.read(path)
    rows = np.array([0, 1, 2, 7, 9, 10, 40, 89])
    np.testing.assert_array_equal(dataset.read_rows(path, rows), images[rows])
    assert dataset.read_rows(path, np.array([], dtype=int)).shape == (0, *images.shape[1:])
    for bad in ([3, 2], [1, 1], [90], [-1]):
        with pytest.raises(ValueError, match="increasing"):
            dataset.read_rows(path, bad)


@pytest.mark.parametrize("channels, sample, mask, diameter, shuffled", [
    ("five_band", {}, "none", 0, False),
    ("five_band", NO_EXTREMES, "outer", 12, False),
    ("white_light", {}, "inner", 8, False),
    ("white_light", NO_EXTREMES, "outer", 6, True),
])
def test_a_job_reading_its_rows_and_channels_gets_the_same_network_input(
        packed, channels, sample, mask, diameter, shuffled):
    path, view = packed
    setting = Setting(channels, "s", mask, diameter, shuffled)
    hyper = Hyper()
    images, clusters, _ = dataset.read(path)
    whole = prepare_splits(images, clusters, setting, sample, hyper, SplitSpec(), 3)
    by_split = sample_split(clusters, setting, sample, SplitSpec(), images.shape[1])
    rows = np.sort(np.concatenate(list(by_split.values())))
    assert len(rows) < len(clusters) if sample else len(rows) == len(clusters)
    sources = [path] + ([view] if channels == "white_light" else [])
    for source in sources:
        x = views.read_input(source, channels, rows)
        assert x.shape == (len(rows), *images.shape[1:3], 5 if channels == "five_band" else 1)
        part = split_inputs(x, rows, by_split, clusters, setting, hyper, 3)
        for split in ("train", "validation", "test"):
            np.testing.assert_array_equal(part.x[split], whole.x[split])
            np.testing.assert_array_equal(part.y[split], whole.y[split])
            np.testing.assert_array_equal(part.rows[split], whole.rows[split])


def test_a_view_is_refused_where_it_does_not_fit(packed, tmp_path):
    path, view = packed
    with pytest.raises(ValueError, match="white_light view.*five_band model needs the packed dataset"):
        views.read_input(view, "five_band", np.arange(3))
    with pytest.raises(ValueError, match="already a white_light view"):
        views.write_white_light(view, tmp_path / "again.h5")
