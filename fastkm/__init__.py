"""fastkm: fast k-means at large N.

One Lloyd driver over interchangeable backends (NumPy reference, Numba CPU,
CuPy GPU) that agree on labels and inertia.

>>> import numpy as np
>>> import fastkm
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 10.0]])
>>> result = fastkm.kmeans(X, 2, random_state=0)
>>> sorted(result.centroids.tolist())
[[0.0, 0.5], [9.0, 9.5]]
"""

from __future__ import annotations

import logging

from .backends import BackendStatus, available_backends, get_backend, warmup
from .estimator import KMeans
from .exceptions import BackendUnavailableError, ConvergenceWarning, NotFittedError
from .init import kmeans_parallel, kmeans_plusplus
from .lloyd import KMeansResult, LloydIteration, kmeans

__version__ = "0.1.0"

__all__ = [
    "BackendStatus",
    "BackendUnavailableError",
    "ConvergenceWarning",
    "KMeans",
    "KMeansResult",
    "LloydIteration",
    "NotFittedError",
    "__version__",
    "available_backends",
    "get_backend",
    "kmeans",
    "kmeans_parallel",
    "kmeans_plusplus",
    "warmup",
]

logging.getLogger("fastkm").addHandler(logging.NullHandler())
