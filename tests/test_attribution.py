"""Attributions of a trained model: Integrated Gradients, SmoothGrad, radial profiles and
test-time occlusion, on every installed Keras backend that attribution supports (TensorFlow, JAX)."""

import functools

import numpy as np
import pandas as pd
import pytest
from backends import run_on_backend

from clusterage.analysis import attribution as A
from clusterage.analysis import explain as E
from clusterage.analysis import gradients as G
from clusterage.survey import inputs

# Runs in a fresh process per backend (Keras picks its backend once, at import). A small CNN
# with non-zero biases (as after training) on 40 x 40 five-filter cutouts behind an inner mask.
PROBE = """
import json
import numpy as np
import keras
from clusterage.analysis import gradients as G
from clusterage.survey import inputs
from clusterage.train.model import build_cnn

rng = np.random.default_rng(0)
raw = rng.gamma(2.0, 1.0, (6, 40, 40, 5)).astype(np.float32)
visible = inputs.visible_mask(40, "inner", 12)
x = inputs.prepare(raw, "five_band", "inner", 12)
model = build_cnn(x.shape[1:], conv_filters=(4, 8, 8), dense_units=(16,), seed=3)
model.set_weights([w if w.ndim > 1 else rng.normal(0, 0.05, w.shape).astype(np.float32)
                   for w in model.get_weights()])
out = {"backend": keras.backend.backend()}
grad = G.gradient_function(model)  # one compiled gradient for every call below
for steps in (16, 256):
    ig = G.integrated_gradients(model, x, steps=steps, visible=visible, batch_size=64, grad=grad)
    scale = np.abs(ig.output - ig.baseline_output).mean()
    out[f"completeness_{steps}"] = (np.abs(ig.completeness_error) / scale).tolist()
    out[f"hidden_max_{steps}"] = float(np.abs(ig.attributions[:, ~visible]).max())
direct = model.predict(np.concatenate([x, np.zeros_like(x[:1])]), verbose=0)[:, 0]
out["f_x_error"] = float(np.abs(ig.output - direct[:-1]).max())
out["f_baseline_error"] = float(np.abs(ig.baseline_output - direct[-1]).max())
blur = G.integrated_gradients(model, x, steps=256, baseline="blur", visible=visible, batch_size=64,
                              grad=grad)
out["blur_hidden_max"] = float(np.abs(blur.attributions[:, ~visible]).max())
out["blur_completeness"] = (np.abs(blur.completeness_error)
                            / np.abs(blur.output - blur.baseline_output).mean()).tolist()
sg = G.smoothgrad(model, x, samples=4, visible=visible, seed=1, batch_size=7, grad=grad)
out["smoothgrad_hidden_max"] = float(np.abs(sg[:, ~visible]).max())
out["smoothgrad_visible_max"] = float(np.abs(sg[:, visible]).max())
sg_other_batch = G.smoothgrad(model, x, samples=4, visible=visible, seed=1, batch_size=64, grad=grad)
out["smoothgrad_batch_difference"] = float(np.abs(sg - sg_other_batch).max())

# The same quantities from PAIR's saliency package, one image at a time.
import saliency.core as saliency

def call_model(batch, call_model_args=None, expected_keys=None):
    return {saliency.INPUT_OUTPUT_GRADIENTS: grad(np.asarray(batch, np.float32))[1]}

n = 5  # saliency's rule: n points linspace(0, 1, n), each weighted 1/n
ours = G.path_integral(grad, x, np.zeros_like(x), np.linspace(0, 1, n), np.full(n, 1 / n), 9)
theirs = np.stack([saliency.IntegratedGradients().GetMask(xi, call_model, x_steps=n, batch_size=n)
                   for xi in x])
out["saliency_ig_difference"] = float(np.abs(ours.attributions - theirs).max())
out["saliency_ig_scale"] = float(np.abs(theirs).max())
vanilla = np.stack([saliency.GradientSaliency().GetMask(xi, call_model) for xi in x])
no_noise = G.smoothgrad(model, x, samples=3, noise=0.0, batch_size=5, grad=grad)
out["saliency_gradient_difference"] = float(np.abs(no_noise - vanilla).max())
out["saliency_gradient_scale"] = float(np.abs(vanilla).max())
print(json.dumps(out))
"""


