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
    if suffix in (".npy", ".npz"):
        try:
            if suffix == ".npz":
                return _read_npz(path, key), None
            # copy-on-write, not read-only: nothing is copied either way, and Numba types a
            # read-only array apart (its kernels would compile a second time for it)
            return _check_matrix(np.load(path, mmap_mode="c", allow_pickle=False), path), None
        except (ValueError, OSError, EOFError) as exc:
            message = str(exc)
            raise ValueError(message if message.startswith(str(path)) else f"{path}: not a readable {suffix} file ({message})") from None
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
        if not names:
            raise ValueError(f"{path}: holds no arrays")
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
    if not -n_columns <= index < n_columns:
        raise ValueError(f"{path}: id column {index} is out of range (the file has {n_columns} columns)")
    return index % n_columns


def _read_text(path: Path, delimiter: str, id_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """CSV/TSV through the csv module (quotes, a BOM and blank lines handled), checked row by row."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle, delimiter=delimiter) if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: the file has no rows")
    first = [cell.strip() for cell in rows[0]]
    n_columns = len(first)
    named = isinstance(id_column, str) and not id_column.lstrip("-").isdigit()
    position = None if id_column is None or named else int(id_column) % n_columns if -n_columns <= int(id_column) < n_columns else None
    # A header row has no number in it (outside the id column); a data row with a gap still has some.
    has_header = not any(_is_number(cell) for j, cell in enumerate(first) if j != position)
    header = first if has_header else None
    id_index = None if id_column is None else _column_index(id_column, header, n_columns, path)
    numeric = [j for j in range(n_columns) if j != id_index]
    if not numeric:
        raise ValueError(f"{path}: no numeric columns besides the id column")
    data = rows[1:] if has_header else rows
    if not data:
        raise ValueError(f"{path}: a header and no data rows")
    first_line = 2 if has_header else 1
    for number, row in enumerate(data, start=first_line):
        if len(row) != n_columns:
            raise ValueError(f"{path}: row {number} has {len(row)} fields, the first row has {n_columns}")
    try:
        X = np.array([[row[j] for j in numeric] for row in data], dtype=np.float64)
    except ValueError:
        for number, row in enumerate(data, start=first_line):
            for j in numeric:
                if not _is_number(row[j]):
                    column = f"column {header[j]!r}" if header else f"column {j}"
                    hint = "; name an id column with --id-column" if id_column is None else ""
                    raise ValueError(f"{path}: row {number}, {column}: {row[j]!r} is not a number{hint}") from None
        raise
    ids = None if id_index is None else np.array([row[id_index].strip() for row in data])
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
        columns = [str(column) for column in frame.columns]
        index = _column_index(id_column, columns, len(columns), path)
        ids = frame.pop(frame.columns[index]).to_numpy()
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
