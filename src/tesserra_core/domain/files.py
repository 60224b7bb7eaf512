"""Project files: names a person chose, stored under keys the platform chose."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

import msgspec

from tesserra_core.errors import ValidationFailed

MAX_NAME = 255
FILENAME_PATTERN = r"^[^\s/\\\x00-\x1f\x7f-\x9f](?:[^/\\\x00-\x1f\x7f-\x9f]*[^\s/\\\x00-\x1f\x7f-\x9f])?$"
FILENAME_RULE = (
    "1-255 characters; no / or \\, no control, invisible, private-use or unassigned character, no surrounding "
    "white space, not . or .. (400 invalid_filename; the pattern states what a pattern can)."
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def check_filename(value: str) -> str:
    """A file name, never a path: no separators (``/``, ``\\``), no NUL or control characters, not
    ``.`` or ``..``, NFC-normalized, at most 255 characters. The name only labels the file; storage
    keys are ids, so no name can reach the filesystem in any case."""
    name = unicodedata.normalize("NFC", value)
    if (
        not name
        or name.strip() != name
        or len(name) > MAX_NAME
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or _CONTROL.search(name)
        or any(unicodedata.category(c) in ("Cf", "Cs", "Co", "Cn") for c in name)
    ):
        raise ValidationFailed(
            "filename must be 1-255 characters, without path separators, control or invisible characters, "
            "and not . or ..",
            code="invalid_filename",
        )
    return name


def check_content_type(value: str | None) -> str | None:
    """A bare ``type/subtype`` (parameters dropped), lowercased; None if absent or malformed."""
    if not value:
        return None
    bare = value.split(";", 1)[0].strip().lower()
    return bare if _CONTENT_TYPE.match(bare) else None


class ProjectFile(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    project_id: str
    name: str
    size: int
    sha256: str
    content_type: str
    storage_key: str
    created_at: datetime
