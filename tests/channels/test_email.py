"""The email channel against a real SMTP server (aiosmtpd): parts, Message-ID, STARTTLS and
login, and how every kind of refusal is classified."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr

from channels import Clients, Links, NoRecipient
from channels.email import EmailChannel, EmailSettings
from connectors.errors import Permanent, Retryable
from tests.channels.grants import GRANT, delivery
from tests.e2e.hub import free_port
from tests.smtp_sink import SmtpSink


def _channel(address: str) -> EmailChannel:
    settings = EmailSettings.model_validate({"id": "email", "kind": "email", "smtp": address,
                                             "from": "accolade@example.com"})
    return EmailChannel(settings, Clients())


def test_one_message_with_text_and_html_from_the_same_template() -> None:
    with SmtpSink() as sink:
        sent = _channel(sink.address).send(delivery("email", "coder@example.com"))
    [(to, mail)] = sink.received
    assert to == ["coder@example.com"] and mail["From"] == "accolade@example.com"
    assert mail["Subject"] == "You earned “First green pipeline”"
    text = mail.get_body(("plain",)).get_content()
    page = mail.get_body(("html",)).get_content()
    assert "Why: 1 ci.pipeline.completed event (you have 1) <b>" in text
    assert "Next: Keep it green & ten more earn the next badge." in text
    assert "1 ci.pipeline.completed event (you have 1) &lt;b&gt;" in page  # escaped, same words
    assert "Keep it green &amp; ten more" in page
    assert sent.provider_id == mail["Message-ID"] == f"<{GRANT.grant_id}.email@example.com>"


def test_a_retry_carries_the_same_message_id_and_another_channel_its_own() -> None:
    with SmtpSink() as sink:
        channel = _channel(sink.address)
        channel.send(delivery("email", "coder@example.com"))
        channel.send(delivery("email", "coder@example.com", attempt=2))
        channel.send(delivery("email-hr", "coder@example.com"))
    ids = sink.message_ids()
    assert ids[0] == ids[1] and ids[2] != ids[0] and len(set(ids)) == 2


def test_starttls_and_login_when_configured(tmp_path: Path) -> None:
    with SmtpSink(tls_dir=tmp_path, login=("accolade", "pw-1")) as sink:
        trust = ssl.create_default_context(cafile=str(sink.ca))
        settings = EmailSettings.model_validate({
            "id": "email", "kind": "email", "smtp": sink.address, "from": "accolade@example.com",
            "starttls": True, "username": "accolade", "password": SecretStr("pw-1")})
        EmailChannel(settings, Clients(tls=trust)).send(delivery("email", "coder@example.com"))
        assert sink.logins == ["accolade"] and len(sink.received) == 1
        wrong = settings.model_copy(update={"password": SecretStr("nope")})
        with pytest.raises(Permanent, match=r"^SMTP 535"):
            EmailChannel(wrong, Clients(tls=trust)).send(delivery("email", "coder@example.com"))
        untrusted = EmailChannel(settings, Clients())  # the system's CAs do not know this certificate
        with pytest.raises(Permanent, match="certificate"):
            untrusted.send(delivery("email", "coder@example.com"))
    assert len(sink.received) == 1


def test_without_starttls_a_server_requiring_it_refuses_permanently(tmp_path: Path) -> None:
    with SmtpSink(tls_dir=tmp_path) as sink, pytest.raises(Permanent, match=r"^SMTP 530"):
        _channel(sink.address).send(delivery("email", "coder@example.com"))


@pytest.mark.parametrize(("reply", "failure"), [
    ("451 4.7.1 Greylisted, try again later", Retryable),
    ("452 4.2.2 Mailbox full", Retryable),
    ("550 5.1.1 No such user coder@example.com", Permanent),
    ("554 5.7.1 Rejected", Permanent),
])
def test_4xx_replies_are_retried_and_5xx_are_permanent(reply: str, failure: type) -> None:
    with SmtpSink() as sink:
        sink.fail_next(reply)
        with pytest.raises(failure) as caught:
            _channel(sink.address).send(delivery("email", "coder@example.com"))
    assert caught.value.reason.startswith(f"SMTP {reply[:3]}")
    assert "@" not in caught.value.reason  # never the address the server echoed


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(Retryable, match="ConnectionRefusedError"):
        _channel(f"127.0.0.1:{free_port()}").send(delivery("email", "coder@example.com"))


def test_the_recipient_is_the_email_link_and_none_means_no_recipient() -> None:
    channel = _channel("127.0.0.1:25")
    links = Links((("email", "id", "coder@example.com"), ("github", "id", "1")))
    assert channel.recipient(links) == "coder@example.com"
    with pytest.raises(NoRecipient, match="no email address linked"):
        channel.recipient(Links((("github", "id", "1"),)))
