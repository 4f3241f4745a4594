"""Orgs, brands, API keys and users: the administrative side."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from klatch.domain import events as ev
from klatch.domain.brands import DEFAULT_BRAND_SETTINGS, check_brand_settings
from klatch.domain.models import (
    Actor,
    ActorType,
    ApiKey,
    Brand,
    Org,
    Page,
    Principal,
    Role,
    User,
    UserRole,
)
from klatch.errors import Conflict, InvalidArguments, NotFound, Unauthorized
from klatch.ids import hash_secret, new_id, new_secret, now_ms
from klatch.services import paging
from klatch.services.context import Context
from klatch.services.unit import Unit
from klatch.storage import console as console_store
from klatch.storage import events as event_store
from klatch.storage import orgs as store
from klatch.storage.db import Tx

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
KEY_PREFIXES = {Role.TRACKING: "kt", Role.USER: "ku", Role.ADMIN: "ka"}
_hasher = PasswordHasher()
BRAND_TTL = 5.0


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once; only its hash is stored


@dataclass(frozen=True, slots=True)
class Setup:
    org: Org
    brand: Brand
    tracking_key: CreatedKey
    admin_key: CreatedKey


def system_actor(org_id: str) -> Actor:
    """Who acts in administrative writes made without a user or key (CLI, setup)."""
    return Actor(ActorType.SYSTEM, None, org_id)


def brand_not_found(brand_id: str | None) -> NotFound:
    return NotFound(f"No brand with id '{brand_id}'", code="brand_not_found", pointer="/brandId")


def check_email(email: str) -> str:
    value = email.strip().lower() if isinstance(email, str) else ""
    if not _EMAIL_RE.match(value) or len(value) > 320:
        raise InvalidArguments(f"'{email}' is not an email address", code="invalid_email")
    return value


class OrgService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Brands by (org, brand id or None for the default), for the origin check
        # on every client API request: changes in another process apply within
        # BRAND_TTL seconds, in this one at once.
        self._brands: dict[tuple[str, str | None], tuple[float, Brand]] = {}

    async def create_org(self, name: str, *, brand_name: str = "Default") -> Setup:
        """Create an org with its default brand, a tracking key and an admin key."""
        name = name.strip()
        if not name or len(name) > 255:
            raise InvalidArguments("An org needs a name of 1 to 255 characters", pointer="/name")
        now = now_ms()
        org = Org(new_id(), name, secrets.token_urlsafe(48), now)
        brand = Brand(new_id(), org.id, brand_name, True, dict(DEFAULT_BRAND_SETTINGS), now)

        async def work(unit: Unit) -> tuple[CreatedKey, CreatedKey]:
            tx = unit.tx
            if await store.get_org_by_name(tx, name) is not None:
                raise Conflict(f"An org named '{name}' already exists", code="already_exists")
            await store.insert_org(tx, org)
            await store.insert_brand(tx, brand)
            tracking = await _insert_key(tx, org.id, "Chat SDK", Role.TRACKING, brand.id, now)
            admin = await _insert_key(tx, org.id, "Admin", Role.ADMIN, None, now)
            return tracking, admin

        tracking, admin = await self.ctx.uow.write(system_actor(org.id), work)
        return Setup(org, brand, tracking, admin)

    async def get_org(self, org_id: str) -> Org:
        org = await self.ctx.db.read(lambda tx: store.get_org(tx, org_id))
        if org is None:
            raise NotFound(f"No org with id '{org_id}'", code="org_not_found")
        return org

    async def find_org(self, name_or_id: str | None) -> Org:
        """The org named or identified so, or the only org when none is given (CLI)."""
        orgs = await self.ctx.db.read(store.list_orgs)
        if name_or_id is None:
            if len(orgs) == 1:
                return orgs[0]
            if not orgs:
                raise NotFound("No org exists yet; run `klatch init`", code="org_not_found")
            raise InvalidArguments(
                "Several orgs exist; choose one with --org", code="org_ambiguous"
            )
        for org in orgs:
            if name_or_id in (org.id, org.name):
                return org
        raise NotFound(f"No org named '{name_or_id}'", code="org_not_found")

    async def list_orgs(self) -> list[Org]:
        return await self.ctx.db.read(store.list_orgs)

    # -- brands

    async def brand_for(self, org_id: str, brand_id: str | None) -> Brand:
        async def work(tx: Tx) -> Brand | None:
            if brand_id is None:
                return await store.default_brand(tx, org_id)
            return await store.get_brand(tx, org_id, brand_id)

        brand = await self.ctx.db.read(work)
        if brand is None:
            raise brand_not_found(brand_id)
        return brand

    async def cached_brand(self, org_id: str, brand_id: str | None) -> Brand:
        entry = self._brands.get((org_id, brand_id))
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        brand = await self.brand_for(org_id, brand_id)
        if len(self._brands) > 10_000:
            self._brands.clear()
        self._brands[(org_id, brand_id)] = (time.monotonic() + BRAND_TTL, brand)
        return brand

    async def list_brands(self, org_id: str) -> list[Brand]:
        return await self.ctx.db.read(lambda tx: store.list_brands(tx, org_id))

    async def update_brand_settings(
        self, org_id: str, brand_id: str, changes: dict[str, Any]
    ) -> Brand:

        async def work(unit: Unit) -> Brand:
            # Read inside the write, row locked: concurrent changes of different
            # settings all survive.
            brand = await store.get_brand(unit.tx, org_id, brand_id, for_update=True)
            if brand is None:
                raise brand_not_found(brand_id)
            settings = {**brand.settings, **check_brand_settings(changes, unit.defs)}
            await store.update_brand_settings(unit.tx, org_id, brand.id, settings)
            return replace(brand, settings=settings)

        # The klass definitions: the pre-chat form is checked against them.
        updated = await self.ctx.uow.write(system_actor(org_id), work, schema=True)
        self._brands.clear()
        return updated

    # -- API keys

    async def create_key(
        self, org_id: str, *, role: Role, name: str, brand_id: str | None = None
    ) -> CreatedKey:
        if not name.strip() or len(name) > 255:
            raise InvalidArguments("A key needs a name of 1 to 255 characters", pointer="/name")
        if role is Role.TRACKING and brand_id is None:
            brand_id = (await self.brand_for(org_id, None)).id
        elif brand_id is not None:  # 404 for another org's brand or none (brands stay)
            await self.brand_for(org_id, brand_id)
        return await self.ctx.uow.write(
            system_actor(org_id),
            lambda unit: _insert_key(unit.tx, org_id, name.strip(), role, brand_id, unit.now),
        )

    async def list_keys(self, org_id: str) -> list[ApiKey]:
        return await self.ctx.db.read(lambda tx: store.list_keys(tx, org_id))

    async def revoke_key(self, org_id: str, key_id: str) -> None:
        """Revoke the key; sockets opened with it close (``credential.revoked``)."""

        async def work(unit: Unit) -> bool:
            revoked = await store.revoke_key(unit.tx, org_id, key_id, unit.now)
            if revoked:
                unit.emit(ev.credential_revoked("api_key", key_id))
            return revoked

        if not await self.ctx.uow.write(system_actor(org_id), work):
            raise NotFound(f"No active key with id '{key_id}'", code="key_not_found")
        self.ctx.keys.forget_key(key_id)

    async def resolve_key(self, secret: str, *, cached: bool = True) -> ApiKey | None:
        """The active key with this secret (cached for a few seconds unless
        ``cached=False``), or None."""
        key_hash = hash_secret(secret)
        hit, key = self.ctx.keys.get(key_hash) if cached else (False, None)
        if not hit:
            key = await self.ctx.db.read(lambda tx: store.key_by_hash(tx, key_hash))
            self.ctx.keys.put(key_hash, key)
        return key

    # -- users

    async def create_user(
        self,
        org_id: str,
        email: str,
        password: str,
        *,
        role: UserRole,
        display_name: str | None = None,
        by: Actor | None = None,
    ) -> User:
        """A console user; ``by`` is who makes it (an admin in the console, a key over
        REST), as the event log and webhooks' ``client`` tell; the CLI's writes are
        the system's."""
        address = check_email(email)
        if not isinstance(password, str) or len(password) < 8:
            raise InvalidArguments(
                "A password needs at least 8 characters", code="weak_password", pointer="/password"
            )
        user = User(
            new_id(),
            org_id,
            address,
            (display_name or address.split("@")[0]).strip(),
            role,
            now_ms(),
            None,
        )
        password_hash = _hasher.hash(password)

        async def work(unit: Unit) -> None:
            if await store.user_by_email(unit.tx, address) is not None:
                raise Conflict(f"A user with email '{address}' exists", code="already_exists")
            await store.insert_user(unit.tx, user, password_hash)
            unit.emit(ev.user_created(user))

        await self.ctx.uow.write(by or system_actor(org_id), work)
        return user

    async def authenticate_user(self, email: str, password: str) -> User:
        found = await self.ctx.db.read(lambda tx: store.user_by_email(tx, email.strip().lower()))
        if found is None:
            _hasher.hash(password)  # same work either way: no timing hint that the email exists
            raise Unauthorized("Wrong email or password", code="invalid_credentials")
        user, password_hash = found
        try:
            _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            raise Unauthorized("Wrong email or password", code="invalid_credentials") from None
        if user.disabled_at is not None:
            raise Unauthorized("This user is disabled", code="invalid_credentials")
        return user

    async def list_users(self, org_id: str) -> list[User]:
        return await self.ctx.db.read(lambda tx: store.list_users(tx, org_id))

    async def list_principals(self, org_id: str, *, page: int, page_size: int) -> Page:
        """A page of the org's users and machine users (REST ``GET /v1/users``)."""
        return await paging.counted_page(
            self.ctx.db, org_id, page, page_size, store.list_principals, store.count_principals
        )

    async def get_principal(self, org_id: str, principal_id: str) -> Principal:
        """The user or machine user with this id; 404 otherwise."""
        found = await self.ctx.db.read(lambda tx: store.get_principal(tx, org_id, principal_id))
        if found is None:
            raise NotFound("No user with this id", code="user_not_found", pointer="/path/id")
        return found

    async def last_event_id(self, org_id: str) -> int:
        """The newest event id of the org: what a page read after it has seen."""
        return await self.ctx.db.read(lambda tx: event_store.last_event_id(tx, org_id))

    async def get_user(self, org_id: str, user_id: str) -> User | None:
        return await self.ctx.db.read(lambda tx: store.get_user(tx, org_id, user_id))

    async def disable_user(self, org_id: str, user_id: str, *, by: Actor | None = None) -> User:
        """Disable the user: their console sessions end and their sockets close
        (``credential.revoked``). Disabling a disabled user changes nothing."""

        async def work(unit: Unit) -> User | None:
            before = await store.get_user(unit.tx, org_id, user_id)
            if await store.disable_user(unit.tx, org_id, user_id, unit.now):
                await console_store.delete_user_sessions(unit.tx, user_id)
                unit.emit(ev.credential_revoked("user", user_id))
            return await _emit_user_updated(unit, org_id, user_id, before)

        user = await self.ctx.uow.write(by or system_actor(org_id), work)
        if user is None:
            raise NotFound(f"No user with id '{user_id}'", code="user_not_found")
        return user

    # -- user lifecycle (agents' tools): edit, enable, reset the password, delete.
    # Whatever ends a user's access ends their console sessions and sockets at once.

    async def update_user(
        self,
        org_id: str,
        user_id: str,
        *,
        name: str | None = None,
        role: UserRole | None = None,
        by: Actor | None = None,
    ) -> User:
        """A new display name and/or role (an admin's pages open or close at once)."""
        if name is not None and (not name.strip() or len(name) > 255):
            raise InvalidArguments(
                "A user's name has 1 to 255 characters", code="invalid_name", pointer="/name"
            )

        async def work(unit: Unit) -> User | None:
            found = await store.get_user(unit.tx, org_id, user_id)
            if found is None:
                return None
            await store.update_user(
                unit.tx,
                org_id,
                user_id,
                display_name=name.strip() if name is not None else found.display_name,
                role=(role or found.role).value,
            )
            return await _emit_user_updated(unit, org_id, user_id, found)

        return _found_user(await self.ctx.uow.write(by or system_actor(org_id), work), user_id)

    async def enable_user(self, org_id: str, user_id: str, *, by: Actor | None = None) -> User:
        """Let a disabled user log in again (their old sessions stay ended)."""

        async def work(unit: Unit) -> User | None:
            before = await store.get_user(unit.tx, org_id, user_id)
            await store.enable_user(unit.tx, org_id, user_id)
            return await _emit_user_updated(unit, org_id, user_id, before)

        return _found_user(await self.ctx.uow.write(by or system_actor(org_id), work), user_id)

    async def reset_password(
        self, org_id: str, user_id: str, password: str, *, by: Actor | None = None
    ) -> User:
        """Set a new password; every console session of the user ends."""
        _check_password(password)
        password_hash = _hasher.hash(password)

        async def work(unit: Unit) -> User | None:
            if not await store.set_password(unit.tx, org_id, user_id, password_hash):
                return None
            await console_store.delete_user_sessions(unit.tx, user_id)
            unit.emit(ev.credential_revoked("user", user_id))
            return await store.get_user(unit.tx, org_id, user_id)

        return _found_user(await self.ctx.uow.write(by or system_actor(org_id), work), user_id)

    async def delete_user(self, org_id: str, user_id: str, *, by: Actor | None = None) -> None:
        """Delete the user: sessions end and sockets close first. Their messages and
        notes keep the name they were written under."""

        async def work(unit: Unit) -> bool:
            if await store.get_user(unit.tx, org_id, user_id) is None:
                return False
            await console_store.delete_user_sessions(unit.tx, user_id)
            unit.emit(ev.credential_revoked("user", user_id), ev.user_deleted(user_id))
            return await store.delete_user(unit.tx, org_id, user_id)

        if not await self.ctx.uow.write(by or system_actor(org_id), work):
            raise NotFound(f"No user with id '{user_id}'", code="user_not_found")


async def _emit_user_updated(
    unit: Unit, org_id: str, user_id: str, before: User | None
) -> User | None:
    """The user after the write; ``user.updated`` when something visible moved."""
    after = await store.get_user(unit.tx, org_id, user_id)
    if before is not None and after is not None:
        changed = ev.user_updated(before, after)
        if changed is not None:
            unit.emit(changed)
    return after


def _found_user(user: User | None, user_id: str) -> User:
    if user is None:
        raise NotFound(f"No user with id '{user_id}'", code="user_not_found")
    return user


def _check_password(password: object) -> None:
    if not isinstance(password, str) or len(password) < 8:
        raise InvalidArguments(
            "A password needs at least 8 characters", code="weak_password", pointer="/password"
        )


async def _insert_key(
    tx: Tx, org_id: str, name: str, role: Role, brand_id: str | None, now: int
) -> CreatedKey:
    secret = new_secret(KEY_PREFIXES[role])
    key = ApiKey(new_id(), org_id, name, role, secret[:10], brand_id, now, None)
    await store.insert_key(tx, key, hash_secret(secret))
    return CreatedKey(key, secret)
