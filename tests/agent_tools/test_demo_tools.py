"""`klatch demo`'s agents' tools on real SQLite and PostgreSQL: the demo org ships
two shortcuts that use variables (each filled in for a conversation) and a tag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from klatch.config import Settings
from klatch.domain.shortcuts import VARIABLE_RE
from klatch.services import Services
from klatch.services.demo import seed_demo
from klatch.services.orgs import system_actor
from klatch.services.shortcuts import Speaker
from support import fresh_postgres_database, make_settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Iterator[Settings]:
    """A fresh data dir, and on PostgreSQL a database of its own (the demo org's
    name is fixed, unique per database)."""
    if database_url is None:
        yield make_settings(tmp_path, None)
        return
    with fresh_postgres_database(database_url, "demo") as url:
        yield make_settings(tmp_path, url)


async def test_the_demo_ships_two_shortcuts_with_variables_and_a_tag(services: Services) -> None:
    state = await seed_demo(services)
    shortcuts = await services.shortcuts.all(state.org_id)
    assert len(shortcuts) == 2
    assert all(VARIABLE_RE.search(s.body) for s in shortcuts)
    tags = await services.tags.all(state.org_id)
    assert [t.name for t in tags] == ["vip"]

    # Filled in for a demo conversation: its order number and the agent's name.
    actor = system_actor(state.org_id)
    customer = await services.customers.check_create(actor, {"name": "Ada"})
    conv, _ = await services.conversations.check_create(
        actor, customer_id=customer.id, brand_id=state.brand_id, custom={"orderNumberStr": "A-17"}
    )
    filled = dict(
        (s.name, f)
        for s, f in await services.shortcuts.filled(
            state.org_id, conv, customer, Speaker("Demo agent")
        )
    )
    assert filled["order-status"].text == ("Hi Ada, your order A-17 is on its way. -- Demo agent")
    assert filled["delivery"].missing == ("conversation.custom.deliveryAt",)
    # A second start reads the demo back: nothing is made twice.
    await seed_demo(services)
    assert len(await services.shortcuts.all(state.org_id)) == 2
