"""Reading data files: nothing dropped silently, every problem named with its file, row and column."""

from __future__ import annotations

import numpy as np
import pytest

from fastkm.io import load_data


def _write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_headerless_file_with_string_ids_keeps_its_first_row(tmp_path):
    X, ids = load_data(_write(tmp_path, "a.csv", "a,1,2\nb,3,4\nc,5,6\n"), id_column=0)
    assert ids.tolist() == ["a", "b", "c"] and X.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_header_is_detected_and_quotes_bom_blank_lines_and_hashes_are_data(tmp_path):
    text = '\ufeffid,x,y\n\n"#a,1",1,"2"\nb,3,4\n\n'
    X, ids = load_data(_write(tmp_path, "b.csv", text), id_column="id")
    assert ids.tolist() == ["#a,1", "b"] and X.tolist() == [[1, 2], [3, 4]]
    X, ids = load_data(_write(tmp_path, "c.tsv", "x\ty\n1\t2\n3\t4\n"))
    assert ids is None and X.tolist() == [[1, 2], [3, 4]]
    X, _ = load_data(_write(tmp_path, "d.csv", "-1,2.5e3\n4,5\n"))  # no header: the first row is data
    assert X.tolist() == [[-1, 2500], [4, 5]]


@pytest.mark.parametrize(
    "text, kwargs, match",
    [
        ("1,2\n4,5,6\n", {}, "row 2 has 3 fields, the first row has 2"),
        ("x,y\n1,2\n3\n", {}, "row 3 has 1 fields"),
        ("1,2\n3,oops\n", {}, "row 2, column 1: 'oops' is not a number"),
        ("1,,2\n3,4,5\n", {}, "row 1, column 1: '' is not a number"),
        ("x,y\n", {}, "a header and no data rows"),
        ("\n\n", {}, "has no rows"),
        ("a,1\nb,2\n", {"id_column": None}, "column 0: 'a' is not a number; name an id column"),
        ("a,1\n2,2\n", {}, "row 1, column 0: 'a' is not a number; name an id column"),
        ("1,2\n3,4\n", {"id_column": "name"}, "no header row, so the id column must be a 0-based position"),
        ("1,2\n3,4\n", {"id_column": 5}, "id column 5 is out of range"),
        ("id\na\n", {"id_column": "id"}, "no numeric columns besides the id column"),
    ],
)
def test_text_problems_are_named(tmp_path, text, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_data(_write(tmp_path, "bad.csv", text), **kwargs)


def test_non_utf8_text_names_the_file(tmp_path):
    path = _write(tmp_path, "latin.csv", "x,y\n1,2\nb\xe9,3\n", encoding="latin-1")
    with pytest.raises(ValueError, match="latin.csv: not UTF-8 text"):
        load_data(path)


def test_binary_files(tmp_path):
    np.savez(tmp_path / "none.npz")
    with pytest.raises(ValueError, match="holds no arrays"):
        load_data(tmp_path / "none.npz")
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match="junk.npy: not a readable .npy file"):
        load_data(tmp_path / "junk.npy")
    np.save(tmp_path / "one.npy", np.arange(5))
    X, _ = load_data(tmp_path / "one.npy")
    assert X.shape == (5, 1)
    assert X.flags.writeable  # copy-on-write map: the same compiled kernels as any array


def test_parquet_id_column_by_position(tmp_path):
    pd = pytest.importorskip("pandas", reason="pandas is not installed (pip install 'fastkm[parquet]')")
    pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'fastkm[parquet]')")
    pd.DataFrame({"name": ["a", "b"], "x": [1.0, 2.0]}).to_parquet(tmp_path / "p.parquet")
    X, ids = load_data(tmp_path / "p.parquet", id_column="0")
    assert ids.tolist() == ["a", "b"] and X.tolist() == [[1.0], [2.0]]
    with pytest.raises(ValueError, match="id column 5 is out of range"):
        load_data(tmp_path / "p.parquet", id_column=5)
