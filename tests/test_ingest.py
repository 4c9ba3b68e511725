"""Catalogs and cutouts: positions through the WCS, the coverage cut, bad input."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from conftest import tan_wcs, write_catalogs, write_mosaic

from clusterage.survey import dataset
from clusterage.survey.catalog import CatalogError, read_catalog
from clusterage.survey.cutouts import ImageError, extract
from clusterage.survey.ingest import ingest_galaxy, pack


def value_at(band, row, col):
    return 1 + band * 1e6 + row * 1000 + col


def test_catalog_ages_become_log_years_and_classes_filter(small_galaxy):
    files, data_dir, _ = small_galaxy
    cat, counts = read_catalog(files, data_dir)
    np.testing.assert_allclose(cat["log_age"], np.log10([5.0, 100.0, 1000.0, 3.0]) + 6)
    assert counts["n_catalog"] == 4 and counts["dropped_class"] == 0
    cat2, counts2 = read_catalog(files, data_dir, classes=[3])
    assert len(cat2) == 0 and counts2["dropped_class"] == 4


def test_cluster_lands_on_the_centre_pixel_of_every_filter(small_galaxy):
    files, data_dir, _ = small_galaxy
    cat, _ = read_catalog(files, data_dir)
    cube, kept, counts = extract(files, data_dir, cat, 112)
    assert cube.shape == (3, 112, 112, 5) and cube.dtype == np.float32
    # The cluster at x=120.3, y=250.6 is cut around its peak pixel (row 251, col 120).
    i = int(np.flatnonzero(kept["cluster_id"] == 2)[0])
    for b in range(5):
        assert cube[i, 56, 56, b] == value_at(b, 251, 120)
        assert cube[i, 0, 0, b] == value_at(b, 251 - 56, 120 - 56)
    assert counts == {"dropped_edge": 1, "dropped_no_coverage": 0, "n_kept": 3}


def test_filters_on_another_pixel_grid_are_aligned_through_the_wcs(small_galaxy):
    """A U-band mosaic shifted by a known WCS offset still gives the same sky in the cutout."""
    files, data_dir, wcs = small_galaxy
    shape = (400, 400)
    shifted = tan_wcs(shape, crpix_offset=(7.0, -3.0))  # sky point at pixel p is now at p + (7, -3)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    write_mosaic(data_dir / files.image_relpath(1), value_at(1, rows + 3, cols - 7), shifted)
    cat, _ = read_catalog(files, data_dir)
    cube, kept, _ = extract(files, data_dir, cat, 112)
    i = int(np.flatnonzero(kept["cluster_id"] == 1)[0])
    assert cube[i, 56, 56, 1] == value_at(1, 200, 200)
    assert cube[i, 56, 56, 3] == value_at(3, 200, 200)


def test_clusters_without_full_coverage_are_dropped_and_counted(small_galaxy):
    files, data_dir, wcs = small_galaxy
    path = data_dir / files.image_relpath(0)
    data = fits.getdata(path).copy()
    data[250:, 250:] = 0.0          # off-footprint corner in NUV, inside cluster 1's cutout
    data[90:110, 290:310] = np.nan  # NaN hole under cluster 4
    write_mosaic(path, data, wcs)
    cat, _ = read_catalog(files, data_dir)
    _, kept, counts = extract(files, data_dir, cat, 112)
    assert counts["dropped_edge"] == 1          # x=10 is 46 px from the edge
    assert counts["dropped_no_coverage"] == 2   # cluster 1 (zero corner) and cluster 4 (NaN hole)
    assert sorted(kept["cluster_id"]) == [2]


def test_ingest_writes_dataset_and_report_that_round_trip(small_galaxy, tmp_path):
    files, data_dir, _ = small_galaxy
    h5, rep = tmp_path / "out" / "g.h5", tmp_path / "out" / "g.csv"
    ingest_galaxy(files, data_dir, h5, rep, size=112)
    packed, packed_rep = tmp_path / "dataset.h5", tmp_path / "report.csv"
    pack([h5], [rep], packed, packed_rep)
    images, clusters, attrs = dataset.read(packed)
    assert images.shape == (3, 112, 112, 5) and images.flags.c_contiguous
    assert list(attrs["bands"]) == ["NUV", "U", "B", "V", "I"]
    assert attrs["cutout_size"] == 112 and attrs["units"] == "ELECTRONS/S"
    assert clusters["galaxy"].tolist() == ["ngc628c"] * 3
    assert clusters["distance_mpc"].iloc[0] == pytest.approx(9.84)
    report = pd.read_csv(packed_rep)
    assert report.iloc[-1]["galaxy"] == "all" and report.iloc[-1]["n_kept"] == 3
    assert report.iloc[-1]["dropped_edge"] == 1
    with pytest.raises(ValueError, match="not a clusterage dataset"):
        import h5py
        with h5py.File(tmp_path / "junk.h5", "w") as f:
            f["x"] = 1
        dataset.read(tmp_path / "junk.h5")


def test_missing_catalog_column_names_file_and_column(small_galaxy):
    files, data_dir, wcs = small_galaxy
    write_catalogs(files, data_dir, {"x": [1.0], "y": [1.0], "ra": [1.0], "dec": [1.0]}, [10.0],
                   drop_obs_cols=["PHANGS_Y"])
    with pytest.raises(CatalogError, match=r"obs-human-cluster-class12\.fits lacks column\(s\) PHANGS_Y"):
        read_catalog(files, data_dir)


def test_bad_ages_are_dropped_and_counted(small_galaxy):
    files, data_dir, _ = small_galaxy
    write_catalogs(files, data_dir, {"x": [200.0] * 3, "y": [200.0] * 3, "ra": [1.0] * 3,
                                     "dec": [1.0] * 3}, [0.0, np.nan, 10.0])
    cat, counts = read_catalog(files, data_dir)
    assert len(cat) == 1 and counts["dropped_bad_age"] == 2


def test_nan_or_infinite_positions_are_dropped_counted_and_named(small_galaxy, tmp_path, caplog):
    files, data_dir, wcs = small_galaxy
    xs, ys = np.array([200.0, np.nan, 150.0, 250.0]), np.array([200.0, 210.0, np.inf, 180.0])
    ra, dec = wcs.pixel_to_world_values(np.nan_to_num(xs), np.nan_to_num(ys, posinf=0.0))
    write_catalogs(files, data_dir, {"ID_PHANGS_CLUSTER": [11, 12, 13, 14], "x": xs, "y": ys,
                                     "ra": ra, "dec": dec}, [5.0, 100.0, 1000.0, 3.0])
    with caplog.at_level("WARNING", logger="clusterage.survey.catalog"):
        report = ingest_galaxy(files, data_dir, tmp_path / "c.h5", tmp_path / "r.csv")
    assert report.iloc[0]["dropped_bad_position"] == 2 and report.iloc[0]["n_kept"] == 2
    assert pd.read_csv(tmp_path / "r.csv").iloc[0]["dropped_bad_position"] == 2
    assert sorted(dataset.read_clusters(tmp_path / "c.h5")["cluster_id"]) == [11, 14]
    obs = files.catalog_relpaths()[0][0]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert f"PHANGS_X is NaN or infinite in {data_dir / obs} (ID_PHANGS_CLUSTER [12])" in messages
    assert f"PHANGS_Y is NaN or infinite in {data_dir / obs} (ID_PHANGS_CLUSTER [13])" in messages


def test_missing_or_truncated_or_wcs_less_mosaic_is_named(small_galaxy):
    files, data_dir, _ = small_galaxy
    cat, _ = read_catalog(files, data_dir)
    path = data_dir / files.image_relpath(2)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ImageError, match=path.name):
        extract(files, data_dir, cat, 112)
    write_mosaic(path, np.ones((400, 400)), None)
    with pytest.raises(ImageError, match="no celestial WCS"):
        extract(files, data_dir, cat, 112)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=path.name):
        extract(files, data_dir, cat, 112)


def test_obs_and_sed_tables_that_disagree_on_cluster_ids_are_refused(small_galaxy):
    from astropy.table import Table

    files, data_dir, _ = small_galaxy
    _, sed_rel = files.catalog_relpaths()[0]
    sed = Table.read(data_dir / sed_rel)
    sed["ID_PHANGS_CLUSTER"][0] = 999
    sed.write(data_dir / sed_rel, overwrite=True)
    with pytest.raises(CatalogError, match=r"disagree on ID_PHANGS_CLUSTER: 1 ids only in obs .*999"):
        read_catalog(files, data_dir)
