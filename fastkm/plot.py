"""Pictures of a clustering: clusters, Voronoi regions, the Lloyd iterations, inertia.

Needs matplotlib (``pip install 'fastkm[plot]'``). Every function draws on a
given ``ax`` or a new figure and returns the ``Axes``; nothing is shown or
saved unless asked. Data with more than two features are drawn in the plane
of their first two principal components (fitted on a sample); large data are
drawn from a deterministic sample of ``max_points`` points, so a plot of 10M
points costs what a plot of 20k does. CuPy arrays are accepted (copied to the
host).

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from fastkm import kmeans
>>> from fastkm.datasets import gaussian_board
>>> board = gaussian_board(2000, 4, random_state=0)
>>> result = kmeans(board.X, 4, random_state=0)
>>> ax = plot_clusters(board.X, result.labels, result.centroids)
>>> ax.get_title()
'4 clusters, 2,000 points'
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import to_host
from .validation import check_integer

__all__ = ["Projection", "animate_lloyd", "plot_clusters", "plot_inertia", "plot_voronoi"]

logger = logging.getLogger("fastkm")

#: Points drawn at most in a scatter (a deterministic sample beyond that).
MAX_POINTS = 20_000


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("fastkm's plots need matplotlib: pip install 'fastkm[plot]'") from None
    return plt


def _sample(n_samples: int, max_points: int, random_state: int = 0) -> np.ndarray:
    """Sorted row indices of at most ``max_points`` rows, the same for the same arguments."""
    if n_samples <= max_points:
        return np.arange(n_samples)
    return np.sort(np.random.default_rng(random_state).choice(n_samples, max_points, replace=False))


class Projection:
    """The plane a picture is drawn in: the first two features, or the first two principal components.

    Fitted once (on a sample) so that every frame of an animation, and the
    centroids with the points, use the same plane.
    """

    def __init__(self, X: Any, max_points: int = MAX_POINTS):
        X = to_host(X)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"X must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}")
        max_points = check_integer(max_points, "max_points", minimum=1)
        self.n_features = X.shape[1]
        if self.n_features <= 2:
            self.mean, self.axes = None, None
            self.labels = ("x0", "x1") if self.n_features == 2 else ("x0", "")
            return
        sample = X[_sample(X.shape[0], max_points)].astype(np.float64)
        self.mean = sample.mean(axis=0)
        _, singular, vt = np.linalg.svd(sample - self.mean, full_matrices=False)
        # (fewer than two points or directions: the missing axis is all zeros)
        self.axes = np.zeros((2, self.n_features))
        self.axes[: len(vt[:2])] = vt[:2]
        share = np.zeros(2)
        share[: len(singular[:2])] = singular[:2] ** 2 / max((singular**2).sum(), np.finfo(float).tiny)
        self.labels = (f"PC1 ({share[0]:.0%} of variance)", f"PC2 ({share[1]:.0%})")

    def __call__(self, points: Any) -> np.ndarray:
        """``(n, 2)`` coordinates in the plane (1-D data: on a line at height 0)."""
        points = to_host(points)
        if points.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {points.shape[1]}")
        if self.axes is not None:
            return (points - self.mean) @ self.axes.T
        if self.n_features == 1:
            return np.column_stack([points[:, 0], np.zeros(len(points))])
        return np.asarray(points, dtype=np.float64)


def _colours(n_clusters: int):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n_clusters <= 10 else "tab20" if n_clusters <= 20 else "turbo")
    if n_clusters <= 20:
        return [cmap(k % cmap.N) for k in range(n_clusters)]
    return [cmap(k / max(n_clusters - 1, 1)) for k in range(n_clusters)]


def _point_size(n_points: int) -> float:
    """Marker area for a scatter of ``n_points``: dense clouds get smaller dots, never invisible ones."""
    return float(np.clip(30_000 / max(n_points, 1), 2.0, 25.0))


def _draw(ax, plane: np.ndarray, labels: np.ndarray, centres: np.ndarray, colours, point_size: float):
    """Points coloured by cluster, centroids as stars; returns the artists (for animation)."""
    point_colours = np.asarray(colours)[labels]
    points = ax.scatter(plane[:, 0], plane[:, 1], c=point_colours, s=point_size, linewidths=0, alpha=0.7)
    stars = ax.scatter(
        centres[:, 0], centres[:, 1], marker="*", s=320, c=colours, edgecolors="black", linewidths=1.2, zorder=3
    )
    return points, stars


def _new_axes(ax, figsize=(6.4, 6.0)):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def plot_clusters(
    X: Any,
    labels: Any,
    centroids: Any,
    *,
    ax=None,
    title: str | None = None,
    max_points: int = MAX_POINTS,
    point_size: float | None = None,
):
    """Scatter the points coloured by cluster, with each centroid as a star of its cluster's colour.

    More than two features: drawn on the first two principal components.
    More than ``max_points`` points: a deterministic sample of them is drawn.
    """
    X, labels, centroids = to_host(X), _check_labels(labels), to_host(centroids)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels must have one entry per row of X ({X.shape[0]}), got shape {labels.shape}")
    if centroids.ndim != 2 or centroids.shape[1] != X.shape[1]:
        raise ValueError(f"centroids must be (n_clusters, {X.shape[1]}), got shape {centroids.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(centroids)):
        raise ValueError(f"labels must lie in [0, {len(centroids)}), got values in [{labels.min()}, {labels.max()}]")
    projection = Projection(X, max_points)
    rows = _sample(X.shape[0], max_points)
    ax = _new_axes(ax)
    size = point_size if point_size is not None else _point_size(len(rows))
    _draw(ax, projection(X[rows]), labels[rows], projection(centroids), _colours(len(centroids)), size)
    ax.set_xlabel(projection.labels[0])
    ax.set_ylabel(projection.labels[1])
    shown = "" if len(rows) == X.shape[0] else f" ({len(rows):,} drawn)"
    ax.set_title(title if title is not None else f"{len(centroids)} clusters, {X.shape[0]:,} points{shown}")
    return ax


def plot_voronoi(
    centroids: Any,
    *,
    X: Any = None,
    labels: Any = None,
    ax=None,
    bounds: tuple[float, float, float, float] | None = None,
    resolution: int = 500,
    max_points: int = MAX_POINTS,
):
    """The Voronoi regions of 2-D centroids (each region in its cluster's colour), points on top if given.

    ``bounds`` is ``(xmin, xmax, ymin, ymax)``; default: the points' (or the
    centroids') extent with a margin. Regions are found by nearest centroid on
    a ``resolution`` x ``resolution`` grid, so they are exact to a pixel.
    """
    centroids = to_host(centroids).astype(np.float64)
    if centroids.ndim != 2 or centroids.shape[1] != 2:
        raise ValueError(
            f"Voronoi regions are drawn for 2-D centroids only, got shape {centroids.shape}; "
            "use plot_clusters (which projects on principal components) for other dimensions"
        )
    resolution = check_integer(resolution, "resolution", minimum=10, maximum=4000)
    if X is not None:
        X = to_host(X)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"X must be (n_samples, 2) like the centroids, got shape {X.shape}")
        if labels is not None:
            labels = _check_labels(labels)
            if labels.shape != (len(X),) or (labels.size and (labels.min() < 0 or labels.max() >= len(centroids))):
                raise ValueError(f"labels must be {len(X)} cluster indices in [0, {len(centroids)})")
    extent_of = centroids if X is None else np.vstack([X[_sample(len(X), max_points)], centroids])
    if bounds is None:
        low, high = extent_of.min(axis=0), extent_of.max(axis=0)
        margin = 0.05 * np.maximum(high - low, 1e-9)
        bounds = (low[0] - margin[0], high[0] + margin[0], low[1] - margin[1], high[1] + margin[1])
    xmin, xmax, ymin, ymax = bounds
    if not (xmin < xmax and ymin < ymax):
        raise ValueError(f"bounds must be (xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax, got {bounds!r}")
    gx, gy = np.meshgrid(np.linspace(xmin, xmax, resolution), np.linspace(ymin, ymax, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    nearest = _nearest_labels(grid, centroids)
    colours = np.asarray(_colours(len(centroids)))
    ax = _new_axes(ax)
    image = colours[nearest.reshape(resolution, resolution)].copy()
    image[..., :3] = 0.3 * image[..., :3] + 0.7  # pale regions, so the points stand out
    ax.imshow(image, origin="lower", extent=(xmin, xmax, ymin, ymax), aspect="auto", interpolation="nearest")
    ax.contour(gx, gy, nearest.reshape(resolution, resolution), levels=np.arange(len(centroids)) + 0.5,
               colors="0.25", linewidths=0.8)  # fmt: skip
    if X is not None:
        X_host = to_host(X)
        rows = _sample(len(X_host), max_points)
        point_labels = _nearest_labels(X_host[rows], centroids) if labels is None else labels[rows]
        size = _point_size(len(rows))
        _draw(ax, X_host[rows].astype(np.float64), point_labels, centroids, list(colours), size)
    else:
        ax.scatter(centroids[:, 0], centroids[:, 1], marker="*", s=320, c=list(colours), edgecolors="black", zorder=3)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_title(f"Voronoi regions of {len(centroids)} centroids")
    return ax


def _check_labels(labels: Any) -> np.ndarray:
    labels = to_host(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (cluster indices), got dtype {labels.dtype}")
    return labels.astype(np.intp)


def _nearest_labels(points: np.ndarray, centroids: np.ndarray, block: int = 65536) -> np.ndarray:
    """Nearest centroid of each point of a picture (block by block: the distances stay small)."""
    nearest = np.empty(len(points), dtype=np.intp)
    for start in range(0, len(points), block):
        part = np.asarray(points[start : start + block], dtype=np.float64)
        nearest[start : start + len(part)] = ((part[:, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
    return nearest


def plot_inertia(result: Any, *, ax=None):
    """Inertia at the start of each Lloyd iteration of a fit (a :class:`~fastkm.KMeansResult` or a sequence)."""
    history = np.asarray(getattr(result, "inertia_history", result), dtype=np.float64)
    if history.ndim != 1 or history.size == 0:
        raise ValueError("plot_inertia needs a fit result with an inertia history (or a non-empty sequence)")
    ax = _new_axes(ax, figsize=(6.4, 4.0))
    iterations = np.arange(1, history.size + 1)
    ax.plot(iterations, history, marker="o", markersize=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("inertia (sum of squared distances)")
    ax.set_title(f"Lloyd iterations: inertia {history[0]:.4g} -> {history[-1]:.4g}")
    ax.grid(alpha=0.3)
    return ax


def animate_lloyd(
    X: Any,
    n_clusters: int,
    path: str | os.PathLike,
    *,
    fps: int = 2,
    max_points: int = 5000,
    dpi: int = 80,
    **kmeans_options: Any,
):
    """Fit k-means and save an animation of its Lloyd iterations as a GIF (or MP4, with ffmpeg).

    A fit of ``n_iter`` iterations gives ``n_iter + 1`` frames: frame ``t``
    shows the centroids after ``t`` iterations as stars (frame 0: the initial
    centroids), the points coloured by their nearest centroid, and the path
    each centroid has travelled so far. ``kmeans_options`` go to :func:`fastkm.kmeans` (``init``,
    ``random_state``, ``backend``, ...); the frames come from its per-iteration
    callback, so the animation shows exactly the fit that is returned.
    ``n_init`` defaults to 1 here (one run to watch; with more, every run is
    shown, one after another).

    Returns the :class:`~fastkm.KMeansResult`.
    """
    from matplotlib import animation

    from .lloyd import kmeans

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"path must end in .gif or .mp4, got {str(path)!r}")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise ValueError("writing .mp4 needs ffmpeg on PATH; install it or ask for a .gif")
    fps = check_integer(fps, "fps", minimum=1)
    if "callback" in kmeans_options:
        raise TypeError("animate_lloyd records the iterations through kmeans' callback; do not pass one")

    kmeans_options.setdefault("n_init", 1)
    X_host = to_host(X)
    rows = _sample(X_host.shape[0], max_points)
    frames: list[tuple[int, np.ndarray, np.ndarray]] = []

    def record(step) -> None:
        # (the centroids after step.iteration - 1 iterations, and the points' nearest of them)
        frames.append((step.iteration - 1, to_host(step.labels)[rows], to_host(step.previous_centroids).astype(np.float64)))

    result = kmeans(X, n_clusters, callback=record, **kmeans_options)
    final_centroids = to_host(result.centroids).astype(np.float64)
    frames.append((result.n_iter, to_host(result.labels)[rows], final_centroids))

    plt = _pyplot()
    projection = Projection(X_host, max_points)
    plane = projection(X_host[rows])
    colours = _colours(n_clusters)
    fig, ax = plt.subplots(figsize=(6.0, 5.6))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.93)  # (fixed: no layout pass per frame)
    ax.set_xlabel(projection.labels[0])
    ax.set_ylabel(projection.labels[1])
    low, high = plane.min(axis=0), plane.max(axis=0)
    every_centre = np.vstack([projection(centres) for _, _, centres in frames])
    low, high = np.minimum(low, every_centre.min(axis=0)), np.maximum(high, every_centre.max(axis=0))
    margin = 0.05 * np.maximum(high - low, 1e-9)
    ax.set_xlim(low[0] - margin[0], high[0] + margin[0])
    ax.set_ylim(low[1] - margin[1], high[1] + margin[1])
    size = _point_size(len(rows))
    points, stars = _draw(ax, plane, frames[0][1], projection(frames[0][2]), colours, size)
    trails = [ax.plot([], [], color=colours[k], linewidth=1.5, zorder=2)[0] for k in range(n_clusters)]
    history = [projection(centres) for _, _, centres in frames]

    def update(index: int):
        iteration, labels, _ = frames[index]
        points.set_facecolors(np.asarray(colours)[labels])
        stars.set_offsets(history[index])
        for k, trail in enumerate(trails):
            path_k = np.array([centres[k] for centres in history[: index + 1]])
            trail.set_data(path_k[:, 0], path_k[:, 1])
        last = index == len(frames) - 1
        state = "initial centroids" if iteration == 0 else f"after iteration {iteration}" + (" (final)" if last else "")
        ax.set_title(f"Lloyd, K={n_clusters}: {state}")
        return (points, stars, *trails)

    movie = animation.FuncAnimation(fig, update, frames=len(frames), blit=False)
    writer = animation.PillowWriter(fps=fps) if suffix == ".gif" else animation.FFMpegWriter(fps=fps)
    movie.save(path, writer=writer, dpi=dpi)
    plt.close(fig)
    logger.info("wrote %s (%d frames)", path, len(frames))
    return result
