"""The custom attribute rules (DESIGN §2, §4), as pure functions: no I/O.

Boundaries come from the design: ``Str`` takes up to 1024 characters, ``Txt``
up to 64 KiB, ``Num`` finite numbers, ``Bool`` only booleans, ``At`` ISO 8601
date-times with a zone (stored UTC as ``YYYY-MM-DDTHH:MM:SS.mmmZ``), ``Url``
absolute http(s) URLs; ``null`` clears any of them; at most 100 keys a write.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pytest

from klatch.domain.attributes import (
    METADATA_TYPE_NAMES,
    TYPES,
    AttributeDef,
    AttrType,
    check_definition,
    check_values,
    display_name_for,
    filter_value,
    normalise_value,
    parse_type,
    suffix_list,
)
from klatch.errors import AttributeErrors, InvalidArguments

KIB = 1024
STORED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def define(name: str, **options: Any) -> AttributeDef:
    return check_definition("conversation", name, **options)


def definitions(*defs: AttributeDef) -> dict[str, AttributeDef]:
    return {d.name: d for d in defs}


def refusal(definition: AttributeDef, value: Any) -> tuple[str, str]:
    """The (code, message) of the one problem a single-value write reports."""
    with pytest.raises(AttributeErrors) as caught:
        check_values(
            "conversation", definitions(definition), {definition.name: value}, from_sdk=True
        )
    [detail] = caught.value.details
    assert detail.attribute == definition.name
    assert detail.pointer == f"/custom/{definition.name}"
    return detail.code, detail.message


def accepted(definition: AttributeDef, value: Any) -> Any:
    """The stored form of a value the rules accept; it must be storable as JSON."""
    stored = check_values(
        "conversation", definitions(definition), {definition.name: value}, from_sdk=True
    )[definition.name]
    assert orjson.loads(orjson.dumps(stored)) == stored
    return stored


# ---------------------------------------------------------------- types by suffix


@pytest.mark.parametrize(
    ("name", "attr_type"),
    [
        ("orderNumberStr", AttrType.STR),
        ("botTranscriptTxt", AttrType.TXT),
        ("totalOrdersNum", AttrType.NUM),
        ("vipBool", AttrType.BOOL),
        ("lastOrderAt", AttrType.AT),
        ("receiptUrl", AttrType.URL),
    ],
)
def test_the_suffix_sets_the_type(name: str, attr_type: AttrType) -> None:
    assert define(name).type is attr_type


@pytest.mark.parametrize("name", ["some_custom_attribute", "plan", "Str", "statusstr"])
def test_a_name_without_a_known_suffix_needs_an_explicit_type(name: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        define(name)
    assert caught.value.code == "type_required"
    for suffix in ("Str", "Txt", "Num", "Bool", "At", "Url"):
        assert suffix in caught.value.detail


def test_an_explicit_type_makes_some_custom_attribute_usable() -> None:
    definition = define("some_custom_attribute", type_="str")
    assert definition.type is AttrType.STR
    assert accepted(definition, "hello") == "hello"
    assert refusal(definition, 5)[0] == "type_mismatch"


def test_an_explicit_type_cannot_contradict_the_suffix() -> None:
    with pytest.raises(InvalidArguments) as caught:
        define("priceNum", type_="str")
    assert caught.value.code == "type_conflict"


def test_every_type_is_one_row_of_the_type_table() -> None:
    assert [spec.type for spec in TYPES] == list(AttrType)
    assert len({spec.suffix for spec in TYPES}) == len(TYPES)
    assert METADATA_TYPE_NAMES == {spec.type: spec.metadata_name for spec in TYPES}
    # Messages and the CLI list the suffixes longest first, as names are matched.
    assert suffix_list() == "Bool, Tree, Str, Txt, Num, Url, At, Id"


def test_every_word_for_a_type_names_that_type_in_any_case() -> None:
    for spec in TYPES:
        for word in (spec.type.value, spec.metadata_name, *spec.aliases):
            assert parse_type(f" {word.upper()} ") is spec.type
    with pytest.raises(InvalidArguments) as caught:
        parse_type("money")
    assert caught.value.code == "invalid_type"
    assert caught.value.detail.endswith("use one of: str, txt, num, bool, at, url, tree, id")


@pytest.mark.parametrize(
    ("name", "shown"),
    [("totalOrdersNum", "Total Orders"), ("vipBool", "Vip"), ("plan_name", "Plan Name")],
)
def test_the_display_name_is_made_from_the_name_without_its_suffix(name: str, shown: str) -> None:
    assert display_name_for(name) == shown


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("orderStr", " A1 ", " A1 "),
        ("noteTxt", "x", "x"),
        ("totalNum", "2", 2),
        ("totalNum", "2.0", 2),
        ("totalNum", "2.5", 2.5),
        ("vipBool", "TRUE", True),
        ("vipBool", "false", False),
        ("lastOrderAt", "2026-11-25T15:30:00+01:00", "2026-11-25T14:30:00.000Z"),
        ("receiptUrl", "not checked", "not checked"),
    ],
)
def test_a_list_filter_is_read_as_the_stored_form_of_its_type(
    name: str, raw: str, value: Any
) -> None:
    assert filter_value(define(name), raw) == value


@pytest.mark.parametrize(
    ("name", "raw"), [("totalNum", "two"), ("vipBool", "yes"), ("lastOrderAt", "2026-11-25")]
)
def test_a_list_filter_that_is_not_of_its_type_is_refused(name: str, raw: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        filter_value(define(name), raw)
    assert caught.value.code == "type_mismatch"
    assert name in caught.value.detail


# ---------------------------------------------------------------- Str and Txt


def test_str_takes_1024_characters_and_refuses_1025() -> None:
    definition = define("noteStr")
    assert accepted(definition, "x" * 1024) == "x" * 1024
    code, message = refusal(definition, "x" * 1025)
    assert code == "value_too_long"
    assert "1024" in message


def test_str_counts_characters_not_bytes() -> None:
    definition = define("noteStr")
    assert accepted(definition, "é" * 1024) == "é" * 1024  # 2048 bytes of UTF-8
    assert accepted(definition, "😀" * 1024) == "😀" * 1024
    assert refusal(definition, "é" * 1025)[0] == "value_too_long"


def test_txt_takes_64_kib_and_refuses_more() -> None:
    definition = define("transcriptTxt")
    assert accepted(definition, "x" * (64 * KIB)) == "x" * (64 * KIB)
    assert refusal(definition, "x" * (64 * KIB + 1))[0] == "value_too_long"


def test_txt_measures_kib_in_bytes_of_utf8() -> None:
    definition = define("transcriptTxt")
    assert accepted(definition, "é" * (32 * KIB)) == "é" * (32 * KIB)  # exactly 64 KiB
    assert refusal(definition, "é" * (32 * KIB) + "x")[0] == "value_too_long"


@pytest.mark.parametrize("value", [5, 1.5, True, ["a"], {"a": "b"}])
@pytest.mark.parametrize("name", ["noteStr", "transcriptTxt"])
def test_text_types_refuse_other_json_types(name: str, value: Any) -> None:
    assert refusal(define(name), value)[0] == "type_mismatch"


@pytest.mark.parametrize("value", ["ok \ud800 ok", "ok \x00 ok"])
@pytest.mark.parametrize("name", ["noteStr", "transcriptTxt"])
def test_text_that_cannot_be_stored_as_utf8_is_refused_not_crashed(name: str, value: str) -> None:
    # A lone surrogate parses from JSON ("\ud800") but is not encodable text;
    # PostgreSQL stores no NUL. The text rule (klatch.domain.text) refuses both.
    code, _ = refusal(define(name), value)
    assert code == "invalid_text"


# ---------------------------------------------------------------- Num


@pytest.mark.parametrize("value", [0, -7, 42, 2**53, 3.25, -0.5, 1e300])
def test_num_takes_ints_and_floats(value: int | float) -> None:
    assert accepted(define("totalNum"), value) == value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_num_refuses_non_finite_floats(value: float) -> None:
    assert refusal(define("totalNum"), value)[0] == "type_mismatch"


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_number(value: bool) -> None:
    assert refusal(define("totalNum"), value)[0] == "type_mismatch"


@pytest.mark.parametrize("value", ["5", "", "five", [1], {"n": 1}])
def test_num_refuses_strings_and_containers(value: Any) -> None:
    assert refusal(define("totalNum"), value)[0] == "type_mismatch"


def test_num_refuses_a_whole_number_beyond_any_finite_double() -> None:
    # 10**400 is an int in Python, but no JSON reader or browser holds it finitely.
    assert refusal(define("totalNum"), 10**400)[0] == "type_mismatch"


@pytest.mark.parametrize("value", [2**53 + 1, -(2**53) - 1, 2**70, 10**30])
def test_num_refuses_a_whole_number_a_browser_cannot_hold_exactly(value: int) -> None:
    # Beyond 2^53 a double skips integers: stored, the number would come back rounded.
    assert refusal(define("totalNum"), value)[0] == "type_mismatch"
    assert accepted(define("totalNum"), -(2**53)) == -(2**53)


# ---------------------------------------------------------------- Bool


@pytest.mark.parametrize("value", [True, False])
def test_bool_takes_booleans(value: bool) -> None:
    assert accepted(define("vipBool"), value) is value


@pytest.mark.parametrize("value", ["true", "false", 1, 0, 1.0, [], {}])
def test_bool_refuses_look_alikes(value: Any) -> None:
    assert refusal(define("vipBool"), value)[0] == "type_mismatch"


# ---------------------------------------------------------------- At


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-11-25T14:30:00Z", "2026-11-25T14:30:00.000Z"),
        ("2026-11-25T14:30:00.123Z", "2026-11-25T14:30:00.123Z"),
        ("2026-11-25T14:30:00.123456+00:00", "2026-11-25T14:30:00.123Z"),
        ("2026-11-25T14:30:00+05:30", "2026-11-25T09:00:00.000Z"),
        ("2026-11-25T20:00:00-08:00", "2026-11-26T04:00:00.000Z"),  # crosses midnight
        ("2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00.000Z"),  # crosses the year
        ("0999-06-01T12:00:00Z", "0999-06-01T12:00:00.000Z"),  # still four year digits
    ],
)
def test_at_is_stored_in_utc_with_milliseconds(given: str, stored: str) -> None:
    result = accepted(define("lastOrderAt"), given)
    assert result == stored
    assert STORED_AT.match(result)


def test_stored_at_values_sort_as_text_in_time_order() -> None:
    definition = define("lastOrderAt")
    moments = [
        "2026-01-01T10:00:00+09:00",  # 01:00Z
        "2026-01-01T02:00:00Z",
        "2025-12-31T22:00:00-05:00",  # 03:00Z on Jan 1
    ]
    stored = [accepted(definition, m) for m in moments]
    assert sorted(stored) == stored


@pytest.mark.parametrize(
    "value",
    ["2026-11-25T14:30:00", "2026-11-25 14:30:00", "2026-11-25T14:30:00.500"],
)
def test_at_refuses_naive_date_times(value: str) -> None:
    code, message = refusal(define("lastOrderAt"), value)
    assert code == "type_mismatch"
    assert "timezone" in message


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-25T25:00:00Z",
        "2026-11-25",  # a date is not a date-time
        "1732545000",
    ],
)
def test_at_refuses_garbage(value: str) -> None:
    assert refusal(define("lastOrderAt"), value)[0] == "type_mismatch"


@pytest.mark.parametrize("value", [1732545000, 1732545000.5, True, ["2026-11-25T14:30:00Z"]])
def test_at_refuses_non_strings(value: Any) -> None:
    assert refusal(define("lastOrderAt"), value)[0] == "type_mismatch"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_at_outside_the_representable_range_in_utc_is_refused_cleanly(value: str) -> None:
    assert refusal(define("lastOrderAt"), value)[0] == "type_mismatch"


# ---------------------------------------------------------------- Url


@pytest.mark.parametrize(
    "value",
    [
        "http://example.com",
        "https://example.com/orders/42?tab=items#top",
        "https://shop.example.co.uk:8443/a%20b",
        "http://127.0.0.1:8000/",
    ],
)
def test_url_takes_absolute_http_and_https(value: str) -> None:
    assert accepted(define("receiptUrl"), value) == value


@pytest.mark.parametrize(
    "value",
    [
        "ftp://example.com/file",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/orders/42",
        "orders/42",
        "//example.com/path",
        "example.com",
        "http://",
        "https://exa mple.com/",
        "",
    ],
)
def test_url_refuses_other_schemes_and_relative_urls(value: str) -> None:
    assert refusal(define("receiptUrl"), value)[0] == "type_mismatch"


def test_url_refuses_non_strings() -> None:
    assert refusal(define("receiptUrl"), {"href": "https://example.com"})[0] == "type_mismatch"


# ---------------------------------------------------------------- null


@pytest.mark.parametrize(
    "name", ["noteStr", "transcriptTxt", "totalNum", "vipBool", "lastOrderAt", "receiptUrl"]
)
def test_null_is_accepted_by_every_type_as_clear(name: str) -> None:
    assert check_values("conversation", definitions(define(name)), {name: None}, from_sdk=True) == {
        name: None
    }


def test_null_clears_even_a_value_outside_an_enumeration() -> None:
    definition = define("planStr", enumeration=["free", "pro"])
    assert accepted(definition, None) is None


# ---------------------------------------------------------------- enumerations and trees


def test_an_enumeration_allows_only_its_values() -> None:
    definition = define("planStr", enumeration=["free", "pro", "enterprise"])
    assert accepted(definition, "pro") == "pro"
    code, message = refusal(definition, "platinum")
    assert code == "value_not_allowed"
    assert "platinum" in message and "pro" in message


def test_enumeration_values_are_exact() -> None:
    definition = define("planStr", enumeration=["pro"])
    for near_miss in ("Pro", "pro ", ""):
        assert refusal(definition, near_miss)[0] == "value_not_allowed"


def test_a_tree_allows_its_paths_and_their_ancestors() -> None:
    definition = define("reasonStr", tree=["shipping.delayed", "shipping.lost", "billing"])
    for value in ("shipping.delayed", "shipping.lost", "shipping", "billing"):
        assert accepted(definition, value) == value
    for value in ("shipping.damaged", "billing.refund", "delayed", "shipping."):
        assert refusal(definition, value)[0] == "value_not_allowed"


@pytest.mark.parametrize("name", ["totalNum", "vipBool", "lastOrderAt", "receiptUrl", "noteTxt"])
def test_allowed_values_exist_only_on_str(name: str) -> None:
    with pytest.raises(InvalidArguments):
        define(name, enumeration=["a"])
    with pytest.raises(InvalidArguments):
        define(name, tree=["a.b"])


# ---------------------------------------------------------------- whole writes


def test_an_unknown_attribute_is_named_with_its_klass() -> None:
    with pytest.raises(AttributeErrors) as caught:
        check_values("conversation", {}, {"orderNumberStr": "A1"}, from_sdk=True)
    [detail] = caught.value.details
    assert detail.code == "unknown_attribute"
    assert detail.attribute == "orderNumberStr"
    assert "orderNumberStr" in detail.message and "conversation" in detail.message
    assert detail.pointer == "/custom/orderNumberStr"


def test_the_pointer_escapes_an_attribute_name_as_json_pointer() -> None:
    with pytest.raises(AttributeErrors) as caught:
        check_values("conversation", {}, {"a/b~c": 1}, from_sdk=True)
    assert caught.value.details[0].pointer == "/custom/a~1b~0c"


def test_read_only_attributes_are_refused_to_the_sdk_but_not_to_agents() -> None:
    definition = define("riskScoreNum", sdk_writable=False)
    defs = definitions(definition)
    with pytest.raises(AttributeErrors) as caught:
        check_values("conversation", defs, {"riskScoreNum": 3}, from_sdk=True)
    assert [d.code for d in caught.value.details] == ["attribute_read_only"]
    assert check_values("conversation", defs, {"riskScoreNum": 3}, from_sdk=False) == {
        "riskScoreNum": 3
    }


def test_a_write_takes_100_keys_and_refuses_101() -> None:
    defs = definitions(*(define(f"field{i}Num") for i in range(101)))
    hundred = {f"field{i}Num": i for i in range(100)}
    assert check_values("conversation", defs, hundred, from_sdk=True) == hundred
    with pytest.raises(AttributeErrors) as caught:
        check_values("conversation", defs, {**hundred, "field100Num": 100}, from_sdk=True)
    assert [d.code for d in caught.value.details] == ["too_many_attributes"]
    assert caught.value.status == 400


def test_every_offending_attribute_is_reported_at_once() -> None:
    defs = definitions(
        define("noteStr"),
        define("totalNum"),
        define("vipBool"),
        define("planStr", enumeration=["free", "pro"]),
        define("riskScoreNum", sdk_writable=False),
    )
    values = {
        "noteStr": "fine",
        "totalNum": "12",
        "vipBool": "true",
        "planStr": "gold",
        "riskScoreNum": 1,
        "ghostStr": "boo",
    }
    with pytest.raises(AttributeErrors) as caught:
        check_values("conversation", defs, values, from_sdk=True)
    problems = {d.attribute: d.code for d in caught.value.details}
    assert problems == {
        "totalNum": "type_mismatch",
        "vipBool": "type_mismatch",
        "planStr": "value_not_allowed",
        "riskScoreNum": "attribute_read_only",
        "ghostStr": "unknown_attribute",
    }
    for name in problems:
        assert name is not None and name in (
            caught.value.detail or ""
        )  # the summary names each one


@pytest.mark.parametrize("values", [["noteStr"], "noteStr", 5, None])
def test_custom_attributes_must_be_an_object(values: Any) -> None:
    with pytest.raises(InvalidArguments):
        check_values("conversation", definitions(define("noteStr")), values, from_sdk=True)


def test_a_valid_write_returns_every_value_normalised() -> None:
    defs = definitions(define("noteStr"), define("lastOrderAt"), define("totalNum"))
    result = check_values(
        "conversation",
        defs,
        {"noteStr": "a", "lastOrderAt": "2026-01-01T01:00:00+01:00", "totalNum": None},
        from_sdk=True,
    )
    assert result == {"noteStr": "a", "lastOrderAt": "2026-01-01T00:00:00.000Z", "totalNum": None}


def test_normalise_value_passes_null_through_for_every_type() -> None:
    for attr_type in AttrType:
        definition = check_definition("customer", "x_field", type_=attr_type)
        assert normalise_value(definition, None) is None
