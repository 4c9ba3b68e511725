"""Shared test helpers: small FITS mosaics and catalogs in the real MAST layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from clusterage.survey.mast import GalaxyFiles

REPO = Path(__file__).resolve().parents[1]

# The test files that take longest, longest first. ./test.sh hands whole files to its two workers
# in collection order (pytest-xdist --dist loadfile --no-loadscope-reorder), so these start first
# and the workers end together, instead of one worker starting the Slurm tests last.
LONGEST_FIRST = ("test_slurm.py", "test_figures.py", "test_training.py", "test_workflow.py",
                 "test_disputes.py", "test_report.py", "test_reruns.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


def tan_wcs(shape, crval=(24.17, 15.78), crpix_offset=(0.0, 0.0), scale_arcsec=0.03962):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = list(crval)
    w.wcs.crpix = [shape[1] / 2 + crpix_offset[0], shape[0] / 2 + crpix_offset[1]]
    w.wcs.cd = np.array([[-scale_arcsec / 3600, 0], [0, scale_arcsec / 3600]])
    return w


def write_mosaic(path: Path, data: np.ndarray, wcs: WCS | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = wcs.to_header() if wcs is not None else fits.Header()
    header["BUNIT"] = "ELECTRONS/S"
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path, overwrite=True)


def write_catalogs(files: GalaxyFiles, data_dir: Path, table: dict, ages_myr, drop_obs_cols=()):
    """Write obs and sed tables of the class-1/2 kind; class-3 tables get no rows."""
    n = len(ages_myr)
    ids = np.asarray(table.get("ID_PHANGS_CLUSTER", np.arange(1, n + 1)))
    obs = {"ID_PHANGS_CLUSTER": ids, "PHANGS_X": table["x"], "PHANGS_Y": table["y"],
           "PHANGS_RA": table["ra"], "PHANGS_DEC": table["dec"],
           "PHANGS_CLUSTER_CLASS_HUMAN": np.asarray(table.get("cls", np.ones(n, int)))}
    for c in drop_obs_cols:
        obs.pop(c)
    sed = {"ID_PHANGS_CLUSTER": ids, "PHANGS_AGE_MINCHISQ": np.asarray(ages_myr, float)}
    (obs12, sed12), (obs3, sed3) = files.catalog_relpaths()
    for rel, cols in ((obs12, obs), (sed12, sed)):
        p = data_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Table(cols).write(p, overwrite=True)
    for rel, cols in ((obs3, obs), (sed3, sed)):
        empty = {k: np.asarray(v)[:0] for k, v in cols.items()}
        Table(empty).write(data_dir / rel, overwrite=True)


@pytest.fixture
def small_galaxy(tmp_path):
    """A 400 x 400 px galaxy in 5 filters: pixel value encodes (band, row, col) exactly."""
    files = GalaxyFiles.from_config("ngc628c", None)
    shape = (400, 400)
    wcs = tan_wcs(shape)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    for b in range(5):
        write_mosaic(tmp_path / files.image_relpath(b), 1 + b * 1e6 + rows * 1000 + cols, wcs)
    xs = np.array([200.0, 120.3, 10.0, 300.0])
    ys = np.array([200.0, 250.6, 200.0, 100.0])
    ra, dec = wcs.pixel_to_world_values(xs, ys)
    write_catalogs(files, tmp_path, {"x": xs, "y": ys, "ra": ra, "dec": dec}, [5.0, 100.0, 1000.0, 3.0])
    return files, tmp_path, wcs


def validated(config: dict) -> dict:
    """A config completed with the schema's defaults, as the workflow reads it."""
    from snakemake.utils import validate

    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config
