"""Orgs, brands, API keys and users. Every lookup but credential resolution is org-scoped;
credential lookups go by the secret's hash, which is unique and names its org."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from klatch.domain.models import ApiKey, Brand, Org, Principal, Role, User, UserRole
from klatch.storage import events as event_store
from klatch.storage.codec import dumps, loads, record, row_of
from klatch.storage.db import Query, Row, Tx
from klatch.storage.tables import api_key, brand, org, user

b = sa.bindparam

_INSERT_ORG = Query(sa.insert(org))
_ORG_BY_ID = Query(sa.select(org).where(org.c.id == b("org_id")))
_ORG_BY_NAME = Query(sa.select(org).where(org.c.name == b("name")))
_ALL_ORGS = Query(sa.select(org).order_by(org.c.created_at, org.c.id))
_BUMP_SCHEMA = Query(
    sa.update(org)
    .where(org.c.id == b("org_id"))
    .values(schema_version=org.c.schema_version + 1)
    .returning(org.c.schema_version)
)
_SCHEMA_VERSION = Query(sa.select(org.c.schema_version).where(org.c.id == b("org_id")))

_INSERT_BRAND = Query(sa.insert(brand))
_BRAND_BY_ID = sa.select(brand).where(brand.c.org_id == b("org_id"), brand.c.id == b("brand_id"))
_BRAND = Query(_BRAND_BY_ID)
# Settings are read, merged and written back: lock the row on PostgreSQL so
# concurrent changes queue up instead of undoing each other.
_BRAND_FOR_UPDATE = Query(_BRAND_BY_ID.with_for_update())
_DEFAULT_BRAND = Query(
    sa.select(brand).where(brand.c.org_id == b("org_id"), brand.c.is_default.is_(True))
)
# Ties in created_at (made in one write) are broken by id, so every backend (and
# an imported copy) lists them in the same order.
_BRANDS = Query(
    sa.select(brand).where(brand.c.org_id == b("org_id")).order_by(brand.c.created_at, brand.c.id)
)
_UPDATE_BRAND_SETTINGS = Query(
    sa.update(brand)
    .where(brand.c.org_id == b("org_id"), brand.c.id == b("brand_id"))
    .values(settings=b("settings"))
)

_INSERT_KEY = Query(sa.insert(api_key))
_KEY_BY_HASH = Query(
    sa.select(api_key).where(api_key.c.key_hash == b("key_hash"), api_key.c.revoked_at.is_(None))
)
_KEYS = Query(
    sa.select(api_key)
    .where(api_key.c.org_id == b("org_id"))
    .order_by(api_key.c.created_at, api_key.c.id)
)
_REVOKE_KEY = Query(
    sa.update(api_key)
    .where(
        api_key.c.org_id == b("org_id"),
        api_key.c.id == b("key_id"),
        api_key.c.revoked_at.is_(None),
    )
    .values(revoked_at=b("now"))
)

_INSERT_USER = Query(sa.insert(user))
_USER_BY_EMAIL = Query(sa.select(user).where(user.c.email == b("email")))
_USER = Query(sa.select(user).where(user.c.org_id == b("org_id"), user.c.id == b("user_id")))
_USERS = Query(
    sa.select(user).where(user.c.org_id == b("org_id")).order_by(user.c.created_at, user.c.id)
)
_DISABLE_USER = Query(
    sa.update(user)
    .where(user.c.org_id == b("org_id"), user.c.id == b("user_id"), user.c.disabled_at.is_(None))
    .values(disabled_at=b("now"))
)


# Users as Kustomer lists them: console users and machine users (the API keys that
# reach /v1), in one order (created, then id) so pages never overlap.
_PRINCIPALS = sa.union_all(
    sa.select(
        user.c.id,
        sa.literal_column("'user'", sa.String).label("user_type"),
        user.c.display_name.label("name"),
        user.c.email,
        user.c.role,
        user.c.created_at,
        user.c.disabled_at.label("deactivated_at"),
    ).where(user.c.org_id == b("org_id")),
    sa.select(
        api_key.c.id,
        sa.literal_column("'machine'", sa.String).label("user_type"),
        api_key.c.name,
        sa.cast(sa.null(), sa.String(320)).label("email"),
        api_key.c.role,
        api_key.c.created_at,
        api_key.c.revoked_at.label("deactivated_at"),
    ).where(api_key.c.org_id == b("org_id"), api_key.c.role != Role.TRACKING.value),
).subquery("principal")
_p = _PRINCIPALS.c
_PRINCIPAL_PAGE = Query(
    sa.select(_PRINCIPALS).order_by(_p.created_at, _p.id).limit(b("limit")).offset(b("offset"))
)
_PRINCIPAL = Query(sa.select(_PRINCIPALS).where(_p.id == b("principal_id")))
_PRINCIPAL_COUNT = Query(sa.select(sa.func.count()).select_from(_PRINCIPALS))
_USER_ROLES = {UserRole.AGENT.value: Role.USER, UserRole.ADMIN.value: Role.ADMIN}


def _principal(row: Row, org_id: str) -> Principal:
    role = _USER_ROLES.get(row["role"]) or Role(row["role"])
    return Principal(
        id=row["id"],
        org_id=org_id,
        user_type=row["user_type"],
        name=row["name"],
        email=row["email"],
        role=role,
        created_at=row["created_at"],
        deactivated_at=row["deactivated_at"],
    )


async def list_principals(tx: Tx, org_id: str, *, limit: int, offset: int) -> list[Principal]:
    """A page of the org's users and machine users, oldest first."""
    rows = await tx.all(_PRINCIPAL_PAGE, {"org_id": org_id, "limit": limit, "offset": offset})
    return [_principal(r, org_id) for r in rows]


