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


# -- corrupt and hostile files: a clear error naming the file, never a traceback or a huge allocation ----------------
def _npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _header(shape, dtype):
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _zip_with(name, payload, path, *, compress=False):
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        archive.writestr(name, payload)
    return path


def _encrypted(path):
    """Set the 'encrypted' flag of every member (zipfile cannot write encrypted archives)."""
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = raw.find(signature)
        while start >= 0:
            raw[start + offset] |= 0x1
            start = raw.find(signature, start + 4)
    path.write_bytes(bytes(raw))
    return path


HOSTILE = {
    "not-a-zip.npz": (lambda p: p.write_bytes(b"this is not a zip archive"), "not a readable .npz file"),
    "encrypted.npz": (lambda p: _encrypted(_zip_with("X.npy", _npy_bytes(np.ones((4, 2))), p)), "is encrypted"),
    "bomb-header.npz": (lambda p: _zip_with("X.npy", _header((10**12, 2), "<f8") + b"\0" * 64, p, compress=True),
                        "its header announces shape (1000000000000, 2)"),
    "crc.npz": (lambda p: p.write_bytes(_zip_with("X.npy", _npy_bytes(np.arange(64.0).reshape(32, 2)), p)
                                        .read_bytes().replace(np.arange(64.0)[10:11].tobytes(), b"\x11" * 8, 1)),
                "not a readable .npz file"),
    "objects.npz": (lambda p: _zip_with("X.npy", _header((2, 2), "|O") + b"\0" * 32, p), "holds Python objects"),
    "huge-header.npy": (lambda p: p.write_bytes(_header((10**12, 3), "<f8") + b"\0" * 48),
                        "header announces an array of shape (1000000000000, 3)"),
    "truncated.npy": (lambda p: p.write_bytes(_npy_bytes(np.ones((100, 2)))[:-8]), "truncated or corrupt"),
    "objects.npy": (lambda p: np.save(p, np.array([[1, "a"]], dtype=object), allow_pickle=True), "holds Python objects"),
    "records.npy": (lambda p: np.save(p, np.zeros(3, dtype=[("x", "f8"), ("y", "i4")])), "reads real numbers only"),
    "garbage.npy": (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00{garbage"), "not a readable .npy file"),
    "binary.csv": (lambda p: p.write_bytes(b"1,2\n3,\x004\n"), "holds NUL bytes"),
    "latin1.csv": (lambda p: p.write_bytes("x,y\n1,2\nb\xe9,3\n".encode("latin-1")), "not UTF-8 text"),
    "missing.csv": (lambda p: p.write_text("x,y\n1,2\n3,nan\n"), "row 3, column 'y': nan is not a finite number"),
    "infinite.tsv": (lambda p: p.write_text("1\t2\n3\tinf\n"), "row 2, column 1: inf is not a finite number"),
    "nan.npy": (lambda p: np.save(p, np.array([[1.0, 2.0], [np.nan, 3.0]])), "row 1, column 0: nan is not a finite"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_are_one_clear_error(tmp_path, name):
    make, message = HOSTILE[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(ValueError) as caught:
        load_data(path)
    assert str(caught.value).startswith(f"{path}: "), caught.value
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["bomb-header.npz", "huge-header.npy", "crc.npz", "missing.csv"])
def test_hostile_files_through_the_cli_exit_2_with_one_error_line(tmp_path, name):
    from click.testing import CliRunner

    from fastkm.cli import main

    make, message = HOSTILE[name]
    path = tmp_path / name
    make(path)
    result = CliRunner().invoke(main, ["fit", str(path), "-k", "2"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {path}: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_an_npz_larger_than_memory_is_refused_before_it_is_expanded(tmp_path, monkeypatch):
    from fastkm import io as fastkm_io

    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, X=np.zeros((1 << 17, 8)))  # 8 MiB of zeros in a few KiB: a small zip bomb
    allocated = []
    monkeypatch.setattr(fastkm_io, "_available_memory", lambda: 1 << 20)
    monkeypatch.setattr(fastkm_io.np, "empty", lambda *a, **k: allocated.append(a) or np.zeros(*a, **k))
    with pytest.raises(ValueError, match=r"expands to 0.00781 GiB .* more than the 0.000977 GiB of memory available"):
        load_data(path)
    assert not allocated


def test_npz_members_are_read_exactly(tmp_path):
    expected = np.arange(24, dtype=">f4").reshape(4, 6)  # big-endian, Fortran order, compressed: all kept
    np.savez_compressed(tmp_path / "f.npz", X=np.asfortranarray(expected), other=np.ones(3))
    X, _ = load_data(tmp_path / "f.npz")
    np.testing.assert_array_equal(X, expected)
    X, _ = load_data(tmp_path / "f.npz", key="other")
    assert X.shape == (3, 1)


def test_utf16_text_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "excel.tsv"
    path.write_bytes("x\ty\n1\t2\n3\t4\n".encode("utf-16"))  # what a spreadsheet's "Unicode text" export writes
    X, ids = load_data(path)
    assert X.tolist() == [[1, 2], [3, 4]] and ids is None


def test_a_first_column_of_names_is_the_id_column(tmp_path, caplog):
    path = _write(tmp_path, "named.csv", "name,x,y\nalpha,1,2\nbeta,3,4\n")
    with caplog.at_level("INFO", logger="fastkm"):
        X, ids = load_data(path)
    assert X.tolist() == [[1, 2], [3, 4]] and ids.tolist() == ["alpha", "beta"]
    assert "first column holds names" in caplog.text
    with pytest.raises(ValueError, match="row 2, column 'name': 'alpha' is not a number"):
        load_data(path, id_column=None)
    mixed = _write(tmp_path, "mixed.csv", "a,1,2\n7,3,4\n")  # names and numbers: not an id column
    with pytest.raises(ValueError, match="row 1, column 0: 'a' is not a number"):
        load_data(mixed)
