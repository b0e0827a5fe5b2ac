"""Scaling: as scikit-learn's scalers, exactly invertible, safe on constant features, saved in models."""

import re

import pytest
import torch
from sklearn import preprocessing
from torch import nn

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.registry import get_registry
from optimlab.techniques import scaling

NAMES = get_registry("scaling").names()


def _data(seed: int, shape=(200, 5)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).exp() * 3.0 - 1.0  # skewed features


@pytest.mark.parametrize(
    ("name", "hyperparameters", "reference"),
    [
        ("standardize", {}, preprocessing.StandardScaler()),
        ("minmax", {}, preprocessing.MinMaxScaler()),
        ("minmax", {"feature_range": (-1.0, 2.0)}, preprocessing.MinMaxScaler(feature_range=(-1.0, 2.0))),
        ("robust", {}, preprocessing.RobustScaler()),
        ("robust", {"quantile_range": (10.0, 90.0)}, preprocessing.RobustScaler(quantile_range=(10.0, 90.0))),
    ],
)
@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scikit-learn's, on the feature with no values
def test_fitted_on_train_applied_to_test_like_scikit_learn(name, hyperparameters, reference, missing):
    train, test = _data(0, (200, 6)), _data(1, (50, 6))
    train[:, 3] = 2.5  # constant: scikit-learn's spread 1 (a data range of 1 for minmax)
    if missing:
        train[::7, 1] = train[3, 2] = test[::5, 0] = torch.nan  # missing: left out of the fit, kept
        train[:, 5] = torch.nan  # no values at all: NaN out
    scaler = scaling.create(name, **hyperparameters).fit(train)
    expected = reference.fit(train.numpy()).transform(test.numpy())
    torch.testing.assert_close(
        scaler(test), torch.from_numpy(expected), rtol=1e-12, atol=1e-12, equal_nan=True
    )


def test_per_channel_is_scikit_learns_standard_scaler_over_each_channels_pixels():
    images = _data(5, (40, 3, 4, 5))
    images[0, 1, 2, 3] = torch.nan
    pixels = images.movedim(1, -1).reshape(-1, 3).numpy()
    expected = preprocessing.StandardScaler().fit(pixels).transform(pixels)
    scaled = scaling.create("per_channel").fit(images)(images).movedim(1, -1).reshape(-1, 3)
    torch.testing.assert_close(scaled, torch.from_numpy(expected), rtol=1e-12, atol=1e-12, equal_nan=True)


# What each scaler promises about the training data it was fitted on, checked on its output y.
def _moments(y, dims):
    std, mean = torch.std_mean(y, dim=dims, correction=0)
    return torch.stack([mean, std - 1.0]).abs().max().item()


PROMISES = {
    "none": lambda x, y: (y - x).abs().max().item(),
    "standardize": lambda x, y: _moments(y, 0),
    "per_channel": lambda x, y: _moments(y, (0, 2, 3)),
    "minmax": lambda x, y: max(y.amin(0).abs().max().item(), (y.amax(0) - 1).abs().max().item()),
    "robust": lambda x, y: max(
        torch.quantile(y, 0.5, dim=0).abs().max().item(),  # the interpolated median, not torch's lower one
        (torch.quantile(y, 0.75, dim=0) - torch.quantile(y, 0.25, dim=0) - 1).abs().max().item(),
    ),
}


@pytest.mark.parametrize("name", NAMES)
def test_promised_statistics_exact_inverse_and_safe_constant_features(name):
    x = _data(2, (64, 3, 4, 4))
    x[:, 1, 2] = 7.5  # a constant feature (and part of a channel)
    x[:, 2] = -2.0  # a constant channel
    scaler = scaling.create(name).fit(x)
    y = scaler(x)
    assert torch.isfinite(y).all()
    constant = y[:, 2].flatten()
    assert torch.all(constant == constant[0])
    torch.testing.assert_close(scaler.inverse(y), x, rtol=0, atol=1e-12)
    varying = x.clone()
    varying[:, 1:] = _data(3, (64, 2, 4, 4))
    assert PROMISES[name](varying, scaling.create(name).fit(varying)(varying)) < 1e-9


