"""``fastkm bench`` (and ``python -m fastkm.bench``, the same command): what a user sees.

Tiny runs only: one grid point at ``--scale 1e-4``, one repeat of 2
iterations, the CPU backends and at most scikit-learn, floors measured with
one repeat. Timing values are never asserted, only how they are shown.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from fastkm import bench as harness
from fastkm.cli import main

TINY = ["--grid", "A", "--scale", "1e-4", "--repeats", "1", "--iterations", "2", "--backends", "numpy,numba"]
TITLES = ["point", "impl", "time/iter", "x floor", "x best peer"]
TIME = r"-?\d+(?:\.\d+)? (?:s|ms|µs|ns)"


@pytest.fixture(scope="module")
def quick_floors():
    """The floors measured once, with one repeat (the default, 7, is for real records)."""
    return harness.measure_floors(repeats=1)


@pytest.fixture
def invoke(monkeypatch, quick_floors):
    def invoke(*args):
        monkeypatch.setattr(harness, "measure_floors", lambda repeats=7: dict(quick_floors))
        result = CliRunner().invoke(main, ["bench", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    return invoke


@pytest.fixture(scope="module")
def printed(quick_floors):
    """What ``fastkm bench`` prints without --json: numpy, numba and scikit-learn at point A."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "measure_floors", lambda repeats=7: dict(quick_floors))
        result = CliRunner().invoke(main, ["bench", *TINY, "--peers", "sklearn"])
    assert result.exit_code == 0, result.output
    return result.stdout


def _cells(line: str) -> list[re.Match]:
    """The cells of a table line: runs of text separated by two spaces or more."""
    return list(re.finditer(r"\S+(?: \S+)*", line))


def assert_aligned(header: str, rows: list[str]) -> None:
    """Every cell of every row lines up with its column's title: the text columns
    (point, impl) start where their title starts, the figures end where theirs
    ends, and only a note may follow the last column, two spaces on."""
    titles = _cells(header)
    assert [title.group() for title in titles] == TITLES, header  # two spaces or more between titles
    for row in rows:
        cells = _cells(row)
        assert [cell.start() for cell in cells[:2]] == [titles[0].start(), titles[1].start()], (header, row)
        for cell in cells[2:]:
            if cell.start() >= titles[-1].end() + 2:  # the note
                continue
            assert any(cell.end() == title.end() for title in titles[2:]), f"{cell.group()!r} off its column:\n{header}\n{row}"


def test_the_table_comes_first_and_no_json_is_printed(printed):
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("point"))
    assert header <= 5, printed  # at most a few lines of summary above the table
    assert any("Numba threads" in line for line in lines[:header]) and any("floors" in line for line in lines[:header])
    assert "{" not in printed and '"cpu"' not in printed, printed  # the record goes to --json only
    assert len([line for line in lines[header + 1 :] if line.startswith("A ")]) == 4  # floor, numpy, numba, sklearn


def test_the_columns_line_up(printed):
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("point"))
    assert_aligned(lines[header], lines[header + 1 :])


def test_the_columns_line_up_for_every_name_and_width():
    implementations = ["numpy", "numba", "cupy", "torch", "cupy-plain", "sklearn", "faiss"]
    table = harness.grid_table(["A", "B"], implementations)
    durations = [4.7e-8, 0.0025, 0.7, 8.4, 999.9, 12_345.0, 9.9e6]  # ms: from 47 fs to hours
    ratios = [None, 1.2e-5, 0.113, 1.0, 683.3, 12_345.6, 9_999_999.0, 3e9]
    rows = [table.line("A", "floor", harness.format_duration(0.0027), "", "", "GEMM 705 ns, read 2.70 µs")]
    rows += [table.line("B", "faiss", "-", "", "", "skipped: No module named 'faiss'")]
    for j, name in enumerate(implementations):
        for k, ms in enumerate(durations):
            rows.append(table.line("B", name, harness.format_duration(ms), harness.format_ratio(ratios[(j + k) % len(ratios)]),
                                   harness.format_ratio(ratios[(j + 2 * k) % len(ratios)])))  # fmt: skip
    assert_aligned(table.header(), rows)


def test_no_figure_shows_as_zero_at_a_tiny_scale(printed):
    rows = [line for line in printed.splitlines() if line.startswith("A ")]
    floor = next(line for line in rows if line.split()[1] == "floor")
    for line in rows:
        assert not re.search(r"(?<![\d.])0\.0*(?![\d.]*[1-9])", line), line  # no 0.0, 0.00, ...
    shown = re.findall(TIME, floor)
    assert len(shown) == 3, floor  # the floor, its GEMM time and its read time, each with a unit
    for text in shown:
        value = float(text.split()[0])
        assert value > 0 and len(text.split()[0].replace(".", "").lstrip("0")) >= 3, floor  # 3 significant digits
    for line in rows[1:]:
        assert re.fullmatch(TIME, _cells(line)[2].group()), line


@pytest.mark.parametrize("ms", np.geomspace(1e-6, 1e5, 34))
def test_durations_keep_three_significant_digits(ms):
    value, unit = harness.format_duration(ms).split()
    back = float(value) * {"s": 1e3, "ms": 1.0, "µs": 1e-3, "ns": 1e-6}[unit]
    assert back == pytest.approx(ms, rel=5e-3)
    assert 1 <= float(value) < 1000 or unit == "s"


