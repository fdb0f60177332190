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
    sklearn = pytest.importorskip("sklearn", reason="needs scikit-learn")
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = KMeans(3, init="random", n_init=2, random_state=0)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    pipeline = make_pipeline(StandardScaler(), KMeans(4, random_state=0)).fit(X)
    assert pipeline.predict(X).shape == (len(X),)
    search = GridSearchCV(KMeans(random_state=0), {"n_clusters": [2, 4, 6]}, cv=3).fit(X)
    assert search.best_params_["n_clusters"] == 6  # score = -inertia always prefers more clusters
    assert sklearn.__version__


def test_matches_scikit_learn_estimator_from_the_same_init():
    cluster = pytest.importorskip("sklearn.cluster", reason="needs scikit-learn")
    theirs = cluster.KMeans(4, init=INIT, n_init=1).fit(X)
    ours = KMeans(4, init=INIT, backend="numpy").fit(X)
    assert_fits_agree(X, fit_summary(theirs), fit_summary(ours))
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
    with pytest.raises(ValueError, match="n_clusters must be >= 1"):
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
