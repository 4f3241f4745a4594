"""The demo installation ``klatch demo`` serves: an org with example attributes and
a console login, set up once and remembered in ``demo.json`` in the data dir (the
``/demo`` page reads its tracking key from there)."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from klatch.domain.models import UserRole
from klatch.services.orgs import Setup, system_actor

if TYPE_CHECKING:
    from klatch.services import Services

DEMO_STATE_FILE = "demo.json"
DEMO_AGENT_EMAIL = "agent@demo.klatch.test"

# (klass, name, options for AttributeService.define), in the order they are defined.
DEMO_ATTRIBUTES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("conversation", "orderNumberStr", {"display_name": "Order number"}),
    ("conversation", "priorityNum", {"display_name": "Priority", "sdk_writable": False}),
    ("conversation", "vipBool", {"display_name": "VIP customer"}),
    ("conversation", "deliveryAt", {"display_name": "Delivery date"}),
    ("conversation", "botTranscriptTxt", {"display_name": "Bot transcript"}),
    (
        "conversation",
        "issueTypeStr",
        {
            "display_name": "Issue type",
            "tree": [
                "shipping",
                "shipping.delayed",
                "shipping.damaged",
                "billing",
                "billing.refund",
                "technical",
                "other",
            ],
        },
    ),
    ("customer", "planStr", {"display_name": "Plan", "enumeration": ["free", "pro"]}),
)

# The demo brand's pre-chat form (the widget asks it before a first message); both
# questions optional, so a chat can start with just a message.
DEMO_PRE_CHAT_FORM: dict[str, Any] = {
    "questions": [
        {
            "klass": "conversation",
            "attribute": "issueTypeStr",
            "label": "What is it about?",
            "required": False,
            "choices": [
                {"value": "billing", "label": "Billing"},
                {"value": "technical", "label": "Technical"},
                {"value": "other", "label": "Other"},
            ],
        },
        {
            "klass": "conversation",
            "attribute": "orderNumberStr",
            "label": "Order number",
            "required": False,
        },
    ]
}

# Agents' tools the demo ships: shortcuts that use variables (an agent types
# /order-status in the reply box), and a tag.
DEMO_SHORTCUTS: tuple[tuple[str, str], ...] = (
    (
        "order-status",
        "Hi {{customer.name}}, your order {{conversation.custom.orderNumberStr}} is on its "
        "way. -- {{agent.name}}",
    ),
    (
        "delivery",
        "Your delivery is planned for {{conversation.custom.deliveryAt}}. Anything else I "
        "can do for you, {{customer.name}}?",
    ),
)
DEMO_TAGS: tuple[tuple[str, str], ...] = (("vip", "#b42318"),)

# Teams (name, display name, the issueTypeStr answer routed to it, round-robin).
DEMO_TEAMS: tuple[tuple[str, str, str], ...] = (
    ("Billing", "Billing", "billing"),
    ("Technical", "Technical support", "technical"),
)

# DemoState's fields as demo.json (and `klatch demo --json`) spell them.
_JSON_NAMES = {
    "org_id": "orgId",
    "brand_id": "brandId",
    "tracking_key": "trackingKey",
    "admin_key": "adminKey",
    "jwt_secret": "jwtSecret",
    "agent_email": "agentEmail",
    "agent_password": "agentPassword",
}


@dataclass(frozen=True, slots=True)
class DemoAgent:
    """The demo's console login."""

    email: str
    password: str


@dataclass(frozen=True, slots=True)
class DemoState:
    """What the demo set-up made: ids, the keys' secrets and the console login."""

    org_id: str
    brand_id: str
    tracking_key: str
    admin_key: str
    jwt_secret: str
    agent_email: str
    agent_password: str

    @classmethod
    def made(cls, setup: Setup, agent: DemoAgent) -> DemoState:
        return cls(
            setup.org.id,
            setup.brand.id,
            setup.tracking_key.secret,
            setup.admin_key.secret,
            setup.org.jwt_secret,
            agent.email,
            agent.password,
        )

    def to_json(self) -> dict[str, str]:
        return {_JSON_NAMES[name]: value for name, value in asdict(self).items()}


def demo_state_path(data_dir: Path) -> Path:
    return data_dir / DEMO_STATE_FILE


async def seed_demo(services: Services) -> DemoState:
    """The demo org of this data dir: made with its attributes and agent the first
    time, read back from ``demo.json`` afterwards (so keys and login stay the same)."""
    path = demo_state_path(services.settings.data_dir)
    if path.exists():
        return await _resume(services, path)
    setup = await services.orgs.create_org("Demo", brand_name="Demo shop")
    for klass, name, options in DEMO_ATTRIBUTES:
        await services.attributes.define(setup.org.id, klass, name, **options)
    await services.orgs.update_brand_settings(
        setup.org.id, setup.brand.id, {"preChatForm": DEMO_PRE_CHAT_FORM}
    )
    await seed_agent_tools(services, setup.org.id)
    state = DemoState.made(setup, await create_demo_agent(services, setup.org.id))
    await seed_routing(services, setup.org.id)
    _save(path, state.to_json())
    return state


async def seed_agent_tools(services: Services, org_id: str) -> None:
    """The demo's shortcuts and tag."""
    actor = system_actor(org_id)
    for name, body in DEMO_SHORTCUTS:
        await services.shortcuts.create(actor, name, body)
    for name, color in DEMO_TAGS:
        await services.tags.create(actor, name, color)


async def seed_routing(services: Services, org_id: str) -> None:
    """Two teams with the demo agent in each, and a rule per team on the pre-chat
    form's issueTypeStr: a billing question goes to Billing, round-robin."""
    actor = system_actor(org_id)
    agents = [u.id for u in await services.orgs.list_users(org_id) if u.email == DEMO_AGENT_EMAIL]
    for name, display_name, issue in DEMO_TEAMS:
        team = await services.teams.create(actor, name, display_name=display_name, members=agents)
        criteria = {"and": [{"conversation_custom_issueTypeStr": {"equals": issue}}]}
        action = {"type": "assignTeam", "team": team.id, "roundRobin": True}
        body = {"name": f"{display_name} questions", "criteria": criteria, "actions": [action]}
        await services.routing.create(actor, body)


async def create_demo_agent(services: Services, org_id: str) -> DemoAgent:
    """The demo's console login: an admin, so every console page can be tried."""
    agent = DemoAgent(DEMO_AGENT_EMAIL, secrets.token_urlsafe(9))
    await services.orgs.create_user(
        org_id, agent.email, agent.password, role=UserRole.ADMIN, display_name="Demo agent"
    )
    return agent


async def _resume(services: Services, path: Path) -> DemoState:
    saved: dict[str, str] = dict(json.loads(path.read_text()))
    if "agentEmail" not in saved:  # set up by a version without the console
        agent = await create_demo_agent(services, saved["orgId"])
        saved.update(agentEmail=agent.email, agentPassword=agent.password)
        _save(path, saved)
    return DemoState(**{name: saved[key] for name, key in _JSON_NAMES.items()})


def _save(path: Path, state: dict[str, str]) -> None:
    """Only the owner may read it: it holds the admin key and the agent's password."""
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)
