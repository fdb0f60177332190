"""Files for the command line: reading data (.npy, .npz, .csv/.tsv, .parquet), writing results.

:func:`load_data` returns the points as a float array and, when the file has
an id column, the ids (so labels can be written next to the sample they
belong to). Every problem with a file -- missing, corrupt, truncated, hostile
or just not numbers -- is a ``ValueError`` that starts with the file's name and
says what is wrong (row and column for text), and nothing is allocated that
the file could not hold: binary headers are checked against the file's size
before any array is made.

:class:`OutputFiles` writes a command's outputs all or nothing: every path is
checked before the work starts, existing files are refused unless ``force``,
each file is written under a temporary name in its own directory and renamed
into place only when all of them have been written.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "points.csv")
>>> _ = open(path, "w").write("id,x,y\\na,0.5,1\\nb,2,3.5\\n")
>>> X, ids = load_data(path)          # a first column of names is taken as the ids
>>> X.tolist(), ids.tolist()
([[0.5, 1.0], [2.0, 3.5]], ['a', 'b'])
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import logging
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["SUFFIXES", "OutputFiles", "load_data", "write_labels_csv"]

logger = logging.getLogger("fastkm")

#: File types :func:`load_data` reads.
SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")

#: ``id_column`` value: take a first column of non-numeric strings as the ids.
AUTO = "auto"


def load_data(
    path: str | os.PathLike, *, id_column: str | int | None = AUTO, key: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read points from ``path``; return ``(X, ids)`` (``ids`` is ``None`` without an id column).

    Parameters
    ----------
    path : .npy, .npz, .csv, .tsv or .parquet file
        Text files may have a header row (detected: a first row that is not all
        numbers); every column but the id column must hold finite numbers.
        Text is UTF-8 (with or without a byte-order mark) or UTF-16 with one.
    id_column : "auto", str, int or None
        A column (name, or 0-based position) of sample ids, kept out of ``X``
        (text and parquet files). ``"auto"`` (the default): a first column
        whose values are all non-numeric strings is the id column (a log line
        says so); ``None``: no id column.
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
    explicit_id = id_column is not None and id_column != AUTO
    if explicit_id and suffix in (".npy", ".npz"):
        raise ValueError(f"{path}: id columns are for text and parquet files; a {suffix} array holds numbers only")
    try:
        if suffix == ".npy":
            return _check_matrix(_read_npy(path), path), None
        if suffix == ".npz":
            return _check_matrix(_read_npz(path, key), path), None
        if suffix == ".parquet":
            return _read_parquet(path, id_column)
        return _read_text(path, "\t" if suffix == ".tsv" else ",", id_column)
    except MemoryError:
        raise ValueError(f"{path}: too large to read into the memory available") from None
    except ImportError:
        raise
    except ValueError as exc:  # ours name the file already; a reader's (pyarrow, NumPy) gets the name added
        if str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable {suffix} file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError, csv.Error) as exc:
        raise ValueError(f"{path}: not a readable {suffix} file ({exc})") from None


def _check_matrix(X: np.ndarray, path: Path, first_row: int = 0, columns: list[str] | None = None) -> np.ndarray:
    """A non-empty 2-D array of finite numbers; a bad value is named by row and column.

    ``first_row`` is the number (as the user counts rows) of the first data row
    and ``columns`` how to name each column (``"column 'x'"``); arrays count from 0.
    """
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{path}: expected a non-empty 2-D array (samples x features), got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer) or X.dtype == bool):
        raise ValueError(f"{path}: expected real numbers, got an array of dtype {X.dtype}")
    if X.dtype.kind == "f":
        finite = np.isfinite(X.min()) and np.isfinite(X.max())  # (two reductions; NaN propagates)
        if not finite:
            row, column = (int(i) for i in np.argwhere(~np.isfinite(X))[0])
            name = columns[column] if columns else f"column {column}"
            raise ValueError(
                f"{path}: row {first_row + row}, {name}: {X[row, column]} is not a finite number; "
                "fastkm needs a value in every cell (drop or impute the missing ones first)"
            )
    return X


def _array_header(handle: Any, path: Path, what: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Read an .npy header from ``handle``; return ``(shape, fortran_order, dtype, bytes of data it announces)``.

    Refuses what fastkm cannot use before any memory is allocated for it:
    Python objects (which only unpickling could read) and non-numeric dtypes.
    """
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(handle)
    if dtype.hasobject:
        raise ValueError(f"{path}: {what} holds Python objects, not numbers; save it as a numeric array")
    if dtype.kind not in "biuf":
        raise ValueError(f"{path}: {what} has dtype {dtype}; fastkm reads real numbers only")
    return shape, fortran_order, dtype, math.prod(shape) * dtype.itemsize


