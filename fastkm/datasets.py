"""The tutorial's seed boards, generalised to d dimensions.

* :func:`uniform_board` -- points spread uniformly over the square
  ``[-1, 1]^d``: data with no cluster structure at all.
* :func:`gaussian_board` -- ``n_clusters`` Gaussian blobs with random centres
  in ``[-1, 1]^d`` and random spreads in ``[0.05, 0.5]``; points that fall
  outside the square are drawn again, so every point lies on the board.
* :func:`write_board` -- either board, straight to a ``.npy`` file in chunks,
  for data sets larger than you want twice in memory (10M points: one chunk
  of memory, not 2 x 10M).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .validation import check_integer, check_n_clusters, check_random_state

__all__ = ["GaussianBoard", "gaussian_board", "uniform_board", "write_board"]


@dataclass(frozen=True)
class GaussianBoard:
    """A Gaussian board and the truth behind it."""

    X: np.ndarray
    """``(n_samples, n_features)`` points."""
    labels: np.ndarray
    """``(n_samples,)`` int32: the blob each point was drawn from."""
    centers: np.ndarray
    """``(n_clusters, n_features)`` the blobs' centres."""
    spreads: np.ndarray
    """``(n_clusters,)`` the blobs' standard deviations."""


def uniform_board(n_samples: int, n_features: int = 2, *, random_state: Any = None, dtype: Any = np.float64) -> np.ndarray:
    """``n_samples`` points uniform in ``[-1, 1]^n_features``.

    >>> X = uniform_board(1000, 3, random_state=0)
    >>> X.shape, bool(np.abs(X).max() <= 1)
    ((1000, 3), True)
    """
    n_samples, n_features = _check_sizes(n_samples, n_features)
    rng = check_random_state(random_state)
    return rng.uniform(-1.0, 1.0, size=(n_samples, n_features)).astype(dtype, copy=False)


