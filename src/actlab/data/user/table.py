"""``csv:PATH[#column=NAME]``: a table with a header row, numeric feature columns and a label column.

Labels may be any text: the distinct values, sorted (numerically when all of
them are integers), become the classes 0, 1, 2, ... with their names kept.
Features are standardised, per column, to mean 0 and standard deviation 1
with the statistics of the training part only, so nothing about the test
rows leaks into training; a constant column is centred and left unscaled.
"""
from __future__ import annotations

import csv
import math

import numpy as np
import torch

from ..errors import DataError
from .common import (UserDataset, as_labels, check_classes, existing, file_sha256, record,
                     stratified_test_split)

LABEL = "label"


def _options(path_text: str) -> tuple[str, str]:
    """(path, label column) from ``PATH`` or ``PATH#column=NAME``."""
    path_text, _, option = path_text.partition("#")
    if not option:
        return path_text, LABEL
    key, eq, value = option.partition("=")
    if key != "column" or not eq or not value:
        raise DataError(f"csv:{path_text}#{option}: unknown option {option!r}; the one option is "
                        f"'#column=NAME' (the label column, 'label' by default).")
    return path_text, value


def _rows(path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, data rows and each row's line number; ragged rows are refused naming the line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if not row:  # blank lines carry no example
                    continue
                if len(row) != len(header):
                    raise DataError(f"{path}, line {reader.line_num}: {len(row)} fields, but the header has "
                                    f"{len(header)}; every row needs one value per column. Fix or remove the line.")
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc}); save the table as UTF-8 CSV.") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV file ({exc}); save it as comma-separated text.") from None
    if header is None or not rows:
        raise DataError(f"{path} holds no data rows; expected a header row and one row per example.")
    return [name.strip() for name in header], rows, lines


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _features(path, header, rows, lines, label_at) -> np.ndarray:
    columns = [i for i in range(len(header)) if i != label_at]
    if not columns:
        raise DataError(f"{path} has only the label column {header[label_at]!r}; add numeric feature columns.")
    x = np.empty((len(rows), len(columns)), dtype=np.float64)
    for r, row in enumerate(rows):
        try:  # NumPy parses a whole row at once; the cell-by-cell pass below only runs to name a bad cell
            x[r] = np.array([row[i] for i in columns], dtype=np.float64)
            if np.isfinite(x[r]).all():
                continue
        except ValueError:
            pass
        for i in columns:
            try:
                _number(row[i])
            except ValueError:
                raise DataError(
                    f"{path}, line {lines[r]}: column {header[i]!r} holds {row[i]!r}; feature columns must "
                    f"hold finite numbers (no text, blanks, NaN or inf). Encode or drop the column, or fix "
                    f"the row (the first bad one is line {lines[r]}).") from None
    return x


def _classes(labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Sorted class names (numerically when all are integers) and each row's class index."""
    distinct = set(labels)
    try:
        ordered = sorted(distinct, key=int)
    except ValueError:
        ordered = sorted(distinct)
    index = {name: i for i, name in enumerate(ordered)}
    return ordered, np.array([index[name] for name in labels], dtype=np.int64)


def load_csv(text: str, path_text: str, *, test_fraction: float, seed: int,
             standardize: bool = True) -> UserDataset:
    """Read a CSV table (see module docstring) into float32 features [N, F] and int64 labels."""
    path_text, column = _options(path_text)
    path = existing(path_text, "csv")
    header, rows, lines = _rows(path)
    if column not in header:
        raise DataError(f"{path} has no column {column!r} (columns: {', '.join(header)}); name the label "
                        f"column with csv:{path_text}#column=NAME.")
    label_at = header.index(column)
    x = _features(path, header, rows, lines, label_at)
    classes, y = _classes([row[label_at].strip() for row in rows])
    check_classes(y, classes, str(path))
    train_rows, test_rows = stratified_test_split(y, classes, test_fraction, seed, str(path))
    notes = [f"label column {column!r}; test part: a stratified {test_fraction:g} of every class (seed {seed})"]
    if standardize:
        # Training rows only: the test rows must not shape the inputs the model is judged on.
        mean = x[train_rows].mean(axis=0)
        std = x[train_rows].std(axis=0)
        x = (x - mean) / np.where(std > 0, std, 1.0)
        notes.append("features standardised with the training part's mean and standard deviation only")
    x = x.astype(np.float32)
    return UserDataset(
        name=text, source=str(path.resolve()),
        train_images=torch.from_numpy(x[train_rows]), train_labels=as_labels(y[train_rows]),
        test_images=torch.from_numpy(x[test_rows]), test_labels=as_labels(y[test_rows]), classes=classes,
        files=record("csv", path.resolve(), file_sha256(path)), kind="features", notes=notes,
        train_rows=torch.from_numpy(train_rows), test_rows=torch.from_numpy(test_rows),
    )
