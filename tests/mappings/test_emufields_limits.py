"""Issue 17, item 3: texts longer than an end holds are cut once, deterministically, to what both ends hold; a cut
value and its longer original compare equal (so the cut never reads as a change), and what the field maps write
fits Salesforce's and Exchange's limits, counted as they count (UTF-16 code units)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.engine import SyncObject
from sync.engine.canonical import TEXT_LIMITS, cut_text, schema_for, text_length
from sync.mappings import exchange as ews
from sync.mappings import graph
from sync.mappings import salesforce as sf
from sync.mappings.outlook import TEXT_LIMITS as OUTLOOK_LIMITS

NEVER_CUT = {"email"}  # a cut e-mail address is a wrong one: the end refuses it and the record says why

# Long and multi-byte texts: accents, CJK, emoji (two UTF-16 units each), spaces that a cut may leave at the end.
pieces = st.sampled_from(["a", "Z", "é", "ß", "漢", "🙂", "👩‍💻", " ", "-", "ŉ", "\u0301"])
long_text = st.lists(pieces, min_size=1, max_size=400).map("".join)
long_multiline = st.lists(st.one_of(pieces, st.just("\n")), min_size=1, max_size=600).map("".join)


def test_the_canonical_limits_are_the_narrower_end_for_every_field():
    for obj in SyncObject:
        sf_limits, outlook_limits = sf.TEXT_LIMITS[obj], OUTLOOK_LIMITS[obj.value]
        expected = {}
        for name in set(sf_limits) | set(outlook_limits):
            if name not in NEVER_CUT:
                expected[name] = min(sf_limits.get(name, 10**9), outlook_limits.get(name, 10**9))
        assert TEXT_LIMITS[obj] == expected, obj


@given(st.text(), st.integers(1, 50))
def test_a_cut_is_the_longest_prefix_that_fits_and_never_splits_a_pair(text, limit):
    cut = cut_text(text, limit)
    assert text.startswith(cut) and text_length(cut) <= limit
    assert cut == text or text_length(text[: len(cut) + 1]) > limit
    cut.encode("utf-8")  # no lone surrogate


@settings(max_examples=200)
@given(obj=st.sampled_from(list(SyncObject)), data=st.data())
def test_cut_values_fit_both_ends_and_compare_equal_to_their_originals(obj, data):
    schema = schema_for(obj)
    raw = {name: data.draw(long_multiline if name in ("street", "notes", "description") else long_text, name)
           for name in schema.limits}
    canonical = schema.canonicalize(raw)
    for name, value in canonical.items():
        assert text_length(value) <= schema.limits[name]
    assert schema.canonicalize(canonical) == canonical  # idempotent: the same cut every time
    assert schema.content_hash(canonical) == schema.content_hash(raw)  # the cut copy is no change
    normalise = dict(schema.fields)
    assert {name for name, _length, _limit in schema.overflows(raw)} == {
        name for name in schema.limits if text_length(normalise[name](raw[name]) or "") > schema.limits[name]}
    # What each end is sent fits it, and reads back as the same canonical record.
    if obj is not SyncObject.CONTACTS:
        body = sf.to_salesforce(obj, canonical)
        for name, limit in sf.TEXT_LIMITS[obj].items():
            field = {"subject": "Subject", "location": "Location", "description": "Description"}[name]
            assert body.get(field) is None or text_length(body[field]) <= limit
    else:
        body = sf.to_salesforce(obj, canonical)
        for item in sf.CONTACT_MAP:
            limit = sf.TEXT_LIMITS[obj].get(item.canonical)
            if limit and item.writable and body.get(item.salesforce):
                assert text_length(body[item.salesforce]) <= limit, item.canonical
        view = ews.contact_to_ews(canonical)
        assert text_length(view["given_name"] or "") <= 255 and text_length(view["surname"] or "") <= 255
        assert schema.canonicalize(ews.contact_from_ews(view)) == canonical
        assert schema.canonicalize(graph.contact_from_graph(graph.contact_to_graph(canonical))) == canonical


@pytest.mark.parametrize(("obj", "name", "value", "kept"), [
    (SyncObject.CONTACTS, "first_name", "Bartholomew-Alexander Maximilian Jean-Baptiste", 40),
    (SyncObject.EVENTS, "subject", "🙂" * 200, 254),  # 127 emoji: the 128th would need units 255 and 256
    (SyncObject.TASKS, "description", "x" * 40000, 32000),
])
def test_overflows_name_the_field_its_length_and_the_limit(obj, name, value, kept):
    schema = schema_for(obj)
    [(field, length, limit)] = schema.overflows({name: value})
    assert field == name and length == text_length(value) and limit == schema.limits[name]
    assert text_length(schema.canonicalize({name: value})[name]) == kept
