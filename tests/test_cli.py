"""The fastkm command through its real entry point."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from fastkm.cli import main
from fastkm.datasets import gaussian_board


def run(*args):
    executable = shutil.which("fastkm")
    command = [executable, *args] if executable else [sys.executable, "-m", "fastkm.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_demo_runs_and_prints_a_summary(tmp_path):
    result = run("demo", "--n-samples", "20000", "--n-clusters", "5", "--backend", "numpy", "--no-pictures")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Gaussian board, 20,000 points, d=2, K=5" in out
    assert "backend     numpy" in out
    assert "(converged)" in out
    # one table row per cluster, sizes adding up to N
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert len(rows) == 5
    assert sum(int(row[1].replace(",", "")) for row in rows) == 20000


def test_demo_in_higher_dimension():
    result = CliRunner().invoke(main, ["demo", "-n", "3000", "-k", "3", "-d", "5", "--backend", "numpy", "--no-pictures"])
    assert result.exit_code == 0, result.output
    assert "d=5, K=3" in result.output and ", ...)" in result.output


def test_demo_writes_the_picture_and_the_animation(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install 'fastkm[plot]')")
    from PIL import Image

    result = run("demo", "-n", "5000", "-k", "4", "--out", str(tmp_path / "pictures"))
    assert result.returncode == 0, result.stderr
    png, gif = tmp_path / "pictures" / "fastkm-demo.png", tmp_path / "pictures" / "fastkm-demo.gif"
    assert f"wrote {png}" in result.stdout
    picture = np.asarray(Image.open(png).convert("RGB"))
    assert picture.shape[1] > 1000 and (picture.min(axis=2) < 200).mean() > 0.05  # three panels, drawn on
    animation = Image.open(gif)
    assert animation.n_frames >= 3


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    """One data set (3 separated blobs) in every format the CLI reads."""
    folder = tmp_path_factory.mktemp("data")
    board = gaussian_board(600, 3, spread=(0.03, 0.05), random_state=0)
    np.save(folder / "X.npy", board.X)
    np.savez(folder / "X.npz", X=board.X, other=np.zeros(3))
    ids = [f"s{i:04d}" for i in range(len(board.X))]
    with open(folder / "X.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample", "x", "y"])
        writer.writerows([name, *row] for name, row in zip(ids, board.X.tolist()))
    with open(folder / "X.tsv", "w") as handle:
        handle.writelines("\t".join(map(str, row)) + "\n" for row in board.X.tolist())
    return folder, board


@pytest.mark.parametrize("name", ["X.npy", "X.npz", "X.csv", "X.tsv"])
def test_fit_reads_every_format_and_finds_the_blobs(tmp_path, data_files, name):
    folder, board = data_files
    extra = ["--id-column", "sample"] if name == "X.csv" else []
    out, labels_csv = tmp_path / "fit.npz", tmp_path / "labels.csv"
    result = run("fit", str(folder / name), "-k", "3", "--seed", "0", "-o", str(out), "--labels-csv", str(labels_csv), *extra)
    assert result.returncode == 0, result.stderr
    assert "600 points, 2 features, K=3" in result.stdout and "converged" in result.stdout
    saved = np.load(out)
    assert saved["centroids"].shape == (3, 2) and saved["labels"].shape == (600,)
    # every true blob is one cluster
    pairs = {(t, f) for t, f in zip(board.labels.tolist(), saved["labels"].tolist())}
    assert len(pairs) == 3
    with open(labels_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == (["sample", "label"] if name == "X.csv" else ["row", "label"])
    assert rows[1][0] == ("s0000" if name == "X.csv" else "0") and len(rows) == 601
    assert [int(row[1]) for row in rows[1:]] == saved["labels"].tolist()


def test_fit_draws_a_plot(tmp_path, data_files):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    folder, _ = data_files
    result = CliRunner().invoke(main, ["fit", str(folder / "X.npy"), "-k", "3", "--plot", str(tmp_path / "c.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").stat().st_size > 5000


def test_select_k_finds_three(tmp_path, data_files):
    folder, _ = data_files
    result = run("select-k", str(folder / "X.npy"), "--k", "1..6", "--method", "gap", "--n-refs", "5", "--seed", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("best K: 3")
    assert sum(line.rstrip().endswith("<-") for line in result.stdout.splitlines()) == 1


def test_bench_runs_the_shared_harness(tmp_path):
    out = tmp_path / "bench.json"
    result = run("bench", "--grid", "A", "--scale", "0.002", "--backends", "numpy", "--peers", "", "--repeats", "1",
                 "--iterations", "3", "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "floors   SGEMM" in result.stdout and any(line.split()[:2] == ["A", "numpy"] for line in result.stdout.splitlines())
    import json

    record = json.loads(out.read_text())
    assert record["grid"][0]["implementation"] == "numpy" and record["grid"][0]["n_samples_run"] == 4000


def test_bench_fit_refuses_an_unknown_algorithm_before_running():
    result = run("bench", "--fit", "--algorithms", "auto,fastest")
    assert result.returncode == 2
    assert "--algorithms: unknown implementation(s) fastest; choose from auto, lloyd, hamerly, yinyang, elkan" in result.stderr


def test_bench_fit_times_every_algorithm_from_one_seeding():
    """The harness behind `fastkm bench --fit`, on small cases: every fastkm algorithm makes Lloyd's iterations."""
    pytest.importorskip("sklearn", reason="scikit-learn is a benchmark peer: pip install 'fastkm[bench]'")
    from fastkm.bench import fit_record

    lines = []
    record = fit_record((("board", 3000, 2, 40), ("blobs", 2000, 8, 40)), algorithms=("auto", "lloyd", "yinyang"),
                        peers=("sklearn-lloyd",), echo=lines.append)  # fmt: skip
    assert "floors" in record and [row["data"] for row in record["fits"]] == ["board", "blobs"]
    for row in record["fits"]:
        fits = row["fits"]
        assert fits["fastkm-auto"]["n_iter"] == fits["fastkm-lloyd"]["n_iter"] == fits["fastkm-yinyang"]["n_iter"]
        assert fits["fastkm-lloyd"]["skipped"] == 0 and fits["fastkm-yinyang"]["skipped"] > 0
        assert fits["fastkm-auto"]["over_auto"] == 1.0 and fits["sklearn-lloyd"]["seconds"] > 0
    assert any("fastkm-auto (hamerly)" in line for line in lines)
    # the seeding, beside scikit-learn's (a peer ran)
    assert all(row["seeding_s"] > 0 and row["sklearn_seeding_s"] > 0 for row in record["fits"])
    assert any(line.startswith("k-means++ seeding") for line in lines)


