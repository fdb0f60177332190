"""Every input check fastkm makes, in one place, with messages that say the fix.

The rules:

* ``X`` must be 2-D, non-empty, numeric and finite. Integer and boolean data
  become float64; float32 stays float32 (half the memory, and the fast
  kernels' native type); float64 stays float64; other floats become float64.
* Nothing the caller passes in is ever modified: when a conversion is needed,
  a new array is made; otherwise the caller's array is only read.
* Problems raise ``ValueError`` (a wrong value) or ``TypeError`` (a wrong kind
  of object) whose message names the argument, says what was wrong and what
  to do.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .backends.base import array_namespace, column_bounds, is_cupy_array, is_dask_array

__all__ = [
    "check_data",
    "check_integer",
    "check_init_array",
    "check_max_iter",
    "check_n_clusters",
    "check_n_init",
    "check_random_state",
    "check_sample_weight",
    "check_tol",
    "check_weight_scale",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_data(X: Any, *, name: str = "X", n_features: int | None = None, lazy: bool = False) -> Any:
    """Validate a data matrix; return it as a float32/float64 2-D array.

    NumPy input (and anything NumPy can convert: lists, pandas frames, memory
    maps) comes back as a NumPy array; a CuPy array stays on its device. The
    result shares memory with ``X`` when no conversion was needed, so callers
    must treat it as read-only.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        The argument's name, for error messages.
    n_features : int, optional
        The number of features ``X`` must have (e.g. the one seen in ``fit``).
    lazy : bool
        For a Dask array: check its values as each chunk is computed (the
        chunk's task raises) rather than now; ``predict`` stays lazy so.

    Examples
    --------
    >>> check_data([[1, 2], [3, 4]]).dtype
    dtype('float64')
    >>> check_data(np.ones((2, 3), dtype=np.float32)).dtype
    dtype('float32')
    >>> check_data([1.0, 2.0])
    Traceback (most recent call last):
    ...
    ValueError: X must be 2-D (n_samples, n_features), got a 1-D array of shape (2,). Reshape your data with X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it is a single sample.
    """
    if X is None:
        raise TypeError(f"{name} is None; pass a 2-D array of shape (n_samples, n_features)")
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a sparse matrix ({type(X).__name__}); fastkm needs dense data. "
            f"Convert it with {name}.toarray() if it fits in memory."
        )
    xp = array_namespace(X)
    if is_dask_array(X):  # checked lazily where it can be; its values in one pass (column_bounds)
        X = _dask_rows(X, name)
    elif not is_cupy_array(X):
        X = _to_numpy(X, name)
    X = _to_float(X, name, xp)

    if X.ndim != 2:
        hint = (
            f" Reshape your data with {name}.reshape(-1, 1) if it has a single feature "
            f"or {name}.reshape(1, -1) if it is a single sample."
            if X.ndim == 1
            else ""
        )
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got a {X.ndim}-D array of shape {X.shape}.{hint}"
        )
    n_samples, n_cols = X.shape
    if n_samples == 0:
        raise ValueError(
            f"{name} has 0 sample(s) (shape={X.shape}) while a minimum of 1 is required; pass non-empty data"
        )
    if n_cols == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if n_features is not None and n_cols != n_features:
        raise ValueError(
            f"{name} has {n_cols} features, but KMeans is expecting {n_features} features as input "
            "(the number of columns seen during fit)"
        )
    if lazy and is_dask_array(X):
        return X.map_blocks(_checked_block, argument=name, dtype=X.dtype)
    _check_finite(X, name, xp)
    return X


def _checked_block(block: Any, argument: str) -> Any:
    """A chunk of a Dask array, checked as it is computed (the checks that do not need the whole array)."""
    if block.size:
        _check_finite(block, f"a chunk of {argument}", array_namespace(block), whole=False)
    return block


def check_sample_weight(sample_weight: Any, n_samples: int, dtype: Any, xp: Any = np) -> Any:
    """Validate ``sample_weight``; return a fresh array of ``dtype`` (never the caller's).

    ``None`` stays ``None``: every point weighs 1, and no array of ones is
    made (the backends treat ``None`` as unit weights).

    >>> check_sample_weight(None, 3, np.float32) is None
    True
    >>> check_sample_weight([1, 2, 3], 3, np.float32)
    array([1., 2., 3.], dtype=float32)
    >>> check_sample_weight([1, -1, 2], 3, np.float64)
    Traceback (most recent call last):
    ...
    ValueError: sample_weight must be non-negative; entry 1 is -1.0
    """
    if sample_weight is None:
        return None
    if is_dask_array(sample_weight):
        return _check_dask_weight(sample_weight, n_samples, dtype)
    if isinstance(sample_weight, numbers.Number) and not isinstance(sample_weight, bool):
        weight = float(sample_weight)
        if not np.isfinite(weight) or weight <= 0:
            raise ValueError(f"a scalar sample_weight must be positive and finite, got {sample_weight!r}")
        return xp.full(n_samples, weight, dtype=dtype)
    if _is_sparse(sample_weight):
        raise TypeError("sample_weight is a sparse matrix; pass a dense 1-D array of length n_samples")
    if is_cupy_array(sample_weight) and xp is np:
        sample_weight = sample_weight.get()
    try:
        if not is_cupy_array(sample_weight):
            sample_weight = np.asarray(sample_weight)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"sample_weight must be an array of real numbers: {exc}") from None
    if sample_weight.dtype.kind == "c":
        raise ValueError(
            f"sample_weight has complex dtype {sample_weight.dtype}; weights are real numbers "
            "(pass sample_weight.real or abs(sample_weight))"
        )
    if sample_weight.dtype.kind not in "biufO":
        raise TypeError(f"sample_weight must be an array of real numbers, got dtype {sample_weight.dtype}")
    try:
        weight = xp.array(sample_weight, dtype=np.float64, copy=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"sample_weight must be an array of real numbers: {exc}") from None
    if weight.ndim != 1 or weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must be a 1-D array of length n_samples={n_samples}, got shape {tuple(weight.shape)}"
        )
    finite = xp.isfinite(weight)
    if not bool(finite.all()):
        bad = int(xp.argmin(finite))
        raise ValueError(f"sample_weight contains NaN or infinity (entry {bad} is {float(weight[bad])})")
    if bool((weight < 0).any()):
        bad = int(xp.argmin(weight))
        raise ValueError(f"sample_weight must be non-negative; entry {bad} is {float(weight[bad])}")
    if not bool((weight > 0).any()):
        raise ValueError("sample_weight is all zero; at least one point needs a positive weight")
    with np.errstate(over="ignore"):
        cast = weight.astype(dtype, copy=False)
        total = float(cast.sum(dtype=np.float64))
    if not bool(xp.isfinite(cast).all()) or not np.isfinite(total):
        raise ValueError(
            f"sample_weight is too large for {np.dtype(dtype).name} (it, or its sum, overflows); "
            "rescale the weights, e.g. divide them by their maximum"
        )
    if not bool((cast > 0).any()):
        raise ValueError(
            f"sample_weight is all zero in {np.dtype(dtype).name} (the positive weights underflow); "
            "rescale the weights, e.g. divide them by their maximum"
        )
    return cast


def check_integer(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate an integer parameter: any integer type (``numbers.Integral``: NumPy's too), never a bool.

    >>> check_integer(np.int64(3), "n_local_trials", minimum=1)
    3
    >>> check_integer(2.0, "max_iter")
    Traceback (most recent call last):
    ...
    TypeError: max_iter must be an integer, got 2.0 (float)
    >>> check_integer(0, "n_refs", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: n_refs must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        wanted = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {wanted}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {value}")
    return int(value)


def check_n_clusters(n_clusters: Any, n_samples: int | None = None) -> int:
    """Validate ``n_clusters`` (and, given ``n_samples``, that N >= K).

    >>> check_n_clusters(3, n_samples=10)
    3
    >>> check_n_clusters(5, n_samples=2)
    Traceback (most recent call last):
    ...
    ValueError: n_samples=2 should be >= n_clusters=5: k-means needs at least as many points as clusters (N >= K). Lower n_clusters or pass more data.
    """
    n_clusters = check_integer(n_clusters, "n_clusters", minimum=1)
    if n_samples is not None and n_samples < n_clusters:
        raise ValueError(
            f"n_samples={n_samples} should be >= n_clusters={n_clusters}: k-means needs at least as many "
            "points as clusters (N >= K). Lower n_clusters or pass more data."
        )
    return n_clusters


def check_max_iter(max_iter: Any) -> int:
    """``max_iter`` must be an integer >= 1."""
    return check_integer(max_iter, "max_iter", minimum=1)


def check_tol(tol: Any) -> float:
    """``tol`` must be a finite number >= 0."""
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real):
        raise TypeError(f"tol must be a number, got {tol!r} ({type(tol).__name__})")
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    return float(tol)


def check_algorithm(algorithm: Any, backend: Any) -> str:
    """``algorithm`` must name one of :data:`~fastkm.backends.bounds.ALGORITHM_CHOICES` that ``backend`` runs."""
    from .backends.bounds import ALGORITHM_CHOICES

    if not isinstance(algorithm, str) or algorithm not in ALGORITHM_CHOICES:
        raise ValueError(
            f"algorithm must be one of {', '.join(map(repr, ALGORITHM_CHOICES))}, got {algorithm!r} "
            "(every one gives Lloyd's labels; 'auto' picks the fastest for the data)"
        )
    if algorithm not in ("auto", "lloyd") and not getattr(backend, "supports_bounds", False):
        raise ValueError(
            f"algorithm={algorithm!r} is not available on the {backend.name} backend, which runs only 'lloyd'; "
            "use algorithm='lloyd' or 'auto', or the numpy or numba backend"
        )
    return algorithm


def check_n_init(n_init: Any, init: Any) -> int:
    """Resolve ``n_init`` ("auto": 1 for k-means++ and explicit arrays, 10 otherwise, as scikit-learn)."""
    if isinstance(n_init, str):
        if n_init != "auto":
            raise ValueError(f"n_init must be a positive integer or 'auto', got {n_init!r}")
        runs_random_draws = (isinstance(init, str) and init == "random") or callable(init)
        return 10 if runs_random_draws else 1
    if isinstance(n_init, bool) or not isinstance(n_init, numbers.Integral):
        raise TypeError(f"n_init must be a positive integer or 'auto', got {n_init!r} ({type(n_init).__name__})")
    return check_integer(n_init, "n_init", minimum=1)


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Accepts ``None`` (fresh entropy), an ``int`` seed, a ``Generator`` (used as
    it is, so its state advances) or a legacy ``RandomState`` (a seed is drawn
    from it).

    >>> int(check_random_state(0).integers(100)) == int(check_random_state(0).integers(100))
    True
    """
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer seed, got {random_state}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(
        f"random_state must be None, an int seed or a numpy.random.Generator, got {type(random_state).__name__}"
    )


def check_init_array(init: Any, n_clusters: int, n_features: int, dtype: Any, xp: Any = np) -> Any:
    """Validate explicit initial centroids; return a fresh ``(n_clusters, n_features)`` array."""
    if is_cupy_array(init) and xp is np:
        init = init.get()
    centroids = check_data(init, name="init")
    if centroids.shape != (n_clusters, n_features):
        raise ValueError(
            f"init must have shape (n_clusters, n_features) = ({n_clusters}, {n_features}), "
            f"got {tuple(centroids.shape)}"
        )
    return xp.array(centroids, dtype=dtype, copy=True)


# -- helpers ------------------------------------------------------------------
def _dask_rows(X: Any, name: str) -> Any:
    """A Dask array's structure, checked without computing it: 2-D, known chunk sizes, one chunk across columns."""
    if X.ndim == 2 and any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError(
            f"{name} is a Dask array of unknown chunk sizes; call {name}.compute_chunk_sizes() first "
            "(or build it with known sizes, e.g. from a DataFrame with to_dask_array(lengths=True))"
        )
    if X.ndim == 2 and X.numblocks[1] != 1:
        X = X.rechunk({1: -1})  # (a row of X in one chunk: each task sees whole points)
    return X


def _check_dask_weight(sample_weight: Any, n_samples: int, dtype: Any) -> Any:
    """:func:`check_sample_weight` for a Dask array: the same rules, checked in one pass; a Dask array back."""
    import dask

    if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must be a 1-D array of length n_samples={n_samples}, got shape {sample_weight.shape}"
        )
    if sample_weight.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must be an array of real numbers, got dtype {sample_weight.dtype}")
    weight = sample_weight.astype(np.float64)
    cast = weight.astype(dtype)
    finite, low, positive, cast_finite, cast_positive = dask.compute(
        np.isfinite(weight).all(), weight.min(), (weight > 0).any(), np.isfinite(cast).all(), (cast > 0).any()
    )
    if not finite:
        raise ValueError("sample_weight contains NaN or infinity")
    if low < 0:
        raise ValueError(f"sample_weight must be non-negative; its smallest entry is {float(low)}")
    if not positive:
        raise ValueError("sample_weight is all zero; at least one point needs a positive weight")
    if not cast_finite or not cast_positive:
        raise ValueError(
            f"sample_weight is too large or too small for {np.dtype(dtype).name} (it overflows, or every "
            "positive weight underflows); rescale the weights, e.g. divide them by their maximum"
        )
    return cast


def _is_sparse(X: Any) -> bool:
    module = type(X).__module__
    return module.startswith("scipy.sparse") or module.startswith("cupyx.scipy.sparse")


def _to_numpy(X: Any, name: str) -> np.ndarray:
    if isinstance(X, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array; fastkm does not skip masked entries. "
            f"Drop them or fill them first, e.g. {name}.filled(value) or {name}.compressed()."
        )
    if type(X) is np.ndarray:
        return X
    try:
        return np.asarray(X)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{name} could not be read as a numeric array ({exc}); pass a 2-D array of numbers") from None


def _to_float(X: Any, name: str, xp: Any) -> Any:
    dtype = X.dtype
    if dtype in _FLOAT_DTYPES:
        return X
    if dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} has dtype {dtype}. "
            f"Pass the real part ({name}.real) or the magnitude (abs({name}))."
        )
    if dtype.kind in "biuf":
        return X.astype(np.float64)
    if dtype.kind == "O":
        try:
            return X.astype(np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"{name} must contain only numbers, but converting it to float failed: {exc}") from None
    raise TypeError(f"{name} has dtype {dtype}, which is not numeric; pass an array of numbers")


