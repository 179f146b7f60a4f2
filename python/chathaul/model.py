"""The normalized model as typed Python objects.

Each class mirrors the Rust model of ``connector-core`` field by field;
instants are timezone-aware ``datetime``s in UTC. ``to_dict()`` gives the
JSON contract (the same dict the CLI writes as JSONL: instants as RFC 3339
strings ending in ``Z``), and ``from_dict()`` reads it back.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional

__all__ = [
    "Agent",
    "Attachment",
    "Conversation",
    "Customer",
    "Message",
    "Metrics",
    "Rating",
    "Sender",
    "Summary",
    "SummaryField",
    "TicketRef",
    "parse_instant",
    "format_instant",
]


def parse_instant(text: Optional[str]) -> Optional[datetime]:
    """Reads an RFC 3339 instant of the JSON contract (``2024-01-31T08:00:00Z``) as an aware UTC datetime."""
    if text is None:
        return None
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    # Python before 3.11 reads at most 6 fraction digits, and only 3 or 6.
    if "." in t:
        head, _, rest = t.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        t = f"{head}.{(digits + '000000')[:6]}{rest}"
    return datetime.fromisoformat(t).astimezone(timezone.utc)


def format_instant(t: Optional[datetime]) -> Optional[str]:
    """Writes an instant the way the JSON contract does: UTC, ``Z``, whole seconds unless it has a fraction."""
    if t is None:
        return None
    if t.tzinfo is None:
        raise ValueError(f"{t!r} has no time zone; the model holds UTC instants")
    u = t.astimezone(timezone.utc)
    base = u.strftime("%Y-%m-%dT%H:%M:%S")
    if u.microsecond == 0:
        return base + "Z"
    if u.microsecond % 1000 == 0:
        return f"{base}.{u.microsecond // 1000:03d}Z"
    return f"{base}.{u.microsecond:06d}Z"


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


class _Model:
    def to_dict(self) -> Dict[str, Any]:
        """The JSON contract of this value (JSON-serializable; instants as RFC 3339 strings)."""
        out = _json(self)
        assert isinstance(out, dict)
        return out


def _short(text: Optional[str], n: int = 40) -> Optional[str]:
    if text is None or len(text) <= n:
        return text
    return text[: n - 1] + "…"


@dataclass(frozen=True)
class Customer(_Model):
    """The customer (visitor) side of a conversation."""

    id: Optional[str] = None
    name: Optional[str] = None
    email: Optional[str] = None
    phone: Optional[str] = None
    ip: Optional[str] = None
    location: Optional[str] = None
    user_id: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Customer:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Agent(_Model):
    """An agent who handled a conversation."""

    id: Optional[str] = None
    name: Optional[str] = None
    email: Optional[str] = None
    group: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Agent:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class Rating(_Model):
    """A satisfaction rating: ``satisfaction`` is satisfied, neutral, dissatisfied or unrated."""

    satisfaction: str
    score: Optional[str] = None
    comment: Optional[str] = None
    rated_at: Optional[datetime] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rating:
        return cls(
            satisfaction=d["satisfaction"],
            score=d.get("score"),
            comment=d.get("comment"),
            rated_at=parse_instant(d.get("rated_at")),
        )


@dataclass(frozen=True)
class Metrics(_Model):
    """Durations (seconds) and counts, as the vendor reports them."""

    wait_secs: Optional[int] = None
    first_response_secs: Optional[int] = None
    talk_secs: Optional[int] = None
    duration_secs: Optional[int] = None
    agent_messages: Optional[int] = None
    customer_messages: Optional[int] = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Metrics:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


@dataclass(frozen=True)
class SummaryField(_Model):
    """One key/value of a service summary."""

    key: str
    value: Optional[str] = None


@dataclass(frozen=True)
class Summary(_Model):
    """The service summary an agent filled in after the chat."""

    template: Optional[str] = None
    fields: List[SummaryField] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Summary:
        return cls(
            template=d.get("template"),
            fields=[SummaryField(key=f["key"], value=f.get("value")) for f in d.get("fields") or []],
        )

    def as_mapping(self) -> Dict[str, Optional[str]]:
        """The fields as a dict, key → value."""
        return {f.key: f.value for f in self.fields}


@dataclass(frozen=True)
class TicketRef(_Model):
    """A ticket linked to the conversation."""

    id: Optional[str] = None
    number: Optional[str] = None


@dataclass(frozen=True)
class Sender(_Model):
    """Who sent a message: ``role`` is customer, agent, bot, system or unknown."""

    role: str
    id: Optional[str] = None
    name: Optional[str] = None


@dataclass(frozen=True)
class Attachment(_Model):
    """A file attached to a message."""

    name: Optional[str] = None
    url: Optional[str] = None
    mime: Optional[str] = None
    size: Optional[int] = None


@dataclass(frozen=True, repr=False)
class Message(_Model):
    """One message: ``kind`` is text, image, file, event or rating (or the vendor's own value);
    ``None`` when the vendor does not say (a KF5 message without ``type``)."""

    id: Optional[str]
    sender: Sender
    kind: Optional[str]
    text: Optional[str] = None
    sent_at: Optional[datetime] = None
    read: Optional[bool] = None
    attachments: List[Attachment] = field(default_factory=list)
    raw: Any = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Message:
        s = d.get("sender") or {}
        return cls(
            id=d.get("id"),
            sender=Sender(role=s.get("role", "unknown"), id=s.get("id"), name=s.get("name")),
            kind=d.get("kind"),
            text=d.get("text"),
            sent_at=parse_instant(d.get("sent_at")),
            read=d.get("read"),
            attachments=[Attachment(**a) for a in d.get("attachments") or []],
            raw=d.get("raw"),
        )

    def __repr__(self) -> str:
        who = self.sender.role + (f":{self.sender.name}" if self.sender.name else "")
        at = self.sent_at.isoformat() if self.sent_at else None
        return f"Message(sent_at={at!r}, sender={who!r}, kind={self.kind!r}, text={_short(self.text)!r})"


@dataclass(frozen=True, repr=False)
class Conversation(_Model):
    """One chat session, normalized. Fields a vendor lacks are ``None``; ``raw`` is its original record.

    ``messages_fetched`` tells "no messages" (``True``, empty list) from "not
    asked for or not available" (``False``).
    """

    vendor: str
    account: str
    id: str
    channel: Optional[str] = None
    status: Optional[str] = None
    initiated_by: Optional[str] = None
    ended_by: Optional[str] = None
    created_at: Optional[datetime] = None
    assigned_at: Optional[datetime] = None
    answered_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    customer: Customer = field(default_factory=Customer)
    agent: Optional[Agent] = None
    agents: List[Agent] = field(default_factory=list)
    rating: Optional[Rating] = None
    metrics: Metrics = field(default_factory=Metrics)
    summary: Optional[Summary] = None
    ticket: Optional[TicketRef] = None
    landing_page: Optional[str] = None
    referrer: Optional[str] = None
    messages_fetched: bool = False
    messages: List[Message] = field(default_factory=list)
    raw: Any = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Conversation:
        """Reads the JSON contract (a line of the CLI's JSONL, ``Simulator.truth()``)."""
        agent = d.get("agent")
        rating = d.get("rating")
        summary = d.get("summary")
        ticket = d.get("ticket")
        return cls(
            vendor=d["vendor"],
            account=d["account"],
            id=d["id"],
            channel=d.get("channel"),
            status=d.get("status"),
            initiated_by=d.get("initiated_by"),
            ended_by=d.get("ended_by"),
            created_at=parse_instant(d.get("created_at")),
            assigned_at=parse_instant(d.get("assigned_at")),
            answered_at=parse_instant(d.get("answered_at")),
            ended_at=parse_instant(d.get("ended_at")),
            customer=Customer.from_dict(d.get("customer") or {}),
            agent=Agent.from_dict(agent) if agent is not None else None,
            agents=[Agent.from_dict(a) for a in d.get("agents") or []],
            rating=Rating.from_dict(rating) if rating is not None else None,
            metrics=Metrics.from_dict(d.get("metrics") or {}),
            summary=Summary.from_dict(summary) if summary is not None else None,
            ticket=TicketRef(id=ticket.get("id"), number=ticket.get("number")) if ticket is not None else None,
            landing_page=d.get("landing_page"),
            referrer=d.get("referrer"),
            messages_fetched=bool(d.get("messages_fetched", False)),
            messages=[Message.from_dict(m) for m in d.get("messages") or []],
            raw=d.get("raw"),
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """``(vendor, account, id)``: the conversation's identity across vendors and accounts."""
        return (self.vendor, self.account, self.id)

    def __repr__(self) -> str:
        parts = [f"{self.vendor}:{self.account}:{self.id}"]
        if self.created_at:
            parts.append(f"created_at={self.created_at.isoformat()}")
        if self.channel:
            parts.append(f"channel={self.channel}")
        if self.status:
            parts.append(f"status={self.status}")
        if self.agent and (self.agent.name or self.agent.id):
            parts.append(f"agent={self.agent.name or self.agent.id!r}")
        who = self.customer.name or self.customer.id
        if who:
            parts.append(f"customer={who!r}")
        if self.rating:
            parts.append(f"rating={self.rating.satisfaction}")
        parts.append(f"messages={len(self.messages)}" if self.messages_fetched else "messages=not fetched")
        return f"Conversation({', '.join(parts)})"

    def _repr_html_(self) -> str:
        e = html.escape

        def row(k: str, v: Any) -> str:
            return f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>{e('' if v is None else str(v))}</td></tr>"

        agent = self.agent.name or self.agent.id if self.agent else None
        rows = [
            row("vendor / account / id", f"{self.vendor} / {self.account} / {self.id}"),
            row("channel", self.channel),
            row("status", self.status),
            row("created_at (UTC)", self.created_at),
            row("ended_at (UTC)", self.ended_at),
            row("customer", self.customer.name or self.customer.id),
            row("agent", agent),
            row("rating", f"{self.rating.satisfaction} ({self.rating.score})" if self.rating else None),
            row("first response (s)", self.metrics.first_response_secs),
            row("messages", len(self.messages) if self.messages_fetched else "not fetched"),
        ]
        shown = self.messages[:20]
        msgs = "".join(
            "<tr>"
            f"<td>{e(m.sent_at.strftime('%Y-%m-%d %H:%M:%S') if m.sent_at else '')}</td>"
            f"<td>{e(m.sender.role)}{(' · ' + e(m.sender.name)) if m.sender.name else ''}</td>"
            f"<td>{e(m.kind or '')}</td><td style='text-align:left'>{e(_short(m.text, 120) or '')}</td>"
            "</tr>"
            for m in shown
        )
        more = len(self.messages) - len(shown)
        tail = f"<p>… and {more} more messages</p>" if more > 0 else ""
        table = f"<table>{''.join(rows)}</table>"
        if shown:
            table += (
                "<table><tr><th>sent_at (UTC)</th><th>sender</th><th>kind</th><th>text</th></tr>"
                f"{msgs}</table>{tail}"
            )
        return f"<div class='chathaul-conversation'><strong>Conversation</strong>{table}</div>"
