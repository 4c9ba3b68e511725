"""The synthetic PHANGS-like survey: real file formats, determinism, planted physics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from clusterage import galaxies
from clusterage.survey.mast import GalaxyFiles
from clusterage.synthetic import DEFAULTS, resolve, simulate, write_galaxy
from clusterage.synthetic.environment import keep_probability

HALF = 56


def _spearman(a, b):
    """Spearman rho and its two-sided p value (t approximation, normal tail)."""
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    rho = float(np.corrcoef(ra, rb)[0, 1])
    n = len(ra)
    t = rho * math.sqrt((n - 2) / max(1e-12, 1 - rho * rho))
    return rho, math.erfc(abs(t) / math.sqrt(2))


def _images(d: Path, files: GalaxyFiles):
    return [fits.getdata(d / files.image_relpath(b)) for b in range(5)]


def _catalog(d: Path, files: GalaxyFiles, table="obs") -> pd.DataFrame:
    parts = []
    for obs, sed in files.catalog_relpaths():
        parts.append(Table.read(d / (obs if table == "obs" else sed)).to_pandas())
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """NGC 628c at 30% of its real cluster count, default parameters."""
    d = tmp_path_factory.mktemp("syn")
    files = GalaxyFiles("ngc628c")
    truth = write_galaxy(d, "ngc628c", {"scale": 0.3, "seed": 3}, files)
    return d, files, truth


def test_files_in_real_formats(small):
    d, files, truth = small
    assert len(truth) == round(0.3 * galaxies.TABLE1["ngc628c"].n_clusters)
    wcs0 = None
    for b in range(5):
        path = d / files.image_relpath(b)
        with fits.open(path) as hdul:
            h = hdul[0].header
            assert hdul[0].data.dtype.kind == "f" and hdul[0].data.ndim == 2
            assert h["BUNIT"] == "ELECTRONS/S"
            assert h["PHOTFLAM"] > 0 and h["PHOTPLAM"] > 2000 and h["EXPTIME"] > 0
            w = WCS(h)
            assert w.has_celestial
            assert abs(w.proj_plane_pixel_scales()[0].to_value("arcsec") - 0.03962) < 1e-6
            # Off-footprint pixels are zero, as in the real drizzled mosaics.
            assert hdul[0].data[0, 0] == 0.0
            shape = hdul[0].data.shape
        if wcs0 is None:
            wcs0, shape0 = w, shape
        else:  # one pixel grid for all five filters
            assert shape == shape0
            np.testing.assert_allclose(w.wcs.crval, wcs0.wcs.crval)
            np.testing.assert_allclose(w.wcs.crpix, wcs0.wcs.crpix)
    assert (d / "synthetic-truth/ngc628c.csv").exists()

    obs = _catalog(d, files, "obs")
    sed = _catalog(d, files, "sed")
    need = ["INDEX", "ID_PHANGS_CLUSTER", "ID_PHANGS_CANDIDATE", "ID_PHANGS_ALLSOURCES",
            "PHANGS_X", "PHANGS_Y", "PHANGS_RA", "PHANGS_DEC", "PHANGS_CLUSTER_CLASS_HUMAN",
            "PHANGS_CLUSTER_CLASS_ML_VGG", "PHANGS_CI", "CC_CLASS"]
    for f in files.filters:
        need += [f"PHANGS_{f}_VEGA", f"PHANGS_{f}_VEGA_ERR", f"PHANGS_{f}_mJy",
                 f"PHANGS_{f}_mJy_ERR"]
    assert not set(need) - set(obs.columns)
    sed_need = ["ID_PHANGS_CLUSTER", "PHANGS_REDUCEDCHISQ_MINCHISQ"] + [
        f"PHANGS_{q}_MINCHISQ{e}" for q in ("AGE", "MASS", "EBV") for e in ("", "_ERR")]
    assert not set(sed_need) - set(sed.columns)
    assert len(obs) == len(truth) and obs["ID_PHANGS_CLUSTER"].is_unique
    # class12 file holds classes 1 and 2, class3 file holds class 3
    (o12, _), (o3, _) = files.catalog_relpaths()
    assert set(Table.read(d / o12)["PHANGS_CLUSTER_CLASS_HUMAN"]) <= {1, 2}
    assert set(Table.read(d / o3)["PHANGS_CLUSTER_CLASS_HUMAN"]) <= {3}

    # RA/Dec agree with the WCS at the 0-based pixel position
    ra, dec = wcs0.all_pix2world(obs["PHANGS_X"], obs["PHANGS_Y"], 0)
    np.testing.assert_allclose(obs["PHANGS_RA"], ra, atol=1e-9)
    np.testing.assert_allclose(obs["PHANGS_DEC"], dec, atol=1e-9)
    # The catalog age is the planted age, in Myr, except for the planted SED errors
    m = sed.merge(truth, left_on="ID_PHANGS_CLUSTER", right_on="cluster_id")
    errors = pd.read_csv(d / "synthetic-truth/sed_errors/ngc628c.csv")
    wrong = m["cluster_id"].isin(errors["cluster_id"])
    assert 0 < wrong.sum() == len(errors)
    np.testing.assert_allclose(np.log10(m.loc[~wrong, "PHANGS_AGE_MINCHISQ"]) + 6,
                               m.loc[~wrong, "log_age"], atol=1e-9)


def test_positions_are_zero_based_peaks(small):
    """The brightest clusters peak at the catalog's (PHANGS_X, PHANGS_Y), 0-based."""
    d, files, truth = small
    v = _images(d, files)[3]
    obs = _catalog(d, files).sort_values("PHANGS_F555W_mJy", ascending=False)
    checked = 0
    for _, c in obs.iterrows():
        x, y = int(round(c["PHANGS_X"])), int(round(c["PHANGS_Y"]))
        if not (5 <= x < v.shape[1] - 5 and 5 <= y < v.shape[0] - 5):
            continue
        box = v[y - 3 : y + 4, x - 3 : x + 4]
        py, px = np.unravel_index(np.argmax(box), box.shape)
        assert abs(px - 3) <= 1 and abs(py - 3) <= 1, (c["ID_PHANGS_CLUSTER"], px, py)
        checked += 1
        if checked == 5:
            break
    assert checked == 5


