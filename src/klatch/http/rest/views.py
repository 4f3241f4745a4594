"""JSON:API-style documents for the REST API, shaped like Kustomer's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from klatch.domain.attributes import METADATA_TYPE_NAMES, AttributeDef, tree_to_nested
from klatch.domain.events import iso
from klatch.domain.models import (
    ApiKey,
    Brand,
    Conversation,
    Customer,
    Event,
    Message,
    Page,
    Principal,
)


def _rel(kind: str, plural: str, ident: str | None) -> dict[str, Any]:
    if ident is None:
        return {"data": None}
    return {"data": {"type": kind, "id": ident}, "links": {"self": f"/v1/{plural}/{ident}"}}


def conversation_resource(conv: Conversation) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": conv.id,
        "attributes": {
            "name": conv.title,
            "externalId": conv.external_id,
            "status": conv.status,
            "custom": conv.custom,
            "preview": conv.preview,
            "messageCount": conv.message_count,
            "channels": ["chat"],
            "ended": conv.ended,
            "endedAt": iso(conv.ended_at),
            "endedByType": conv.ended_by_type,
            "lastMessageAt": iso(conv.last_message_at),
            "createdAt": iso(conv.created_at),
            "updatedAt": iso(conv.updated_at),
            "rev": conv.version,
            "assignedUsers": list(conv.assigned_users),
            "assignedTeams": list(conv.assigned_teams),
            "tags": list(conv.tags),
        },
        "relationships": {
            "customer": _rel("customer", "customers", conv.customer_id),
            "brand": {"data": {"type": "brand", "id": conv.brand_id}},
            "assignedUsers": {"data": [{"type": "user", "id": i} for i in conv.assigned_users]},
            "assignedTeams": {"data": [{"type": "team", "id": i} for i in conv.assigned_teams]},
            "tags": {"data": [{"type": "tag", "id": i} for i in conv.tags]},
            "messages": {"links": {"self": f"/v1/conversations/{conv.id}/messages"}},
        },
        "links": {"self": f"/v1/conversations/{conv.id}"},
    }


def customer_resource(c: Customer) -> dict[str, Any]:
    return {
        "type": "customer",
        "id": c.id,
        "attributes": {
            "name": c.name,
            "externalId": c.external_id,
            "email": c.email,
            "verified": c.verified,
            "emails": [{"email": e} for e in c.emails],
            "sharedEmails": [{"email": e} for e in c.emails],
            "phones": [{"phone": p} for p in c.phones],
            "sharedPhones": [{"phone": p} for p in c.phones],
            "socials": c.socials,
            "sharedSocials": c.socials,
            "custom": c.custom,
            "createdAt": iso(c.created_at),
            "updatedAt": iso(c.updated_at),
            "rev": c.version,
        },
        "relationships": {
            "conversations": {"links": {"self": f"/v1/customers/{c.id}/conversations"}},
        },
        "links": {"self": f"/v1/customers/{c.id}"},
    }


def message_resource(m: Message) -> dict[str, Any]:
    return {
        "type": "message",
        "id": m.id,
        "attributes": {
            "channel": "chat",
            "direction": m.direction,
            "body": m.body,
            "preview": m.body[:256],
            "payload": m.payload,
            "sentBy": {"type": m.sent_by_type, "id": m.sent_by_id, "displayName": m.sent_by_name},
            "custom": m.custom,
            "createdAt": iso(m.created_at),
            "updatedAt": iso(m.updated_at or m.created_at),  # its custom last changed
        },
        "relationships": {
            "conversation": _rel("conversation", "conversations", m.conversation_id),
            "customer": _rel("customer", "customers", m.customer_id),
        },
        "links": {"self": f"/v1/messages/{m.id}"},
    }


def event_resource(e: Event) -> dict[str, Any]:
    return {
        "type": "event",
        "id": str(e.id),
        "attributes": {
            "name": e.type,
            "actor": {"type": e.actor_type, "id": e.actor_id},
            "payload": e.payload,
            "createdAt": iso(e.created_at),
        },
    }


def key_resource(k: ApiKey, secret: str | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": k.name,
        "roles": [k.role.value],
        "prefix": k.prefix,
        "brandId": k.brand_id,
        "createdAt": iso(k.created_at),
        "revokedAt": iso(k.revoked_at),
    }
    if secret is not None:
        attributes["token"] = secret  # shown once, at creation
    return {
        "type": "apiKey",
        "id": k.id,
        "attributes": attributes,
        "links": {"self": f"/v1/keys/{k.id}"},
    }


def property_view(d: AttributeDef) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": METADATA_TYPE_NAMES[d.type],
        "displayName": d.display_name,
        "sdkWritable": d.sdk_writable,
        "createdAt": iso(d.created_at),
        "updatedAt": iso(d.updated_at),
    }
    if d.enumeration is not None:
        out["enumeration"] = list(d.enumeration)
    if d.tree is not None:  # Kustomer's nested shape, as integration scripts PUT it
        out["tree"] = tree_to_nested(d)
        out["lastNodeRequired"] = d.last_node_required
    return out


def metadata_document(klass: str, defs: list[AttributeDef]) -> dict[str, Any]:
    return {
        "data": {
            "type": "metadata",
            "id": klass,
            "attributes": {"properties": {d.name: property_view(d) for d in defs}},
            "links": {"self": f"/v1/metadata/{klass}"},
        }
    }


def list_document(
    items: list[dict[str, Any]], page: Page, path: str, query: dict[str, str]
) -> dict[str, Any]:
    """A page of a list: ``meta`` always ``{page, pageSize}`` plus ``total`` and
    ``totalPages`` when the list counts; ``links`` always every key of ``self,
    first, prev, next, last``, null where there is none (``last`` when uncounted);
    ``next`` carries the page's keyset cursor when it has one."""

    def link(n: int | None) -> str | None:
        if n is None:
            return None
        return f"{path}?{urlencode({**query, 'page': n, 'pageSize': page.page_size})}"

    meta: dict[str, Any] = {"page": page.page, "pageSize": page.page_size}
    last = None
    if page.total is not None:
        # As search: an empty list has 0 pages, and its ``last`` link is page 1.
        meta["total"] = page.total
        meta["totalPages"] = -(-page.total // page.page_size)
        last = max(1, meta["totalPages"])
        if page.total_capped:  # more than 10,000: what is known to exist (docs/api.md)
            meta["totalRelation"] = "gte"
    following = link(page.page + 1 if page.has_next else None)
    if following is not None and page.next_cursor is not None:  # keyset: deep pages stay fast
        following += "&" + urlencode({"cursor": page.next_cursor})
    return {
        "data": items,
        "meta": meta,
        "links": {
            "self": link(page.page),
            "first": link(1),
            "prev": link(page.page - 1 if page.page > 1 else None),
            "next": following,
            "last": link(last),
        },
    }


def page_document(
    page: Page,
    resource: Callable[[Any], dict[str, Any]],
    path: str,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`list_document` of ``page``, each of its items shown by ``resource``."""
    return list_document([resource(item) for item in page.items], page, path, query or {})


def whole_list_document(items: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """A list served whole (keys, brands, a history): one page holding everything,
    with the same ``meta`` and ``links`` as a paged list."""
    size = max(1, len(items))
    return list_document(items, Page(items, 1, size, total=len(items)), path, {})


def user_resource(p: Principal) -> dict[str, Any]:
    """A user as Kustomer shows one (``userType`` user or machine); never a secret."""
    return {
        "type": "user",
        "id": p.id,
        "attributes": {
            "name": p.name,
            "displayName": p.name,
            "email": p.email,
            "userType": p.user_type,
            "roles": [p.role.value],
            "deleted": p.deactivated_at is not None,
            "deletedAt": iso(p.deactivated_at),
            "createdAt": iso(p.created_at),
            "updatedAt": iso(p.updated_at),
        },
        "links": {"self": f"/v1/users/{p.id}"},
    }


def brand_resource(b: Brand) -> dict[str, Any]:
    return {
        "type": "brand",
        "id": b.id,
        "attributes": {
            "name": b.name,
            "default": b.is_default,
            "settings": b.settings,
            "createdAt": iso(b.created_at),
        },
    }
