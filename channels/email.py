"""The email channel: one message per grant over SMTP (`smtplib`, the standard library's client).

- The recipient is the person's `email:` link. Without one the grant falls back to the feed
  (`fell_back`, like Slack without an identity): the person still sees it in the hub.
- A text part and an HTML part are rendered from the same `Message` (title, why, next), so
  both say the same thing; the HTML escapes every value.
- `Message-ID` is derived from the grant id and the channel id (`stable_id`), so a retry that
  sends again carries the same id and the receiving side can drop the copy. SMTP cannot tell
  whether an earlier, interrupted send arrived: a retry after a crash may transmit again, but
  never with a second Message-ID.
- `starttls: true` upgrades the connection (certificate verified) before `username` and
  `password` log in.

Failures, classified here once: a 4xx reply (greylisting, mailbox busy, too many
connections) is Retryable; a 5xx reply (no such user, relaying denied, authentication
failed) is Permanent; a refused or dropped connection and timeouts are Retryable. Reasons
carry the reply code only, never an address or the server's text (which may echo one).
"""

from __future__ import annotations

import html
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

from pydantic import Field, SecretStr

from activities.messages import Message
from channels.base import Channel, ChannelSettings, Delivery, Links, NoRecipient, Sent, stable_id
from connectors.errors import Failure, Permanent, Retryable

__all__ = ["EmailChannel", "EmailSettings", "message_id", "render"]

_TIMEOUT = 15.0  # seconds; inside the activity's 30 s start-to-close


class EmailSettings(ChannelSettings):
    kind: Literal["email"]
    smtp: str = Field(pattern=r"^[^:\s]+:\d{1,5}$", description="host:port of the SMTP server")
    sender: str = Field(alias="from", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False

    @property
    def host(self) -> str:
        return self.smtp.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.smtp.rsplit(":", 1)[1])


def message_id(grant_id: str, channel_id: str, sender: str) -> str:
    return f"<{stable_id(grant_id, channel_id)}@{sender.rsplit('@', 1)[1]}>"


def render(message: Message) -> tuple[str, str]:
    """The text and the HTML part, from the same fields in the same order; the HTML names the
    language and, for right-to-left ones, `dir="rtl"`."""
    body = "".join(f"<p><strong>{html.escape(k)}:</strong> {html.escape(v)}</p>" for k, v in message.rows)
    direction = "rtl" if message.rtl else "ltr"
    lang = html.escape(message.locale.replace("_", "-"))
    page = (f'<!doctype html><html lang="{lang}" dir="{direction}"><body>'
            f"<h1>{html.escape(message.first_line)}</h1>{body}</body></html>")
    return message.text, page


class EmailChannel(Channel[EmailSettings]):
    kind = "email"
    settings_model = EmailSettings

    def recipient(self, links: Links) -> str:
        if (address := links.first("email")) is None:
            raise NoRecipient("no email address linked")
        return address

    def send(self, delivery: Delivery) -> Sent:
        mail = self._compose(delivery)
        try:
            self._transmit(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            ((code, _),) = list(exc.recipients.values())[:1] or [(550, b"")]
            raise _by_code(code, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc.__class__.__name__.removeprefix("SMTP")) from None
        except smtplib.SMTPNotSupportedError:
            raise Permanent("SMTP: the server does not offer STARTTLS") from None
        except ssl.SSLCertVerificationError:
            raise Permanent("SMTP: the server's certificate was not verified") from None
        except smtplib.SMTPException as exc:  # dropped mid-conversation
            raise Retryable(f"SMTP: {exc.__class__.__name__}") from None
        except OSError as exc:  # refused, reset, timed out, no such host
            raise Retryable(f"SMTP: server unreachable ({exc.__class__.__name__})") from None
        return Sent(provider_id=mail["Message-ID"], detail={"message_id": mail["Message-ID"]})

    def _compose(self, delivery: Delivery) -> EmailMessage:
        text, page = render(delivery.message)
        mail = EmailMessage()
        mail["Subject"] = delivery.message.subject or f"You earned “{delivery.message.title}”"
        mail["From"] = self.settings.sender
        mail["To"] = delivery.recipient
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id(delivery.grant.grant_id, delivery.channel_id, self.settings.sender)
        mail.set_content(text)
        mail.add_alternative(page, subtype="html")
        return mail

    def _transmit(self, mail: EmailMessage) -> None:
        """Send over one connection. After a failure the socket is only closed: a QUIT on a
        connection whose TLS handshake failed would wait for the server's timeout."""
        settings = self.settings
        smtp = (self.clients.smtp or smtplib.SMTP)(settings.host, settings.port, timeout=_TIMEOUT)
        try:
            if settings.starttls:
                smtp.starttls(context=self.clients.tls or ssl.create_default_context())
            if settings.username:
                password = settings.password.get_secret_value() if settings.password else ""
                smtp.login(settings.username, password)
            smtp.send_message(mail)
        except BaseException:
            smtp.close()
            raise
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()  # accepted already: a lost goodbye changes nothing


def _by_code(code: int, what: str) -> Failure:
    reason = f"SMTP {code} ({what})"
    return Permanent(reason) if 500 <= code < 600 else Retryable(reason)