def test_coverage_cut_has_work(small):
    """Clusters flagged without full coverage really have zero/missing pixels in a cutout."""
    d, files, truth = small
    ims = _images(d, files)
    ny, nx = ims[0].shape
    for c in truth.itertuples():
        x, y = int(round(c.x)), int(round(c.y))
        inside = x - HALF >= 0 and y - HALF >= 0 and x + HALF <= nx and y + HALF <= ny
        covered = inside and all(
            np.all(im[y - HALF : y + HALF, x - HALF : x + HALF] != 0) for im in ims
        )
        assert covered == c.full_coverage, c.cluster_id
    lacking = 1 - truth["full_coverage"].mean()
    assert 0.0 < lacking < 0.15


def test_coverage_fraction_full_size():
    t = simulate("ngc3627", {"scale": 1.0})["truth"]
    assert len(t) == 958
    assert 0.03 <= 1 - t["full_coverage"].mean() <= 0.08


def test_ages_are_the_real_labels_at_scale_one():
    from clusterage.survey import reference

    t = simulate("ngc3351", {"scale": 1.0})["truth"]
    np.testing.assert_array_equal(np.sort(t["log_age"]), np.sort(reference.log_ages("ngc3351")))


def test_reference_cluster_ids_carry_each_real_cluster_with_its_own_age():
    from clusterage.survey import reference

    t = simulate("ngc3351", {"scale": 1.0, "cluster_ids": "reference", "edge_fraction": 0.0})["truth"]
    ref = reference.table().query("key == 'ngc3351'")
    got = sorted(zip(t["cluster_id"], t["log_age"]))
    assert got == sorted(zip(ref["cluster_id"], ref["log_age"]))
    assert t["full_coverage"].all()
    with pytest.raises(ValueError, match="cluster_ids 'reference'.*scale"):
        simulate("ngc3351", {"scale": 1.5, "cluster_ids": "reference"})


def test_deterministic(tmp_path):
    files = GalaxyFiles("ngc3351")
    outs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_galaxy(tmp_path / name, "ngc3351", {"scale": 0.1, "seed": seed}, files)
        outs.append({p.relative_to(tmp_path / name): p.read_bytes()
                     for p in sorted((tmp_path / name).rglob("*")) if p.is_file()})
    assert outs[0].keys() == outs[1].keys() and len(outs[0]) == 5 + 4 + 2
    for k in outs[0]:
        assert outs[0][k] == outs[1][k], k
    for k in outs[0]:
        assert outs[0][k] != outs[2][k], k


def _aperture(im, x, y, r=4.0):
    """Background-subtracted flux in a circular aperture (median of a 8-12 px annulus)."""
    xi, yi = int(round(x)), int(round(y))
    cut = im[yi - 12 : yi + 13, xi - 12 : xi + 13].astype(float)
    yy, xx = np.mgrid[-12:13, -12:13]
    rr = np.hypot(xx - (x - xi), yy - (y - yi))
    sky = np.median(cut[(rr >= 8) & (rr <= 12)])
    return (cut[rr <= r] - sky).sum()


def test_colours_follow_age(small):
    d, files, truth = small
    ims = _images(d, files)
    zp = np.array([fits.getheader(d / files.image_relpath(b))["ABZPT"] for b in range(5)])
    t = truth[truth["full_coverage"]]
    rows = []
    for c in t.itertuples():
        f = np.array([_aperture(im, c.x, c.y) for im in ims])
        if np.all(f[1:] > 0):
            m = zp - 2.5 * np.log10(np.where(f > 0, f, np.nan))
            rows.append((c.log_age, m[1] - m[2], m[3] - m[4]))
    a = pd.DataFrame(rows, columns=["log_age", "ub", "vi"])
    young, old = a[a["log_age"] < 7.0], a[a["log_age"] > 9.0]
    assert len(young) >= 10 and len(old) >= 5
    assert young["ub"].median() < old["ub"].median() - 0.3
    assert young["vi"].median() < old["vi"].median() - 0.2


