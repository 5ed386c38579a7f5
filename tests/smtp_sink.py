"""A real SMTP server for tests: `aiosmtpd` in a thread on a free port, keeping what it received.

Also the demo's mail sink (README "Try it"): `.venv/bin/python -m tests.smtp_sink --port 8025`
prints each message it receives (recipients, Message-ID, subject, the text part).

Optionally it offers STARTTLS with a self-signed certificate made here (for 127.0.0.1) and
requires a login over it; `fail_next` scripts replies (`451` greylisting, `550` no such user)
for the next DATA commands, as real servers send them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.e2e.hub import free_port

__all__ = ["SmtpSink", "self_signed"]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.sink.replies:
            return self.sink.replies.pop(0)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.sink.received.append((list(envelope.rcpt_tos), mail))  # type: ignore[arg-type]
        return "250 OK"


class SmtpSink:
    def __init__(self, *, tls_dir: Path | None = None, login: tuple[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.replies: list[str] = []
        self.logins: list[str] = []
        self.login = login
        kwargs: dict[str, Any] = {}
        if tls_dir is not None:
            cert, key = self_signed(tls_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs = {"tls_context": context, "require_starttls": True}
            self.ca = cert
        if login is not None:
            kwargs |= {"auth_required": True, "authenticator": self._authenticate}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail_next(self, reply: str, times: int = 1) -> None:
        self.replies += [reply] * times

    def message_ids(self) -> list[str]:
        return [str(mail["Message-ID"]) for _, mail in self.received]

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.login
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # unhandled: the server answers 535 itself

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for a day (cert, key paths)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def main() -> None:  # pragma: no cover - the demo's sink, run by hand
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Print every mail received on 127.0.0.1:PORT.")
    parser.add_argument("--port", type=int, default=8025)
    port = parser.parse_args().port
    with SmtpSink(port=port) as sink:
        print(f"SMTP sink on 127.0.0.1:{port}; Ctrl-C stops it", flush=True)
        shown = 0
        while True:
            for to, mail in sink.received[shown:]:
                text = mail.get_body(preferencelist=("plain",))
                print(f"--- mail to {', '.join(to)}\nMessage-ID: {mail['Message-ID']}\nSubject: {mail['Subject']}\n"
                      f"{text.get_content().strip() if text else ''}", flush=True)
            shown = len(sink.received)
            time.sleep(0.2)


if __name__ == "__main__":
    main()
