"""Output files: checked before the work, never over a user's file without --force, all or nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from click.testing import CliRunner

from fastkm import io as fastkm_io
from fastkm.cli import main
from fastkm.datasets import gaussian_board
from fastkm.io import OutputFiles


@pytest.fixture
def data(tmp_path):
    board = gaussian_board(600, 3, random_state=0)
    path = tmp_path / "X.npy"
    np.save(path, board.X)
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(arg) for arg in args], catch_exceptions=False)


def _listing(folder):
    return sorted(path.name for path in folder.iterdir())


def test_existing_output_is_refused_before_the_fit_and_left_untouched(tmp_path, data):
    out = tmp_path / "out.npz"
    out.write_bytes(b"precious")
    result = invoke("fit", data, "-k", "3", "-o", out)
    assert result.exit_code == 2
    assert "out.npz already exists; pass --force to overwrite it" in result.output
    assert "points" not in result.output  # refused before the fit (its summary never printed)
    assert out.read_bytes() == b"precious"
    forced = invoke("fit", data, "-k", "3", "-o", out, "--force", "--seed", "0")
    assert forced.exit_code == 0, forced.output
    with np.load(out) as saved:
        assert saved["centroids"].shape == (3, 2) and saved["labels"].shape == (600,)
    assert _listing(tmp_path) == ["X.npy", "out.npz"]  # no temporary file left behind


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: ["-o", t / "missing" / "out.npz"], "the folder"),
        (lambda d, t: ["-o", t], "is a directory"),
        (lambda d, t: ["-o", t / "folder.npz"], "is a directory"),
        (lambda d, t: ["--labels-csv", t / "a.csv", "--plot", t / "a.csv"], "must end in .png"),
        (lambda d, t: ["-o", t / "a.npz", "--labels-csv", t / "a.npz"], "must end in .csv"),
        (lambda d, t: ["-o", t / "same.npz", "-o", t / "same.npz"], None),  # (click keeps the last: fine)
    ],
)
def test_bad_output_paths_fail_before_the_fit(tmp_path, data, make_args, message):
    (tmp_path / "folder.npz").mkdir()
    result = invoke("fit", data, "-k", "3", *make_args(data, tmp_path))
    if message is None:
        assert result.exit_code == 0
        return
    assert result.exit_code == 2 and message in result.output, result.output
    assert "points" not in result.output


def test_an_output_may_not_be_the_input_or_another_output(tmp_path):
    X = np.random.default_rng(0).standard_normal((50, 2))
    path = tmp_path / "X.csv"
    np.savetxt(path, X, delimiter=",")
    result = invoke("fit", path, "-k", "2", "--labels-csv", path, "--force")
    assert result.exit_code == 2 and "is the input file" in result.output
    assert np.loadtxt(path, delimiter=",").shape == (50, 2)
    (tmp_path / "sub").mkdir()
    outputs = OutputFiles()
    outputs.add(tmp_path / "a.png", ".png", "--plot")
    with pytest.raises(ValueError, match="already another output"):
        outputs.add(tmp_path / "sub" / ".." / "a.png", ".png", "--other")


def test_a_failing_output_leaves_none_of_this_runs_outputs(tmp_path, data, monkeypatch):
    out, labels = tmp_path / "out.npz", tmp_path / "labels.csv"
    out.write_bytes(b"the previous result")

    def broken_writer(path, *args, **kwargs):
        with open(path, "w") as handle:
            handle.write("row,label\n0,")  # half a file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fastkm_io, "write_labels_csv", broken_writer)
    result = invoke("fit", data, "-k", "3", "-o", out, "--labels-csv", labels, "--force")
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert out.read_bytes() == b"the previous result"  # the npz written before it was never put in place
    assert _listing(tmp_path) == ["X.npy", "out.npz"]


def test_a_failed_rename_puts_every_previous_file_back(tmp_path, monkeypatch):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    real_replace, calls = os.replace, []

    def flaky_replace(source, target):
        calls.append((str(source), str(target)))
        if str(target) == str(second):
            raise OSError(5, "I/O error")
        return real_replace(source, target)

    monkeypatch.setattr(fastkm_io.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="I/O error"):
        with OutputFiles(force=True) as outputs:
            for path in (outputs.add(first, ".txt", "-a"), outputs.add(second, ".txt", "-b")):
                outputs.write(path, lambda temporary, path=path: open(temporary, "w").write(f"new {path.name}"))
    assert any(target == str(first) for _, target in calls), "the first file was put in place before the failure"
    assert first.read_text() == "old a" and not second.exists()
    assert _listing(tmp_path) == ["a.txt"]


def test_outputs_get_the_usual_permissions(tmp_path):
    with OutputFiles() as outputs:
        path = outputs.add(tmp_path / "x.txt", ".txt", "--out")
        outputs.write(path, lambda temporary: open(temporary, "w").write("x"))
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~mask


def test_an_unwritable_folder_is_refused_before_the_fit(tmp_path, data, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real = fastkm_io.tempfile.TemporaryFile

    def no_permission(*args, dir=None, **kwargs):  # (root writes anywhere: make the folder refuse)
        if dir is not None and os.path.samefile(dir, locked):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fastkm_io.tempfile, "TemporaryFile", no_permission)
    result = invoke("fit", data, "-k", "3", "-o", locked / "out.npz")
    assert result.exit_code == 2 and "cannot write in" in result.output and "Permission denied" in result.output
    assert "points" not in result.output and not list(locked.iterdir())


def test_select_k_and_bench_refuse_to_overwrite(tmp_path, data):
    plot = tmp_path / "gap.png"
    plot.write_bytes(b"mine")
    result = invoke("select-k", data, "--k", "1..2", "--n-refs", "1", "--plot", plot)
    assert result.exit_code == 2 and "gap.png already exists" in result.output and "best K" not in result.output
    record = tmp_path / "record.json"
    record.write_text("{}")
    result = invoke("bench", "--grid", "A", "--scale", "1e-4", "--json", record)
    assert result.exit_code == 2 and "record.json already exists" in result.output and "floors" not in result.output
    assert plot.read_bytes() == b"mine" and record.read_text() == "{}"


def test_demo_replaces_its_own_pictures_but_no_one_elses(tmp_path):
    pytest.importorskip("matplotlib", reason="the demo's pictures need matplotlib")
    args = ["demo", "-n", "3000", "-k", "3", "--backend", "numpy", "--out", tmp_path]
    assert invoke(*args).exit_code == 0
    png, gif = tmp_path / "fastkm-demo.png", tmp_path / "fastkm-demo.gif"
    first = png.stat().st_mtime_ns
    again = invoke(*args, "--seed", "7")
    assert again.exit_code == 0, again.output  # its own pictures: replaced without --force
    assert png.stat().st_mtime_ns >= first and gif.read_bytes().endswith(b";")
    gif.write_bytes(b"GIF89a a user's animation")
    refused = invoke(*args)
    assert refused.exit_code == 2 and "fastkm-demo.gif already exists; pass --force" in refused.output
    assert "Gaussian board" not in refused.output  # before any work
    assert gif.read_bytes() == b"GIF89a a user's animation"
    assert invoke(*args, "--force").exit_code == 0
    from PIL import Image

    with Image.open(gif) as animation:
        assert animation.n_frames > 2
