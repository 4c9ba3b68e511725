"""Explain one trained run: rebuild its test clusters exactly as its training saw them, take
Integrated Gradients and SmoothGrad of each (gradients.py), summarise them (attribution.py), and
write maps.h5, profiles.csv and occlusion.csv (schemas: docs/attribution.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from clusterage import __version__
from clusterage.atomic import atomic_path
from clusterage.galaxies import diameter_pixels
from clusterage.grid import Hyper, Setting, SplitSpec
from clusterage.survey import dataset, inputs
from clusterage.survey.splits import SPLITS
from clusterage.train.keep import load_model
from clusterage.train.training import sample_split, split_inputs

from .attribution import (
    ADDITIVE_METHODS,
    AGE_RANGES,
    INNER_RADIUS,
    METHOD_LABEL,
    OCCLUSION_COLUMNS,
    age_range_means,
    occlusion_curve,
    occlusion_diameters,
    profile_radii,
    radial_profile,
    radial_sum,
    spread_share,
)
from .gradients import IGResult, gradient_function, integrated_gradients, smoothgrad

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3


@dataclass
class ExplainedSplit:
    """The test clusters of a run, as its training saw them."""

    raw: np.ndarray        # (N, H, W, 5) raw five-filter cutouts (test-time occlusion)
    x: np.ndarray          # (N, H, W, C) the network input, masked and normalised
    log_age: np.ndarray    # (N,) true log ages
    table: pd.DataFrame    # the clusters' rows of the dataset's table
    visible: np.ndarray    # the model's mask: (H, W), or (N, H, W) for a mask in parsecs


def run_split_spec(meta: dict):
    """The run's ``SplitSpec`` and cross-validation fold (None: the fixed split), from its
    metadata."""
    recorded = meta["split"]
    spec = SplitSpec.from_config({k: v for k, v in recorded.items()
                                  if k in SplitSpec.__dataclass_fields__})
    fold = (int(recorded["fold"]), int(recorded["folds"])) if "fold" in recorded else None
    return spec, fold


def run_test_split(dataset_path, meta: dict) -> ExplainedSplit:
    """The test clusters of a run, rebuilt from its metadata by the training's own functions
    (``training.sample_split``, ``training.split_inputs``): the same split (order, grouping,
    fold), channels, masks (pixels, or parsecs at each cluster's galaxy) and normalisation."""
    attrs = dataset.read_attrs(dataset_path)
    want = meta.get("dataset", {}).get("content_sha256")
    if want and attrs.get("content_sha256") != want:
        raise ValueError(f"{dataset_path}: content differs from the dataset the run "
                         f"{meta.get('setting_name')} seed {meta.get('seed')} was trained on "
                         f"(content_sha256 {attrs.get('content_sha256')} != {want})")
    if attrs.get("view"):
        raise ValueError(f"{dataset_path} is the {attrs['view']} view of the dataset; "
                         f"attributions need the packed dataset (five filters)")
    clusters = dataset.read_clusters(dataset_path)
    setting = Setting(**meta["setting"])
    hyper = Hyper.from_config(meta["hyperparameters"])
    split, fold = run_split_spec(meta)
    rows = sample_split(clusters, setting, meta.get("sample_range") or {}, split,
                        int(attrs["cutout_size"]), fold)
    in_sample = np.sort(np.concatenate([rows[name] for name in SPLITS]))
    raw = dataset.read_rows(dataset_path, in_sample)
    data = split_inputs(inputs.select_channels(raw, setting.channels), in_sample, rows, clusters,
                        setting, hyper, meta["seed"])
    test = data.rows["test"]
    table = clusters.iloc[test].reset_index(drop=True)
    diameter = (diameter_pixels(setting.diameter, table["galaxy"].astype(str).to_numpy())
                if setting.unit == "pc" else setting.diameter)
    x = data.x["test"]
    return ExplainedSplit(raw=raw[np.searchsorted(in_sample, test)], x=x, log_age=data.y["test"],
                          table=table, visible=inputs.visible_mask(x.shape[1], setting.mask, diameter))


@dataclass
class Options:
    """How a run is explained; the defaults are the config schema's (attribution:)."""

    ig_steps: int = 64
    baseline: str = "zero"
    blur_sigma_px: float = 5.0
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15
    batch_size: int = 256
    cluster_maps: bool = True
    occlusion_step: int = 2
    occlusion_max_diameter: int = 80

    @classmethod
    def from_config(cls, cfg: dict) -> "Options":
        """The options of a config's ``attribution`` block (its ``settings`` and ``seeds`` choose
        the runs: ``plan.Plan``); an unknown key is an error."""
        options = {k: v for k, v in cfg.items() if k not in ("settings", "seeds")}
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown attribution key(s) {sorted(unknown)}; known: "
                             f"{sorted(cls.__dataclass_fields__)}")
        return cls(**options)


@dataclass
class _Attributions:
    """A run's attributions of its test clusters, in dex of log age, and their timings."""

    ig: IGResult          # in the model's scaled target
    maps: dict            # method -> (N, H, W, C) maps in dex
    ig_seconds: float
    smoothgrad_seconds: float