def test_bench_dask_runs_fastkm_on_a_local_cluster(tmp_path):
    pytest.importorskip("distributed", reason="distributed is an extra: pip install 'fastkm[dask]'")
    out = tmp_path / "dask.json"
    # (per-iteration figures are differences of two fits' times: enough iterations and repeats that
    # the scheduler's jitter cannot turn them negative)
    result = run("bench", "--dask", "--scale", "0.002", "--peers", "", "--repeats", "2", "--iterations", "4",
                 "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    import json

    rows = json.loads(out.read_text())["rows"]
    assert [row["n_samples"] for row in rows] == [2000, 20000]
    for row in rows:
        assert row["fastkm-dask"]["ms_per_iteration"] > 0 and row["fastkm-dask"]["worker_peak_mib"] > 0
        assert row["scheduler_ms_per_iteration"] > 0 and row["chunks"] == 2


def test_info_lists_every_backend():
    result = run("info")
    assert result.returncode == 0, result.stderr
    for name in ("numpy", "numba", "cupy", "dask"):
        assert f"  {name}" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "-n", "3", "-k", "5"], "n_samples=3 should be >= n_clusters=5"),
        (["demo", "-k", "0"], "0 is not in the range"),
        (["demo", "--backend", "tpu"], "Invalid value for '--backend'"),
        (["fitt"], "No such command"),
        (["fit", "missing.npy", "-k", "2"], "missing.npy: no such file"),
        (["fit", "{folder}/X.npy", "-k", "601"], "should be >= n_clusters=601"),
        (["fit", "{folder}/X.npy", "-k", "2", "--n-init", "many"], "--n-init: expected an integer"),
        (["fit", "{folder}/X.npy", "-k", "2", "-o", "out.txt"], "must end in .npz"),
        (["fit", "{folder}/X.npz", "-k", "2", "--key", "Y"], "no array named 'Y'"),
        (["fit", "{folder}/X.csv", "-k", "2", "--id-column", "none"], "row 2, column 'sample': 's0000' is not a number; name an id column"),
        (["fit", "{folder}/X.csv", "-k", "2", "--id-column", "name"], "no column named 'name'"),
        (["fit", "{folder}/X.npy", "-k", "2", "--id-column", "0"], "id columns are for text and parquet files"),
        (["fit", "{folder}/bad.json", "-k", "2"], "unknown file type '.json'"),
        (["select-k", "{folder}/X.npy", "--k", "3..1"], "k_range is empty"),
        (["select-k", "{folder}/X.npy", "--k", "a..b"], "--k: expected an integer"),
        (["bench", "--grid", "Z"], "unknown point(s) Z"),
        (["bench", "--peers", "cuml"], "unknown implementation(s) cuml"),
    ],
)
def test_errors_exit_2_with_one_line_and_no_traceback(args, message, data_files):
    folder, _ = data_files
    (folder / "bad.json").write_text("{}")
    result = run(*(arg.format(folder=folder) for arg in args))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("Error")]) == 1


