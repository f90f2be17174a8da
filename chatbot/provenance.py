"""Where an article comes from and how fresh it is: its source address, publisher and dates.

An article's metadata (Markdown front matter, a PDF's or Word file's document properties, or
a ``NAME.meta.yaml`` sidecar next to the file, which wins) may name:

- ``source_url``: where the article is published (an ``http://`` or ``https://`` address);
- ``publisher``: who publishes it (``author`` stands in when there is no ``publisher``);
- ``published``: when it was published, ``YYYY-MM-DD`` (``date`` stands in when it is one);
- ``reviewed``: when its content was last reviewed, ``YYYY-MM-DD``.

An article whose ``reviewed`` date (else its ``published`` date) is more than
``CHATBOT_STALE_AFTER_DAYS`` days old "may be out of date"; one without either date is not
marked. Reading checks the fields (:func:`check`); citing and listing read them back from
the indexed metadata (:func:`provenance_of`, :func:`is_stale`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SIDECAR_SUFFIX = ".meta.yaml"
FIELDS = ("source_url", "publisher", "published", "reviewed")
DATE_FIELDS = ("published", "reviewed")
STALE_NOTE = "may be out of date"

_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.+\-Z]*)?$")
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


class MetadataError(ValueError):
    """Metadata that cannot be used; the message says which field and why."""


@dataclass(frozen=True)
class Provenance:
    """An article's source address, publisher and dates (each ``""`` when unknown)."""

    source_url: str = ""
    publisher: str = ""
    published: str = ""
    reviewed: str = ""

    @property
    def as_of(self) -> str:
        """The date freshness is judged by: ``reviewed``, else ``published``."""
        return self.reviewed or self.published


def sidecar_of(path: Path) -> Path:
    """The sidecar metadata file of an article file: ``carpal-tunnel.pdf`` →
    ``carpal-tunnel.meta.yaml``."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(SIDECAR_SUFFIX)


def parse_sidecar(data: bytes) -> dict[str, Any]:
    """The mapping of a sidecar file's YAML (dates as ``YYYY-MM-DD`` strings).

    Raises:
        MetadataError: not UTF-8, not valid YAML, or not a mapping.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    try:
        loaded = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise MetadataError(f"is not valid YAML{yaml_problem(exc)}") from None
    if not isinstance(loaded, dict):
        raise MetadataError("must be a mapping of 'key: value' lines")
    return {str(k): _plain(v) for k, v in loaded.items()}


def check(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` with its provenance fields checked and normalised (stripped strings, dates
    as ``YYYY-MM-DD``); other keys are kept as they are.

    Raises:
        MetadataError: a field has the wrong type, a date is not ``YYYY-MM-DD``, or
            ``source_url`` is not an http(s) address.
    """
    out = dict(meta)
    for name in ("source_url", "publisher", *DATE_FIELDS):
        value = out.get(name)
        if value is None:
            out.pop(name, None)
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        if not isinstance(value, str):
            raise MetadataError(f"'{name}' must be a string, not {type(value).__name__}")
        value = value.strip()
        if name in DATE_FIELDS and value:
            value = _iso_date(value, name)
        if name == "source_url" and value and not _URL.match(value):
            raise MetadataError(
                f"'source_url' {value!r} must be an http:// or https:// address without spaces"
            )
        out[name] = value
    return out


def yaml_problem(exc: yaml.YAMLError, first_line: int = 1) -> str:
    """Where and what a YAML error is, as `` at line N: problem`` (``first_line``: the
    number of the text's first line in its file)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + first_line}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: {problem}"


def provenance_of(meta: Mapping[str, Any] | None) -> Provenance:
    """The provenance recorded in an article's (checked) metadata.

    ``author`` stands in for a missing ``publisher`` and a ``date`` that is a ``YYYY-MM-DD``
    date for a missing ``published``; values of another type are ignored.
    """
    meta = meta or {}

    def text(name: str) -> str:
        value = meta.get(name)
        return value.strip() if isinstance(value, str) else ""

    published = text("published")
    if not published:
        published = _date_or_empty(text("date"))
    url = text("source_url")
    return Provenance(
        source_url=url if _URL.match(url) else "",
        publisher=text("publisher") or text("author"),
        published=_date_or_empty(published),
        reviewed=_date_or_empty(text("reviewed")),
    )


def is_stale(as_of: str, today: dt.date, after_days: int) -> bool:
    """Whether a ``YYYY-MM-DD`` date is more than ``after_days`` days before ``today``
    (``False`` for an empty or unreadable date)."""
    day = _date_or_none(as_of)
    return day is not None and (today - day).days > after_days


def _iso_date(value: str, name: str) -> str:
    day = _date_or_none(value)
    if day is None:
        raise MetadataError(f"'{name}' {value!r} is not a date written YYYY-MM-DD")
    return day.isoformat()


def _date_or_none(value: str) -> dt.date | None:
    match = _ISO_DATE.match(value.strip())
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _date_or_empty(value: str) -> str:
    day = _date_or_none(value)
    return day.isoformat() if day is not None else ""


def _plain(value: Any) -> Any:
    """YAML values as JSON-compatible ones (dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