def test_small_but_varying_features_are_still_scaled():
    x = torch.randn(500, 2) * torch.tensor([1e-7, 1e-30]) + torch.tensor([0.0, 1.0])  # 1e-30: rounding at 1
    y = scaling.create("standardize").fit(x)(x)
    assert y[:, 0].std(correction=0).item() == pytest.approx(1.0, rel=1e-4)
    assert torch.all(y[:, 1] == 0)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("standardize", preprocessing.StandardScaler()),
        ("minmax", preprocessing.MinMaxScaler()),
        ("robust", preprocessing.RobustScaler()),
    ],
)
def test_float32_features_a_few_ulps_apart_are_scaled_like_scikit_learn(name, reference):
    """float32 values of 1000 and 1000 + 16 float32 ulps (6.1e-5 each) are two values, not rounding
    noise: scikit-learn scales them to unit spread; a bound of 10 float32 eps of the center left them
    unscaled (standardize +-4.9e-4, minmax 0 and 9.8e-4)."""
    x = torch.full((100, 2), 1000.0)
    x[::2, 0] += 16 * 2.0**-14
    x[:, 1] = torch.linspace(-1.0, 1.0, 100)
    expected = torch.from_numpy(reference.fit(x.numpy()).transform(x.numpy()))
    torch.testing.assert_close(scaling.create(name).fit(x)(x), expected, rtol=1e-6, atol=1e-6)


def test_state_travels_in_the_models_state_dict():
    train = _data(4).float()
    model = nn.Sequential(scaling.create("robust").fit(train), nn.Linear(5, 2))
    fresh = nn.Sequential(scaling.create("robust"), nn.Linear(5, 2))
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh(train), model(train))


def test_unfitted_scalers_refuse_to_run_except_none():
    with pytest.raises(OptimlabError, match="not fitted"):
        scaling.create("standardize")(torch.ones(2, 2))
    x = torch.randn(3, 2)
    assert torch.equal(scaling.create("none")(x), x)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "none"])
@pytest.mark.parametrize(
    ("fitted", "given"), [((40, 1), (6, 5)), ((40, 5), (6, 5, 1)), ((40, 3, 4, 4), (6, 3, 4))]
)
def test_data_of_other_features_than_fitted_are_refused_as_scikit_learn_refuses_them(name, fitted, given):
    """A scaler fitted on one feature scaled 5 by that feature's statistics without a word, and (N, 5, 1)
    came back (N, 5, 5), by broadcasting; scikit-learn's scalers refuse features other than fitted."""
    train, data = _data(7, fitted), _data(8, given)
    given_as = data.flatten(1) if data[0].numel() != train[0].numel() else data  # (6, 5, 1): a 3-D array
    with pytest.raises(ValueError, match="features|dim 3"):
        preprocessing.StandardScaler().fit(train.flatten(1).numpy()).transform(given_as.numpy())
    scaler = scaling.create(name).fit(train)
    for method in (scaler, scaler.inverse):
        with pytest.raises(
            InvalidValueError, match=rf"shape {re.escape(str(tuple(given)))}.*\({fitted[1]},"
        ) as error:
            method(data)
        assert len(str(error.value).splitlines()) == 1


def test_examples_with_the_fitted_features_pass_under_any_batch_dimensions():
    train = _data(9, (40, 3, 4, 4))
    for name in ("standardize", "per_channel"):
        scaler = scaling.create(name).fit(train)
        torch.testing.assert_close(scaler(train[:2].unsqueeze(0))[0], scaler(train[:2]))  # (1, 2, 3, 4, 4)
        torch.testing.assert_close(scaler(train[0]), scaler(train[:1])[0])  # one example, no batch dim
    # Per channel, the statistics hold at any position: a larger image takes them too.
    scaler = scaling.create("per_channel").fit(train)
    std, mean = torch.std_mean(train, dim=(0, 2, 3), correction=0, keepdim=True)
    larger = _data(10, (2, 3, 8, 8))
    torch.testing.assert_close(scaler(larger), (larger - mean) / std)