def explain_run(dataset_path, run_dir, out_maps, out_profiles, out_occlusion,
                options: Options | None = None, seed: int = 0) -> dict:
    """Integrated Gradients, SmoothGrad and test-time occlusion of a run's test clusters.

    Writes ``out_maps`` (HDF5), ``out_profiles`` (CSV, one row per test cluster, method and
    quantity: the cumulative |attribution| fraction within r = 0, 1, ... px, and for Integrated
    Gradients the cumulative signed attribution within r) and ``out_occlusion`` (CSV, the
    test-time occlusion curve; for a model trained with a mask, the header only). Schemas:
    docs/attribution.md. Attributions are in dex of log age: Integrated Gradients sum to the
    prediction at the cutout minus the prediction at the baseline.
    """
    options = options or Options()
    model, meta = load_model(run_dir)
    split = run_test_split(dataset_path, meta)
    lo, hi = meta["target_scaling"]["min"], meta["target_scaling"]["max"]
    span = (hi - lo) or 1.0
    att = _attribute(model, split, options, seed, span)
    pred = att.ig.output * span + lo
    t0 = time.perf_counter()
    occluded: dict = {}
    occlusion = _occlusion_table(model, split.raw, split.log_age, meta, options, lo, span, occluded)
    t_occ = time.perf_counter() - t0
    err = np.abs(att.ig.completeness_error) * span  # dex
    _log_timings(meta, options, att, t_occ, err, span)

    radial = _radial(att.maps)
    with atomic_path(out_profiles) as tmp:
        _profiles(radial, profile_radii(split.x.shape[1]), pred, split, meta).to_csv(
            tmp, index=False, float_format="%.6g")
    with atomic_path(out_occlusion) as tmp:
        occlusion.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out_maps) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_maps(f, split, meta, options, seed, att, radial, occluded, pred, lo, span)
    n = len(split.x)
    return {"n_test": int(n), "ig_seconds": att.ig_seconds,
            "smoothgrad_seconds": att.smoothgrad_seconds, "occlusion_seconds": t_occ,
            "completeness_error_median_dex": float(np.median(err)) if n else None}


def _attribute(model, split: ExplainedSplit, options: Options, seed: int,
               span: float) -> _Attributions:
    """Integrated Gradients and SmoothGrad of the test clusters, one compiled gradient for both."""
    x, visible = split.x, split.visible
    grad = gradient_function(model)
    t0 = time.perf_counter()
    ig = integrated_gradients(model, x, steps=options.ig_steps, baseline=options.baseline,
                              visible=visible, blur_sigma_px=options.blur_sigma_px,
                              batch_size=options.batch_size, grad=grad)
    t_ig = time.perf_counter() - t0
    sg = smoothgrad(model, x, samples=options.smoothgrad_samples, noise=options.smoothgrad_noise,
                    visible=visible, seed=seed, batch_size=options.batch_size, grad=grad)
    t_sg = time.perf_counter() - t0 - t_ig
    maps = {"integrated_gradients": ig.attributions * span, "smoothgrad": sg * span}
    return _Attributions(ig, maps, t_ig, t_sg)


def _log_timings(meta: dict, options: Options, att: _Attributions, t_occ: float,
                 err: np.ndarray, span: float) -> None:
    n = len(err)
    change = np.abs(att.ig.output - att.ig.baseline_output) * span
    log.info("%s seed %d: %d test clusters; IG (%d steps, %s baseline) %.1f s, SmoothGrad (%d "
             "samples) %.1f s, test-time occlusion %.1f s; IG completeness error median %.3g, "
             "max %.3g dex (mean |f(x) - f(baseline)| %.3g dex)", meta["setting_name"],
             meta["seed"], n, options.ig_steps, options.baseline, att.ig_seconds,
             options.smoothgrad_samples, att.smoothgrad_seconds, t_occ,
             np.median(err) if n else np.nan, err.max() if n else np.nan,
             change.mean() if n else np.nan)


def _radial(maps: dict) -> dict:
    """{(method, quantity): (N, R)} radial profiles of each method's maps (PROFILE_QUANTITIES)."""
    radial = {(method, "abs_fraction"): radial_profile(m) for method, m in maps.items()}
    radial.update({(method, "signed_sum"): radial_sum(maps[method]) for method in ADDITIVE_METHODS})
    for method in ADDITIVE_METHODS:
        log.info("%s beyond r = %d px: %.3f of |attribution| (cluster mean), %.3f of the "
                 "predictions' spread over the test clusters", METHOD_LABEL[method], INNER_RADIUS,
                 1 - np.nanmean(radial[method, "abs_fraction"][:, INNER_RADIUS]),
                 1 - spread_share(radial[method, "signed_sum"])[INNER_RADIUS])
    return radial