def _annulus_statistic(d, files, truth):
    """Normalised standard deviation of the white light between 12 and 56 px of each cluster."""
    wl = np.mean(_images(d, files), axis=0)
    yy, xx = np.mgrid[-HALF:HALF, -HALF:HALF]
    ring = (np.hypot(xx, yy) >= 12) & (np.hypot(xx, yy) <= HALF)
    ages, stat = [], []
    for c in truth[truth["full_coverage"]].itertuples():
        x, y = int(round(c.x)), int(round(c.y))
        pix = wl[y - HALF : y + HALF, x - HALF : x + HALF][ring]
        ages.append(c.log_age)
        stat.append(pix.std() / abs(np.median(pix)))
    return _spearman(ages, stat)


def test_environment_encodes_age_only_with_env_strength(tmp_path):
    """Without a CNN: the surroundings' clumpiness tracks age at env_strength 1 (the real
    survey's level), more so when every cluster keeps its own surroundings, and not at 0."""
    files = GalaxyFiles("ngc628c")
    strong = 1.0 / DEFAULTS["env_memory_floor"]
    res = {}
    for env in (strong, 1.0, 0.0):
        d = tmp_path / f"env{env}"
        truth = write_galaxy(d, "ngc628c", {"scale": 0.5, "seed": 11, "env_strength": env}, files)
        res[env] = _annulus_statistic(d, files, truth)
    rho_strong, p_strong = res[strong]
    rho1, p1 = res[1.0]
    rho0, p0 = res[0.0]
    assert rho_strong < -0.25 and p_strong < 1e-4, res
    assert rho_strong < rho1 < -0.12 and p1 < 0.01, res
    assert abs(rho0) < 0.12 and p0 > 0.05, res


def test_surroundings_follow_the_age_less_often_as_clusters_drift_out():
    """The chance that a cluster's surroundings follow its own age: none at env_strength 0,
    falling with age to the floor at 1, every cluster's at a strength of 1 / floor."""
    ages = np.array([1.0, 10.0, 50.0, 300.0, 1e4])
    p = resolve({})
    at1 = keep_probability(ages, p)
    assert np.all(np.diff(at1) < 0) and at1[0] > 0.95
    assert at1[-1] == pytest.approx(p["env_memory_floor"])
    assert np.all(keep_probability(ages, resolve({"env_strength": 0.0})) == 0)
    strong = resolve({"env_strength": 1.0 / p["env_memory_floor"]})
    assert np.allclose(keep_probability(ages, strong), 1.0)


def test_defaults_resolve_and_bad_params():
    assert resolve({}) == DEFAULTS
    assert resolve({"scale": 0.5})["scale"] == 0.5
    with pytest.raises(ValueError, match="synthetic.scale"):
        resolve({"scale": 0})
    with pytest.raises(ValueError, match="synthetic.scale"):
        resolve({"scale": -1.0})
    assert resolve({"env_strength": 3.0})["env_strength"] == 3.0   # stronger than the real survey
    with pytest.raises(ValueError, match="synthetic.env_strength"):
        resolve({"env_strength": -0.1})
    with pytest.raises(ValueError, match="synthetic.env_memory_floor"):
        resolve({"env_memory_floor": 1.5})
    with pytest.raises(ValueError, match="synthetic.env_memory_myr"):
        resolve({"env_memory_myr": 0})
    with pytest.raises(ValueError, match="synthetic.env_memory_myr"):
        resolve({"env_memory_myr": "long"})
    with pytest.raises(ValueError, match="synthetic.bogus"):
        resolve({"bogus": 1})
    with pytest.raises(ValueError, match="synthetic.mass_range"):
        resolve({"mass_range": [1e6, 1e3]})
    assert resolve({"sed_errors": {"fraction": 0.2}})["sed_errors"] == {
        **DEFAULTS["sed_errors"], "fraction": 0.2}
    with pytest.raises(ValueError, match="synthetic.sed_errors.fraction"):
        resolve({"sed_errors": {"fraction": 1.5}})
    with pytest.raises(ValueError, match="synthetic.sed_errors.bogus"):
        resolve({"sed_errors": {"bogus": 1}})
    with pytest.raises(ValueError, match="ngc9999"):
        simulate("ngc9999", {})
    with pytest.raises(ValueError, match="ngc628c"):
        write_galaxy(Path("/nonexistent"), "ngc628c", {}, GalaxyFiles("ngc5068"))


def test_schema_documents_every_default():
    import yaml

    schema_path = Path(__file__).resolve().parents[1] / "workflow/schemas/config.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text())
    block = schema["properties"]["synthetic"]
    assert block.get("additionalProperties") is False
    props = block["properties"]
    assert set(props) == set(DEFAULTS)
    for key, value in DEFAULTS.items():
        assert props[key]["default"] == value, key
        assert props[key].get("description"), key
        if isinstance(value, dict):  # a block: each of its keys documented too
            assert props[key].get("additionalProperties") is False, key
            assert set(props[key]["properties"]) == set(value), key
            for sub, sub_value in value.items():
                assert props[key]["properties"][sub]["default"] == sub_value, (key, sub)
                assert props[key]["properties"][sub].get("description"), (key, sub)