@functools.cache
def probe(backend):
    return run_on_backend(backend, PROBE, timeout=300)


@pytest.mark.parametrize("backend", sorted(G.BACKENDS))
def test_integrated_gradients_sum_to_the_change_of_the_prediction(backend):
    """Completeness: sum(IG) = f(x) - f(baseline) within 3% of the mean |f(x) - f(baseline)|
    over the cutouts at 256 steps, for the zero and the blurred baseline (the residual is the quadrature error of a ReLU
    network's piecewise-constant path gradient, which shrinks as 1/steps)."""
    out = probe(backend)
    assert out["backend"] == backend
    assert max(out["completeness_256"]) < 0.03
    # More steps, smaller error: the residual is the quadrature's, not a wrong formula.
    assert np.median(out["completeness_256"]) < np.median(out["completeness_16"])
    assert max(out["blur_completeness"]) < 0.03
    # f(x) and f(baseline) are the model's own predictions.
    assert out["f_x_error"] < 1e-5 and out["f_baseline_error"] < 1e-5


@pytest.mark.parametrize("backend", sorted(G.BACKENDS))
def test_hidden_pixels_get_exactly_zero_attribution(backend):
    out = probe(backend)
    assert out["hidden_max_16"] == 0.0 and out["hidden_max_256"] == 0.0
    assert out["blur_hidden_max"] == 0.0
    assert out["smoothgrad_hidden_max"] == 0.0 and out["smoothgrad_visible_max"] > 0


@pytest.mark.parametrize("backend", sorted(G.BACKENDS))
def test_batched_attributions_match_the_saliency_package(backend):
    pytest.importorskip("saliency")
    out = probe(backend)
    assert out["saliency_ig_difference"] <= 1e-5 * out["saliency_ig_scale"]
    assert out["saliency_gradient_difference"] <= 1e-5 * out["saliency_gradient_scale"]
    assert out["smoothgrad_batch_difference"] < 1e-6 * out["smoothgrad_visible_max"]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_an_unsupported_backend_is_named(backend):
    import keras

    class Fake:
        pass

    real = keras.backend.backend
    keras.backend.backend = lambda: backend
    named = f"tensorflow and jax only; the active backend is '{backend}'"
    try:
        with pytest.raises(G.UnsupportedBackend, match=named):
            G.gradient_function(Fake())
    finally:
        keras.backend.backend = real


def test_radial_profile_is_the_share_within_each_radius():
    size = 112
    maps = np.zeros((3, size, size, 2), np.float32)
    maps[0, 56, 56, 0] = 2.0                 # all at the cluster pixel
    maps[1, 56, 56 + 20, 1] = -1.0           # all at 20 px: sign does not matter
    maps[2, 56, 56 + 12, 0] = 1.0            # half at exactly 12 px (hidden by inner D = 24) ...
    maps[2, 56 + 13, 56, 1] = 1.0            # ... half at 13 px (visible)
    prof = A.radial_profile(maps)
    radii = A.profile_radii(size)
    assert radii[0] == 0 and radii[-1] == 80 and prof.shape == (3, 81)  # corner pixel at 79.2 px
    assert np.all(prof[0] == 1.0)
    assert np.all(prof[1, :20] == 0) and np.all(prof[1, 20:] == 1)
    assert prof[2, 12] == 0.5 and prof[2, 13] == 1.0
    # The share within r = 12 is exactly what an inner mask of D = 24 hides.
    hidden = ~inputs.visible_mask(size, "inner", 24)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(4, size, size, 1))
    share = np.abs(noise[..., 0])[:, hidden].sum(axis=1) / np.abs(noise[..., 0]).sum(axis=(1, 2))
    np.testing.assert_allclose(A.radial_profile(noise)[:, 12], share, rtol=1e-12)
    assert np.isnan(A.radial_profile(np.zeros((1, 8, 8, 1)))).all()