def _profiles(radial: dict, radii: np.ndarray, pred: np.ndarray, split: ExplainedSplit,
              meta: dict) -> pd.DataFrame:
    """profiles.csv: one row per test cluster, method and quantity."""
    profiles = []
    for (method, quantity), prof in radial.items():
        frame = pd.DataFrame(prof, columns=[f"r{r}" for r in radii])
        frame.insert(0, "quantity", quantity)
        frame.insert(0, "method", method)
        frame.insert(0, "log_age_pred", pred)
        frame.insert(0, "log_age_true", split.log_age)
        frame.insert(0, "cluster_id", split.table["cluster_id"].to_numpy())
        frame.insert(0, "galaxy", split.table["galaxy"].to_numpy())
        frame.insert(0, "seed", meta["seed"])
        frame.insert(0, "setting", meta["setting_name"])
        profiles.append(frame)
    return pd.concat(profiles, ignore_index=True)


def _write_maps(f: h5py.File, split: ExplainedSplit, meta: dict, options: Options, seed: int,
                att: _Attributions, radial: dict, occluded: dict, pred: np.ndarray, lo: float,
                span: float) -> None:
    """maps.h5: the run's attributes, the mask, test-time occlusion, the clusters and each
    method's maps and summaries."""
    x, setting = split.x, meta["setting"]
    f.attrs.update({
        "schema_version": SCHEMA_VERSION, "setting": meta["setting_name"],
        "seed": meta["seed"], "channels": setting["channels"],
        "bands": ["NUV", "U", "B", "V", "I"] if setting["channels"] == "five_band" else ["white_light"],
        "units": "dex of log10(age/yr)", "baseline": options.baseline,
        "blur_sigma_px": options.blur_sigma_px, "ig_steps": options.ig_steps,
        "smoothgrad_samples": options.smoothgrad_samples,
        "smoothgrad_noise": options.smoothgrad_noise, "smoothgrad_seed": seed,
        "age_ranges": [label for label, _, _ in AGE_RANGES],
        "cluster_pixel": [x.shape[1] // 2, x.shape[2] // 2],
        "software_version": f"clusterage {__version__}",
    })
    f.create_dataset("visible", data=split.visible)
    if occluded:  # each test cluster's prediction under each test-time mask
        masks = sorted({m for m, _ in occluded})
        diameters = sorted({d for _, d in occluded})
        g = f.create_group("occlusion")
        g.attrs["masks"] = masks
        g.create_dataset("diameters", data=np.asarray(diameters))
        g.create_dataset("log_age_pred", data=np.stack(
            [np.stack([occluded[m, d] for d in diameters]) for m in masks]))
    f.create_dataset("radii", data=profile_radii(x.shape[1]))
    grp = f.create_group("clusters")
    grp.create_dataset("galaxy", data=split.table["galaxy"].to_numpy().astype("S"))
    grp.create_dataset("cluster_id", data=split.table["cluster_id"].to_numpy())
    grp.create_dataset("log_age_true", data=split.log_age)
    grp.create_dataset("log_age_pred", data=pred)
    grp.create_dataset("log_age_baseline", data=att.ig.baseline_output * span + lo)
    grp.create_dataset("ig_completeness_error", data=att.ig.completeness_error * span)
    for method, m in att.maps.items():
        _write_method(f.create_group(method), m, split.log_age, radial, method,
                      options.cluster_maps)


def _write_method(g: h5py.Group, m: np.ndarray, log_age: np.ndarray, radial: dict, method: str,
                  cluster_maps: bool) -> None:
    means, counts = age_range_means(m, log_age)
    g.create_dataset("mean_abs_by_age", data=means)
    g.create_dataset("n_by_age", data=counts)
    g.create_dataset("profile", data=radial[method, "abs_fraction"])
    if (method, "signed_sum") in radial:
        g.create_dataset("radial_sum", data=radial[method, "signed_sum"])
    if cluster_maps:
        # float16 (3 significant digits) halves the largest output of a run; the
        # profiles, means and completeness errors above come from the float32 maps.
        g.create_dataset("maps", data=m.astype(np.float16),
                         chunks=(1, *m.shape[1:]) if len(m) else None,
                         compression="gzip", compression_opts=4, shuffle=True)


def _occlusion_table(model, raw, y, meta, options: Options, lo, span,
                     predictions: dict | None = None) -> pd.DataFrame:
    """Test-time occlusion of an unmasked run; no rows for a run trained with a mask."""
    setting = meta["setting"]
    if setting["mask"] != "none" and setting["diameter"] != 0:
        return pd.DataFrame(columns=OCCLUSION_COLUMNS)

    def predict(x):
        out = model.predict(x, batch_size=options.batch_size, verbose=0)
        return out.reshape(-1).astype(np.float64) * span + lo

    table = occlusion_curve(predict, raw, y, setting["channels"],
                            occlusion_diameters(options.occlusion_step, options.occlusion_max_diameter),
                            meta["hyperparameters"].get("normalisation", "instance"), predictions)
    table.insert(0, "seed", meta["seed"])
    table.insert(0, "setting", meta["setting_name"])
    return table[OCCLUSION_COLUMNS]