def test_figures(small, tmp_path):
    from clusterage.synthetic.figures import plot_colour_colour, plot_example_cutouts

    d, files, truth = small
    out = plot_example_cutouts(d, "ngc628c", truth, tmp_path / "cutouts.png")
    obs = _catalog(d, files)
    ages = obs.merge(truth, left_on="ID_PHANGS_CLUSTER", right_on="cluster_id")["log_age"]
    out += plot_colour_colour(obs, tmp_path / "cc.png", log_age=ages)
    for p in out:
        assert p.exists() and p.stat().st_size > 5000, p


def test_example_cutouts_show_the_mosaic_pixels_with_aperture_and_scale_bar(small):
    from clusterage.synthetic.figures import (
        APERTURE_RADIUS_PX,
        asinh_stretch,
        draw_example_cutouts,
        pick_by_age,
    )

    d, files, truth = small
    fig = draw_example_cutouts(d, "ngc628c", truth)
    picks = pick_by_age(truth)
    axes = np.array(fig.axes).reshape(len(picks), 5)
    c = picks.iloc[1]
    x, y = int(round(c["x"])), int(round(c["y"]))
    band = 3
    cut = fits.getdata(d / files.image_relpath(band))[y - 56:y + 56, x - 56:x + 56].astype(float)
    (image,) = axes[1, band].get_images()
    assert np.allclose(image.get_array(), asinh_stretch(cut)[0])
    (aperture,) = [p for p in axes[1, band].patches if p.get_gid() == "aperture"]
    assert aperture.get_radius() == APERTURE_RADIUS_PX
    assert np.allclose(aperture.center, (56 + c["x"] - x, 56 + c["y"] - y))
    (bar,) = [a for a in axes[-1, 0].lines if a.get_gid() == "scale_bar"]
    assert np.ptp(bar.get_xdata()) == pytest.approx(1 / galaxies.PIXEL_SCALE_ARCSEC)
    (label,) = [t for t in axes[-1, 0].texts if t.get_gid() == "scale_bar_label"]
    pc = galaxies.pc_per_pixel(9.84) / galaxies.PIXEL_SCALE_ARCSEC
    assert label.get_text() == f'1" = {pc:.0f} pc'
    title = fig._suptitle.get_text()
    assert title.startswith("NGC 0628c (simulated)") and "asinh stretch" in title
    assert "4 px" in title


def _ub_vi(m_ab: np.ndarray) -> np.ndarray:
    return np.column_stack([m_ab[:, 1] - m_ab[:, 2], m_ab[:, 3] - m_ab[:, 4]])


def test_planted_sed_errors_are_wrong_but_plausible():
    """About `fraction` of the clusters get a catalog age wrong by >= 10x, mostly young dusty
    clusters catalogued as older, and the wrong solution still reproduces their colours."""
    from clusterage.synthetic import ssp

    sims = [simulate(g, {"scale": 0.5, "seed": 4}) for g in ("ngc1566", "ngc628c")]
    n = sum(len(s["truth"]) for s in sims)
    errors = pd.concat([s["sed_errors"] for s in sims], ignore_index=True)
    assert 0.03 * n <= len(errors) <= 0.05 * n + 2
    assert (errors["kind"] == "young_dusty").mean() >= 0.6
    young = errors[errors["kind"] == "young_dusty"]
    assert (young["true_log_age"] < 7.0).all() and (young["true_ebv"] >= 0.4).all()
    assert (young["catalog_log_age"] >= young["true_log_age"] + 1 - 1e-9).all()
    assert (young["catalog_ebv"] < young["true_ebv"]).all()
    old = errors[errors["kind"] == "old_metal_poor"]
    assert (old["catalog_log_age"] <= old["true_log_age"] - 1 + 1e-9).all()
    assert (old["true_metallicity"] == 0.004).all()
    # Plausible: the wrong (solar, catalog E(B-V)) model has the cluster's U-B and V-I.
    k = ssp.extinction_k("CCM89") * 3.1
    for s in sims:
        t = s["truth"].set_index("cluster_id")
        e = s["sed_errors"]
        if not len(e):
            continue
        c = t.loc[e["cluster_id"]]
        true_colours = _ub_vi(np.column_stack([c[f"m_ab_{f}"] for f in ssp.FILTERS]))
        model = ssp.abs_mag_ab(e["catalog_log_age"].to_numpy(), np.zeros(len(e), int))
        model = _ub_vi(model + k * e["catalog_ebv"].to_numpy()[:, None])
        rms = np.sqrt(((model - true_colours) ** 2).mean(axis=1))
        assert (rms <= 0.15 + 1e-6).all(), rms
        # the catalog columns carry exactly the wrong solution; the truth keeps the right one
        np.testing.assert_allclose(c["sed_log_age"], e["catalog_log_age"])
        np.testing.assert_allclose(c["log_age"], e["true_log_age"])


