"""The pre-chat form over HTTP: an admin saves it on a brand (REST, checked against
the klass definitions), the chat API hands it to the browser with each question's
input, and a conversation created with its answers is one write: the conversation
with the page's attributes and the answers, the customer's answers, the first
message; a wrong answer names its field and nothing is written. Real SQLite and
PostgreSQL; what was stored is read back through the REST API."""

from __future__ import annotations

from typing import Any

from klatch.services import Services
from klatch.services.orgs import Setup
from support import Chat, Rest, error_codes

FORM: dict[str, Any] = {
    "questions": [
        {
            "klass": "conversation",
            "attribute": "issueTypeStr",
            "label": "What is it about?",
            "required": True,
            "choices": [
                {"value": "billing", "label": "Billing"},
                {"value": "technical", "label": "Technical"},
            ],
        },
        {"klass": "conversation", "attribute": "orderNumberStr", "label": "Order number"},
        {"klass": "conversation", "attribute": "itemsNum", "label": "How many items?"},
        {"klass": "customer", "attribute": "planStr", "label": "Your plan"},
    ]
}


async def define_form_attributes(services: Services, setup: Setup) -> None:
    org = setup.org.id
    define = services.attributes.define
    await define(org, "conversation", "issueTypeStr", tree=["billing", "technical", "other"])
    await define(org, "conversation", "orderNumberStr")
    await define(org, "conversation", "itemsNum")
    await define(org, "conversation", "sourceStr")
    await define(org, "conversation", "priorityNum", sdk_writable=False)
    await define(org, "customer", "planStr", enumeration=["free", "pro"])


async def save_form(admin: Rest, setup: Setup, form: Any) -> Any:
    return await admin.patch(f"/v1/brands/{setup.brand.id}", json={"preChatForm": form})


async def stored_form(admin: Rest, setup: Setup) -> Any:
    response = await admin.get("/v1/brands")
    assert response.status_code == 200, response.text
    (brand,) = [b for b in response.json()["data"] if b["id"] == setup.brand.id]
    return brand["attributes"]["settings"].get("preChatForm")