def _read_npy(path: Path) -> np.ndarray:
    with open(path, "rb") as handle:
        shape, _, _, n_bytes = _array_header(handle, path, "the array")
        data_start = handle.tell()
    size = path.stat().st_size
    if data_start + n_bytes > size:
        raise ValueError(
            f"{path}: truncated or corrupt: its header announces an array of shape {shape} "
            f"({n_bytes:,} bytes) but the file holds {size - data_start:,} bytes of data"
        )
    # copy-on-write, not read-only: nothing is copied either way, and Numba types a
    # read-only array apart (its kernels would compile a second time for it)
    return np.load(path, mmap_mode="c" if n_bytes else None, allow_pickle=False)


def _read_npz(path: Path, key: str | None) -> np.ndarray:
    """One array of an .npz, its size checked against the archive's records and the memory available."""
    with zipfile.ZipFile(path) as archive:
        members = {name[: -len(".npy")]: name for name in archive.namelist() if name.endswith(".npy")}
        names = list(members)
        if not names:
            raise ValueError(f"{path}: holds no arrays")
        if key is None:
            key = "X" if "X" in names else names[0] if len(names) == 1 else None
            if key is None:
                raise ValueError(f"{path}: holds several arrays ({', '.join(names)}); say which with --key")
        if key not in names:
            raise ValueError(f"{path}: no array named {key!r}; it holds {', '.join(names) or 'none'}")
        info = archive.getinfo(members[key])
        if info.flag_bits & 0x1:
            raise ValueError(f"{path}: array {key!r} is encrypted; fastkm reads unencrypted .npz files")
        with archive.open(info) as member:
            shape, fortran_order, dtype, n_bytes = _array_header(member, path, f"array {key!r}")
            if member.tell() + n_bytes != info.file_size:
                raise ValueError(
                    f"{path}: array {key!r} is corrupt: its header announces shape {shape} ({n_bytes:,} bytes), "
                    f"the archive records {info.file_size - member.tell():,} bytes"
                )
            available = _available_memory()
            if available is not None and n_bytes > available:
                raise ValueError(
                    f"{path}: array {key!r} expands to {n_bytes / 2**30:.3g} GiB ({info.compress_size:,} bytes "
                    f"compressed), more than the {available / 2**30:.3g} GiB of memory available"
                )
            # (read straight into the array, in the order the bytes were stored)
            array = np.empty(shape[::-1] if fortran_order else shape, dtype=dtype)
            view = memoryview(array.reshape(-1).view(np.uint8))
            filled = 0
            while filled < n_bytes:  # (a short read is a damaged archive, not an endless loop)
                count = member.readinto(view[filled:]) if hasattr(member, "readinto") else 0
                if not count:
                    raise ValueError(f"{path}: array {key!r} is truncated ({filled:,} of {n_bytes:,} bytes)")
                filled += count
            member.read()  # to the end: the archive's checksum is verified there
    return array.T if fortran_order else array


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


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


def _decode(path: Path) -> str:
    """The file's text: UTF-8 (a byte-order mark allowed) or UTF-16 with its byte-order mark."""
    raw = path.read_bytes()
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            break
    else:
        encoding = "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not {encoding.upper().replace('-SIG', '')} text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8"
        ) from None


def _read_text(path: Path, delimiter: str, id_column: str | int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """CSV/TSV through the csv module (quotes, a BOM and blank lines handled), checked row by row."""
    kind = "TSV" if delimiter == "\t" else "CSV"
    text = _decode(path)
    if "\0" in text:
        raise ValueError(f"{path}: holds NUL bytes, so it is not {kind} text (a binary file with a .{kind.lower()} name?)")
    try:
        rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable {kind} file ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: the file has no rows")
    first = [cell.strip() for cell in rows[0]]
    n_columns = len(first)
    if id_column == AUTO:
        # a first column of names (every cell below the first row non-numeric) is the ids
        below = [row[0] for row in rows[1:] if row] or [first[0]]
        id_column = 0 if n_columns > 1 and not any(_is_number(cell) for cell in below) else None
        if id_column == 0:
            logger.info("%s: the first column holds names, not numbers: taken as the sample ids", path)
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
    columns = [f"column {header[j]!r}" if header else f"column {j}" for j in numeric]
    return _check_matrix(X, path, first_line, columns), ids


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
    columns = [str(column) for column in frame.columns]
    if id_column == AUTO:
        first_is_names = len(columns) > 1 and not pd.api.types.is_numeric_dtype(frame.dtypes.iloc[0])
        id_column = 0 if first_is_names else None
        if first_is_names:
            logger.info("%s: the first column %r holds names, not numbers: taken as the sample ids", path, columns[0])
    ids = None
    if id_column is not None:
        index = _column_index(id_column, columns, len(columns), path)
        ids = frame.pop(frame.columns[index]).to_numpy()
    bad = [str(c) for c, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if bad:
        raise ValueError(f"{path}: non-numeric columns {', '.join(bad)}; name an id column with --id-column or drop them")
    return _check_matrix(frame.to_numpy(dtype=np.float64), path, 0, [f"column {c!r}" for c in frame.columns]), ids


def write_labels_csv(path: str | os.PathLike, labels: np.ndarray, ids: np.ndarray | None = None, id_name: str = "id") -> None:
    """Write ``id,label`` rows (ids: the file's id column, else the 0-based row number)."""
    rows = np.arange(len(labels)) if ids is None else ids
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_name if ids is not None else "row", "label"])
        writer.writerows(zip(rows.tolist(), np.asarray(labels).tolist()))