def test_sed_errors_are_seeded_and_can_be_off():
    a = simulate("ngc628c", {"scale": 0.3, "seed": 8})
    b = simulate("ngc628c", {"scale": 0.3, "seed": 8})
    pd.testing.assert_frame_equal(a["sed_errors"], b["sed_errors"])
    off = simulate("ngc628c", {"scale": 0.3, "seed": 8, "sed_errors": {"fraction": 0.0}})
    assert off["sed_errors"].empty
    np.testing.assert_array_equal(off["truth"]["sed_log_age"], off["truth"]["log_age"])
    # planting draws from its own stream: everything else of the survey is unchanged
    keep = [c for c in a["truth"].columns if not c.startswith("sed_")]
    pd.testing.assert_frame_equal(a["truth"][keep], off["truth"][keep])


# --- age-dependent shape of the cluster itself (reff_age_slope, young stars, young_ellipticity) ---

_MORPHOLOGY_KEYS = ("reff_age_slope", "young_stars_per_1e4msun", "young_stars_age_myr",
                    "young_stars_spread", "young_stars_mv_range", "young_stars_vega_colours",
                    "young_ellipticity")
_NEW_TRUTH_COLUMNS = ("axis_ratio", "position_angle_deg", "n_young_stars", "n_companions")


def _survey_bytes(d: Path) -> dict:
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_young_morphology_defaults_are_neutral(tmp_path):
    """The new keys default to neutral values: a survey made with them at their defaults, left
    out or given explicitly (with the companion keys, which do nothing while the switches are
    off, set to other values), is byte-identical in every file, and its truth table has no new
    column. That the switched-off path draws no random number from the existing streams (so
    the survey is also the one written before these keys existed) is checked by
    test_young_morphology_draws_from_its_own_streams."""
    switches = ("reff_age_slope", "young_stars_per_1e4msun", "young_ellipticity",
                "companions_per_cluster")
    assert {k: DEFAULTS[k] for k in switches} == dict.fromkeys(switches, 0.0)
    files = GalaxyFiles("ngc3351")
    base = {"scale": 0.1, "seed": 5}
    neutral = {**base, "reff_age_slope": 0.0, "young_stars_per_1e4msun": 0.0,
               "young_ellipticity": 0.0, "young_stars_age_myr": 30.0, "young_stars_spread": 1.0,
               "young_stars_mv_range": [-9.0, -8.0], "young_stars_vega_colours": [0.0] * 4,
               "companions_per_cluster": 0.0, "companions_age_myr": 5.0,
               "companions_radius_pc": [1.0, 2.0], "companions_age_scatter_dex": 0.5}
    on = {**base, "reff_age_slope": 0.2, "young_stars_per_1e4msun": 2.0, "young_ellipticity": 0.5,
          "companions_per_cluster": 2.0}
    truths = {name: write_galaxy(tmp_path / name, "ngc3351", params, files)
              for name, params in (("default", base), ("neutral", neutral), ("on", on))}
    default, explicit, switched = (_survey_bytes(tmp_path / name)
                                   for name in ("default", "neutral", "on"))
    assert default.keys() == explicit.keys() and len(default) == 5 + 4 + 2
    for k in default:
        assert default[k] == explicit[k], k
    assert not set(_NEW_TRUTH_COLUMNS) & set(truths["default"].columns)
    # switched on, the images, the catalogs' photometry and the truth change
    assert set(_NEW_TRUTH_COLUMNS) <= set(truths["on"].columns)
    for b in range(5):
        assert default[Path(files.image_relpath(b))] != switched[Path(files.image_relpath(b))], b


def test_young_morphology_draws_from_its_own_streams():
    """Switching the shapes and young stars on changes nothing else (every other truth column,
    the surroundings, the cluster light), and reff_age_slope changes only the sizes, by exactly
    (t / 10 Myr)^slope: none of them takes a random number from an existing stream, so with
    them off the survey is the one written before they existed."""
    base = {"scale": 0.3, "seed": 8}
    off = simulate("ngc628c", base)
    on = simulate("ngc628c", {**base, "young_stars_per_1e4msun": 2.0, "young_ellipticity": 0.5,
                              "companions_per_cluster": 2.0})
    keep = list(off["truth"].columns)
    pd.testing.assert_frame_equal(off["truth"], on["truth"][keep])
    for key in ("neighbours", "stars", "nebulae", "lanes"):
        pd.testing.assert_frame_equal(off[key], on[key])
    for key in ("cl_flux", "rsg_flux", "nb_flux", "st_flux", "neb_flux", "bg"):
        np.testing.assert_array_equal(off[key], on[key])
    assert off["young_stars"].empty and off["axis_ratio"] is None and off["companions"].empty

    slope = 0.3
    grown = simulate("ngc628c", {**base, "reff_age_slope": slope})
    t0, t1 = off["truth"], grown["truth"]
    sizes = ["reff_pc", "a_px"]
    pd.testing.assert_frame_equal(t0.drop(columns=sizes), t1.drop(columns=sizes))
    np.testing.assert_allclose(t1["reff_pc"] / t0["reff_pc"], (t0["age_myr"] / 10.0) ** slope,
                               rtol=1e-12)
    # the uncatalogued neighbours grow with their own ages too
    n0, n1 = off["neighbours"], grown["neighbours"]
    pd.testing.assert_frame_equal(n0.drop(columns="a_px"), n1.drop(columns="a_px"))
    np.testing.assert_allclose(n1["a_px"] / n0["a_px"],
                               (10.0 ** (n0["log_age"] - 6.0) / 10.0) ** slope, rtol=1e-12)


