"""Every request the REST client makes, as a ``Call``: path, parameters, body and
the model its answer is read into. The resources (``_resources.py``) expose these
one method each, for both clients; only here do paths and bodies live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from klatch.client._base import (
    Call,
    listed,
    listing,
    nothing,
    page_params,
    paged,
    params,
    search_body,
    segment,
    single,
    without_none,
)
from klatch.client.models import (
    ApiKey,
    Conversation,
    Customer,
    Event,
    Json,
    Message,
    Metadata,
    Page,
    Resource,
    Transaction,
    User,
    Webhook,
)

# -- customers


def customer_fields(
    *, custom: Mapping[str, Any] | None, extra: Mapping[str, Any] | None, **attributes: Any
) -> Json:
    """A customer's attributes as the API spells them, without the ones not given;
    then ``custom`` (a copy) and ``extra``, any other attribute."""
    fields = without_none(**attributes, custom=dict(custom) if custom is not None else None)
    return {**fields, **(extra or {})}


def create_customer(fields: Json) -> Call[Customer]:
    return Call("POST", "/v1/customers", single(Customer.parse), body=fields)


def get_customer(customer_id: str) -> Call[Customer]:
    return Call("GET", f"/v1/customers/{segment(customer_id)}", single(Customer.parse))


def customer_by(field: str, value: str) -> Call[Customer]:
    return Call("GET", f"/v1/customers/{field}={segment(value)}", single(Customer.parse))


def list_customers(page: int | None, page_size: int | None) -> Call[Page[Customer]]:
    return listing("/v1/customers", Customer.parse, page, page_size)


def update_customer(customer_id: str, fields: Json) -> Call[Customer]:
    return Call(
        "PATCH", f"/v1/customers/{segment(customer_id)}", single(Customer.parse), body=fields
    )


def delete_customer(customer_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/customers/{segment(customer_id)}", nothing)


# -- conversations


def conversation_fields(
    *,
    name: str | None,
    status: str | None,
    custom: Mapping[str, Any] | None,
    external_id: str | None,
    extra: Mapping[str, Any],
) -> Json:
    fields = without_none(
        name=name,
        status=status,
        custom=dict(custom) if custom is not None else None,
        externalId=external_id,
    )
    return {**fields, **extra}


def create_conversation(customer_id: str, fields: Json) -> Call[Conversation]:
    return Call(
        "POST",
        f"/v1/customers/{segment(customer_id)}/conversations",
        single(Conversation.parse),
        body=fields,
    )


def get_conversation(conversation_id: str) -> Call[Conversation]:
    return Call("GET", f"/v1/conversations/{segment(conversation_id)}", single(Conversation.parse))


def conversation_by_external_id(external_id: str) -> Call[Conversation]:
    return Call(
        "GET", f"/v1/conversations/externalId={segment(external_id)}", single(Conversation.parse)
    )


def list_conversations(
    *,
    page: int | None,
    page_size: int | None,
    status: str | None,
    customer_id: str | None,
    custom: Mapping[str, Any] | None,
) -> Call[Page[Conversation]]:
    filters = tuple((f"custom.{k}", _query_value(v)) for k, v in (custom or {}).items())
    return Call(
        "GET",
        "/v1/conversations",
        paged(Conversation.parse),
        params=page_params(page, page_size) + params(status=status, customer=customer_id) + filters,
    )


def list_customer_conversations(
    customer_id: str, page: int | None, page_size: int | None
) -> Call[Page[Conversation]]:
    path = f"/v1/customers/{segment(customer_id)}/conversations"
    return listing(path, Conversation.parse, page, page_size)


def update_conversation(
    conversation_id: str, fields: Json, *, replace: bool = False
) -> Call[Conversation]:
    path = f"/v1/conversations/{segment(conversation_id)}"
    if replace:
        return Call(
            "PUT", path, single(Conversation.parse), params=params(replace=True), body=fields
        )
    return Call("PATCH", path, single(Conversation.parse), body=fields)


def end_conversation(conversation_id: str) -> Call[Conversation]:
    return Call(
        "POST", f"/v1/conversations/{segment(conversation_id)}/end", single(Conversation.parse)
    )


def delete_conversation(conversation_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/conversations/{segment(conversation_id)}", nothing)


def conversation_history(conversation_id: str) -> Call[list[Event]]:
    return Call("GET", f"/v1/conversations/{segment(conversation_id)}/events", listed(Event.parse))


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- messages


def send_message(
    conversation_id: str, body: str, payload: str | None, custom: Mapping[str, Any] | None = None
) -> Call[Message]:
    fields = without_none(
        body=body, payload=payload, custom=dict(custom) if custom is not None else None
    )
    return Call(
        "POST",
        f"/v1/conversations/{segment(conversation_id)}/messages",
        single(Message.parse),
        body=fields,
    )


def get_message(message_id: str) -> Call[Message]:
    return Call("GET", f"/v1/messages/{segment(message_id)}", single(Message.parse))


def update_message(message_id: str, custom: Mapping[str, Any]) -> Call[Message]:
    return Call(
        "PATCH",
        f"/v1/messages/{segment(message_id)}",
        single(Message.parse),
        body={"custom": dict(custom)},
    )


def list_messages(
    conversation_id: str, page: int | None, page_size: int | None
) -> Call[Page[Message]]:
    path = f"/v1/conversations/{segment(conversation_id)}/messages"
    return listing(path, Message.parse, page, page_size)


def typing(conversation_id: str, active: bool) -> Call[None]:
    return Call(
        "POST",
        f"/v1/conversations/{segment(conversation_id)}/typing",
        nothing,
        body={"typing": active},
    )


# -- metadata


def get_metadata(klass: str) -> Call[Metadata]:
    return Call("GET", f"/v1/metadata/{segment(klass)}", single(Metadata.parse))


def put_metadata(klass: str, properties: Mapping[str, Mapping[str, Any]]) -> Call[Metadata]:
    return Call(
        "PUT",
        f"/v1/metadata/{segment(klass)}",
        single(Metadata.parse),
        body={"properties": {k: dict(v) for k, v in properties.items()}},
    )


def delete_property(klass: str, name: str) -> Call[None]:
    return Call("DELETE", f"/v1/metadata/{segment(klass)}/properties/{segment(name)}", nothing)


# -- keys


def list_keys() -> Call[list[ApiKey]]:
    return Call("GET", "/v1/keys", listed(ApiKey.parse))


def create_key(name: str, role: str, brand_id: str | None) -> Call[ApiKey]:
    return Call(
        "POST",
        "/v1/keys",
        single(ApiKey.parse),
        body=without_none(name=name, roles=[role], brand=brand_id),
    )


def revoke_key(key_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/keys/{segment(key_id)}", nothing)


# -- search

# The model of each context's records; other contexts give plain resources.
RECORDS: dict[str, Callable[[Json], Any]] = {
    "customer": Customer.parse,
    "conversation": Conversation.parse,
    "message": Message.parse,
}


def record_parser(context: str) -> Callable[[Json], Any]:
    return RECORDS.get(context, Resource.parse)


def search(
    context: str,
    criteria: Mapping[str, Any] | None,
    *,
    sort: Sequence[Mapping[str, str]] | Mapping[str, str] | None,
    time_zone: str | None,
    page: int | None,
    page_size: int | None,
) -> Call[Page[Any]]:
    return Call(
        "POST",
        "/v1/customers/search",
        paged(record_parser(context)),
        params=page_params(page, page_size),
        body=search_body(context, criteria, sort=sort, time_zone=time_zone),
    )


# -- outbound webhooks

WEBHOOKS = "/v1/outbound-webhooks"


def webhook_fields(
    *,
    name: str | None,
    url: str | None,
    events: Iterable[str] | None,
    headers: Mapping[str, str] | Iterable[Mapping[str, str]] | None,
    enabled: bool | None,
) -> Json:
    return without_none(
        name=name,
        url=url,
        events=list(events) if events is not None else None,
        headers=_header_list(headers) if headers is not None else None,
        enabled=enabled,
    )


def _header_list(
    headers: Mapping[str, str] | Iterable[Mapping[str, str]],
) -> list[dict[str, str]]:
    """Kustomer's ``[{name, value}]``, from that or from a plain mapping."""
    if isinstance(headers, Mapping):
        return [{"name": str(k), "value": str(v)} for k, v in headers.items()]
    return [{"name": str(h["name"]), "value": str(h["value"])} for h in headers]