def test_progress_bar_draws_on_a_terminal_only():
    import io

    from fastkm.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    with ProgressBar("fit", 10, stream=screen) as bar:
        for i in range(1, 4):
            bar.update(i, inertia=100.0 / i)
    text = screen.getvalue()
    assert text.startswith("\rfit [") and "3/10" in text and "inertia=33.3333" in text and text.endswith("\n")
    quiet = Terminal()
    with ProgressBar("fit", 10, stream=quiet, enabled=False) as bar:
        bar.update(1)
    assert quiet.getvalue() == ""


def test_unavailable_backend_is_a_clean_error():
    from fastkm import available_backends

    missing = [name for name, status in available_backends().items() if not status.available]
    if not missing:
        pytest.skip("every backend is available here")
    result = run("demo", "-n", "100", "--backend", missing[0])
    assert result.returncode == 2
    assert f"fastkm backend '{missing[0]}' is unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_version():
    from fastkm import __version__

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_fit_reads_parquet_with_an_id_column(tmp_path, data_files):
    pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install 'fastkm[parquet]')")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastkm[parquet]')")
    folder, board = data_files
    frame = pd.DataFrame({"name": [f"p{i}" for i in range(600)], "x": board.X[:, 0], "y": board.X[:, 1]})
    frame.to_parquet(tmp_path / "X.parquet")
    labels_csv = tmp_path / "labels.csv"
    result = run("fit", str(tmp_path / "X.parquet"), "-k", "3", "--id-column", "name", "--labels-csv", str(labels_csv))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(open(labels_csv, newline="")))
    assert rows[0] == ["name", "label"] and rows[1][0] == "p0" and len(rows) == 601
    bad = run("fit", str(tmp_path / "X.parquet"), "-k", "3", "--id-column", "none")
    assert bad.returncode == 2 and "non-numeric columns name" in bad.stderr
    auto = run("-v", "fit", str(tmp_path / "X.parquet"), "-k", "3")  # a first column of names: the ids
    assert auto.returncode == 0 and "the first column 'name' holds names" in auto.stderr, auto.stderr


def test_log_lines_never_share_a_line_with_the_progress_bar():
    import io
    import logging

    from fastkm.progress import ProgressAwareHandler, ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    logger = logging.getLogger("fastkm.test-progress")
    handler = ProgressAwareHandler(screen)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with ProgressBar("fit", 5, stream=screen) as bar:
            bar.update(1)
            logger.warning("a log line")
            bar._last_draw = 0.0  # (let the next update draw at once)
            bar.update(2)
    finally:
        logger.removeHandler(handler)
    lines = screen.getvalue().split("\n")
    assert "a log line" in lines
    assert lines[0].startswith("\rfit [") and "1/5" in lines[0]
    assert any("2/5" in line for line in lines[2:])