def test_spread_share_counts_what_moves_the_prediction_between_clusters():
    """Attribution that is the same for every cluster, or cancels within a cluster, weighs in the
    |attribution| fraction but carries none of the predictions' spread; the spread share splits
    the variance of the predictions exactly between the pixels within r and those beyond."""
    size, n = 112, 200
    rng = np.random.default_rng(3)
    inner_value = rng.normal(size=n)             # what tells the clusters apart, at the cluster
    maps = np.zeros((n, size, size, 1))
    maps[:, 56, 56, 0] = inner_value
    maps[:, 56, 56 + 30, 0] = 5.0                # the same large attribution for every cluster
    maps[:, 56 + 30, 56, 0] = rng.normal(0, 3, n)  # large, but cancelled by its neighbour:
    maps[:, 56 + 31, 56, 0] = -maps[:, 56 + 30, 56, 0]
    sums = A.radial_sum(maps)
    np.testing.assert_allclose(sums[:, -1], maps.sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(sums[:, 12], inner_value)
    assert 1 - A.radial_profile(maps)[:, 12].mean() > 0.9  # |attribution| mostly beyond 12 px
    share = A.spread_share(sums)
    assert share[-1] == pytest.approx(1.0)
    assert share[12] == pytest.approx(1.0)                 # the spread all within 12 px

    # Now the environment moves the prediction too: the share beyond r is its part of the variance.
    outer_value = rng.normal(0, 0.5, n)
    maps[:, 56 - 20, 56, 0] = outer_value
    share = A.spread_share(A.radial_sum(maps))
    total = inner_value + outer_value
    expected = np.cov(inner_value, total, bias=True)[0, 1] / np.var(total)
    assert share[12] == pytest.approx(expected) and 0.7 < share[12] < 0.9
    assert share[-1] == pytest.approx(1.0)
    assert np.isnan(A.spread_share(sums[:1])).all()        # no spread over one cluster
    assert np.isnan(A.spread_share(np.ones((5, 81)))).all()  # nor over identical predictions


def test_age_range_means_by_true_age():
    maps = np.stack([np.full((4, 4, 2), v, np.float32) for v in (-1.0, 3.0, 5.0, 7.0)])
    means, counts = A.age_range_means(maps, np.array([6.5, 7.0, 7.9, 9.0]))
    assert counts.tolist() == [1, 2, 1]
    assert means[0].max() == 1.0 and means[1].max() == 4.0 and means[2].max() == 7.0
    means, counts = A.age_range_means(maps[:1], np.array([6.0]))
    assert counts.tolist() == [1, 0, 0] and np.isnan(means[1]).all()


def test_test_time_occlusion_builds_inputs_as_training_does():
    rng = np.random.default_rng(2)
    raw = rng.gamma(2.0, 1.0, (5, 32, 32, 5)).astype(np.float32)
    log_age = np.linspace(6, 9, 5)
    seen = []

    def predict(x):
        seen.append(x)
        return np.full(len(x), 7.5)

    table = A.occlusion_curve(predict, raw, log_age, "white_light", [0, 8, 16])
    assert list(zip(table["mask"], table["diameter"])) == [
        ("inner", 0), ("inner", 8), ("inner", 16), ("outer", 0), ("outer", 8), ("outer", 16)]
    assert len(seen) == 5  # D = 0 is predicted once, shared by both curves
    np.testing.assert_array_equal(seen[0], inputs.prepare(raw, "white_light", "none", 0))
    np.testing.assert_array_equal(seen[2], inputs.prepare(raw, "white_light", "inner", 16))
    np.testing.assert_array_equal(seen[3], inputs.prepare(raw, "white_light", "outer", 8))
    assert np.allclose(table["scatter"], 1.49 * np.median(np.abs(7.5 - log_age)))


def test_blur_baseline_keeps_the_mean_and_smooths():
    x = np.zeros((1, 40, 40, 1), np.float32)
    x[0, 20, 20, 0] = 1.0
    b = G.gaussian_blur(x, 2.0)
    assert abs(b.sum() - 1.0) < 1e-5 and b.max() < 0.05 and b[0, 20, 20, 0] == b.max()
    with pytest.raises(ValueError, match="too wide"):
        G.gaussian_blur(x, 20.0)
    with pytest.raises(ValueError, match="unknown baseline 'noise'"):
        G.make_baseline(x, "noise")


def test_a_run_with_another_dataset_is_refused(tmp_path):
    from clusterage.survey import dataset

    clusters = pd.DataFrame({"galaxy": ["ngc628c"] * 12, "cluster_id": np.arange(12),
                             "log_age": np.linspace(6, 9, 12), "x": 0.0, "y": 0.0, "ra": 0.0,
                             "dec": 0.0, "cluster_class": 1, "distance_mpc": 9.8})
    dataset.write(tmp_path / "d.h5", np.zeros((12, 16, 16, 5), np.float32), clusters,
                  source="synthetic", filters={})
    meta = {"setting_name": "full/five_band/none/true", "seed": 0,
            "dataset": {"content_sha256": "0" * 64}}
    with pytest.raises(ValueError, match="d.h5: content differs from the dataset the run"):
        E.run_test_split(tmp_path / "d.h5", meta)


@pytest.mark.parametrize("region", ["environment", "cluster"])
def test_a_model_that_reads_only_one_region_is_attributed_there(region):
    """The known answer in miniature: a model that sees only the pixels beyond r = 12 px (or
    only those within) gets all of its attribution there, by IG and by SmoothGrad."""
    import keras

    size = 40
    beyond = A.pixel_radius(size) > 12
    keep = (beyond if region == "environment" else ~beyond).astype("float32")[None, :, :, None]
    inp = keras.Input((size, size, 1))
    seen = keras.layers.Lambda(lambda t: t * keep)(inp)
    # Positive weights on positive pixels: every ReLU unit is active, no cutout gets a zero map.
    positive = keras.initializers.RandomUniform(0.0, 0.01, seed=0)
    hidden = keras.layers.Dense(4, activation="relu", kernel_initializer=positive)(
        keras.layers.Flatten()(seen))
    model = keras.Model(inp, keras.layers.Dense(1, kernel_initializer=positive)(hidden))
    x = np.random.default_rng(3).random((5, size, size, 1)).astype(np.float32)
    ig = G.integrated_gradients(model, x, steps=32, batch_size=40)
    sg = G.smoothgrad(model, x, samples=4, batch_size=40)
    for maps in (ig.attributions, sg):
        outside = 1 - A.radial_profile(maps)[:, 12]
        assert np.all(outside == (1.0 if region == "environment" else 0.0)), outside


def test_attribution_figures_are_drawn_before_any_run_is_explained(tmp_path):
    from clusterage.analysis.uncertainty import Bootstrap
    from clusterage.report import attribution_report as R

    R.write_tables([], [], [], tmp_path / "p.csv", tmp_path / "o.csv", Bootstrap(100, 0.95, 0))
    profiles, occlusion = pd.read_csv(tmp_path / "p.csv"), pd.read_csv(tmp_path / "o.csv")
    assert profiles.empty and occlusion.empty and "fraction_mean" in profiles.columns
    scatter = pd.DataFrame(columns=["case", "channels", "sample", "mask", "diameter",
                                    "shuffled_labels", "split", "scatter_mean", "scatter_std"])
    for name, draw in {"maps": lambda p: R.plot_maps([], p),
                       "profiles": lambda p: R.plot_profiles(profiles, p),
                       "occlusion": lambda p: R.plot_occlusion(occlusion, scatter, p)}.items():
        paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
        draw(paths)
        assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:5] == b"%PDF-"


