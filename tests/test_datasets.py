"""The seed boards."""

import numpy as np
import pytest

from fastkm.datasets import gaussian_board, uniform_board


def test_gaussian_board_is_reproducible_and_inside_the_square():
    a = gaussian_board(5000, 7, random_state=3)
    b = gaussian_board(5000, 7, random_state=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert np.abs(a.X).max() < 1.0
    assert a.centers.shape == (7, 2) and np.abs(a.centers).max() <= 1.0
    assert np.all((a.spreads >= 0.05) & (a.spreads <= 0.5))
    assert np.bincount(a.labels).tolist() == [715] * 2 + [714] * 5  # 5000 = 7 * 714 + 2


def test_gaussian_board_blobs_have_their_spread():
    board = gaussian_board(40000, 2, n_features=3, spread=(0.05, 0.08), random_state=1)
    for blob in range(2):
        points = board.X[board.labels == blob]
        # tight blobs are barely clipped by the square, so the sample spread is the true one
        if np.all(np.abs(board.centers[blob]) < 1 - 5 * board.spreads[blob]):
            assert points.std(axis=0) == pytest.approx([board.spreads[blob]] * 3, rel=0.05)
        np.testing.assert_allclose(points.mean(axis=0), board.centers[blob], atol=0.05)


def test_high_dimensional_board_does_not_hang():
    board = gaussian_board(2000, 4, n_features=256, random_state=0)
    assert board.X.shape == (2000, 256) and np.abs(board.X).max() < 1.0


def test_uniform_board():
    X = uniform_board(10000, 2, random_state=0, dtype=np.float32)
    assert X.dtype == np.float32 and np.abs(X).max() <= 1.0
    assert X.mean(axis=0) == pytest.approx([0, 0], abs=0.03)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=0, n_clusters=1), "n_samples must be a positive integer"),
    (dict(n_samples=10, n_clusters=11), "n_samples=10 should be >= n_clusters=11"),
    (dict(n_samples=10, n_clusters=2, spread=(0.5, 0.1)), "spread must be"),
    (dict(n_samples=10, n_clusters=2, spread=(1e9, 1e9)), "spread must be"),
    (dict(n_samples=10, n_clusters=2, spread=(1.0, float("inf"))), "spread must be"),
])
def test_bad_board_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian_board(**kwargs)


def test_write_board_is_deterministic_and_labels_match(tmp_path):
    from fastkm.datasets import write_board

    first = write_board(tmp_path / "a.npy", 5000, 3, 4, random_state=1, labels_path=tmp_path / "a_labels.npy")
    second = write_board(tmp_path / "b.npy", 5000, 3, 4, random_state=1)
    assert (tmp_path / "a.npy").read_bytes() == (tmp_path / "b.npy").read_bytes()
    assert np.bincount(first.labels).tolist() == [1667, 1667, 1666]
    assert first.X.shape == (5000, 4) and np.abs(first.X).max() < 1
    # each blob's points sit around its own centre
    for blob in range(3):
        assert np.linalg.norm(first.X[first.labels == blob].mean(axis=0) - first.centers[blob]) < 0.5
    third = write_board(tmp_path / "c.npy", 5000, 3, 4, random_state=2)
    assert not np.array_equal(np.asarray(third.X), np.asarray(second.X))


def test_write_board_uniform_and_errors(tmp_path):
    from fastkm.datasets import write_board

    board = write_board(tmp_path / "u.npy", 1000, None, 3, random_state=0, dtype=np.float64)
    assert board.X.dtype == np.float64 and board.centers.shape == (0, 3) and board.labels.size == 0
    assert -1 <= board.X.min() and board.X.max() <= 1
    with pytest.raises(ValueError, match="must end in .npy"):
        write_board(tmp_path / "x.csv", 10, 2)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        write_board(tmp_path / "x.npy", 10, 2, dtype=np.int64)
    with pytest.raises(TypeError, match="random_state must be an integer"):
        write_board(tmp_path / "x.npy", 10, 2, random_state=np.random.default_rng(0))


def test_write_board_holds_one_chunk_not_the_data(tmp_path):
    """A 192 MB file is written with a fraction of that in memory (tracemalloc sees NumPy's buffers)."""
    import tracemalloc

    from fastkm.datasets import write_board

    tracemalloc.start()
    try:
        board = write_board(tmp_path / "big.npy", 1_500_000, 5, 32, random_state=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = board.X.nbytes
    assert size == 1_500_000 * 32 * 4
    assert peak < size / 2, f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"


def test_write_board_refuses_to_overwrite_its_points_with_labels(tmp_path):
    from fastkm.datasets import write_board

    with pytest.raises(ValueError, match="labels_path must differ"):
        write_board(tmp_path / "X.npy", 10, 2, labels_path=tmp_path / "X.npy")
    assert write_board(tmp_path / "Y.NPY", 10, 2, random_state=0).X.shape == (10, 2)
