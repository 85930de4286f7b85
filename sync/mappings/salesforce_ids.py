"""Salesforce record ids: the 3-character checksum that turns a case-sensitive 15-character id into the
case-insensitive 18-character form Salesforce's APIs return. Pure Python."""

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def checksum(id15: str) -> str:
    """The 3-character suffix of a 15-character id: one character per 5-character chunk, a bit per capital."""
    return "".join(
        _SUFFIX_ALPHABET[sum(1 << i for i, char in enumerate(id15[start:start + 5]) if "A" <= char <= "Z")]
        for start in (0, 5, 10)
    )


def id18(record_id: str) -> str:
    """The 18-character form of an id (15-character ids get their checksum; others are returned as they are)."""
    return record_id + checksum(record_id) if len(record_id) == 15 else record_id