@pytest.mark.parametrize("stored", [(16,), (4, 4), (1, 4, 4)])
def test_per_channel_fitted_in_an_example_shape_lays_the_statistics_out_as_stored(stored):
    """Images stored flat or without their channel, fitted as (1, 4, 4): one mean and spread for the
    channel's pixels, as the model that views them so normalizes them."""
    images = _data(2, (30, 1, 4, 4))
    scaler = scaling.create("per_channel").fit(images.reshape(30, *stored), shape=(1, 4, 4))
    std, mean = torch.std_mean(images, correction=0)
    torch.testing.assert_close(
        scaler(images.reshape(30, *stored)), ((images - mean) / std).reshape(30, *stored)
    )


def test_bad_data_and_values_are_explained():
    with pytest.raises(InvalidValueError, match="floating-point"):
        scaling.create("minmax").fit(torch.arange(6).reshape(3, 2))
    with pytest.raises(InvalidValueError, match="non-empty"):
        scaling.create("standardize").fit(torch.empty(0, 3))
    with pytest.raises(InvalidValueError, match="per-channel"):
        scaling.create("per_channel").fit(torch.randn(5))
    with pytest.raises(InvalidValueError, match=r"\(1, 3, 3\) for example shape.*10 values"):
        scaling.create("per_channel").fit(torch.randn(4, 10), shape=(1, 3, 3))
    with pytest.raises(InvalidValueError, match="feature_range"):
        scaling.create("minmax", feature_range=(1.0, 0.0))
    with pytest.raises(InvalidValueError, match="feature_range"):
        scaling.create("minmax", feature_range=(0.0, 1.0, 2.0))
    with pytest.raises(InvalidValueError, match="feature_range"):
        scaling.create("minmax", feature_range=(0.0, float("inf")))
    with pytest.raises(InvalidValueError, match=r"'quantile_range'.*in \[0, 100\]"):
        scaling.create("robust", quantile_range=(5.0, 150.0))
    with pytest.raises(UnknownNameError, match="Did you mean 'standardize'"):
        scaling.create("standardise")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "none"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_integer_data_are_refused_naming_their_dtype(name, dtype):
    """The refusal named the data by their shape alone ('invalid value (3, 2)'): the dtype, the reason, was
    left for the user to guess."""
    with pytest.raises(
        InvalidValueError, match=rf"{str(dtype)[6:]} tensor of shape \(3, 2\).*\.float\(\)"
    ) as error:
        scaling.create(name).fit(torch.arange(6).reshape(3, 2).to(dtype))
    assert len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize("name", [n for n in NAMES if n != "none"])
@pytest.mark.parametrize("infinity", [float("inf"), -float("inf")])
def test_an_infinite_training_value_is_refused_naming_where_as_scikit_learn_refuses_it(name, infinity):
    """An infinity made standardize's and minmax's statistics NaN (every value of its feature NaN out)."""
    train = _data(6, (20, 3, 2))
    train[4, 1, 0] = infinity
    with pytest.raises(ValueError, match="infinity"):
        preprocessing.StandardScaler().fit(train.flatten(1).numpy())
    with pytest.raises(
        InvalidValueError, match=rf"'{infinity} at example 4, feature \(1, 0\)'.*finite"
    ) as error:
        scaling.create(name).fit(train)
    assert len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "hyperparameters"), [("minmax", {}), ("minmax", {"feature_range": (0.0, 0.25)}), ("robust", {})]
)
def test_statistics_the_datas_dtype_cannot_hold_are_refused(name, hyperparameters):
    """float16 values from -60000 to 60000 (all finite) have a range of 120000 over float16's largest
    65504: minmax stored a scale of inf and mapped them to 0, 0 and NaN without a word (scikit-learn keeps
    its statistics in float64: -1, 0, 1 there, after x.float())."""
    x = torch.tensor([[-60000.0, 1.0], [-50000.0, 2.0], [0.0, 3.0], [50000.0, 4.0], [60000.0, 5.0]])
    with pytest.raises(InvalidValueError, match=r"float16.*feature \(0,\).*x\.float\(\)") as error:
        scaling.create(name, **hyperparameters).fit(x.half())
    assert len(str(error.value).splitlines()) == 1
    reference = {"minmax": preprocessing.MinMaxScaler, "robust": preprocessing.RobustScaler}[name]
    expected = reference(**hyperparameters).fit_transform(x.double().numpy())
    fitted = scaling.create(name, **hyperparameters).fit(x)  # float32 holds them
    torch.testing.assert_close(fitted(x), torch.from_numpy(expected).float())


