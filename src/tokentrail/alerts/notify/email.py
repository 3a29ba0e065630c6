"""E-mail over SMTP (optionally STARTTLS and login), plain text."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from tokentrail.alerts.notify.base import Notification, ReceiverError


def message(n: Notification, sender: str, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[tokentrail {n.status.upper()}] {n.rule}: {n.summary}"[:250]
    msg["From"], msg["To"] = sender, ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid("tokentrail")
    lines = [n.summary, "", f"rule: {n.rule}", f"status: {n.status}", f"severity: {n.severity}",
             f"project: {n.project}", f"started: {n.started_at.isoformat()}"]
    if n.resolved_at:
        lines.append(f"resolved: {n.resolved_at.isoformat()}")
    lines += [f"{k}: {v}" for k, v in n.labels.items()]
    if n.description:
        lines += ["", n.description]
    if n.explain_url:
        lines += ["", f"Why did this change? {n.explain_url}"]
    msg.set_content("\n".join(lines))
    return msg


class EmailReceiver:
    kind = "email"

    def __init__(self, name: str, host: str, port: int, sender: str, to: list[str], username: str = "",
                 password: str = "", starttls: bool = False) -> None:
        self.name, self.host, self.port, self.sender, self.to = name, host, port, sender, to
        self.username, self.password, self.starttls = username, password, starttls

    def send(self, n: Notification) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message(n, self.sender, self.to))
        except smtplib.SMTPResponseException as e:
            raise ReceiverError(f"SMTP {e.smtp_code}: {e.smtp_error!r}"[:300], retry=e.smtp_code >= 400
                                and e.smtp_code < 500) from e
        except (OSError, smtplib.SMTPException) as e:
            raise ReceiverError(f"{type(e).__name__}: {e}"[:300]) from e
