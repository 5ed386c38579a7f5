"""The Slack stand-in, proven with the REAL slack_sdk clients (sync WebClient and aiohttp AsyncWebClient)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.slack_standin import SlackStandIn

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Ada* earned _First Green Build_"}}]
METADATA = {"event_type": "accolade_awarded", "event_payload": {"award_id": "a-1", "badge": "first-green"}}


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(
        users={"ada@example.com": "U0ADA", "bob@example.com": "U0BOB", "gone@example.com": "U0GONE"},
        deactivated={"U0GONE"},
        inactive_tokens={"xoxb-revoked"},
        channels={"C0GENERAL"},
    ) as server:
        yield server


def sync_client(standin: SlackStandIn, token: str = "xoxb-test") -> WebClient:
    return WebClient(token=token, base_url=standin.base_url, retry_handlers=[], timeout=5)


def async_client(standin: SlackStandIn, token: str = "xoxb-test") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=standin.base_url, retry_handlers=[], timeout=5)


def test_urls_and_lifecycle() -> None:
    server = SlackStandIn().start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/api/")
        assert server.base_url == server.url + "api/"
    finally:
        server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url


# --- sync WebClient ---------------------------------------------------------------------------------------


def test_sync_lookup_by_email(standin: SlackStandIn) -> None:
    client = sync_client(standin)
    response = client.users_lookupByEmail(email="ada@example.com")
    assert response["user"]["id"] == "U0ADA"
    with pytest.raises(SlackApiError) as caught:
        client.users_lookupByEmail(email="nobody@example.com")
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "users_not_found"
    # sync client: params go as a form body on POST
    assert standin.calls[0] == ("users.lookupByEmail", {"email": "ada@example.com"})


def test_sync_open_post_history_round_trip(standin: SlackStandIn) -> None:
    client = sync_client(standin)
    channel = client.conversations_open(users="U0ADA")["channel"]["id"]
    assert channel == SlackStandIn.dm_channel_id("U0ADA")
    assert client.conversations_open(users=["U0ADA"])["channel"]["id"] == channel  # stable

    posted = client.chat_postMessage(
        channel=channel, text="Ada earned a badge", blocks=BLOCKS, metadata=METADATA
    )
    second = client.chat_postMessage(channel=channel, text="and another")
    assert posted["channel"] == channel
    assert posted["message"]["metadata"] == METADATA
    assert float(second["ts"]) > float(posted["ts"])

    history = client.conversations_history(channel=channel, include_all_metadata=True, limit=10)
    assert history["has_more"] is False
    assert [m["ts"] for m in history["messages"]] == [second["ts"], posted["ts"]]  # newest first
    assert history["messages"][1]["metadata"] == METADATA
    assert history["messages"][1]["blocks"] == BLOCKS

    plain = client.conversations_history(channel=channel)
    assert all("metadata" not in m for m in plain["messages"])
    newer = client.conversations_history(channel=channel, oldest=posted["ts"])
    assert [m["ts"] for m in newer["messages"]] == [second["ts"]]
    paged = client.conversations_history(channel=channel, limit=1)
    assert paged["has_more"] is True and len(paged["messages"]) == 1

    stored = standin.messages(channel)
    assert [m["text"] for m in stored] == ["Ada earned a badge", "and another"]
    assert stored[0]["metadata"] == METADATA and stored[0]["user"] == standin.bot_user_id
    # include_all_metadata arrives as "1" in the sync client's form body
    assert (
        "conversations.history",
        {"channel": channel, "include_all_metadata": "1", "limit": "10"},
    ) in standin.calls


def test_sync_ratelimited_exposes_retry_after(standin: SlackStandIn) -> None:
    client = sync_client(standin)
    standin.fail_next("chat.postMessage", times=1, status=429, retry_after=2)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0GENERAL", text="hi")
    response = caught.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "2"  # sync: a plain dict, filled under both spellings
    assert response.headers["retry-after"] == "2"
    assert standin.messages() == []
    assert client.chat_postMessage(channel="C0GENERAL", text="hi")["ok"] is True  # fault consumed


def test_sync_errors(standin: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as caught:
        sync_client(standin, token="xoxb-wrong").users_lookupByEmail(email="ada@example.com")
    assert (caught.value.response.status_code, caught.value.response["error"]) == (200, "invalid_auth")
    with pytest.raises(SlackApiError) as caught:
        sync_client(standin, token="xoxb-revoked").users_lookupByEmail(email="ada@example.com")
    assert caught.value.response["error"] == "account_inactive"

    client = sync_client(standin)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="D0NEVEROPENED", text="hi")
    assert caught.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as caught:
        client.conversations_history(channel="D0NEVEROPENED")
    assert caught.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as caught:
        client.conversations_open(users="U0GONE")
    assert caught.value.response["error"] == "user_disabled"
    with pytest.raises(SlackApiError) as caught:
        client.api_call(
            "chat.postMessage", json={"channel": "C0GENERAL"}
        )  # bypasses the SDK's no-text warning
    assert caught.value.response["error"] == "no_text"
    with pytest.raises(SlackApiError) as caught:
        client.api_call("chat.nonsense")
    assert caught.value.response["error"] == "unknown_method"

    standin.fail_next("chat.postMessage", error="channel_not_found", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="C0GENERAL", text="hi")
        assert (caught.value.response.status_code, caught.value.response["error"]) == (
            200,
            "channel_not_found",
        )
    assert client.chat_postMessage(channel="C0GENERAL", text="hi")["ok"] is True


def test_form_body_with_json_encoded_blocks_and_metadata(standin: SlackStandIn) -> None:
    client = sync_client(standin)
    data = {
        "channel": "C0GENERAL",
        "text": "t",
        "blocks": json.dumps(BLOCKS),
        "metadata": json.dumps(METADATA),
    }
    client.api_call("chat.postMessage", params=data)  # sync client: form-urlencoded body
    (message,) = standin.messages("C0GENERAL")
    assert message["blocks"] == BLOCKS and message["metadata"] == METADATA


# --- async AsyncWebClient (aiohttp) -----------------------------------------------------------------------


async def test_async_lookup_by_email(standin: SlackStandIn) -> None:
    client = async_client(standin)
    response = await client.users_lookupByEmail(email="bob@example.com")
    assert response["user"]["id"] == "U0BOB"
    with pytest.raises(SlackApiError) as caught:
        await client.users_lookupByEmail(email="nobody@example.com")
    assert caught.value.response["error"] == "users_not_found"


async def test_async_open_post_history_round_trip(standin: SlackStandIn) -> None:
    client = async_client(standin)
    channel = (await client.conversations_open(users="U0ADA,U0BOB"))["channel"]["id"]
    assert channel == SlackStandIn.dm_channel_id("U0BOB", "U0ADA")
    posted = await client.chat_postMessage(
        channel=channel, text="Team badge", blocks=BLOCKS, metadata=METADATA
    )
    history = await client.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [posted["ts"]]
    assert history["messages"][0]["metadata"] == METADATA
    assert history["messages"][0]["blocks"] == BLOCKS
    assert standin.messages(channel)[0]["metadata"] == METADATA


async def test_async_ratelimited_exposes_retry_after(standin: SlackStandIn) -> None:
    client = async_client(standin)
    standin.fail_next("chat.postMessage", status=429, retry_after=2)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C0GENERAL", text="hi")
    response = caught.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    assert response.headers["Retry-After"] == "2"  # async: aiohttp's case-insensitive CIMultiDictProxy
    assert response.headers["retry-after"] == "2"


async def test_async_errors(standin: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as caught:
        await async_client(standin, token="xoxb-wrong").conversations_open(users="U0ADA")
    assert (caught.value.response.status_code, caught.value.response["error"]) == (200, "invalid_auth")
    with pytest.raises(SlackApiError) as caught:
        await async_client(standin).chat_postMessage(channel="D0NEVEROPENED", text="hi")
    assert caught.value.response["error"] == "channel_not_found"


def test_concurrent_sync_callers_get_unique_increasing_ts(standin: SlackStandIn) -> None:
    client = sync_client(standin)
    with ThreadPoolExecutor(16) as pool:
        stamps = list(
            pool.map(lambda i: client.chat_postMessage(channel="C0GENERAL", text=str(i))["ts"], range(64))
        )
    assert len(set(stamps)) == 64
    first = client.conversations_history(channel="C0GENERAL", limit=50)
    rest = client.conversations_history(channel="C0GENERAL", cursor=first["response_metadata"]["next_cursor"])
    assert first["has_more"] is True and rest["has_more"] is False
    listed = [m["ts"] for m in first["messages"] + rest["messages"]]
    assert listed == sorted(stamps, key=Decimal, reverse=True)