def test_profile_table_averages_clusters_then_seeds(tmp_path):
    from clusterage.analysis.uncertainty import Bootstrap
    from clusterage.report import attribution_report as R

    files = []
    for seed, values in ((0, [0.2, 0.4]), (1, [0.5, 0.7])):
        frame = pd.DataFrame({"setting": "full/white_light/none/true", "seed": seed,
                              "galaxy": "ngc628c", "cluster_id": [1, 2], "log_age_true": 7.0,
                              "log_age_pred": 7.1, "method": "integrated_gradients",
                              "r0": 0.0, "r12": values, "r13": 1.0})
        files.append(tmp_path / f"s{seed}.csv")
        frame.to_csv(files[-1], index=False)
    table = R.profile_table(files, Bootstrap(100, 0.95, 0)).set_index("r")
    assert table.loc[12, "fraction_mean"] == pytest.approx(0.45)  # seeds 0.3 and 0.6
    # The seed spread as in the scatter tables: population standard deviation (ddof 0).
    assert table.loc[12, "fraction_std"] == pytest.approx(np.std([0.3, 0.6], ddof=0))
    assert table.loc[12, "n_seeds"] == 2 and table.loc[12, "n_clusters"] == 2
    shares = R.outside_share(files)
    assert shares["outside"].tolist() == pytest.approx([0.7, 0.4])


