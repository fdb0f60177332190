"""Reading data for the command line: .npy, .npz, .csv/.tsv and .parquet.

:func:`load_data` returns the points as a float array and, when the file has
an id column, the ids (so labels can be written next to the sample they
belong to). Every problem a user can fix -- a missing file, a non-numeric
cell, an unknown column -- is a ``ValueError`` (or ``OSError``) naming the
file, row and column.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
>>> _ = open(path, "w").write("id,x,y\\na,0.5,1\\nb,2,3.5\\n")
>>> X, ids = load_data(path, id_column="id")
>>> X.tolist(), ids.tolist()
([[0.5, 1.0], [2.0, 3.5]], ['a', 'b'])
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

__all__ = ["SUFFIXES", "load_data", "write_labels_csv"]

#: File types :func:`load_data` reads.
SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")


def load_data(
    path: str | os.PathLike, *, id_column: str | int | None = None, key: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read points from ``path``; return ``(X, ids)`` (``ids`` is ``None`` without an id column).

    Parameters
    ----------
    path : .npy, .npz, .csv, .tsv or .parquet file
        Text files may have a header row (detected: a first row that is not all
        numbers); every column but the id column must be numeric.
    id_column : str or int, optional
        A column (name, or 0-based position) of sample ids, kept out of ``X``
        (text and parquet files).
    key : str, optional
        The array to read from a ``.npz`` holding several (default: ``X``, or
        the only array).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unknown file type {suffix!r}; fastkm reads {', '.join(SUFFIXES)}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if id_column is not None and suffix in (".npy", ".npz"):
        raise ValueError(f"{path}: id columns are for text and parquet files; a {suffix} array holds numbers only")
    if suffix == ".npy":
        # copy-on-write, not read-only: nothing is copied either way, and Numba types a
        # read-only array apart (its kernels would compile a second time for it)
        return _check_matrix(np.load(path, mmap_mode="c", allow_pickle=False), path), None
    if suffix == ".npz":
        return _read_npz(path, key), None
    if suffix == ".parquet":
        return _read_parquet(path, id_column)
    return _read_text(path, "\t" if suffix == ".tsv" else ",", id_column)


def _check_matrix(X: np.ndarray, path: Path) -> np.ndarray:
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{path}: expected a non-empty 2-D array (samples x features), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer) or X.dtype == bool):
        raise ValueError(f"{path}: expected numbers, got an array of dtype {X.dtype}")
    return X


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if key is None:
            key = "X" if "X" in names else names[0] if len(names) == 1 else None
            if key is None:
                raise ValueError(f"{path}: holds several arrays ({', '.join(names)}); say which with --key")
        if key not in names:
            raise ValueError(f"{path}: no array named {key!r}; it holds {', '.join(names) or 'none'}")
        return _check_matrix(archive[key], path)


def _column_index(id_column: str | int, header: list[str] | None, n_columns: int, path: Path) -> int:
    if isinstance(id_column, str) and not id_column.lstrip("-").isdigit():
        if header is None:
            raise ValueError(f"{path}: has no header row, so the id column must be a 0-based position, not {id_column!r}")
        if id_column not in header:
            raise ValueError(f"{path}: no column named {id_column!r}; the columns are {', '.join(header)}")
        return header.index(id_column)
    index = int(id_column)
    if not 0 <= index < n_columns:
        raise ValueError(f"{path}: id column {index} is out of range (the file has {n_columns} columns)")
    return index


def _read_text(path: Path, delimiter: str, id_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None]:
    with open(path, newline="", encoding="utf-8") as handle:
        first = next(csv.reader(handle, delimiter=delimiter), None)
    if not first:
        raise ValueError(f"{path}: the file is empty")
    header = None if all(_is_number(cell) for cell in first) else [cell.strip() for cell in first]
    n_columns = len(first)
    id_index = None if id_column is None else _column_index(id_column, header, n_columns, path)
    numeric = [j for j in range(n_columns) if j != id_index]
    if not numeric:
        raise ValueError(f"{path}: no numeric columns besides the id column")
    skip = 1 if header is not None else 0
    try:
        X = np.loadtxt(path, delimiter=delimiter, skiprows=skip, usecols=numeric, dtype=np.float64, ndmin=2, encoding="utf-8")
    except ValueError as exc:
        named = f" (columns: {', '.join(header[j] for j in numeric)})" if header else ""
        raise ValueError(f"{path}: {exc}{named}") from None
    ids = None
    if id_index is not None:
        ids = np.loadtxt(path, delimiter=delimiter, skiprows=skip, usecols=[id_index], dtype=str, ndmin=1, encoding="utf-8")
    return _check_matrix(X, path), ids


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_parquet(path: Path, id_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        import pandas as pd

        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise ImportError(f"reading .parquet needs pandas and pyarrow: pip install 'fastkm[parquet]' ({exc})") from None
    ids = None
    if id_column is not None:
        name = id_column if isinstance(id_column, str) and not id_column.isdigit() else frame.columns[int(id_column)]
        if name not in frame.columns:
            raise ValueError(f"{path}: no column named {name!r}; the columns are {', '.join(map(str, frame.columns))}")
        ids = frame.pop(name).to_numpy()
    bad = [str(c) for c, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if bad:
        raise ValueError(f"{path}: non-numeric columns {', '.join(bad)}; name an id column with --id-column or drop them")
    return _check_matrix(frame.to_numpy(dtype=np.float64), path), ids


def write_labels_csv(path: str | os.PathLike, labels: np.ndarray, ids: np.ndarray | None = None, id_name: str = "id") -> None:
    """Write ``id,label`` rows (ids: the file's id column, else the 0-based row number)."""
    rows = np.arange(len(labels)) if ids is None else ids
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_name if ids is not None else "row", "label"])
        writer.writerows(zip(rows.tolist(), np.asarray(labels).tolist()))
