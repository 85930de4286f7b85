"""Salesforce record ids: 15-character base-62 ids with the 3-character case-safe checksum suffix."""

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(r"^[0-9A-Za-z]{15}([0-9A-Za-z]{3})?$")

# The key prefixes of the objects the emulator knows (the first three characters of every id).
KEY_PREFIXES = {
    "Account": "001", "Contact": "003", "Lead": "00Q", "Event": "00U", "Task": "00T",
    "User": "005", "Profile": "00e", "EventRelation": "0RE", "Organization": "00D",
}
TYPE_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}

# Instance ("pod") characters that real ids carry after the key prefix; fixed for this org.
_POD = "8d"


def checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character id unique case-insensitively."""
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def make_id(sobject: str, sequence: int) -> str:
    """The 18-character id of the ``sequence``-th record of ``sobject`` (deterministic)."""
    digits = ""
    number = sequence
    for _ in range(10):
        digits = _BASE62[number % 62] + digits
        number //= 62
    id15 = KEY_PREFIXES[sobject] + _POD + digits
    return id15 + checksum(id15)


def is_well_formed(value) -> bool:
    """True for a 15- or 18-character id whose checksum (if present) is right."""
    if not isinstance(value, str) or not _SHAPE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:]


def normalize(value: str) -> str | None:
    """The 18-character form of a well-formed id, or None."""
    if not is_well_formed(value):
        return None
    return value if len(value) == 18 else value + checksum(value)


def type_of(value: str) -> str | None:
    return TYPE_BY_PREFIX.get(value[:3]) if isinstance(value, str) else None
