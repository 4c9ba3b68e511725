"""The scatter metric, the split and the null predictor against docs/method.md's reference numbers."""

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from clusterage.metrics import null_predictor, predictive_power, relative_error, scatter
from clusterage.survey.splits import sample_indices, split_indices


def test_scatter_is_1_49_times_the_median_absolute_error():
    y_true = np.array([7.0, 8.0, 9.0, 10.0, 6.0])
    y_pred = y_true + np.array([0.1, -0.2, 0.3, -0.4, 5.0])  # one outlier barely matters
    assert scatter(y_pred, y_true) == pytest.approx(1.49 * 0.3)


def test_scatter_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        scatter(np.zeros(3), np.zeros(4))


def test_predictive_power_and_relative_error():
    assert predictive_power(1.22, 0.45) == pytest.approx((1.22**2 - 0.45**2) / 1.22**2)
    assert predictive_power(1.0, 1.0) == 0
    assert relative_error(1.2, 0.6) == pytest.approx(50.0)


@pytest.fixture(scope="module")
def reference_ages():
    with files("clusterage.data").joinpath("phangs_reference_ages.csv").open() as fh:
        return pd.read_csv(fh)["log_age"].to_numpy()


def test_split_is_70_15_15_and_a_partition(reference_ages):
    n = len(reference_ages)
    split = split_indices(n, 42)
    allidx = np.concatenate(list(split.values()))
    assert sorted(allidx) == list(range(n))
    assert [len(split[k]) for k in ("train", "validation", "test")] == [6055, 1298, 1298]


@pytest.mark.parametrize("sample, lo, hi, n, mean, expected", [
    ("full", None, None, 8651, 7.315205, (1.2200, 1.0721, 1.2200)),
    ("no_extremes", 7.0, 9.5, 4362, 8.099079, (0.5676, 0.5632, 0.6138)),
])
def test_null_predictor_reproduces_the_reference_numbers(reference_ages, sample, lo, hi, n, mean, expected):
    """docs/method.md: split seed 42 on the 8651 real labels gives exactly these null scatters."""
    idx = sample_indices(reference_ages, lo, hi)
    assert len(idx) == n
    ages = reference_ages[idx]
    result = null_predictor(ages, split_indices(len(ages), 42))
    assert result["train_mean_log_age"] == pytest.approx(mean, abs=1e-6)
    got = (result["train"], result["validation"], result["test"])
    np.testing.assert_allclose(got, expected, atol=5e-5)


def test_split_fractions_are_validated():
    with pytest.raises(ValueError, match="split.fractions"):
        split_indices(100, 42, (0.5, 0.5, 0.5))