async def count_principals(tx: Tx, org_id: str) -> int:
    row = await tx.one(_PRINCIPAL_COUNT, {"org_id": org_id})
    return int(row[0]) if row else 0


async def get_principal(tx: Tx, org_id: str, principal_id: str) -> Principal | None:
    """The user or machine user (org.user/org.admin key) with this id in the org."""
    row = await tx.one(_PRINCIPAL, {"org_id": org_id, "principal_id": principal_id})
    return _principal(row, org_id) if row else None


def _org(row: Row) -> Org:
    return record(Org, row)


def _brand(row: Row) -> Brand:
    return record(Brand, row, is_default=bool(row["is_default"]), settings=loads(row["settings"]))


def _key(row: Row) -> ApiKey:
    return record(ApiKey, row, role=Role(row["role"]))


def user_from_row(row: Row) -> User:
    return record(User, row, role=UserRole(row["role"]))


async def insert_org(tx: Tx, o: Org) -> None:
    await tx.execute(_INSERT_ORG, row_of(org, o))


async def get_org(tx: Tx, org_id: str) -> Org | None:
    row = await tx.one(_ORG_BY_ID, {"org_id": org_id})
    return _org(row) if row else None


async def get_org_by_name(tx: Tx, name: str) -> Org | None:
    row = await tx.one(_ORG_BY_NAME, {"name": name})
    return _org(row) if row else None


async def list_orgs(tx: Tx) -> list[Org]:
    return [_org(r) for r in await tx.all(_ALL_ORGS)]


async def bump_schema_version(tx: Tx, org_id: str) -> int:
    await event_store.settle_sequence(tx, org_id)  # it read the version it held
    row = await tx.one(_BUMP_SCHEMA, {"org_id": org_id})
    assert row is not None
    return int(row[0])


async def schema_version(tx: Tx, org_id: str) -> int:
    row = await tx.one(_SCHEMA_VERSION, {"org_id": org_id})
    return int(row[0]) if row else 0


async def insert_brand(tx: Tx, br: Brand) -> None:
    await tx.execute(_INSERT_BRAND, row_of(brand, br, settings=dumps(br.settings)))