def _white_light_second_moment(d: Path, files: GalaxyFiles, truth: pd.DataFrame) -> np.ndarray:
    """Per cluster, sum(I r^2) / sum(I) of the background-subtracted white light within 5 px."""
    wl = np.mean(_images(d, files), axis=0)
    yy, xx = np.mgrid[-12:13, -12:13]
    rr = np.hypot(xx, yy)
    out = np.full(len(truth), np.nan)
    for i, c in enumerate(truth.itertuples()):
        x, y = int(round(c.x)), int(round(c.y))
        cut = wl[y - 12 : y + 13, x - 12 : x + 13].astype(float)
        if cut.shape != rr.shape or not c.full_coverage:
            continue
        light = np.clip(cut - np.median(cut[(rr >= 8) & (rr <= 12)]), 0, None) * (rr <= 5)
        out[i] = (light * rr**2).sum() / light.sum()
    return out


def test_reff_age_slope_makes_old_clusters_wider_in_the_images(tmp_path):
    """With reff_age_slope > 0 the same clusters (same masses, positions and surroundings) are
    wider in the white-light mosaic when old and narrower when younger than 10 Myr; old ones
    end up wider than young ones, which they are not without it."""
    files = GalaxyFiles("ngc628c")
    moments = {}
    for slope in (0.0, 0.3):
        d = tmp_path / f"s{slope}"
        truth = write_galaxy(d, "ngc628c", {"scale": 0.3, "seed": 12, "reff_age_slope": slope},
                             files)
        moments[slope] = _white_light_second_moment(d, files, truth)
    age = truth["age_myr"].to_numpy()
    ok = np.isfinite(moments[0.0])
    old, young = ok & (age > 100), ok & (age < 10)
    assert old.sum() >= 20 and young.sum() >= 40
    grew = moments[0.3] - moments[0.0]
    assert (grew[old] > 0).mean() >= 0.9, grew[old]
    assert (grew[young] < 0).mean() >= 0.8, grew[young]
    assert np.median(moments[0.3][old]) > np.median(moments[0.3][young]) + 1.5
    assert np.median(moments[0.0][old]) < np.median(moments[0.0][young]) + 1.0


def test_young_clusters_get_resolved_stars():
    """young_stars_per_1e4msun > 0: young clusters get a Poisson number of bright blue point
    sources scattered by young_stars_spread x R_eff, none older than young_stars_age_myr; they
    are drawn into the mosaic (before the PSF, exactly their flux) and count in the catalog's
    photometry when inside its aperture."""
    from clusterage.synthetic import clusters, ssp
    from clusterage.synthetic.survey import measured_flux, render_compact

    base = {"scale": 0.3, "seed": 9}
    rate = 2.0
    sim = simulate("ngc628c", {**base, "young_stars_per_1e4msun": rate})
    t = sim["truth"]
    n = t["n_young_stars"].to_numpy()
    age = t["age_myr"].to_numpy()
    young = age < DEFAULTS["young_stars_age_myr"]
    assert (n[young] > 0).sum() >= 10
    assert (n[~young] == 0).all()
    expected = rate * t["mass_formed"].to_numpy() / 1e4 * clusters.youth(age, sim["p"])
    assert abs(n.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())
    ys = sim["young_stars"]
    assert len(ys) == n.sum()
    np.testing.assert_array_equal(np.bincount(ys["cluster"], minlength=len(t)), n)
    sigma = DEFAULTS["young_stars_spread"] * t["reff_pc"].to_numpy()[ys["cluster"]] / sim["pcpp"]
    rms = np.sqrt(np.mean((ys["dx"] ** 2 + ys["dy"] ** 2) / (2 * sigma**2)))
    assert 0.85 < rms < 1.15, rms
    lo, hi = DEFAULTS["young_stars_mv_range"]
    assert ys["mv_vega"].between(lo, hi).all()
    # blue O/B stars behind their cluster's dust: dereddened, the configured Vega colours
    k = ssp.extinction_k("CCM89") * 3.1 * t["ebv"].to_numpy()[ys["cluster"], None]
    vega = ssp.zero_points_ab() - 2.5 * np.log10(sim["ys_flux"]) - k + ssp.vega_minus_ab()
    np.testing.assert_allclose(vega[:, 3] - ssp.distance_modulus(sim["info"].distance_mpc), ys["mv_vega"], atol=1e-9)
    np.testing.assert_allclose(np.column_stack([vega[:, 0] - vega[:, 1], vega[:, 1] - vega[:, 2],
                                                vega[:, 2] - vega[:, 3], vega[:, 3] - vega[:, 4]]),
                               np.broadcast_to(DEFAULTS["young_stars_vega_colours"], (len(ys), 4)),
                               atol=1e-9)

    off = simulate("ngc628c", base)
    added = [a - b for a, b in zip(render_compact(sim), render_compact(off))]
    x = t["x"].to_numpy()[ys["cluster"]] + ys["dx"].to_numpy()
    y = t["y"].to_numpy()[ys["cluster"]] + ys["dy"].to_numpy()
    ny, nx = added[0].shape
    inside = (x >= 0) & (x < nx - 1) & (y >= 0) & (y < ny - 1)
    for b in range(5):
        np.testing.assert_allclose(added[b].sum(dtype=float), sim["ys_flux"][inside, b].sum(),
                                   rtol=1e-3)
    # the catalog measures the stars within its 4 px aperture, and only those
    gain = measured_flux(sim) - measured_flux(off)
    near = np.hypot(ys["dx"], ys["dy"]).to_numpy() <= 4.0
    has_near = np.bincount(ys["cluster"][near], minlength=len(t)) > 0
    assert (gain[has_near] > 0).all() and (gain[~has_near] == 0).all()
    # a later age limit lets older clusters have stars too
    later = simulate("ngc628c", {**base, "young_stars_per_1e4msun": rate,
                                 "young_stars_age_myr": 30.0})["truth"]
    assert (later.loc[age >= 30.0, "n_young_stars"] == 0).all()
    assert (later.loc[(age >= 10.0) & (age < 30.0), "n_young_stars"] > 0).any()


