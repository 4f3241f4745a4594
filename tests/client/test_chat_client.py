"""``klatch.chat`` against a real ``klatch serve``: a conversation with an agent,
errors with the server's codes, and events that survive a server restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from klatch.chat import AsyncChatClient, ChatEvent, Conflict, InvalidRequest, NotFound, SessionError
from support import KlatchProcess, prepare


class Agent:
    """The agent's side, through the REST API with the admin key."""

    def __init__(self, server: KlatchProcess, admin_key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=10
        )

    async def reply(self, conversation_id: str, body: str) -> None:
        sent = await self.http.post(
            f"/v1/conversations/{conversation_id}/messages", json={"body": body}
        )
        assert sent.status_code == 201, sent.text

    async def typing(self, conversation_id: str) -> None:
        sent = await self.http.post(
            f"/v1/conversations/{conversation_id}/typing", json={"typing": True}
        )
        assert sent.status_code == 204, sent.text

    async def end(self, conversation_id: str) -> None:
        assert (await self.http.post(f"/v1/conversations/{conversation_id}/end")).is_success


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[KlatchProcess, dict[str, str]]]:
    env, keys = prepare(tmp_path)
    with KlatchProcess(env, tmp_path, tmp_path / "server.log") as server:
        yield server, keys


@pytest.fixture
async def chat(served: tuple[KlatchProcess, dict[str, str]]) -> AsyncIterator[AsyncChatClient]:
    server, keys = served
    async with AsyncChatClient(
        base_url=server.url, tracking_key=keys["trackingKey"], reconnect_delay=(0.05, 0.5)
    ) as client:
        await client.start()
        yield client


@pytest.fixture
async def agent(served: tuple[KlatchProcess, dict[str, str]]) -> AsyncIterator[Agent]:
    server, keys = served
    agent = Agent(server, keys["adminKey"])
    yield agent
    await agent.http.aclose()


async def next_of(stream: AsyncIterator[ChatEvent], kind: str) -> ChatEvent:
    async with asyncio.timeout(10):
        async for event in stream:
            if event.type == kind:
                return event
    raise AssertionError(f"no {kind}")


async def test_a_conversation_with_an_agent_reply_arriving_live(
    chat: AsyncChatClient, agent: Agent
) -> None:
    conv = await chat.create_conversation(message="Where is my order?", title="Order")
    conversation_id = conv["conversationId"]
    described = await chat.describe_conversation(conversation_id, {"orderNumberStr": "A-1"})
    assert described == {"conversationId": conversation_id, "custom": {"orderNumberStr": "A-1"}}

    stream = chat.events()
    try:
        listening = asyncio.ensure_future(next_of(stream, "typing.started"))
        await asyncio.sleep(0.3)  # the socket is open before the agent acts
        await agent.typing(conversation_id)
        typing = await listening
        assert typing.id is None and typing.data["conversationId"] == conversation_id

        await agent.reply(conversation_id, "It ships today")
        reply = await next_of(stream, "message.created")
        assert reply.data["message"]["body"] == "It ships today"
        assert reply.data["message"]["direction"] == "out"

        await agent.end(conversation_id)
        ended = await next_of(stream, "conversation.ended")
        assert ended.data["conversationId"] == conversation_id
    finally:
        await stream.aclose()

    messages = await chat.get_messages(conversation_id)
    assert [m["body"] for m in messages] == ["Where is my order?", "It ships today"]
    with pytest.raises(Conflict) as ended_error:
        await chat.send_message(conversation_id, "hello?")
    assert ended_error.value.code == "conversation_ended"


async def test_errors_carry_the_server_code(
    chat: AsyncChatClient, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, keys = served
    conv = await chat.create_conversation()
    with pytest.raises(InvalidRequest) as undefined:
        await chat.describe_conversation(conv["conversationId"], {"colourStr": "red"})
    assert undefined.value.code == "unknown_attribute"
    assert "colourStr" in undefined.value.detail
    assert undefined.value.errors[0]["source"]["pointer"] == "/custom/colourStr"

    async with AsyncChatClient(base_url=server.url, tracking_key=keys["trackingKey"]) as other:
        await other.start()
        with pytest.raises(NotFound) as not_theirs:
            await other.describe_conversation(conv["conversationId"], {"orderNumberStr": "X"})
        assert not_theirs.value.code == "conversation_not_found"

    async with AsyncChatClient(
        base_url=server.url, tracking_key=keys["trackingKey"], session_token="ks_unknown"
    ) as stale:
        with pytest.raises(SessionError) as refused:
            await anext(stale.events())
        assert refused.value.code == "invalid_session"


async def test_a_stored_token_resumes_the_same_customer(
    chat: AsyncChatClient, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, keys = served
    conv = await chat.create_conversation(message="hi")
    async with AsyncChatClient(
        base_url=server.url, tracking_key=keys["trackingKey"], session_token=chat.session_token
    ) as again:
        started = await again.start()
        assert started["resumed"] is True
        assert again.customer_id == chat.customer_id
        assert [c["conversationId"] for c in await again.get_conversations()] == [
            conv["conversationId"]
        ]


async def test_events_survive_a_server_restart_once_and_in_order(
    chat: AsyncChatClient, agent: Agent, served: tuple[KlatchProcess, dict[str, str]]
) -> None:
    server, _ = served
    conversation_id = (await chat.create_conversation(message="hi"))["conversationId"]
    received: list[ChatEvent] = []
    got_first = asyncio.Event()

    async def listen() -> None:
        async for event in chat.events():
            if event.type == "message.created" and event.data["message"]["direction"] == "out":
                received.append(event)
                got_first.set()

    listener = asyncio.create_task(listen())
    try:
        await asyncio.sleep(0.3)
        await agent.reply(conversation_id, "before restart")
        await asyncio.wait_for(got_first.wait(), 10)

        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        await agent.reply(conversation_id, "while reconnecting")
        await agent.reply(conversation_id, "after restart")
        async with asyncio.timeout(15):
            while len(received) < 3:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # nothing more (no duplicates) arrives
    finally:
        listener.cancel()
    bodies = [e.data["message"]["body"] for e in received]
    assert bodies == ["before restart", "while reconnecting", "after restart"]
    ids = [e.id for e in received]
    assert None not in ids
    assert ids == sorted(i for i in ids if i is not None) and len(set(ids)) == 3