def test_profile_table_gives_the_spread_share_of_each_seed(tmp_path):
    """The signed sums of each run become one spread-share profile per seed, then mean and spread
    over seeds, beside the |attribution| fractions."""
    from clusterage.analysis.uncertainty import Bootstrap
    from clusterage.report import attribution_report as R

    files, expected = [], []
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        inner, outer = rng.normal(size=50), rng.normal(0, 0.5 + seed, 50)
        common = {"setting": "full/five_band/none/true", "seed": seed, "galaxy": "ngc628c",
                  "cluster_id": np.arange(50), "log_age_true": 7.0, "log_age_pred": 7.1,
                  "method": "integrated_gradients"}
        frame = pd.concat([
            pd.DataFrame({**common, "quantity": "abs_fraction", "r0": 0.1, "r12": 0.3, "r13": 1.0}),
            pd.DataFrame({**common, "quantity": "signed_sum", "r0": 0.0, "r12": inner,
                          "r13": inner + outer})])
        files.append(tmp_path / f"s{seed}.csv")
        frame.to_csv(files[-1], index=False)
        total = inner + outer
        expected.append(np.cov(inner, total, bias=True)[0, 1] / np.var(total))
    table = R.profile_table(files, Bootstrap(1000, 0.95, 0)).set_index(["quantity", "r"])
    assert set(table.index.get_level_values("quantity")) == {"abs_fraction", "spread_share"}
    assert table.loc[("abs_fraction", 12), "fraction_mean"] == pytest.approx(0.3)
    spread = table.loc[("spread_share", 12)]
    assert spread["fraction_mean"] == pytest.approx(np.mean(expected))
    assert spread["fraction_std"] == pytest.approx(np.std(expected))
    assert spread["n_seeds"] == 2 and spread["n_clusters"] == 50
    # its 95% interval: seeds and the 50 clusters redrawn
    assert spread["fraction_ci_low"] < spread["fraction_mean"] < spread["fraction_ci_high"]
    assert spread["fraction_ci_high"] - spread["fraction_ci_low"] > spread["fraction_std"]
    assert table.loc[("spread_share", 13), "fraction_mean"] == pytest.approx(1.0)
    shares = R.outside_share(files).set_index(["quantity", "seed"])["outside"]
    assert shares[("spread_share", 1)] == pytest.approx(1 - expected[1])
    assert expected[0] > expected[1]  # the environment moves seed 1's predictions more

    bad = pd.read_csv(files[0]).replace({"quantity": {"signed_sum": "median"}})
    bad.to_csv(files[0], index=False)
    with pytest.raises(ValueError, match="full/five_band/none/true seed 0: unknown quantity 'median'"):
        R.profile_table(files, Bootstrap(100, 0.95, 0))