def test_young_clusters_are_elongated():
    """young_ellipticity: q = 1 - e (1 - t / young_stars_age_myr) for young clusters, round
    ones from that age on; random position angles."""
    e = 0.6
    sim = simulate("ngc628c", {"scale": 0.3, "seed": 9, "young_ellipticity": e})
    t = sim["truth"]
    age = t["age_myr"].to_numpy()
    expected = 1.0 - e * np.clip(1.0 - age / DEFAULTS["young_stars_age_myr"], 0, 1)
    np.testing.assert_allclose(t["axis_ratio"], expected)
    assert (t.loc[age >= DEFAULTS["young_stars_age_myr"], "axis_ratio"] == 1.0).all()
    assert t["axis_ratio"].min() < 1.0 - 0.8 * e
    assert t["position_angle_deg"].between(0, 180).all() and t["position_angle_deg"].std() > 30


def test_elliptical_eff_stamps_are_exact():
    """The elliptical EFF stamp: at q = 1 the round stamp, at q < 1 a finely sampled elliptical
    profile, elongated along its position angle."""
    from clusterage.synthetic import render

    rng = np.random.default_rng(0)
    n, h = 5, 12
    fx, fy = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
    a = np.array([0.3, 0.8, 1.5, 3.0, 6.0])
    theta = rng.uniform(0, np.pi, n)
    np.testing.assert_allclose(render.eff_stamps_elliptical(fx, fy, a, np.ones(n), theta, h),
                               render.eff_stamps(fx, fy, a, h), rtol=1e-8, atol=1e-14)
    q = np.array([0.2, 0.4, 0.5, 0.7, 0.9])
    got = render.eff_stamps_elliptical(fx, fy, a, q, theta, h)
    assert np.allclose(got.sum(axis=(1, 2)), 1.0)
    over = 61
    sub = (np.arange(over) + 0.5) / over - 0.5
    grid = (np.arange(-h, h + 1)[:, None] + sub[None, :]).ravel()
    side = 2 * h + 1
    for i in range(n):
        X, Y = grid[None, :] - fx[i], grid[:, None] - fy[i]
        u = np.cos(theta[i]) * X + np.sin(theta[i]) * Y
        v = np.cos(theta[i]) * Y - np.sin(theta[i]) * X
        f = (1 + (q[i] * u * u + v * v / q[i]) / a[i] ** 2) ** -1.5
        f = f.reshape(side, over, side, over).sum(axis=(1, 3))
        np.testing.assert_allclose(got[i], f / f.sum(), atol=2e-4 * got[i].max())
        # more light along the position angle than across it
        d = np.arange(-h, h + 1)
        along = np.abs(np.cos(theta[i]) * d[None, :] + np.sin(theta[i]) * d[:, None])
        across = np.abs(np.cos(theta[i]) * d[:, None] - np.sin(theta[i]) * d[None, :])
        assert (got[i] * along).sum() > (got[i] * across).sum()