async def conversations_of(admin: Rest) -> list[dict[str, Any]]:
    response = await admin.get("/v1/conversations")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def customer_custom(admin: Rest, customer_id: str) -> dict[str, Any]:
    response = await admin.get(f"/v1/customers/{customer_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["attributes"]["custom"])


async def test_a_form_naming_an_unknown_attribute_is_refused_and_changes_nothing(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define_form_attributes(services, setup)
    assert (await save_form(admin, setup, FORM)).status_code == 200
    bad = {"questions": [*FORM["questions"], {"klass": "conversation", "attribute": "nopeStr",
                                              "label": "Nope"}]}  # fmt: skip
    response = await save_form(admin, setup, bad)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["code"] == "unknown_attribute"
    assert "nopeStr" in error["detail"]
    assert error["source"]["pointer"] == "/preChatForm/questions/4/attribute"
    assert await stored_form(admin, setup) == FORM | {"questions": [
        {**q, "required": q.get("required", False)} for q in FORM["questions"]]}  # fmt: skip


async def test_questions_are_checked_against_the_attributes_when_saved(
    services: Services, setup: Setup, admin: Rest
) -> None:
    await define_form_attributes(services, setup)

    def one(**question: Any) -> dict[str, Any]:
        return {"questions": [{"klass": "conversation", "label": "Q", **question}]}

    cases = [
        (one(attribute="priorityNum"), "attribute_read_only"),
        (one(attribute="itemsNum", choices=[{"value": "1"}]), "invalid_arguments"),
        (one(attribute="issueTypeStr", choices=[{"value": "shipping"}]), "value_not_allowed"),
        (one(attribute="orderNumberStr", label=""), "invalid_arguments"),
        (one(attribute="orderNumberStr", required="yes"), "invalid_arguments"),
        ({"questions": [{"klass": "order", "attribute": "x", "label": "Q"}]}, "unknown_klass"),
        ({"questions": [one(attribute="orderNumberStr")["questions"][0]] * 2}, "invalid_arguments"),
        (
            {"questions": [one(attribute="orderNumberStr")["questions"][0]] * 11},
            "invalid_arguments",
        ),
        ([], "invalid_arguments"),
    ]
    for form, code in cases:
        response = await save_form(admin, setup, form)
        assert response.status_code == 400, (form, response.text)
        assert error_codes(response) == [code], (form, response.text)
    assert await stored_form(admin, setup) is None


async def test_the_browser_gets_each_question_with_its_input_and_choices(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await define_form_attributes(services, setup)
    assert (await save_form(admin, setup, FORM)).status_code == 200
    response = await chat.request("GET", "/settings")
    assert response.status_code == 200, response.text
    questions = response.json()["settings"]["preChatForm"]["questions"]
    assert [(q["id"], q["input"], q["required"]) for q in questions] == [
        ("conversation.issueTypeStr", "choice", True),
        ("conversation.orderNumberStr", "text", False),
        ("conversation.itemsNum", "number", False),
        ("customer.planStr", "choice", False),
    ]
    assert questions[0]["choices"] == FORM["questions"][0]["choices"]
    # Without choices of its own, a question offers the attribute's allowed values.
    assert [c["value"] for c in questions[3]["choices"]] == ["free", "pro"]
    # A deleted attribute's question is not shown: it could not be answered.
    await services.attributes.delete(setup.org.id, "conversation", "itemsNum")
    response = await chat.request("GET", "/settings")
    shown = [q["attribute"] for q in response.json()["settings"]["preChatForm"]["questions"]]
    assert shown == ["issueTypeStr", "orderNumberStr", "planStr"]


async def test_answers_are_written_with_the_conversation_in_one_write(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await define_form_attributes(services, setup)
    assert (await save_form(admin, setup, FORM)).status_code == 200
    created = await chat.create_conversation(
        message="My invoice is wrong",
        # What the page described before the form was sent; the visitor's answer
        # to the same attribute wins.
        customAttributes={"sourceStr": "pricing-page", "orderNumberStr": "FROM-PAGE"},
        preChatForm={
            "conversation": {"issueTypeStr": "billing", "orderNumberStr": "KL-77", "itemsNum": ""},
            "customer": {"planStr": "pro"},
        },
    )
    assert created["custom"] == {
        "sourceStr": "pricing-page",
        "orderNumberStr": "KL-77",
        "issueTypeStr": "billing",
    }
    (conversation,) = await conversations_of(admin)
    assert conversation["attributes"]["custom"] == created["custom"]
    assert conversation["attributes"]["preview"] == "My invoice is wrong"
    assert await customer_custom(admin, chat.data["customerId"]) == {"planStr": "pro"}


async def test_a_wrong_answer_names_its_field_and_nothing_is_created(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    await define_form_attributes(services, setup)
    assert (await save_form(admin, setup, FORM)).status_code == 200
    response = await chat.request(
        "POST",
        "/conversations",
        json={
            "message": "Hello",
            "preChatForm": {
                "conversation": {"issueTypeStr": "other", "itemsNum": "three"},
                "customer": {"planStr": "pro"},
            },
        },
    )
    assert response.status_code == 400, response.text
    fields = {e["source"]["pointer"]: e["code"] for e in response.json()["errors"]}
    assert fields == {
        "/preChatForm/conversation/issueTypeStr": "value_not_allowed",
        "/preChatForm/conversation/itemsNum": "type_mismatch",
    }
    missing = await chat.request(
        "POST", "/conversations", json={"message": "Hello", "preChatForm": {"customer": {}}}
    )
    assert missing.status_code == 400, missing.text
    (error,) = missing.json()["errors"]
    assert (error["code"], error["source"]["pointer"]) == (
        "answer_required",
        "/preChatForm/conversation/issueTypeStr",
    )
    assert "What is it about?" in error["detail"]
    unasked = await chat.request(
        "POST",
        "/conversations",
        json={"preChatForm": {"conversation": {"issueTypeStr": "billing", "sourceStr": "x"}}},
    )
    assert error_codes(unasked) == ["not_in_form"]
    assert await conversations_of(admin) == []
    assert await customer_custom(admin, chat.data["customerId"]) == {}


async def test_answers_for_a_brand_without_a_form_are_refused(
    services: Services, setup: Setup, admin: Rest, chat: Chat
) -> None:
    response = await chat.request(
        "POST", "/conversations", json={"preChatForm": {"conversation": {}}}
    )
    assert response.status_code == 400, response.text
    assert error_codes(response) == ["no_pre_chat_form"]
    assert await conversations_of(admin) == []