async def get_brand(
    tx: Tx, org_id: str, brand_id: str, *, for_update: bool = False
) -> Brand | None:
    query = _BRAND_FOR_UPDATE if for_update else _BRAND
    row = await tx.one(query, {"org_id": org_id, "brand_id": brand_id})
    return _brand(row) if row else None


async def default_brand(tx: Tx, org_id: str) -> Brand | None:
    row = await tx.one(_DEFAULT_BRAND, {"org_id": org_id})
    return _brand(row) if row else None


async def list_brands(tx: Tx, org_id: str) -> list[Brand]:
    return [_brand(r) for r in await tx.all(_BRANDS, {"org_id": org_id})]


async def update_brand_settings(
    tx: Tx, org_id: str, brand_id: str, settings: dict[str, Any]
) -> int:
    return await tx.execute(
        _UPDATE_BRAND_SETTINGS,
        {"org_id": org_id, "brand_id": brand_id, "settings": dumps(settings)},
    )


async def insert_key(tx: Tx, key: ApiKey, key_hash: str) -> None:
    await tx.execute(_INSERT_KEY, row_of(api_key, key, role=key.role.value, key_hash=key_hash))


async def key_by_hash(tx: Tx, key_hash: str) -> ApiKey | None:
    row = await tx.one(_KEY_BY_HASH, {"key_hash": key_hash})
    return _key(row) if row else None


async def list_keys(tx: Tx, org_id: str) -> list[ApiKey]:
    return [_key(r) for r in await tx.all(_KEYS, {"org_id": org_id})]


async def revoke_key(tx: Tx, org_id: str, key_id: str, now: int) -> bool:
    return await tx.execute(_REVOKE_KEY, {"org_id": org_id, "key_id": key_id, "now": now}) == 1


async def insert_user(tx: Tx, u: User, password_hash: str) -> None:
    row = row_of(user, u, role=u.role.value, password_hash=password_hash)
    await tx.execute(_INSERT_USER, row)


async def user_by_email(tx: Tx, email: str) -> tuple[User, str] | None:
    """The user with that login email and their password hash (login is global)."""
    row = await tx.one(_USER_BY_EMAIL, {"email": email})
    return (user_from_row(row), row["password_hash"]) if row else None


async def get_user(tx: Tx, org_id: str, user_id: str) -> User | None:
    row = await tx.one(_USER, {"org_id": org_id, "user_id": user_id})
    return user_from_row(row) if row else None


async def list_users(tx: Tx, org_id: str) -> list[User]:
    return [user_from_row(r) for r in await tx.all(_USERS, {"org_id": org_id})]


async def disable_user(tx: Tx, org_id: str, user_id: str, now: int) -> bool:
    """Disable an enabled user; False when there is none (or it is disabled already)."""
    params = {"org_id": org_id, "user_id": user_id, "now": now}
    return await tx.execute(_DISABLE_USER, params) == 1


# User lifecycle (agents' tools): edit, enable, a new password, delete.
async def update_user(tx: Tx, org_id: str, user_id: str, *, display_name: str, role: str) -> bool:
    stmt = (
        sa.update(user)
        .where(user.c.org_id == org_id, user.c.id == user_id)
        .values(display_name=display_name, role=role)
    )
    return await tx.execute(stmt) == 1


async def enable_user(tx: Tx, org_id: str, user_id: str) -> bool:
    stmt = (
        sa.update(user)
        .where(user.c.org_id == org_id, user.c.id == user_id, user.c.disabled_at.is_not(None))
        .values(disabled_at=None)
    )
    return await tx.execute(stmt) == 1


async def set_password(tx: Tx, org_id: str, user_id: str, password_hash: str) -> bool:
    stmt = (
        sa.update(user)
        .where(user.c.org_id == org_id, user.c.id == user_id)
        .values(password_hash=password_hash)
    )
    return await tx.execute(stmt) == 1


async def delete_user(tx: Tx, org_id: str, user_id: str) -> bool:
    """Delete the user (their sessions, team places and availability go with them)."""
    stmt = sa.delete(user).where(user.c.org_id == org_id, user.c.id == user_id)
    return await tx.execute(stmt) == 1
