"""What the CNN sees: masks, normalisation, white light, augmentation (docs/method.md)."""

import numpy as np
import pytest

from clusterage.survey import inputs


@pytest.mark.parametrize("diameter", [2, 12, 24, 40, 80])
def test_inner_mask_hides_a_disc_of_area_pi_d2_over_4(diameter):
    hidden = ~inputs.visible_mask(112, "inner", diameter)
    area = np.pi * diameter**2 / 4
    # Pixel-counting a disc: the error is of the order of its perimeter, pi * D.
    assert abs(hidden.sum() - area) <= np.pi * diameter / 2 + 1


def test_mask_is_centred_on_the_cluster_pixel():
    hidden = ~inputs.visible_mask(112, "inner", 2)
    assert hidden[56, 56]
    rows, cols = np.nonzero(hidden)
    assert rows.mean() == 56 and cols.mean() == 56


@pytest.mark.parametrize("diameter", [0, 10, 24, 80])
def test_inner_and_outer_split_the_pixels_exactly(diameter):
    inner = inputs.visible_mask(112, "inner", diameter)
    outer = inputs.visible_mask(112, "outer", diameter)
    if diameter == 0:
        assert inner.all() and outer.all()
    else:
        assert not (inner & outer).any()
        assert (inner | outer).all()


def test_diameter_zero_changes_nothing():
    rng = np.random.default_rng(0)
    images = rng.random((3, 112, 112, 5), dtype=np.float32) * 50
    for mask in ("none", "inner", "outer"):
        np.testing.assert_array_equal(inputs.prepare(images, "five_band", mask, 0),
                                      inputs.prepare(images, "five_band", "none", 0))


def test_normalisation_uses_only_visible_pixels_and_zeroes_the_rest():
    rng = np.random.default_rng(1)
    images = rng.random((4, 112, 112, 5), dtype=np.float32)
    images[:, 56, 56, :] = 1000.0  # a bright cluster peak that the inner mask hides
    x = inputs.prepare(images, "five_band", "inner", 24)
    hidden = ~inputs.visible_mask(112, "inner", 24)
    assert (x[:, hidden, :] == 0).all()
    visible = x[:, ~hidden, :]
    # Had the hidden peak entered the max, the visible pixels would all sit near 0.
    np.testing.assert_allclose(visible.max(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(visible.min(axis=(1, 2)), 0.0, atol=1e-6)


def test_instance_normalisation_keeps_the_colours():
    """One min and max over all channels: flux ratios between filters survive."""
    base = np.random.default_rng(2).random((1, 112, 112, 1), dtype=np.float32) + 1
    images = np.concatenate([base * k for k in (1, 2, 3, 4, 5)], axis=-1)
    x = inputs.normalise(images, np.ones((112, 112), bool), "instance")
    assert x.max() == pytest.approx(1.0) and x.min() == pytest.approx(0.0)
    # Channel order of brightness is kept, unlike per-channel scaling.
    means = x.mean(axis=(0, 1, 2))
    assert np.all(np.diff(means) > 0)
    y = inputs.normalise(images, np.ones((112, 112), bool), "channel")
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), y.mean(axis=(0, 1, 2))[0], rtol=1e-5)


def test_white_light_is_the_mean_of_the_raw_filters_before_normalisation():
    rng = np.random.default_rng(3)
    images = rng.random((2, 112, 112, 5), dtype=np.float32) * np.array([1, 10, 100, 1000, 5], np.float32)
    wl = inputs.select_channels(images, "white_light")
    assert wl.shape == (2, 112, 112, 1)
    np.testing.assert_allclose(wl[..., 0], images.mean(axis=-1), rtol=1e-6)
    x = inputs.prepare(images, "white_light", "none", 0)
    expected = (wl - wl.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(wl, axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)


def test_flat_cutout_normalises_to_zeros_not_nan():
    x = inputs.normalise(np.full((1, 8, 8, 5), 3.0, np.float32), np.ones((8, 8), bool))
    assert np.isfinite(x).all() and (x == 0).all()


def test_rotations_quadruple_the_train_set_with_exact_rotations():
    rng = np.random.default_rng(4)
    x = rng.random((3, 8, 8, 2), dtype=np.float32)
    y = np.array([6.0, 7.0, 8.0])
    xa, ya = inputs.augment(x, y, rotations=4)
    assert xa.shape == (12, 8, 8, 2)
    np.testing.assert_array_equal(ya, np.tile(y, 4))
    np.testing.assert_array_equal(xa[3:6], np.rot90(x, 1, axes=(1, 2)))
    np.testing.assert_array_equal(xa[9:12, :, :, 0], np.rot90(x[..., 0], 3, axes=(1, 2)))


@pytest.mark.parametrize("bad", [dict(channels="rgb"), dict(mask="ring"), dict(diameter=-2)])
def test_bad_settings_are_refused_with_the_value_named(bad):
    args = dict(channels="five_band", mask="inner", diameter=4) | bad
    with pytest.raises(ValueError, match=str(list(bad.values())[0]).strip("-")):
        inputs.prepare(np.zeros((1, 16, 16, 5), np.float32), **args)


def test_one_diameter_per_cutout_masks_each_as_its_own_scalar_mask():
    rng = np.random.default_rng(1)
    images = rng.random((4, 112, 112, 5), dtype=np.float32) * 50
    diameters = np.array([24.0, 6.4, 0.0, 90.3])
    for mask in ("inner", "outer"):
        together = inputs.prepare(images, "white_light", mask, diameters)
        for i, d in enumerate(diameters):
            np.testing.assert_array_equal(together[i], inputs.prepare(images[i:i + 1], "white_light", mask, d)[0])
    assert inputs.visible_mask(112, "inner", diameters).shape == (4, 112, 112)
