"""``KMeans``: a scikit-learn compatible estimator over :func:`fastkm.kmeans`.

scikit-learn is not needed at run time: the estimator follows its
conventions by itself (parameters stored as given and validated in ``fit``,
fitted attributes ending in ``_``, ``get_params`` / ``set_params``), so it
works with ``sklearn.base.clone``, pipelines and grid search when
scikit-learn is installed, and passes ``check_estimator``.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from .backends import Backend, get_backend, is_cupy_array
from .backends.base import is_dask_array, to_backend, to_input_type
from .exceptions import not_fitted_error
from .init import InitSpec
from .lloyd import KMeansResult, kmeans
from .validation import check_data, check_sample_weight, check_weight_scale

__all__ = ["KMeans"]


class KMeans:
    """K-means clustering (Lloyd's algorithm) on the fastest backend available.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters K (at most the number of samples).
    init : {"k-means++", "k-means||", "random"}, array of shape (n_clusters, n_features) or callable, default="k-means++"
        How to pick initial centroids; see :func:`fastkm.kmeans`.
    n_init : int or "auto", default="auto"
        Runs from different seeds; the lowest inertia wins. ``"auto"``: 1 for
        k-means++ and arrays, 10 for random and callables.
    max_iter : int, default=300
        Most Lloyd iterations per run.
    tol : float, default=1e-4
        Relative tolerance on the centroid shift (scikit-learn's meaning).
    random_state : None, int or numpy.random.Generator, default=None
        Seed for the initialisation; an int makes fits reproducible.
    backend : {"auto", "numpy", "numba", "cupy", "dask"}, Backend or None, default=None
        ``None`` reads ``FASTKM_BACKEND`` and falls back to ``"auto"``. A Dask
        array is fitted on its cluster (:mod:`fastkm.backends.dask_backend`):
        labels, ``predict`` and ``transform`` are then lazy Dask arrays.
    algorithm : {"auto", "lloyd", "hamerly", "yinyang", "elkan"}, default="auto"
        How each iteration finds the nearest centroids: all give Lloyd's
        labels, iterations and centroids, bit for bit; the bound-based ones
        skip the distances they prove cannot matter (see :func:`fastkm.kmeans`).

    Attributes
    ----------
    cluster_centers_ : array of shape (n_clusters, n_features)
    labels_ : array of shape (n_samples,), int32
    inertia_ : float
        Weighted sum of squared distances of the samples to their centroid.
    n_iter_ : int
    converged_ : bool
    inertia_history_ : tuple of float
        Inertia at the start of each iteration of the best run.
    backend_ : str
        The backend that ran the fit.
    algorithm_ : str
        The algorithm that ran (``"auto"`` resolved).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names (e.g. a pandas DataFrame).

    Examples
    --------
    >>> import numpy as np
    >>> from fastkm import KMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> model = KMeans(n_clusters=2, random_state=0, backend="numpy").fit(X)
    >>> sorted(model.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    >>> bool(model.predict([[0, 0], [12, 3]])[0] != model.predict([[0, 0], [12, 3]])[1])
    True
    >>> model.inertia_
    16.0
    """

    _estimator_type = "clusterer"

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: InitSpec = "k-means++",
        n_init: int | str = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: Any = None,
        backend: str | Backend | None = None,
        algorithm: str = "auto",
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.backend = backend
        self.algorithm = algorithm

    # -- fitting --------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the clustering. ``y`` is ignored (present for API consistency)."""
        feature_names = _feature_names(X)
        result: KMeansResult = kmeans(
            X,
            self.n_clusters,
            init=self.init,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            sample_weight=sample_weight,
            random_state=self.random_state,
            backend=self.backend,
            algorithm=self.algorithm,
        )
        self.cluster_centers_ = result.centroids
        self.labels_ = result.labels
        self.inertia_ = result.inertia
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.inertia_history_ = result.inertia_history
        self.backend_ = result.backend
        self.algorithm_ = result.algorithm
        self.n_features_in_ = result.centroids.shape[1]
        if feature_names is not None:
            self.feature_names_in_ = feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the label of each sample (``labels_``)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the distance of each sample to every centroid."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    # -- using a fitted model ---------------------------------------------------
    def predict(self, X: Any) -> Any:
        """Index of the nearest centroid for each sample (int32)."""
        backend, X_backend, centroids, on_gpu = self._prepare(X)
        labels, _ = backend.assign(X_backend, centroids)
        return to_input_type(labels, backend, on_gpu)

    def transform(self, X: Any) -> Any:
        """Euclidean distance of each sample to every centroid, ``(n_samples, n_clusters)``."""
        backend, X_backend, centroids, on_gpu = self._prepare(X)
        distances = backend.xp.sqrt(backend.pairwise_sq_distances(X_backend, centroids)).astype(X_backend.dtype)
        return to_input_type(distances, backend, on_gpu)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the inertia of ``X`` under the fitted centroids (higher is better).

        On a Dask array: a lazy 0-d Dask array (``float()`` computes it).
        """
        backend, X_backend, centroids, _ = self._prepare(X)
        weight = check_sample_weight(sample_weight, X_backend.shape[0], np.float64, backend.xp)
        check_weight_scale(X_backend, weight)
        _, sq_dist = backend.assign(X_backend, centroids)
        total = -(sq_dist.sum() if weight is None else (sq_dist * weight).sum())
        return total if is_dask_array(total) else float(total)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output names of :meth:`transform`: ``kmeans0, kmeans1, ...``."""
        self._check_fitted()
        return np.asarray([f"kmeans{i}" for i in range(self.cluster_centers_.shape[0])], dtype=object)

    def _prepare(self, X: Any):
        """Validate new data against the fit; return it and the centroids on a backend."""
        self._check_fitted()
        self._check_feature_names(X)
        backend = get_backend(self.backend, X)
        X_checked = check_data(X, n_features=self.n_features_in_, lazy=True)
        # Compute in the wider of the two dtypes: never round the model to the data.
        dtype = np.result_type(X_checked.dtype, self.cluster_centers_.dtype)
        X_backend = to_backend(X_checked, backend).astype(dtype, copy=False)
        centroids = to_backend(self.cluster_centers_, backend).astype(dtype, copy=False)
        return backend, X_backend, centroids, is_cupy_array(X_checked)

    def _check_fitted(self) -> None:
        if not hasattr(self, "cluster_centers_"):
            raise not_fitted_error(
                f"This {type(self).__name__} instance is not fitted yet. "
                "Call 'fit' with appropriate arguments before using this estimator."
            )

    def _check_feature_names(self, X: Any) -> None:
        names = _feature_names(X)
        fitted = getattr(self, "feature_names_in_", None)
        if names is None and fitted is None:
            return
        if fitted is None:
            warnings.warn(
                f"X has feature names, but {type(self).__name__} was fitted without feature names", UserWarning
            )
        elif names is None:
            warnings.warn(
                f"X does not have valid feature names, but {type(self).__name__} was fitted with feature names",
                UserWarning,
            )
        elif len(names) != len(fitted) or not np.all(names == fitted):
            raise ValueError(
                "The feature names should match those that were passed during fit.\n"
                f"Fitted with: {list(fitted)}\nGot: {list(names)}"
            )

    # -- scikit-learn estimator protocol ----------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(name for name in signature.parameters if name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters, as given (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> KMeans:
        """Set constructor parameters; returns ``self``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}(). "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name].default
            if isinstance(value, np.ndarray) or not (value is default or _safe_equal(value, default)):
                changed.append(f"{name}={_short_repr(value)}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(sparse=False, allow_nan=False),
        )


def _feature_names(X: Any) -> np.ndarray | None:
    """String column names of a data frame, else None (scikit-learn's rule)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "shape") or len(X.shape) != 2:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(name, str) for name in names):
        return names
    return None


def _safe_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _short_repr(value: Any) -> str:
    if isinstance(value, np.ndarray) or is_cupy_array(value):
        return f"<array of shape {tuple(value.shape)}>"
    return repr(value)