def gaussian_board(
    n_samples: int,
    n_clusters: int,
    n_features: int = 2,
    *,
    spread: tuple[float, float] = (0.05, 0.5),
    random_state: Any = None,
    dtype: Any = np.float64,
) -> GaussianBoard:
    """Gaussian blobs on the board ``[-1, 1]^n_features``.

    Points are split as evenly as possible between the ``n_clusters`` blobs
    and appear in blob order (blob 0 first).

    >>> board = gaussian_board(600, 3, random_state=0)
    >>> board.X.shape, np.bincount(board.labels).tolist()
    ((600, 2), [200, 200, 200])
    >>> bool(np.abs(board.X).max() < 1)
    True
    """
    n_samples, n_features = _check_sizes(n_samples, n_features)
    n_clusters = check_n_clusters(n_clusters, n_samples)
    low, high = _check_spread(spread)
    rng = check_random_state(random_state)
    centers = rng.uniform(-1.0, 1.0, size=(n_clusters, n_features))
    spreads = rng.uniform(low, high, size=n_clusters)
    sizes = np.full(n_clusters, n_samples // n_clusters)
    sizes[: n_samples % n_clusters] += 1

    X = np.empty((n_samples, n_features), dtype=dtype)
    labels = np.repeat(np.arange(n_clusters, dtype=np.int32), sizes)
    start = 0
    for cluster, size in enumerate(sizes):
        X[start : start + size] = _blob_inside_board(rng, centers[cluster], spreads[cluster], size)
        start += size
    return GaussianBoard(X=X, labels=labels, centers=centers.astype(dtype), spreads=spreads)


def write_board(
    path: str | os.PathLike,
    n_samples: int,
    n_clusters: int | None = None,
    n_features: int = 2,
    *,
    spread: tuple[float, float] = (0.05, 0.5),
    random_state: int | None = None,
    dtype: Any = np.float32,
    labels_path: str | os.PathLike | None = None,
) -> GaussianBoard:
    """Write a board of ``n_samples`` points to a ``.npy`` file, a chunk at a time.

    ``n_clusters=None`` writes a uniform board, otherwise a Gaussian one (as
    :func:`gaussian_board`, points in blob order). Memory stays at one chunk
    of about 32 MiB whatever ``n_samples`` is, and the file is the same for a
    given ``random_state`` on every machine. The true label of every point
    goes to ``labels_path`` (int32 ``.npy``) when given.

    Returns a :class:`GaussianBoard` whose ``X`` is the file opened as a
    copy-on-write memory map (changes stay in memory, the file is never
    rewritten; ``labels`` too when written, an empty array otherwise).

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> board = write_board(os.path.join(folder, "X.npy"), 10_000, 4, random_state=0)
    >>> board.X.shape, board.X.dtype, type(board.X).__name__
    ((10000, 2), dtype('float32'), 'memmap')
    >>> bool(np.abs(board.X).max() < 1)
    True
    """
    n_samples, n_features = _check_sizes(n_samples, n_features)
    if n_clusters is not None:
        n_clusters = check_n_clusters(n_clusters, n_samples)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    path = Path(path)
    if labels_path is not None and Path(labels_path).resolve() == path.resolve():
        raise ValueError("labels_path must differ from path (the labels would overwrite the points)")
    if path.suffix.lower() != ".npy":
        raise ValueError(f"path must end in .npy (NumPy's format, which fastkm fit reads), got {str(path)!r}")
    if random_state is not None:
        random_state = check_integer(random_state, "random_state", minimum=0)
    seed = np.random.SeedSequence(random_state)
    rng = np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(2**31,)))
    if n_clusters is None:
        centers, spreads = np.zeros((0, n_features)), np.zeros(0)
        sizes = np.array([n_samples])
    else:
        low, high = _check_spread(spread)
        centers = rng.uniform(-1.0, 1.0, size=(n_clusters, n_features))
        spreads = rng.uniform(low, high, size=n_clusters)
        sizes = np.full(n_clusters, n_samples // n_clusters)
        sizes[: n_samples % n_clusters] += 1
    chunk_rows = max(1, (32 * 2**20) // (8 * n_features))
    X = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n_samples, n_features))
    labels = None
    if labels_path is not None:
        labels = np.lib.format.open_memmap(Path(labels_path), mode="w+", dtype=np.int32, shape=(n_samples,))
    start = 0
    for blob, size in enumerate(sizes):
        for offset in range(0, size, chunk_rows):
            rows = min(chunk_rows, size - offset)
            # one generator per chunk, from the seed and the chunk's place: the file
            # does not depend on anything but the arguments
            chunk_rng = np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(blob, offset)))
            if n_clusters is None:
                X[start : start + rows] = chunk_rng.uniform(-1.0, 1.0, size=(rows, n_features))
            else:
                X[start : start + rows] = _blob_inside_board(chunk_rng, centers[blob], spreads[blob], rows)
            if labels is not None:
                labels[start : start + rows] = blob
            start += rows
    X.flush()
    del X
    if labels is not None:
        labels.flush()
        del labels
        labels = np.load(labels_path, mmap_mode="c")
    return GaussianBoard(
        X=np.load(path, mmap_mode="c"),
        labels=np.zeros(0, dtype=np.int32) if labels is None else labels,
        centers=centers.astype(dtype),
        spreads=spreads,
    )


def _blob_inside_board(rng: np.random.Generator, center: np.ndarray, spread: float, size: int) -> np.ndarray:
    """``size`` normal draws around ``center``, conditioned on lying inside ``(-1, 1)^d``.

    The coordinates are independent, so redrawing each coordinate that falls
    outside gives exactly the distribution of redrawing whole points, and stays
    fast in high dimension, where most whole points would fall outside.
    """
    points = rng.normal(center, spread, size=(size, center.shape[0]))
    outside = np.abs(points) >= 1.0
    while outside.any():
        rows, cols = np.nonzero(outside)
        points[rows, cols] = rng.normal(center[cols], spread)
        outside[rows, cols] = np.abs(points[rows, cols]) >= 1.0
    return points


def _check_sizes(n_samples: Any, n_features: Any) -> tuple[int, int]:
    return check_integer(n_samples, "n_samples", minimum=1), check_integer(n_features, "n_features", minimum=1)


def _check_spread(spread: Any) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in spread)
    except (TypeError, ValueError):
        raise ValueError(f"spread must be a pair (low, high) of numbers, got {spread!r}") from None
    if not 0 < low <= high <= 2:
        raise ValueError(
            f"spread must be (low, high) with 0 < low <= high <= 2, got {spread!r} "
            "(a blob wider than the board is just noise on it: use uniform_board)"
        )
    return low, high
