"""A user's file as a header and rows: CSV (UTF-8, BOM, GBK/GB18030; comma or tab) or ``.xlsx``.

Rows are numbered as the user sees them in a spreadsheet: the header is row 1 (or the row it
is on, after blank leading rows) and every record after it is one row, a blank one included.
Cells are read as they are: text stays text (``=HYPERLINK(…)`` included), and an ``.xlsx`` is
opened with ``data_only=False``, so a formula cell gives its formula text and nothing is ever
evaluated. Nothing is copied: the file is read once, in place.
"""

from __future__ import annotations

import csv
import io

import numpy as np
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opscadence.core.csvinput import read_text
from opscadence.core.errors import UserError

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other Office 97 files)


class ImportFileError(UserError):
    """A file that cannot be imported; the message names file, row and column."""


@dataclass
class Sheet:
    """One table of cells from a file."""

    path: Path
    label: str  # how messages name it: the path, and the sheet of a workbook
    header: list[str]
    header_row: int
    table: Any  # a DataFrame of the cells, one column per header position (0, 1, …), one row per record
    row_numbers: list[int]  # the spreadsheet row of each record
    epoch: Any = None  # a workbook's date system (openpyxl's epoch), for serial dates
    notes: list[str] = field(default_factory=list)


def read_file(path: Path, table: str, *, sheet: str | None = None,
              sheet_words: Sequence[str] = ()) -> Sheet:
    """Read ``path`` by its content and name: a workbook (.xlsx) or CSV text."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    if head.startswith(OLE_MAGIC):
        raise ImportFileError(f"{path}: an old Excel .xls workbook (or another Office 97 file), which is not "
                           "read: save it as .xlsx or CSV")
    if suffix in (".xlsx", ".xlsm"):
        if not head.startswith(ZIP_MAGIC):
            raise ImportFileError(f"{path}: not an .xlsx workbook (an .xlsx file is a zip archive); "
                               "if it is CSV text, name it .csv")
        return _read_xlsx(path, table, sheet, sheet_words)
    if head.startswith(ZIP_MAGIC):
        raise ImportFileError(f"{path}: binary data, not CSV text (it is a zip archive, as an .xlsx workbook "
                           "is: if it is one, name it .xlsx)")
    if sheet is not None:
        raise ImportFileError(f"{path}: --sheet is for .xlsx workbooks; this file is read as CSV")
    return _read_csv(path)


# -- CSV ----------------------------------------------------------------------------------------


def _delimiter(text: str) -> str:
    """Tab when the first non-blank line has more tabs than commas (outside quotes), else comma."""
    for line in io.StringIO(text):  # lazily: only the first lines are looked at
        if line.strip():
            tabs = commas = 0
            quoted = False
            for ch in line:
                if ch == '"':
                    quoted = not quoted
                elif not quoted:
                    tabs += ch == "\t"
                    commas += ch == ","
            return "\t" if tabs > commas else ","
    return ","


def _read_csv(path: Path) -> Sheet:
    try:
        text = read_text(path)  # UTF-8 (BOM or not), else GB18030 (a superset of GBK); NUL bytes: binary
    except UserError as exc:
        raise ImportFileError(str(exc)) from None
    text = text.removeprefix("\ufeff")
    delimiter = _delimiter(text)
    sep = "tab" if delimiter == "\t" else "comma"
    fast = _read_csv_fast(path, text, delimiter)
    if fast is not None:
        fast.notes.append(f"{sep}-separated")
        return fast
    # The csv module, record by record: slower, and it names the row of a malformed record.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_row = 0
    rows: list[list[Any]] = []
    numbers: list[int] = []
    row = 0
    try:
        for record in reader:
            row += 1
            if header is None:
                if any(cell.strip() for cell in record):
                    header, header_row = [cell.strip() for cell in record], row
                continue
            if not any(cell.strip() for cell in record):
                continue  # a blank row
            if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
                raise ImportFileError(f"{path} row {row}: {len(record)} fields, the header has {len(header)} "
                                   f"(is the separator {'a tab' if delimiter == chr(9) else 'a comma'}? "
                                   "a value with a comma needs quotes)")
            rows.append(record + [""] * (len(header) - len(record)))
            numbers.append(row)
    except csv.Error as exc:
        raise ImportFileError(f"{path} row {row + 1}: malformed CSV ({exc})") from None
    if header is None:
        raise ImportFileError(f"{path}: the file is empty (no header row)")
    return _sheet(path, str(path), header, header_row, rows, numbers, notes=[f"{sep}-separated"])


def _read_csv_fast(path: Path, text: str, delimiter: str) -> Sheet | None:
    """pandas' C parser (the csv module's dialect: ``"`` quotes, doubled to escape); None when it
    refuses the text (a record with more fields than the first), so the slow path names the row."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=str, keep_default_na=False,
                            na_filter=False, skip_blank_lines=False, engine="c", quotechar='"', doublequote=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    frame = frame.fillna("")
    # record i is spreadsheet row i + 1 (a quoted cell with a line break stays one row)
    blank = (frame == "").all(axis=1).to_numpy()
    # rows of spaces only are blank too: only a row whose first cell is blank can be one
    maybe = np.flatnonzero(~blank & (frame[0].str.strip() == "").to_numpy())
    if len(maybe):
        blank[maybe] = (frame.iloc[maybe].apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    nonblank = np.flatnonzero(~blank)
    if not len(nonblank):
        return None  # empty: the slow path says so
    first = int(nonblank[0])
    header = [str(h).strip() for h in frame.iloc[first].tolist()]
    while header and not header[-1] and (frame.iloc[:, len(header) - 1] == "").all():
        header.pop()  # trailing empty columns (a trailing separator on every line)
    body = frame.iloc[first + 1:, :len(header)]
    keep = ~blank[first + 1:]
    body = body[keep]
    numbers = (np.flatnonzero(keep) + first + 2).tolist()
    table = body.reset_index(drop=True).astype(object)
    table.columns = range(len(header))
    return Sheet(path, str(path), header, first + 1, table, numbers)


def _sheet(path: Path, label: str, header: list[str], header_row: int, rows: list[list[Any]], numbers: list[int],
           **extra: Any) -> Sheet:
    import pandas as pd

    table = pd.DataFrame(rows, columns=range(len(header)), dtype=object) if rows else \
        pd.DataFrame({i: pd.Series(dtype=object) for i in range(len(header))})
    return Sheet(path, label, header, header_row, table, numbers, **extra)


# -- xlsx ---------------------------------------------------------------------------------------


def _pick_sheet(path: Path, names: list[str], sheet: str | None, words: Sequence[str]) -> tuple[str, str | None]:
    """The sheet to read, and a note saying how it was picked (None: the only sheet)."""
    listed = ", ".join(names)
    if sheet is not None:
        if sheet in names:
            return sheet, f"sheet {sheet} (of {listed})"
        if sheet.isdigit() and 1 <= int(sheet) <= len(names):
            name = names[int(sheet) - 1]
            return name, f"sheet {sheet}: {name} (of {listed})"
        raise ImportFileError(f"{path}: no sheet {sheet!r}; its sheets: {listed} (--sheet NAME, or 1..{len(names)})")
    if len(names) == 1:
        return names[0], None
    from opscadence.imports.aliases import normalise

    keys = [normalise(w) for w in words]
    matches = [n for n in names if any(k and k in normalise(n) for k in keys)]
    if len(matches) == 1:
        return matches[0], f"sheet {matches[0]} picked by its name (of {listed}; --sheet chooses another)"
    raise ImportFileError(f"{path}: {len(names)} sheets ({listed}); say which with --sheet NAME or --sheet 1..{len(names)}")


def _read_xlsx(path: Path, table: str, sheet: str | None, words: Sequence[str]) -> Sheet:
    import zipfile

    try:
        import openpyxl
    except ModuleNotFoundError:  # pragma: no cover - a dependency
        raise ImportFileError("reading .xlsx needs openpyxl (pip install openpyxl)") from None
    try:
        # read_only streams the rows; data_only=False: a formula cell is its formula, never evaluated
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        name, note = _pick_sheet(path, workbook.sheetnames, sheet, words)
        ws = workbook[name]
        label = f"{path} sheet {name}"
        header: list[str] | None = None
        header_row = 0
        rows: list[list[Any]] = []
        numbers: list[int] = []
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            cells = list(values)
            if header is None:
                if any(_present(c) for c in cells):
                    header = ["" if c is None else str(c).strip() for c in cells]
                    header_row = number
                continue
            if not any(_present(c) for c in cells):
                continue
            if len(cells) < len(header):
                cells += [None] * (len(header) - len(cells))
            elif len(cells) > len(header):
                extra = cells[len(header):]
                if any(_present(c) for c in extra):
                    header += [""] * (len(cells) - len(header))
                    for row in rows:
                        row += [None] * (len(header) - len(row))
                else:
                    cells = cells[:len(header)]
            rows.append(cells)
            numbers.append(number)
        epoch = workbook.epoch
    finally:
        workbook.close()
    if header is None:
        raise ImportFileError(f"{label}: the sheet is empty (no header row)")
    while header and not header[-1] and not any(_present(r[len(header) - 1]) for r in rows):
        header.pop()
        for row in rows:
            row.pop()
    return _sheet(path, label, header, header_row, rows, numbers, epoch=epoch, notes=[note] if note else [])


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())