def test_demo_without_matplotlib_still_prints_its_table(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as on an install without the plot extra
    result = CliRunner().invoke(main, ["demo", "-n", "2000", "-k", "3", "--backend", "numpy", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Gaussian board, 2,000 points" in result.output
    assert "no pictures: pictures need matplotlib: pip install 'fastkm[plot]'" in result.output
    assert not list(tmp_path.iterdir())


def test_fit_summarises_many_cluster_sizes_and_lists_them_with_v(tmp_path):
    board = gaussian_board(3000, 12, random_state=1)
    np.save(tmp_path / "X.npy", board.X)
    args = ["fit", str(tmp_path / "X.npy"), "-k", "12", "--seed", "0", "--backend", "numpy"]
    plain = CliRunner().invoke(main, args)
    sizes_line = next(line for line in plain.output.splitlines() if line.startswith("  sizes"))
    saved = tmp_path / "fit.npz"
    verbose = CliRunner().invoke(main, ["-v", *args, "-o", str(saved)])
    with np.load(saved) as fitted:
        sizes = np.bincount(fitted["labels"], minlength=12)
    assert sizes_line == f"  sizes       min {sizes.min():,}, median {np.median(sizes):,.0f}, max {sizes.max():,} over 12 clusters"
    smallest = next(line for line in plain.output.splitlines() if line.startswith("  smallest"))
    assert smallest.count("#") == 3 and f"#{int(np.argmin(sizes))}: {sizes.min():,}" in smallest
    full = next(line for line in verbose.output.splitlines() if line.startswith("  sizes"))
    assert full == "  sizes       " + ", ".join(f"{size:,}" for size in sizes)
    assert max(len(line) for line in plain.output.splitlines()) <= 100


def test_select_k_prints_inertia_with_one_number_of_decimals(data_files):
    folder, _ = data_files
    result = CliRunner().invoke(main, ["select-k", str(folder / "X.npy"), "--k", "1..6", "--method", "elbow", "--seed", "0"])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip()[:1].isdigit()]
    inertia = [row[2] for row in rows]
    assert len(inertia) == 6 and len({len(value.partition(".")[2]) for value in inertia}) == 1, inertia
    header = next(line for line in result.output.splitlines() if "inertia" in line)
    assert all(line.index(row[2]) + len(row[2]) == header.index("inertia") + len("inertia")
               for line, row in zip([l for l in result.output.splitlines() if l.strip()[:1].isdigit()], rows))  # fmt: skip


def test_warnings_are_one_line_and_never_on_the_progress_bar(tmp_path):
    np.save(tmp_path / "dup.npy", np.repeat(np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]), 10, axis=0))
    if shutil.which("script") is None:
        pytest.skip("needs util-linux's script to run the command on a terminal")
    command = f"{shutil.which('fastkm') or sys.executable + ' -m fastkm.cli'} -v fit {tmp_path / 'dup.npy'} -k 5 --seed 1"
    done = subprocess.run(["script", "-qc", command, "/dev/null"], capture_output=True, text=True, timeout=300)
    lines = done.stdout.replace("\r\n", "\n").split("\n")
    warning = [line for line in lines if "Number of distinct clusters (3)" in line]
    assert len(warning) == 1 and warning[0].startswith("Warning: "), lines
    assert "fit [" not in warning[0].replace("\r", "\n").split("\n")[-1] and "cli.py" not in done.stdout
    assert not any("Warning" in part and "fit [" in part for line in lines for part in line.split("\r"))


def test_readme_synopsis_matches_the_commands():
    """Every option README's command-line synopsis shows exists, and select-k's default K range is the CLI's."""
    import re
    from pathlib import Path

    from fastkm.select_k import DEFAULT_K_RANGE

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    synopsis = re.search(r"```text\n(fastkm demo.*?)```", readme, flags=re.S).group(1)
    commands = re.split(r"\n(?=fastkm )", synopsis.strip())
    checked = 0
    for block in commands:
        name = block.split()[1]
        if name.startswith("-"):
            continue
        command = main.commands[name]
        known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        shown = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", block)) - {"-v", "--verbose"}
        assert shown <= known, f"{name}: README shows {sorted(shown - known)}, which the command does not take"
        checked += 1
    assert checked == 5
    default = next(param.default for param in main.commands["select-k"].params if param.name == "k_text")
    assert default == f"{DEFAULT_K_RANGE.start}..{DEFAULT_K_RANGE.stop - 1}"
    assert f"[--k {default}]" in synopsis