def test_robust_fits_more_rows_than_torch_nanquantile_takes():
    """torch.nanquantile refuses more than 2^24 rows ('quantile() input tensor is too large'): robust
    failed on a column of 17M values in torch's words. Truth: numpy's nanpercentile, which scikit-learn's
    RobustScaler reads."""
    import numpy as np

    x = torch.rand(2**24 + 3, 1, generator=torch.Generator().manual_seed(0))
    x[::1000] = torch.nan
    scaler = scaling.create("robust", quantile_range=(10.0, 90.0)).fit(x)
    q10, median, q90 = np.nanpercentile(x.double().numpy(), [10, 50, 90], axis=0)
    torch.testing.assert_close(scaler.shift.double(), torch.from_numpy(median), rtol=1e-7, atol=0)
    torch.testing.assert_close(scaler.scale.double(), torch.from_numpy(q90 - q10), rtol=1e-7, atol=0)


def test_no_scaling_and_scalar_statistics_take_any_input():
    """none passes what it is given, a batch of a dict included; statistics of (N,) values (targets)
    apply to any shape."""
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long)}
    assert scaling.create("none")(batch) is batch
    targets = _data(11, (30,))
    scaler = scaling.create("standardize").fit(targets)
    std, mean = torch.std_mean(targets, correction=0)
    torch.testing.assert_close(scaler(targets.reshape(5, 6, 1)), ((targets - mean) / std).reshape(5, 6, 1))


def test_no_scaling_keeps_integer_token_ids_as_they_are():
    tokens = torch.randint(0, 50, (4, 7))
    scaler = scaling.create("none").fit(tokens)
    out = scaler(tokens)
    assert out.dtype == torch.int64 and torch.equal(out, tokens)
    embedding = nn.Embedding(50, 3)
    torch.testing.assert_close(nn.Sequential(scaler, embedding)(tokens), embedding.weight[tokens])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "none"])
@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_a_sparse_tensor_is_refused_in_one_line_at_fit_and_at_apply(name, layout):
    """A sparse tensor reached torch's kernels: 'Could not run aten::amin with arguments from the SparseCPU
    backend' (NotImplementedError) at fit, 'add(sparse, dense) is not supported' at apply, naming no
    scaler. Centring fills a sparse matrix's zeros, and scikit-learn's centring scaler refuses one
    ('Cannot center sparse matrices'): refused by name, with the way out."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    x = _data(12, (20, 3)).float()
    with pytest.raises(ValueError, match="Cannot center sparse matrices"):
        preprocessing.StandardScaler().fit(scipy_sparse.csr_matrix(x.numpy()))
    sparse = x.to_sparse() if layout == "coo" else x.to_sparse_csr()
    with pytest.raises(InvalidValueError, match=rf"float32 sparse_{layout} tensor.*x\.to_dense\(\)") as error:
        scaling.create(name).fit(sparse)
    assert len(str(error.value).splitlines()) == 1
    fitted = scaling.create(name).fit(x)
    for undo in (fitted, fitted.inverse):
        with pytest.raises(InvalidValueError, match=rf"sparse_{layout} tensor.*x\.to_dense\(\)") as error:
            undo(sparse)
        assert len(str(error.value).splitlines()) == 1
    torch.testing.assert_close(fitted(sparse.to_dense()), fitted(x))


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("standardize", preprocessing.StandardScaler()),
        ("minmax", preprocessing.MinMaxScaler()),
        ("robust", preprocessing.RobustScaler()),
    ],
)
def test_bool_features_are_scaled_as_their_0_1_values_as_scikit_learn_scales_them(name, reference):
    """Fitted on a 0/1 float column, the scaler applied to the same column as bools raised torch's
    'Subtraction, the - operator, with a bool tensor is not supported', where int columns were scaled.
    scikit-learn's transform reads bools as 0.0 and 1.0; so does this one."""
    flags = torch.rand(40, 3, generator=torch.Generator().manual_seed(13)) > 0.4
    scaler = scaling.create(name).fit(flags.float())
    expected = reference.fit(flags.float().numpy()).transform(flags.numpy())
    torch.testing.assert_close(scaler(flags), torch.from_numpy(expected).float())
    torch.testing.assert_close(scaler.inverse(flags), scaler.inverse(flags.float()))