def _check_finite(X: Any, name: str, xp: Any, whole: bool = True) -> None:
    """NaN and infinity are refused, and so are values whose squares would overflow.

    Two cheap reductions (min and max, which propagate NaN) decide the common
    case; only bad data pays for the element-wise tests that say what is wrong.
    """
    lows, highs = column_bounds(X)
    low, high = float(lows.min()), float(highs.max())
    if np.isnan(low) or np.isnan(high):
        raise ValueError(f"{name} contains NaN; remove or impute the missing values first")
    if np.isinf(low) or np.isinf(high):
        raise ValueError(f"{name} contains infinity (inf); remove those rows or clip the values first")
    # A squared distance sums n_features squares of differences of up to 2 * max|x| in X's dtype ...
    n_samples, n_features = X.shape
    limit = float(np.sqrt(np.finfo(X.dtype).max / (4.0 * n_features))) / 2.0
    magnitude = max(abs(low), abs(high))
    if magnitude > limit:
        raise ValueError(
            f"{name} has values up to {magnitude:.3g}, too large to square in {X.dtype} "
            f"(the limit for {n_features} features is {limit:.3g}); rescale {name}, e.g. divide it by {magnitude:.3g}"
        )
    if not whole:
        return
    # ... and inertia sums n_samples of them, at most n_features * (widest feature's span)^2 each,
    # exactly in float64 on grids laid out from that bound (fastkm.backends.exact), which need headroom.
    span = float((highs - lows).max())
    spread_limit = float(np.sqrt(_SUM_LIMIT / (n_samples * n_features)))
    if span > spread_limit:
        raise ValueError(
            f"{name} spans {low:.3g} to {high:.3g}: the squared distances of {n_samples} points with {n_features} "
            f"features would sum past float64's range (a feature's span must stay below {spread_limit:.3g}); "
            f"rescale {name}, e.g. divide it by {span:.3g}"
        )
    # Squared distances below float64's normal range would lose their digits (or vanish).
    if 0 < span < _MIN_SPAN:
        exponent = int(np.ceil(-np.log2(span))) // 2 * 2
        raise ValueError(
            f"{name}'s widest feature spans only {span:.3g}: squared distances that small (below {_MIN_SPAN**2:.3g}) "
            f"lose precision in float64; the span must be at least {_MIN_SPAN:.3g}. Multiply {name} by a power of "
            f"two, which is exact and does not change the clustering: e.g. {name} * 2.0**{exponent}"
        )


