"""`klatch demo`'s org routes out of the box: two teams with the demo agent, and a
rule that sends a billing question (the pre-chat form's answer) to Billing,
round-robin; on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from klatch.config import Settings
from klatch.services import Services
from klatch.services.demo import DEMO_AGENT_EMAIL, seed_demo
from klatch.services.orgs import system_actor
from support import fresh_postgres_database, make_settings


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Iterator[Settings]:
    """A fresh data dir, and on PostgreSQL a database of its own (the demo org has
    a fixed name, unique per database)."""
    if database_url is None:
        yield make_settings(tmp_path, None)
        return
    with fresh_postgres_database(database_url, "demo") as url:
        yield make_settings(tmp_path, url)


async def test_a_billing_chat_in_the_demo_is_routed_to_billing(services: Services) -> None:
    state = await seed_demo(services)
    actor = system_actor(state.org_id)
    teams = {t.name: t for t in await services.teams.list(actor)}
    assert set(teams) == {"Billing", "Technical"}
    (agent,) = await services.orgs.list_users(state.org_id)
    assert agent.email == DEMO_AGENT_EMAIL
    assert all(t.members == (agent.id,) for t in teams.values())
    rules = await services.routing.list(actor)
    assert [r.name for r in rules] == ["Billing questions", "Technical support questions"]

    customer = await services.customers.check_create(actor, {"name": "Visitor"})
    conv = await services.conversations.check_create_for_customer(
        actor, customer.id, brand_id=None, custom={"issueTypeStr": "billing"}
    )
    routed = await services.conversations.get(actor, conv.id)
    assert routed.assigned_teams == (teams["Billing"].id,)
    assert routed.assigned_users == (agent.id,)