def create_webhook(fields: Json) -> Call[Webhook]:
    return Call("POST", WEBHOOKS, single(Webhook.parse), body=fields)


def list_webhooks(page: int | None, page_size: int | None) -> Call[Page[Webhook]]:
    return listing(WEBHOOKS, Webhook.parse, page, page_size)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", f"{WEBHOOKS}/{segment(webhook_id)}", single(Webhook.parse))


def update_webhook(webhook_id: str, fields: Json) -> Call[Webhook]:
    return Call("PATCH", f"{WEBHOOKS}/{segment(webhook_id)}", single(Webhook.parse), body=fields)


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"{WEBHOOKS}/{segment(webhook_id)}", nothing)


def webhook_events() -> Call[list[str]]:
    return Call("GET", f"{WEBHOOKS}/events", _event_names)


def _event_names(document: Any) -> list[str]:
    """``{"events": [...]}``: names, or objects that carry one."""
    events = document.get("events") if isinstance(document, dict) else None
    names: list[str] = []
    for event in events or []:
        if isinstance(event, dict):
            event = event.get("name") or event.get("id")
        if isinstance(event, str):
            names.append(event)
    return names


def list_transactions(
    webhook_id: str, page: int | None, page_size: int | None
) -> Call[Page[Transaction]]:
    path = f"{WEBHOOKS}/{segment(webhook_id)}/transactions"
    return listing(path, Transaction.parse, page, page_size)


def redeliver(webhook_id: str, transaction_id: str) -> Call[Transaction]:
    return Call(
        "POST",
        f"{WEBHOOKS}/{segment(webhook_id)}/transactions/{segment(transaction_id)}/redeliver",
        single(Transaction.parse),
    )


def send_test(webhook_id: str) -> Call[Transaction]:
    return Call("POST", f"{WEBHOOKS}/{segment(webhook_id)}/test", single(Transaction.parse))


# -- users


def list_users(page: int | None, page_size: int | None) -> Call[Page[User]]:
    return listing("/v1/users", User.parse, page, page_size)


def get_user(user_id: str) -> Call[User]:
    return Call("GET", f"/v1/users/{segment(user_id)}", single(User.parse))


def current_user() -> Call[User]:
    return Call("GET", "/v1/users/current", single(User.parse))
