"""Chat sessions: what a browser holds to act as one customer.

A session starts with the org's public tracking key, creates an anonymous
customer, and hands back a session token (stored hashed). ``login`` proves an
identity with an HS256 JWT signed by the org's secret and moves the anonymous
customer's conversations onto the verified customer; ``logout`` ends the session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import jwt

from klatch.domain import events as ev
from klatch.domain.attributes import merged_custom
from klatch.domain.brands import availability
from klatch.domain.models import (
    Actor,
    ActorType,
    ApiKey,
    Brand,
    ChatSession,
    Conversation,
    Customer,
    Message,
    Role,
)
from klatch.domain.prechat import check_answers, form_view
from klatch.domain.text import check_text
from klatch.errors import Forbidden, InvalidArguments, NotFound, Unauthorized, invalid_session
from klatch.ids import hash_secret, new_id, new_secret, now_ms
from klatch.services.context import Context
from klatch.services.conversations import ConversationService
from klatch.services.customers import new_customer
from klatch.services.orgs import OrgService, check_email
from klatch.services.unit import Unit
from klatch.storage import conversations as conversation_store
from klatch.storage import customers as store
from klatch.storage import orgs as org_store
from klatch.storage.db import Tx

SESSION_PREFIX = "ks"
CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class StartedSession:
    token: str
    session: ChatSession
    brand: Brand
    resumed: bool
    pre_chat_form: dict[str, Any]  # as the browser shows it (``form_view``)


@dataclass(frozen=True, slots=True)
class ChatSettings:
    brand: Brand
    availability: str
    pre_chat_form: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LoginResult:
    customer: Customer
    merged_conversations: list[str]


class ChatService:
    def __init__(self, ctx: Context, orgs: OrgService, conversations: ConversationService) -> None:
        self.ctx = ctx
        self.orgs = orgs
        self.conversations = conversations

    async def tracking_key(self, secret: str | None) -> ApiKey:
        """The tracking key a browser presented; any other kind is refused here."""
        key = await self.orgs.resolve_key(secret) if secret else None
        if key is None:
            raise Unauthorized("Missing or unknown API key", code="invalid_api_key")
        if key.role is not Role.TRACKING:
            raise Forbidden(
                "The chat API takes a key with the org.tracking role", code="forbidden_role"
            )
        return key

    async def start(
        self, key: ApiKey, *, brand_id: str | None = None, token: str | None = None
    ) -> StartedSession:
        """Resume the session of ``token`` if it is still valid for this key's org,
        else start a new anonymous one."""
        brand = await self.orgs.brand_for(key.org_id, brand_id or key.brand_id)
        form = await self.pre_chat_form(brand)
        if token:
            session = await self._session(token)
            if session is not None and session.org_id == key.org_id:
                return StartedSession(token, session, brand, True, form)
        token = new_secret(SESSION_PREFIX)
        now = now_ms()
        customer = new_customer(key.org_id)
        session = ChatSession(new_id(), key.org_id, brand.id, customer.id, key.id, now)

        async def work(unit: Unit) -> None:
            await store.insert_customer(unit.tx, customer)
            await store.insert_session(unit.tx, session, hash_secret(token))

        await self.ctx.uow.write(session_actor(session), work)
        return StartedSession(token, session, brand, False, form)

    async def _session(self, token: str) -> ChatSession | None:
        token_hash = hash_secret(token)
        return await self.ctx.db.read(lambda tx: store.session_by_token_hash(tx, token_hash))

    async def authenticate(self, key_secret: str | None, token: str | None) -> Actor:
        """The customer a request acts for: tracking key and session token must match."""
        return await self.check_session(await self.tracking_key(key_secret), token)

    async def check_session(self, key: ApiKey, token: str | None) -> Actor:
        """The customer of the session ``token`` of ``key``'s org; else ``invalid_session``."""
        session = await self._session(token) if token else None
        if session is None or session.org_id != key.org_id:
            raise invalid_session()
        return session_actor(session)

    async def settings(self, key: ApiKey, brand_id: str | None) -> ChatSettings:
        brand = await self.orgs.brand_for(key.org_id, brand_id or key.brand_id)
        return ChatSettings(brand, availability(brand.settings), await self.pre_chat_form(brand))

    async def pre_chat_form(self, brand: Brand) -> dict[str, Any]:
        """The brand's pre-chat form as a browser shows it: each question with its
        input and choices, by the klass definitions as they are now."""
        _, definitions = await self.ctx.schemas.get(brand.org_id)
        return form_view(brand.settings.get("preChatForm"), definitions)

    async def check_create_conversation(
        self,
        actor: Actor,
        *,
        title: Any = None,
        body: Any = None,
        custom: Any = None,
        pre_chat_form: Any = None,
    ) -> tuple[Conversation, Message | None]:
        """A conversation of the session's customer, on the session's brand. With a
        pre-chat form's answers (``{"conversation": {...}, "customer": {...}}``), all
        is one write: the conversation with ``custom`` (what the page described
        before) and the form's conversation answers over it (the visitor's answer
        wins on the same attribute), the customer's answers on the customer, the
        first message; a wrong answer and nothing is written."""
        assert actor.customer_id is not None and actor.brand_id is not None
        along = None
        if pre_chat_form is not None:
            brand = await self.orgs.cached_brand(actor.org_id, actor.brand_id)
            form = brand.settings.get("preChatForm")
            along = partial(_answered, form, pre_chat_form, actor.customer_id)
        return await self.conversations.check_create(
            actor,
            customer_id=actor.customer_id,
            brand_id=actor.brand_id,
            title=title,
            body=body,
            custom=custom,
            along=along,
        )

    async def login(self, actor: Actor, jwt_token: Any) -> LoginResult:
        """Verify the JWT, find or create the verified customer, and move this session's
        anonymous conversations onto it."""
        if not isinstance(jwt_token, str) or not jwt_token:
            raise InvalidArguments("jwtToken is required", pointer="/jwtToken")
        org = await self.orgs.get_org(actor.org_id)
        claims = self._verify(jwt_token, org.jwt_secret)
        check_text(claims, "/jwtToken")  # claims are stored: they follow the text rule
        email = check_email(claims["email"]) if claims.get("email") else None
        external_id = claims.get("externalId")
        if external_id is not None and (
            not isinstance(external_id, str) or not 1 <= len(external_id) <= 256
        ):
            raise Unauthorized(
                "externalId in the token must be 1 to 256 characters", code="invalid_token"
            )
        if email is None and external_id is None:
            raise Unauthorized("The token needs an externalId or email claim", code="invalid_token")
        assert actor.customer_id is not None
        anonymous_id = actor.customer_id

        async def work(unit: Unit) -> LoginResult:
            tx = unit.tx
            found = await _verified_customer(tx, org.id, email, external_id)
            if found is None:
                found = new_customer(
                    org.id,
                    email=email,
                    external_id=external_id,
                    verified=True,
                    emails=[email] if email else [],
                )
                await store.insert_customer(tx, found)
                unit.emit(ev.customer_created(found))
            moved: list[str] = []
            current = await store.get_customer(tx, org.id, anonymous_id)
            # Only an anonymous customer is merged: a session already logged in as
            # someone else switches identity and leaves that customer's data alone.
            if found.id != anonymous_id and current is not None and not current.verified:
                moved = await conversation_store.move_to_customer(
                    tx, org.id, anonymous_id, found.id
                )
                await store.mark_merged(tx, org.id, anonymous_id, found.id, unit.now)
                unit.emit(ev.customer_merged(found, anonymous_id, moved))
            if found.id != anonymous_id:
                assert actor.id is not None
                await store.move_session(tx, org.id, actor.id, found.id)
            return LoginResult(found, moved)

        return await self.ctx.uow.write(actor, work)

    def _verify(self, token: str, secret: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"require": ["iat"]},
                leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The login token has expired", code="invalid_token") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(
                f"The login token is not valid: {exc}", code="invalid_token"
            ) from None
        iat = claims.get("iat")
        now = time.time()
        max_age = self.ctx.settings.login_max_age_seconds
        if not isinstance(iat, int | float) or not now - max_age <= iat <= now + CLOCK_SKEW_SECONDS:
            raise Unauthorized(
                f"The login token's iat must be within the last {max_age // 60} minutes",
                code="invalid_token",
            )
        return claims

    async def logout(self, actor: Actor) -> None:
        """End the session; the customer and their conversations stay, the session's
        sockets close (``credential.revoked``)."""
        assert actor.id is not None
        session_id = actor.id

        async def work(unit: Unit) -> None:
            await store.delete_session(unit.tx, actor.org_id, session_id)
            unit.emit(ev.credential_revoked("chat_session", session_id))

        await self.ctx.uow.write(actor, work)

    async def customer(self, actor: Actor) -> Customer:
        assert actor.customer_id is not None
        customer_id = actor.customer_id
        found = await self.ctx.db.read(lambda tx: store.get_customer(tx, actor.org_id, customer_id))
        if found is None:
            raise NotFound("The session's customer no longer exists", code="customer_not_found")
        return found

    async def org_secret(self, org_id: str) -> str:
        org = await self.ctx.db.read(lambda tx: org_store.get_org(tx, org_id))
        if org is None:
            raise NotFound("No such org", code="org_not_found")
        return org.jwt_secret


