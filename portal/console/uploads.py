"""Reading an uploaded CSV file in the console: one value per row, or the column a header names.

Shape only: what the values mean (a valid code, a known member) is for the
domain to say. Every value keeps the line of the file it came from, so that
error reports name the row a person sees when they open the file.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

DELIMITERS = ",;\t"


class UploadUnreadable(ValueError):
    """The file is not a CSV text we can read; the message says why."""


@dataclass
class CsvColumn:
    values: list[str] = field(default_factory=list)
    # The 1-based line of the file each value came from.
    lines: list[int] = field(default_factory=list)
    header: str | None = None

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else index + 1


def read_column(storage, header_names: tuple[str, ...]) -> CsvColumn:
    """The values of the first column, or of the column whose header is one of `header_names`.

    A first row naming one of `header_names` (any case) is a header and is not a value.
    Blank rows are skipped; the line numbers of the others stay those of the file.
    """
    raw = storage.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadUnreadable("The file is not UTF-8 text: save it as “CSV UTF-8” and try again.") from None
    if "\x00" in text:
        raise UploadUnreadable("The file is not a CSV text file.")
    first_line = text.split("\n", 1)[0]
    delimiter = next((d for d in DELIMITERS if d in first_line), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    wanted = {name.lower() for name in header_names}
    column, result = 0, CsvColumn()
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if result.header is None and not result.values:
                names = [cell.strip().lower() for cell in row]
                found = next((i for i, name in enumerate(names) if name in wanted), None)
                if found is not None:
                    column, result.header = found, row[found].strip()
                    continue
            result.values.append(row[column].strip() if column < len(row) else "")
            result.lines.append(reader.line_num)
    except csv.Error as error:
        raise UploadUnreadable(f"Line {reader.line_num} cannot be read as CSV: {error}") from None
    return result