def test_a_run_is_explained_on_exactly_its_test_clusters_with_its_own_masks(tmp_path):
    """explain_run loads the run's kept weights and rebuilds its test split with the training's
    functions: the clusters, their order and the predictions are the run's own, and a mask in
    parsecs hides a different number of pixels in each galaxy."""
    import h5py

    from clusterage.galaxies import diameter_pixels
    from clusterage.grid import Hyper, Setting, SplitSpec
    from clusterage.survey import dataset
    from clusterage.train.training import train

    n, size = 80, 32
    rng = np.random.default_rng(4)
    log_age = rng.uniform(6, 10, n)
    r2 = ((np.mgrid[:size, :size] - size // 2) ** 2).sum(axis=0)[None, :, :, None]
    images = np.exp(-r2 / (2 * (1 + log_age - 6)[:, None, None, None] ** 2)) + 0.05 * rng.random(
        (n, size, size, 5))
    galaxies = np.where(np.arange(n) % 2, "ngc1566", "ngc628c")  # 17.7 and 9.84 Mpc
    clusters = pd.DataFrame({"galaxy": galaxies, "cluster_id": np.arange(n), "log_age": log_age,
                             "x": 0.0, "y": 0.0, "ra": 0.0, "dec": 0.0, "cluster_class": 1,
                             "distance_mpc": np.where(galaxies == "ngc1566", 17.7, 9.84)})
    data = tmp_path / "d.h5"
    dataset.write(data, images.astype(np.float32), clusters, source="test", filters={})
    setting = Setting("white_light", "full", "inner", 40, unit="pc")
    hyper = Hyper(conv_filters=(4, 4, 4), dense_units=(8,), learning_rate=1e-3, batch_size=16,
                  epochs=1, patience=1, rotations=1)
    run = tmp_path / "run"
    train(data, run, setting, seed=1, hyper=hyper, split=SplitSpec(seed=5, fractions=(0.6, 0.2, 0.2)))
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in (("maps", "h5"), ("profiles", "csv"),
                                                       ("occlusion", "csv"))}
    E.explain_run(data, run, out["maps"], out["profiles"], out["occlusion"],
                  E.Options(ig_steps=8, smoothgrad_samples=2, batch_size=64), seed=0)

    tested = pd.read_csv(run / "predictions.csv").query("split == 'test'")
    profiles = pd.read_csv(out["profiles"])
    assert set(zip(profiles["method"], profiles["quantity"])) == {
        ("integrated_gradients", "abs_fraction"), ("integrated_gradients", "signed_sum"),
        ("smoothgrad", "abs_fraction")}
    explained = profiles.query("method == 'integrated_gradients' and quantity == 'abs_fraction'")
    assert list(explained["cluster_id"]) == list(tested["cluster_id"])
    assert list(explained["galaxy"]) == list(tested["galaxy"])
    np.testing.assert_allclose(explained["log_age_pred"], tested["log_age_pred"], atol=1e-4)
    with h5py.File(out["maps"], "r") as f:
        visible = f["visible"][()]
        maps = f["integrated_gradients/maps"][()]
        baseline = f["clusters/log_age_baseline"][()]
        error = f["clusters/ig_completeness_error"][()]
    # The signed sum over the whole cutout is the prediction less the baseline's (completeness).
    signed = profiles.query("method == 'integrated_gradients' and quantity == 'signed_sum'")
    last = f"r{A.profile_radii(size)[-1]}"
    np.testing.assert_allclose(signed[last].to_numpy(),
                               tested["log_age_pred"].to_numpy() - baseline + error, atol=2e-4)
    expected = inputs.visible_mask(size, "inner", diameter_pixels(40, tested["galaxy"].to_numpy()))
    assert visible.shape == (len(tested), size, size)
    np.testing.assert_array_equal(visible, expected)
    assert len({int((~v).sum()) for v in visible}) == 2  # one hidden disc per galaxy
    assert np.all(maps[~visible] == 0)
    assert pd.read_csv(out["occlusion"]).empty  # a masked model gets no test-time curve

    (run / "model.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="weights were not kept"):
        E.explain_run(data, run, out["maps"], out["profiles"], out["occlusion"], E.Options())