def session_actor(session: ChatSession) -> Actor:
    return Actor(
        ActorType.CUSTOMER,
        session.id,
        session.org_id,
        customer_id=session.customer_id,
        role=Role.TRACKING,
        brand_id=session.brand_id,
    )


async def _answered(form: Any, answers: Any, customer_id: str, unit: Unit) -> dict[str, Any]:
    """Check a pre-chat form's answers, write the customer's; the conversation's back."""
    for_conversation, for_customer = check_answers(form, unit.defs, answers)
    if for_customer:
        await _describe_customer(unit, customer_id, for_customer)
    return for_conversation


async def _describe_customer(unit: Unit, customer_id: str, values: dict[str, Any]) -> None:
    current = await store.get_customer(unit.tx, unit.actor.org_id, customer_id, for_update=True)
    if current is None:
        raise NotFound("The session's customer no longer exists", code="customer_not_found")
    changes = ev.changes_between(current.custom, values)
    if not changes:
        return
    changed = replace(
        current,
        custom=merged_custom(current.custom, values),
        updated_at=unit.now,
        version=current.version + 1,
    )
    await store.update_customer(unit.tx, changed)
    unit.emit(ev.customer_updated(changed, {"custom": changes}))


async def _verified_customer(
    tx: Tx, org_id: str, email: str | None, external_id: str | None
) -> Customer | None:
    """As in Kustomer: when both are given, email decides who the customer is."""
    if email:
        found = await store.customer_by_email(tx, org_id, email)
        if found is not None:
            return found
    return await store.customer_by_external_id(tx, org_id, external_id) if external_id else None