def test_the_json_record_holds_machine_floors_and_rows(invoke, tmp_path):
    out, picture = tmp_path / "bench.json", tmp_path / "bench.png"
    printed = invoke(*TINY, "--peers", "", "--json", str(out), "--plot", str(picture))
    assert f"wrote {out}" in printed and f"wrote {picture}" in printed
    assert "{" not in printed

    def no_nan(name):
        raise AssertionError(f"{name} is not JSON")

    record = json.loads(out.read_text(encoding="utf-8"), parse_constant=no_nan)
    assert record["machine"]["cpu"] and record["machine"]["logical_cores"] >= 1 and "numpy" in record["machine"]["versions"]
    assert record["floors"]["sgemm_gflops"] > 0 and record["floors"]["read_gbps"] > 0
    assert [row["implementation"] for row in record["grid"]] == ["numpy", "numba"]
    for row in record["grid"]:
        assert row["point"] == "A" and row["n_samples_run"] == 200 and row["passes"] >= 2
        assert row["floor"]["floor_ms"] > 0 and row["speedup_vs_best_peer"] is None  # no peers: no ratio
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _rows():
    rows = []
    for point, floor in (("A", 0.02), ("B", 0.3)):
        for implementation, ms in (("numpy", 8.0), ("numba", 3.0), ("sklearn", 4.0), ("cupy-plain", 1.0)):
            rows.append({"point": point, **{k: v for k, v in vars(harness.GRID[point]).items() if k != "name"},
                         "n_samples_run": 1000, "implementation": implementation, "ms_per_iteration": ms,
                         "floor": {"floor_ms": floor}})  # fmt: skip
    return rows


def test_the_chart_marks_the_floor_with_a_line_over_each_group():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    figure = harness.grid_figure(_rows())
    ax = figure.axes[0]
    legend = ax.get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["numpy", "numba", "sklearn", "cupy-plain", "floor"]
    handle = legend.legend_handles[labels.index("floor")]
    assert isinstance(handle, Line2D) and handle.get_linestyle() != "None" and handle.get_marker() in ("None", "", None)
    # one horizontal segment per point, at its floor, spanning that point's bars
    segments = [segment for collection in ax.collections if isinstance(collection, LineCollection)
                for segment in collection.get_segments()]  # fmt: skip
    assert len(segments) == 2
    bars = sorted((patch.get_x(), patch.get_x() + patch.get_width()) for patch in ax.patches)
    for (x0, y0), (x1, y1) in segments:
        group = [bar for bar in bars if x0 - 1e-9 <= bar[0] and bar[1] <= x1 + 1e-9]
        assert len(group) == 4 and y0 == y1 in (0.02, 0.3)
        assert x0 == pytest.approx(group[0][0]) and x1 == pytest.approx(group[-1][1])
    # drawn, the legend lies inside the picture (not clipped) and clear of the bars
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    box, whole, plot = legend.get_window_extent(), figure.bbox, ax.get_window_extent()
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1
    assert box.x0 >= plot.x1


def _command(*args):
    executable = shutil.which("fastkm")
    return [executable, *args] if executable else [sys.executable, "-m", "fastkm.cli", *args]


def test_python_m_fastkm_bench_is_the_same_command():
    def options(command):
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout, sorted(set(re.findall(r"^\s+(-[-\w]+(?:, --[-\w]+)?)", result.stdout, flags=re.M)))

    module_help, module_options = options([sys.executable, "-m", "fastkm.bench", "--help"])
    command_help, command_options = options(_command("bench", "--help"))
    assert module_options == command_options
    assert module_help.startswith("Usage: python -m fastkm.bench [OPTIONS]")
    for option in ("--grid", "--backends", "--peers", "--scale", "--gpu", "--json", "--plot",
                   "--full-fit", "--rss", "--sweep", "--iterations", "--repeats"):  # fmt: skip
        assert option in command_options, command_help
    assert "--impl" not in module_help and "--impl" not in command_help


@pytest.mark.parametrize(
    "args, message",
    [
        (["--peers", "cuml"], "--peers: unknown implementation(s) cuml; choose from sklearn, faiss, torch, cupy-plain"),
        (["--backends", "sklearn"], "--backends: unknown implementation(s) sklearn; choose from numpy, numba, cupy"),
        (["--backends", "", "--peers", ""], "nothing to time: give --backends and/or --peers"),
        (["--grid", "A,E"], "--grid: unknown point(s) E; choose from A, B, C, D"),
    ],
)
def test_unknown_names_end_in_one_line_and_exit_code_2(args, message):
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2 and result.stderr == f"Error: {message}\n", result.output
    assert result.stdout == ""  # before anything is measured


def test_unknown_names_under_python_m_fastkm_bench():
    result = subprocess.run([sys.executable, "-m", "fastkm.bench", "--peers", "torch,cuml"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "Error: --peers: unknown implementation(s) cuml; choose from sklearn, faiss, torch, cupy-plain\n"


def test_full_fits_are_paired_from_one_start_and_add_each_librarys_own_seeding():
    pytest.importorskip("sklearn", reason="the whole-fit comparison is against scikit-learn")
    lines: list[str] = []
    (row,) = harness.full_fit([(3000, 4, 8)], seeds=(0, 1), echo=lines.append)
    for name in ("fastkm", "sklearn"):
        runs = row[name]["runs"]
        assert len(runs) == 2 and all(run["seeding_s"] > 0 and run["iterations_s"] > 0 for run in runs)
        totals = [run["seeding_s"] + run["iterations_s"] for run in runs]
        assert row[name]["fit_s"] == pytest.approx(float(np.median(totals)))
    # the same start each seed, so the same iterations (on this data, scikit-learn makes fastkm's exactly)
    assert [run["n_iter"] for run in row["fastkm"]["runs"]] == [run["n_iter"] for run in row["sklearn"]["runs"]]
    assert row["speedup_fit"] == pytest.approx(row["sklearn"]["fit_s"] / row["fastkm"]["fit_s"])
    assert "shared start" in lines[0] and lines[-1].startswith("  fastkm vs scikit-learn: fit ")
