"""The pictures: rendered with Agg to PNG/GIF and checked for what they must show."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'fastkm[plot]')")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from fastkm import kmeans  # noqa: E402
from fastkm.datasets import gaussian_board  # noqa: E402
from fastkm.plot import Projection, animate_lloyd, plot_clusters, plot_inertia, plot_voronoi  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    board = gaussian_board(3000, 4, spread=(0.05, 0.1), random_state=5)
    return board, kmeans(board.X, 4, random_state=0)


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def _tab10(n):
    return [plt.get_cmap("tab10")(k) for k in range(n)]


def _has_colour(pixels: np.ndarray, rgba, tolerance: int = 40) -> bool:
    target = np.array([round(255 * c) for c in rgba[:3]])
    return bool((np.abs(pixels - target).max(axis=2) <= tolerance).any())


def test_clusters_png_shows_every_cluster_colour(tmp_path, fitted):
    board, result = fitted
    ax = plot_clusters(board.X, result.labels, result.centroids)
    path = tmp_path / "clusters.png"
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    pixels = _pixels(path)
    assert path.stat().st_size > 5000
    assert (pixels.min(axis=2) < 200).mean() > 0.01, "almost nothing drawn"
    colours = plt.get_cmap("tab10")
    for k in range(4):
        assert _has_colour(pixels, colours(k)), f"cluster {k}'s colour is missing"
    # the stars sit on the centroids: each is the (data-space) mean of its points
    stars = ax.collections[1].get_offsets()
    np.testing.assert_allclose(stars, result.centroids, rtol=1e-6)


def test_projection_on_principal_components_for_many_features():
    board = gaussian_board(2000, 3, 6, random_state=2)
    projection = Projection(board.X)
    plane = projection(board.X)
    assert plane.shape == (2000, 2)
    assert projection.labels[0].startswith("PC1")
    # the first component carries at least as much variance as any single feature direction
    assert plane[:, 0].var() >= (board.X - board.X.mean(axis=0)).var(axis=0).max() * 0.999
    ax = plot_clusters(board.X, board.labels, board.centers)
    assert ax.get_xlabel().startswith("PC1")
    plt.close(ax.figure)


def test_voronoi_regions_match_nearest_centroid(tmp_path, fitted):
    board, result = fitted
    ax = plot_voronoi(result.centroids, X=board.X, labels=result.labels, resolution=200)
    path = tmp_path / "voronoi.png"
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    image = ax.images[0].get_array()
    xmin, xmax, ymin, ymax = ax.images[0].get_extent()
    # the colour at each centroid's own position is its own region's (pale) colour
    for k, (x, y) in enumerate(result.centroids):
        col = int((x - xmin) / (xmax - xmin) * 199)
        row = int((y - ymin) / (ymax - ymin) * 199)
        expected = 0.3 * np.array(plt.get_cmap("tab10")(k)[:3]) + 0.7
        np.testing.assert_allclose(image[row, col, :3], expected, atol=1e-6)
    assert path.stat().st_size > 5000
    with pytest.raises(ValueError, match="2-D centroids only"):
        plot_voronoi(np.zeros((3, 3)))


def test_inertia_curve(fitted):
    _, result = fitted
    ax = plot_inertia(result)
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), result.inertia_history)
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="inertia history"):
        plot_inertia([])


def test_animation_gif_has_one_frame_per_iteration_and_changes(tmp_path, fitted):
    board, _ = fitted
    path = tmp_path / "lloyd.gif"
    result = animate_lloyd(board.X, 4, path, init="random", random_state=1, max_points=1500)
    gif = Image.open(path)
    assert gif.n_frames == result.n_iter + 1  # every iteration, then the final state
    gif.seek(0)
    first = np.asarray(gif.convert("RGB"), dtype=np.int16)
    gif.seek(gif.n_frames - 1)
    last = np.asarray(gif.convert("RGB"), dtype=np.int16)
    assert (first.min(axis=2) < 200).mean() > 0.01
    assert np.abs(first - last).max() > 0, "the centroids never moved on screen"


def test_animation_frames_are_the_start_then_one_per_iteration(tmp_path, fitted, monkeypatch):
    import matplotlib.axes

    board, _ = fitted
    titles = []
    real = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title",
                        lambda self, label, *a, **k: titles.append(label) or real(self, label, *a, **k))  # fmt: skip
    result = animate_lloyd(board.X, 4, tmp_path / "lloyd.gif", init="random", random_state=1, max_points=500)
    shown = list(dict.fromkeys(titles))  # (the first frame is drawn twice: once to set the animation up)
    assert shown[0] == "Lloyd, K=4: initial centroids"
    assert shown[1:] == [f"Lloyd, K=4: after iteration {t}" for t in range(1, result.n_iter)] + [
        f"Lloyd, K=4: after iteration {result.n_iter} (final)"
    ]
    assert len(shown) == Image.open(tmp_path / "lloyd.gif").n_frames == result.n_iter + 1


def test_animation_errors(tmp_path, fitted):
    board, _ = fitted
    with pytest.raises(ValueError, match=".gif or .mp4"):
        animate_lloyd(board.X, 4, tmp_path / "x.png")
    with pytest.raises(ValueError, match="fps must be a positive integer"):
        animate_lloyd(board.X, 4, tmp_path / "x.gif", fps=0)
    with pytest.raises(TypeError, match="do not pass one"):
        animate_lloyd(board.X, 4, tmp_path / "x.gif", callback=print)


def test_bad_plot_inputs(fitted):
    board, result = fitted
    with pytest.raises(ValueError, match="one entry per row"):
        plot_clusters(board.X, result.labels[:-1], result.centroids)
    with pytest.raises(ValueError, match="labels must lie in"):
        plot_clusters(board.X, result.labels + 10, result.centroids)
    with pytest.raises(ValueError, match="centroids must be"):
        plot_clusters(board.X, result.labels, result.centroids[:, :1])


def test_pandas_input_and_degenerate_shapes(tmp_path, fitted):
    pd = pytest.importorskip("pandas", reason="pandas is not installed")
    board, result = fitted
    ax = plot_clusters(pd.DataFrame(board.X), pd.Series(result.labels), result.centroids)
    points, stars = ax.collections
    # every point drawn where it is (2-D data: the plane is the data's own), coloured by its cluster
    np.testing.assert_array_equal(points.get_offsets(), board.X)
    np.testing.assert_allclose(points.get_facecolors()[:, :3], np.array(_tab10(4))[result.labels][:, :3])
    np.testing.assert_allclose(stars.get_offsets(), result.centroids, rtol=1e-12)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x0", "x1")
    assert ax.get_title() == f"4 clusters, {len(board.X):,} points"
    plt.close(ax.figure)

    one = np.array([[1.0, 2.0, 3.0]])
    ax = plot_clusters(one, np.array([0]), one)  # one point in 3-D: a plane with a zero axis
    points, stars = ax.collections
    # the point and its centroid at the origin of the (mean-centred) principal plane, nothing undefined
    np.testing.assert_array_equal(points.get_offsets(), [[0.0, 0.0]])
    np.testing.assert_array_equal(stars.get_offsets(), [[0.0, 0.0]])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("PC1 (0% of variance)", "PC2 (0%)")
    assert ax.get_title() == "1 clusters, 1 points"
    path = tmp_path / "one.png"
    ax.figure.savefig(path, dpi=40)  # and it renders
    plt.close(ax.figure)
    assert _has_colour(_pixels(path), plt.get_cmap("tab10")(0))
    with pytest.raises(TypeError, match="labels must be integers"):
        plot_clusters(board.X, result.labels.astype(float), result.centroids)
    with pytest.raises(ValueError, match="labels must be"):
        plot_voronoi(result.centroids, X=board.X, labels=result.labels[:10])
    with pytest.raises(ValueError, match="max_points must be a positive integer"):
        plot_clusters(board.X, result.labels, result.centroids, max_points=0)
