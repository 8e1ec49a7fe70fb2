"""What every download shares: spreadsheet-safe cells and the Content-Disposition header."""

from __future__ import annotations

from urllib.parse import quote

# A cell starting with one of these runs as a formula in Excel or WPS.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text that would run as a formula gets a leading apostrophe; other values pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def disposition(name: str, inline: bool = False) -> str:
    """A download's filename, in ASCII for old clients and UTF-8 (RFC 6266) for the rest."""
    ascii_name = name.encode("ascii", "replace").decode("ascii")
    ascii_name = "".join("_" if c in '?"\\' or ord(c) < 32 else c for c in ascii_name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