class OutputFiles:
    """A command's output files, written all or nothing, never over a file without ``force``.

    Use it around the whole command::

        with OutputFiles(force=False, inputs=[data_path]) as outputs:
            npz = outputs.add(path, ".npz", "--output")      # checked now, before any work
            ...                                              # the work
            outputs.write(npz, lambda temporary: np.savez(temporary, ...))
        # here every output is in place -- or, if anything failed, none is and
        # every file that was there before is untouched

    :meth:`add` checks a path at once: its suffix, that it is not a folder, not
    an input and not given twice, that its folder exists and can be written,
    and that no file is there (unless ``force``, or ``replaceable(path)`` says
    the file is one this command may replace, like the demo's own pictures).
    :meth:`write` writes into a temporary file in the target's folder;
    leaving the block without an exception renames every temporary file into
    place (an existing target is moved aside first, and moved back if a later
    rename fails), leaving it with one deletes them.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with OutputFiles() as outputs:
    ...     target = outputs.add(os.path.join(folder, "a.txt"), ".txt", "--out")
    ...     outputs.write(target, lambda temporary: Path(temporary).write_text("done"))
    >>> target.read_text()
    'done'
    >>> OutputFiles().add(target, ".txt", "--out")
    Traceback (most recent call last):
    ...
    ValueError: ...a.txt already exists; pass --force to overwrite it
    """

    def __init__(self, *, force: bool = False, inputs: Iterable[str | os.PathLike] = ()):
        self.force = force
        self._inputs = [Path(path) for path in inputs]
        self._targets: list[Path] = []
        self._written: dict[Path, Path] = {}  # target -> its temporary file

    def add(self, path: str | os.PathLike, suffix: str, option: str,
            replaceable: Callable[[Path], bool] | None = None) -> Path:  # fmt: skip
        """Check an output path now; return it as a ``Path`` (see the class docstring)."""
        path = Path(path)
        if path.suffix.lower() != suffix:
            raise ValueError(f"{option} {path}: must end in {suffix}")
        if path.is_dir():
            raise ValueError(f"{option} {path}: is a folder; give a file name")
        folder = path.parent
        if not folder.is_dir():
            raise ValueError(f"{option} {path}: the folder {folder} does not exist")
        if any(_same_file(path, other) for other in self._inputs):
            raise ValueError(f"{option} {path}: is the input file; write the output somewhere else")
        if any(_same_file(path, other) for other in self._targets):
            raise ValueError(f"{option} {path}: is already another output of this command")
        if path.exists() and not self.force and not (replaceable is not None and replaceable(path)):
            raise ValueError(f"{path} already exists; pass --force to overwrite it")
        try:  # can the folder be written? (a file that is made and removed says so for sure)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as exc:
            raise ValueError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc})") from None
        self._targets.append(path)
        return path

    def write(self, path: Path, writer: Callable[[str], Any]) -> None:
        """Call ``writer(temporary_path)`` to write ``path``'s content (renamed into place at the end)."""
        if path not in self._targets:
            raise ValueError(f"{path} was not declared with OutputFiles.add")
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".part{path.suffix}")
        os.close(handle)
        self._written[path] = Path(temporary)
        writer(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # (mkstemp makes files only their owner can read)

    def __enter__(self) -> "OutputFiles":
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            for temporary in self._written.values():
                with contextlib.suppress(OSError):
                    temporary.unlink()
            self._written.clear()

    def _commit(self) -> None:
        moved_aside: dict[Path, Path] = {}
        placed: list[Path] = []
        try:
            for target, temporary in self._written.items():
                if target.exists():
                    handle, aside_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".previous")
                    os.close(handle)
                    aside = Path(aside_name)
                    os.replace(target, aside)
                    moved_aside[target] = aside
                os.replace(temporary, target)
                placed.append(target)
        except BaseException:
            for target in placed:
                with contextlib.suppress(OSError):
                    target.unlink()
            for target, aside in moved_aside.items():
                with contextlib.suppress(OSError):
                    os.replace(aside, target)
            raise
        for aside in moved_aside.values():
            with contextlib.suppress(OSError):
                aside.unlink()


def _same_file(path: Path, other: Path) -> bool:
    """Whether two paths name one file (existing: by inode; else by their resolved names)."""
    try:
        if path.exists() and other.exists():
            return os.path.samefile(path, other)
        return path.resolve() == other.resolve()
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
