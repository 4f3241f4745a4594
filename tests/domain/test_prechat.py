"""The pre-chat form's rules (``klatch.domain.prechat``), pure: what a saved form
may say, the input each attribute type is asked with, and how answers are read."""

from __future__ import annotations

from typing import Any

import pytest

from klatch.domain.attributes import AttributeDef, check_definition
from klatch.domain.prechat import check_answers, check_pre_chat_form, form_view
from klatch.errors import AttributeErrors, InvalidArguments


def definitions(*defs: AttributeDef) -> dict[str, dict[str, AttributeDef]]:
    out: dict[str, dict[str, AttributeDef]] = {"conversation": {}, "customer": {}}
    for d in defs:
        out[d.klass][d.name] = d
    return out


DEFS = definitions(
    check_definition("conversation", "orderNumberStr"),
    check_definition("conversation", "notesTxt"),
    check_definition("conversation", "itemsNum"),
    check_definition("conversation", "giftBool"),
    check_definition("conversation", "deliveryAt"),
    check_definition("conversation", "pageUrl"),
    check_definition("conversation", "reasonTree", tree=["shipping.late", "billing"]),
    check_definition("conversation", "refId"),
    check_definition("customer", "planStr", enumeration=["free", "pro"]),
)


def ask(*names: str, required: bool = False) -> dict[str, Any]:
    return {
        "questions": [
            {"klass": k, "attribute": a, "label": a, "required": required}
            for k, a in (n.split(".") for n in names)
        ]
    }


def test_each_type_is_asked_with_its_own_input() -> None:
    names = [f"conversation.{n}" for n in DEFS["conversation"] if n != "refId"]
    form = check_pre_chat_form(ask(*names, "customer.planStr"), DEFS)
    inputs = {q["attribute"]: q["input"] for q in form_view(form, DEFS)["questions"]}
    assert inputs == {
        "orderNumberStr": "text",
        "notesTxt": "textarea",
        "itemsNum": "number",
        "giftBool": "bool",
        "deliveryAt": "datetime",
        "pageUrl": "url",
        "reasonTree": "choice",
        "planStr": "choice",
    }


def test_a_trees_choices_are_its_paths_labelled_by_segment() -> None:
    (question,) = form_view(ask("conversation.reasonTree"), DEFS)["questions"]
    assert question["choices"] == [
        {"value": "shipping", "label": "Shipping"},
        {"value": "shipping.late", "label": "Shipping / Late"},
        {"value": "billing", "label": "Billing"},
    ]


def test_an_id_attribute_cannot_be_asked() -> None:
    with pytest.raises(InvalidArguments) as refused:
        check_pre_chat_form(ask("conversation.refId"), DEFS)
    assert refused.value.pointer == "/preChatForm/questions/0/attribute"


def test_answers_are_normalised_and_blanks_left_out() -> None:
    form = ask("conversation.deliveryAt", "conversation.giftBool", "conversation.orderNumberStr")
    conversation, customer = check_answers(
        form,
        DEFS,
        {"conversation": {"deliveryAt": "2026-11-25T10:30:00+01:00", "giftBool": False,
                          "orderNumberStr": "   "}},
    )  # fmt: skip
    assert conversation == {"deliveryAt": "2026-11-25T09:30:00.000Z", "giftBool": False}
    assert customer == {}


def test_every_offending_field_is_named_once() -> None:
    form = ask("conversation.itemsNum", "customer.planStr", required=True)
    with pytest.raises(AttributeErrors) as refused:
        check_answers(form, DEFS, {"conversation": {"itemsNum": "3"}})
    assert [(d.pointer, d.code) for d in refused.value.details] == [
        ("/preChatForm/conversation/itemsNum", "type_mismatch"),
        ("/preChatForm/customer/planStr", "answer_required"),
    ]