def test_coeval_companions_follow_the_cluster_own_age():
    """companions_per_cluster > 0: each cluster gets Poisson(rate x exp(-t / companions_age_myr))
    companions of its own age (not its environment donor's), at separations within
    companions_radius_pc; they are drawn into the mosaic with exactly their flux, vanish at
    env_strength 0 and are not stronger above env_strength 1."""
    from clusterage.synthetic import companions
    from clusterage.synthetic.survey import render_compact

    base = {"scale": 0.5, "seed": 4, "companions_per_cluster": 2.0, "companions_age_myr": 100.0}
    sim = simulate("ngc628c", base)
    t, comp = sim["truth"], sim["companions"]
    n = t["n_companions"].to_numpy()
    age = t["age_myr"].to_numpy()
    expected = 2.0 * np.exp(-age / 100.0)
    np.testing.assert_allclose(companions.expected_count(age, sim["p"]), expected)
    assert abs(n.sum() - expected.sum()) < 5 * np.sqrt(expected.sum())
    assert n[age < 10].mean() > 1.2 and (n[age > 2000] == 0).all()
    np.testing.assert_array_equal(np.bincount(comp["cluster"], minlength=len(t)), n)
    # the cluster's own age, not the donor's: borrowed surroundings do not move it
    borrowed = ~t["env_own"].to_numpy()[comp["cluster"]]
    assert borrowed.sum() >= 20
    offset = comp["log_age"].to_numpy() - t["log_age"].to_numpy()[comp["cluster"]]
    assert np.abs(offset[borrowed]).max() < 5 * DEFAULTS["companions_age_scatter_dex"]
    own_log_age = t["log_age"].to_numpy()[comp["cluster"]]
    unclipped = (own_log_age > 6.5) & (own_log_age < 9.5)      # ages are clipped to 6.0-10.1
    assert abs(np.std(offset[unclipped]) - DEFAULTS["companions_age_scatter_dex"]) < 0.02
    sep_pc = np.hypot(comp["dx"], comp["dy"]).to_numpy() * sim["pcpp"]
    lo, hi = DEFAULTS["companions_radius_pc"]
    assert sep_pc.min() >= lo - 1e-9 and sep_pc.max() <= hi + 1e-9
    # at this distance (1.9 pc/px) most fall in the ring an inner mask of D = 12 px leaves
    assert ((sep_pc / sim["pcpp"] >= 6) & (sep_pc / sim["pcpp"] < 12)).mean() > 0.6

    off = simulate("ngc628c", {"scale": 0.5, "seed": 4})
    added = [a - b for a, b in zip(render_compact(sim), render_compact(off))]
    x = t["x"].to_numpy()[comp["cluster"]] + comp["dx"].to_numpy()
    y = t["y"].to_numpy()[comp["cluster"]] + comp["dy"].to_numpy()
    ny, nx = added[0].shape
    inside = (x >= 32) & (x < nx - 33) & (y >= 32) & (y < ny - 33)   # whole EFF stamp inside
    assert inside.sum() > 0.8 * len(comp)
    for b in range(5):
        total = added[b].sum(dtype=float)
        assert sim["comp_flux"][inside, b].sum() * 0.95 < total <= sim["comp_flux"][:, b].sum() * 1.001

    assert simulate("ngc628c", {**base, "env_strength": 0.0})["companions"].empty
    strong = simulate("ngc628c", {**base, "env_strength": 3.33})
    np.testing.assert_array_equal(strong["truth"]["n_companions"], n)


def test_companion_keys_are_validated():
    for key, bad in (("companions_per_cluster", -1.0), ("companions_age_myr", 0.0),
                     ("companions_radius_pc", [24.0, 8.0]), ("companions_radius_pc", [-1.0, 8.0]),
                     ("companions_age_scatter_dex", -0.1)):
        with pytest.raises(ValueError, match=f"synthetic.{key}"):
            resolve({key: bad})


def test_young_morphology_keys_are_validated():
    for key, bad in (("reff_age_slope", -0.1), ("young_stars_per_1e4msun", -1.0),
                     ("young_stars_age_myr", 0.0), ("young_stars_spread", -1.0),
                     ("young_ellipticity", 0.95), ("young_ellipticity", -0.1),
                     ("young_stars_mv_range", [-5.0, -7.0]),
                     ("young_stars_vega_colours", [0.0, 0.0, 0.0]),
                     ("young_stars_per_1e4msun", "many")):
        with pytest.raises(ValueError, match=f"synthetic.{key}"):
            resolve({key: bad})
    assert resolve({"young_ellipticity": 0.9, "reff_age_slope": 0.5})["young_ellipticity"] == 0.9
    assert set(_MORPHOLOGY_KEYS) <= set(DEFAULTS)


def test_docs_table_lists_every_default_as_the_schema_does():
    """docs/synthetic-survey.md, "Defaults": one row per key of DEFAULTS, with its default and
    (for plain keys) the schema's description word for word."""
    import re

    import yaml

    root = Path(__file__).resolve().parents[1]
    props = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())[
        "properties"]["synthetic"]["properties"]
    text = (root / "docs/synthetic-survey.md").read_text().split("\n## Defaults\n", 1)[1]
    rows = {}
    for line in text.split("\n## ", 1)[0].splitlines():
        if m := re.match(r"\| `(\w+)` \| `(.*)` \| (.*) \|$", line):
            rows[m.group(1)] = (yaml.safe_load(m.group(2)), m.group(3))
    assert list(rows) == list(DEFAULTS)
    for key, (default, meaning) in rows.items():
        assert default == DEFAULTS[key], key
        if not isinstance(DEFAULTS[key], dict):
            assert meaning == " ".join(props[key]["description"].split()), key
