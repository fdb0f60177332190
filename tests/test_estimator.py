"""fastkm.KMeans follows scikit-learn's estimator conventions."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import fastkm
from fastkm import KMeans
from fastkm.testing import assert_fits_agree, fit_summary

from .conftest import make_separated

X, TRUE_LABELS, CENTERS, INIT = make_separated(600, 3, 4, seed=21)


def test_passes_scikit_learn_check_estimator():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks", reason="needs scikit-learn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "does not inherit from BaseEstimator" and skip notices
        results = estimator_checks.check_estimator(
            KMeans(),
            on_fail=None,
            on_skip=None,
            expected_failed_checks={
                # scikit-learn marks this check as an expected failure for its own KMeans too:
                # with random seeding, weights and repetitions draw different seeds. The
                # deterministic version of the property is test_sample_weight_equals_repeating_points.
                "check_sample_weight_equivalence_on_dense_data": "random seeding differs, see test_lloyd.py",
            },
        )
    failed = {r["check_name"]: str(r["exception"])[:500] for r in results if r["status"] == "failed"}
    assert not failed
    passed = [r for r in results if r["status"] == "passed"]
    assert len(passed) >= 40


@pytest.mark.parametrize("readonly_memmap", [False, True])
def test_passes_scikit_learn_clustering_check(readonly_memmap):
    """check_estimator runs the clusterer checks only for ClusterMixin subclasses: run them here."""
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks", reason="needs scikit-learn")
    estimator_checks.check_clustering("KMeans", KMeans(), readonly_memmap=readonly_memmap)


def test_clone_pipeline_and_grid_search():
    pytest.importorskip("sklearn", reason="needs scikit-learn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # clone: a new, unfitted estimator with the same parameters
    model = KMeans(3, init="random", n_init=2, random_state=0).fit(X)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert not hasattr(copy, "cluster_centers_")
    # a pipeline clusters the scaled data: the same as scaling by hand, then fitting
    pipeline = make_pipeline(StandardScaler(), KMeans(4, random_state=0, backend="numpy")).fit(X)
    scaled = StandardScaler().fit_transform(X)
    by_hand = KMeans(4, random_state=0, backend="numpy").fit(scaled)
    np.testing.assert_allclose(pipeline[-1].cluster_centers_, by_hand.cluster_centers_, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pipeline.predict(X), by_hand.predict(scaled))
    # grid search scores each candidate by score (= -inertia on the held-out fold), so more clusters win,
    # and refits the winner on all the data
    search = GridSearchCV(KMeans(random_state=0), {"n_clusters": [2, 4, 6]}, cv=3).fit(X)
    means = search.cv_results_["mean_test_score"]
    assert np.all(means < 0) and np.all(np.diff(means) > 0)
    assert search.best_params_["n_clusters"] == 6
    assert search.best_estimator_.cluster_centers_.shape == (6, 3)
    assert search.best_estimator_.score(X) == pytest.approx(-search.best_estimator_.inertia_, rel=1e-9)


def test_matches_scikit_learn_estimator_from_the_same_init():
    cluster = pytest.importorskip("sklearn.cluster", reason="needs scikit-learn")
    theirs = cluster.KMeans(4, init=INIT, n_init=1).fit(X)
    ours = KMeans(4, init=INIT, backend="numpy").fit(X)
    assert_fits_agree(X, fit_summary(theirs), fit_summary(ours), peer_rtol=1e-12)  # (a peer: its own sum order)
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-9)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-10)


def test_fitted_attributes_and_methods_are_consistent():
    model = KMeans(4, random_state=0, backend="numpy")
    labels = model.fit_predict(X)
    np.testing.assert_array_equal(labels, model.labels_)
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.n_features_in_ == 3 and model.cluster_centers_.shape == (4, 3)
    assert model.converged_ and model.n_iter_ == len(model.inertia_history_)
    assert model.backend_ == "numpy"
    distances = model.transform(X)
    assert distances.shape == (len(X), 4)
    np.testing.assert_array_equal(distances.argmin(axis=1), model.labels_)
    assert model.score(X) == pytest.approx(-model.inertia_, rel=1e-12)
    assert -model.score(X) == pytest.approx((distances.min(axis=1) ** 2).sum(), rel=1e-9)
    np.testing.assert_allclose(model.fit_transform(X), distances)
    assert model.get_feature_names_out().tolist() == ["kmeans0", "kmeans1", "kmeans2", "kmeans3"]


def test_predict_matches_true_blobs():
    model = KMeans(4, random_state=0).fit(X)
    # same partition as the truth, up to renaming
    mapping = {true: found for true, found in zip(TRUE_LABELS, model.labels_)}
    assert len(set(mapping.values())) == 4
    np.testing.assert_array_equal([mapping[t] for t in TRUE_LABELS], model.labels_)


def test_float32_stays_float32():
    model = KMeans(4, random_state=0).fit(X.astype(np.float32))
    assert model.cluster_centers_.dtype == np.float32
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    assert model.predict(X).dtype == np.int32  # float64 input to a float32 model works


def test_unfitted_model_raises_not_fitted_error():
    with pytest.raises(fastkm.NotFittedError, match="not fitted yet"):
        KMeans().predict(X)
    with pytest.raises(AttributeError):  # NotFittedError is an AttributeError too
        KMeans().transform(X)


def test_predict_checks_the_number_of_features():
    model = KMeans(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 3 features"):
        model.predict(X[:, :2])


def test_get_set_params_and_repr():
    model = KMeans(5, tol=1e-3)
    assert model.get_params()["n_clusters"] == 5
    assert model.set_params(n_clusters=7, backend="numpy") is model
    assert model.n_clusters == 7
    assert repr(model) == "KMeans(backend='numpy', n_clusters=7, tol=0.001)"
    assert repr(KMeans(init=INIT)) == "KMeans(init=<array of shape (4, 3)>)"
    with pytest.raises(ValueError, match="Invalid parameter 'clusters' for estimator KMeans"):
        model.set_params(clusters=3)


def test_invalid_params_fail_at_fit_not_init():
    model = KMeans(n_clusters=-1)  # stored as given
    with pytest.raises(ValueError, match="n_clusters must be a positive integer"):
        model.fit(X)


def test_pickle_round_trip():
    model = KMeans(4, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas", reason="needs pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = KMeans(3, random_state=0).fit(frame)
    assert model.feature_names_in_.tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(frame[["c", "b", "a"]])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        model.predict(X)
    refit = model.fit(X)
    assert not hasattr(refit, "feature_names_in_")


# Mixed dtypes: a model and data of different precisions are compared in the wider of the two
# (rounding either to the other's dtype can change which centroid is nearest). One feature, values
# around 1, where float32's spacing is U above 1 and U / 2 below it.
U = 2.0**-23


def _mixed_dtype_backends():
    from .conftest import AVAILABLE_BACKENDS

    return [name for name in ("numpy", "numba") if name in AVAILABLE_BACKENDS]


@pytest.mark.parametrize("backend", _mixed_dtype_backends())
def test_float64_model_predicts_float32_data_without_rounding_the_model(backend):
    # centroid 0 is 0.45 U from the point, centroid 1 is 0.4 U: centroid 1 is the nearest. Rounded to
    # float32, centroid 0 becomes 1.0 (on the point) and centroid 1 becomes 1 - U/2: the order swaps.
    centroids = np.array([[1.0 + 0.45 * U], [1.0 - 0.4 * U]])
    point = np.array([[1.0]], dtype=np.float32)
    assert np.abs(centroids.astype(np.float32) - point).ravel().argmin() == 0  # (the trap is real)
    model = KMeans(2, init=centroids, backend=backend).fit(centroids)
    assert model.cluster_centers_.dtype == np.float64
    np.testing.assert_array_equal(model.cluster_centers_, centroids)  # each point is its own cluster
    assert model.predict(point).tolist() == [1]
    assert model.predict(point.astype(np.float64)).tolist() == [1]
    assert model.score(point) == pytest.approx(-((0.4 * U) ** 2), rel=1e-6)


@pytest.mark.parametrize("backend", _mixed_dtype_backends())
def test_float64_model_transforms_float32_data_in_float64(backend):
    centroids = np.array([[1.0 + 0.45 * U], [1.0 - 0.4 * U]])
    model = KMeans(2, init=centroids, backend=backend).fit(centroids)
    distances = model.transform(np.array([[1.0]], dtype=np.float32))
    assert distances.dtype == np.float64
    np.testing.assert_allclose(distances, [[0.45 * U, 0.4 * U]], rtol=1e-6)  # float32 would say [0, U/2]


@pytest.mark.parametrize("backend", _mixed_dtype_backends())
def test_float32_model_on_float64_data_does_not_round_the_data(backend):
    # float32 centroids 1 - U/2 and 1 + 2U; the float64 point 1 + 0.7 U is 1.2 U from centroid 0 and
    # 1.3 U from centroid 1. Rounded to float32 the point becomes 1 + U: 1.5 U and U, the order swaps.
    centroids = np.array([[1.0 - 0.5 * U], [1.0 + 2.0 * U]], dtype=np.float32)
    point = np.array([[1.0 + 0.7 * U]])
    assert np.abs(centroids - point.astype(np.float32)).ravel().argmin() == 1  # (the trap is real)
    model = KMeans(2, init=centroids, backend=backend).fit(centroids)
    assert model.cluster_centers_.dtype == np.float32
    assert model.predict(point).tolist() == [0]
    distances = model.transform(point)
    assert distances.dtype == np.float64
    np.testing.assert_allclose(distances, [[1.2 * U, 1.3 * U]], rtol=1e-6)