_FLOAT64_MAX = float(np.finfo(np.float64).max)
#: The largest total an exact sum may be laid out for (its grids need headroom below float64's maximum).
_SUM_LIMIT = 2.0**1000
#: The smallest span of data (max - min) whose squared distances stay well inside float64's normal range.
_MIN_SPAN = 2.0**-400


def check_weight_scale(X: Any, sample_weight: Any) -> None:
    """Weighted sums must stay finite in float64: reject weights too heavy for ``X``.

    Inertia and the cluster sums add ``w_i * |x_i - c|^2`` and ``w_i * x_i``
    in float64, exactly, on grids laid out for ``n_samples`` terms of up to
    the largest weight times ``n_features * (max - min)^2`` (or ``max|x|``):
    that product must stay below ``2^1000`` (float64's range, less the
    grids' headroom). Unit weights were checked by :func:`check_data`
    (``n_samples`` times the same bound); weights are only rejected, never
    rescaled, so a result's inertia is always in the caller's units.

    >>> X = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> check_weight_scale(X, np.array([1e299, 1.0]))
    >>> check_weight_scale(X, np.array([1e307, 1e306]))
    Traceback (most recent call last):
    ...
    ValueError: sample_weight is too large for X: n_samples (2) times the largest weight (1e+307) times the largest squared distance between points of X (2) is past float64's range for the weighted sums (the largest weight must stay below 2.68e+300). Divide sample_weight by a constant (the clustering does not change).
    """
    if sample_weight is None:
        return
    n_samples, n_features = X.shape
    heaviest = float(sample_weight.max())
    if heaviest <= 1:  # no heavier than unit weights, which check_data allowed
        return
    lows, highs = column_bounds(X)
    low, high = float(lows.min()), float(highs.max())
    worst = max(n_features * (high - low) ** 2, abs(low), abs(high))
    if worst > 0 and heaviest > _SUM_LIMIT / (n_samples * worst):
        raise ValueError(
            f"sample_weight is too large for X: n_samples ({n_samples}) times the largest weight ({heaviest:.3g}) "
            f"times the largest squared distance between points of X ({worst:.3g}) is past float64's range for the "
            f"weighted sums (the largest weight must stay below {_SUM_LIMIT / (n_samples * worst):.3g}). "
            "Divide sample_weight by a constant (the clustering does not change)."
        )
