#!/usr/bin/env python3
"""The script a user would write instead of chathaul: sequential `requests`.

It is the baseline of `make bench` and is kept honest: the same endpoints,
the same paging and stop rules as the connectors, messages and summaries
included, and the same output (one normalized conversation per JSONL line,
messages nested, following docs/vendors/). It is a good script — one
`requests.Session` with keep-alive, no needless requests — just not a
concurrent one, because that is what a hand-written script usually is.

    python baseline.py VENDOR --out OUT.jsonl [--page-size N]

The configuration comes from the environment, as chathaul reads it:
CHATHAUL_<VENDOR>_<FIELD> (BASE_URL, ACCOUNT/SUBDOMAIN/DOMAIN, PASSWORD,
EMAIL, TOKEN, TIMEZONE).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional
from zoneinfo import ZoneInfo

import requests

UTC = timezone.utc


def env(vendor: str, field: str, default: Optional[str] = None) -> Optional[str]:
    return os.environ.get(f"CHATHAUL_{vendor.upper()}_{field.upper()}", default)


def text(v: Any) -> Optional[str]:
    """Numbers as text; empty and blank strings as absent."""
    if v is None:
        return None
    s = str(v) if not isinstance(v, str) else v
    return s if s.strip() else None


def integer(v: Any) -> Optional[int]:
    s = text(v)
    if s is None:
        return None
    try:
        return int(s.strip())
    except ValueError:
        return None


def hms(v: Any) -> Optional[int]:
    """`HH:MM:SS` or integer seconds."""
    s = text(v)
    if s is None:
        return None
    if ":" in s:
        parts = [int(p) for p in s.strip().split(":")]
        total = 0
        for p in parts:
            total = total * 60 + p
        return total
    return integer(s)


def instant(v: Any, zone: ZoneInfo) -> Optional[str]:
    """A local wall-clock time (padded or not) as an RFC 3339 UTC instant."""
    s = text(v)
    if s is None:
        return None
    s = s.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            t = datetime.strptime(s, fmt)
            break
        except ValueError:
            continue
    else:
        return None
    return t.replace(tzinfo=zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conversation(vendor: str, account: str, cid: str) -> Dict[str, Any]:
    return {
        "vendor": vendor, "account": account, "id": cid, "channel": None, "status": None,
        "initiated_by": None, "ended_by": None, "created_at": None, "assigned_at": None,
        "answered_at": None, "ended_at": None,
        "customer": {"id": None, "name": None, "email": None, "phone": None, "ip": None, "location": None, "user_id": None},
        "agent": None, "agents": [], "rating": None,
        "metrics": {"wait_secs": None, "first_response_secs": None, "talk_secs": None, "duration_secs": None,
                    "agent_messages": None, "customer_messages": None},
        "summary": None, "ticket": None, "messages": [], "messages_fetched": False, "raw": None,
    }


class Client:
    def __init__(self, base_url: str, auth: Any = None, headers: Optional[Dict[str, str]] = None) -> None:
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        if auth:
            self.session.auth = auth
        if headers:
            self.session.headers.update(headers)

    def get_text(self, path: str, params: Any = None) -> str:
        for attempt in range(6):
            r = self.session.get(self.base + path, params=params, timeout=30)
            if r.status_code in (429, 500, 502, 503) and attempt < 5:
                import time
                time.sleep(float(r.headers.get("Retry-After", "1") or 1))
                continue
            r.raise_for_status()
            return r.text
        raise RuntimeError("unreachable")

    def get(self, path: str, params: Any = None) -> Any:
        return json.loads(self.get_text(path, params))


# ---------------------------------------------------------------- Bangwo8

BW8_CHANNEL = {1: "app", 2: "web", 3: "wechat", 4: "bot"}
BW8_SATISFACTION = {0: "unrated", 1: "satisfied", 2: "neutral", 3: "dissatisfied"}
BW8_ROLE = {1: "agent", 2: "customer", 3: "bot"}


def relaxed_json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        body = re.sub(r"//[^\n]*", "", body)
        body = re.sub(r",\s*([}\]])", r"\1", body)
        return json.loads(body)


def bangwo8(page_size: int, zone: ZoneInfo) -> Iterator[Dict[str, Any]]:
    account = env("bangwo8", "account") or ""
    c = Client(env("bangwo8", "base_url") or "https://www.bangwo8.com", auth=(account, env("bangwo8", "password")))
    page, received = 1, 0
    while True:
        env_ = c.get("/api/v1/imchat/histories.json", {"page": page, "per_page": page_size})
        chats = env_.get("chats") or []
        if not chats:
            break
        for chat in chats:
            yield bangwo8_conversation(c, chat, account, zone)
        received += len(chats)
        count = integer(env_.get("count"))
        if not env_.get("next_page") or (count is not None and received >= count):
            break
        page += 1


def bangwo8_conversation(c: Client, chat: Dict[str, Any], account: str, zone: ZoneInfo) -> Dict[str, Any]:
    rid = text(chat.get("r_id"))
    conv = conversation("bangwo8", account, rid)
    kind = integer(chat.get("type"))
    raw_kind = text(chat.get("type"))
    conv["channel"] = BW8_CHANNEL.get(kind) if kind != 5 and raw_kind is not None else None
    if raw_kind is not None and kind not in (1, 2, 3, 4, 5):
        conv["channel"] = raw_kind
    conv["initiated_by"] = "customer" if kind in (1, 2, 3, 4) else ("agent" if kind == 5 else None)
    conv["created_at"] = instant(chat.get("start_time"), zone)
    conv["ended_at"] = instant(chat.get("end_time"), zone)
    conv["status"] = "closed" if conv["ended_at"] else "open"
    end_type = text(chat.get("end_type"))
    conv["ended_by"] = None if end_type is None else {1: "customer", 2: "agent"}.get(integer(end_type), end_type)
    if text(chat.get("support_id")) or text(chat.get("support_name")):
        agent = {"id": text(chat.get("support_id")), "name": text(chat.get("support_name")), "email": None, "group": None}
        conv["agent"], conv["agents"] = agent, [agent]
    conv["customer"].update(id=text(chat.get("uname")), ip=text(chat.get("client_ip")), location=text(chat.get("ip_info")))
    evaluate = text(chat.get("evaluate"))
    conv["rating"] = {
        "satisfaction": BW8_SATISFACTION.get(integer(evaluate), "unrated"),
        "score": evaluate,
        "comment": text(chat.get("evaluate_remark")),
        "rated_at": instant(chat.get("evaluate_time"), zone),
    }
    conv["metrics"].update(
        first_response_secs=integer(chat.get("first_response")),
        agent_messages=integer(chat.get("servicer_msg_count")),
        customer_messages=integer(chat.get("client_msg_count")),
    )
    conv["raw"] = chat
    # Messages, every page.
    messages: List[Dict[str, Any]] = []
    page, received = 1, 0
    while True:
        env_ = c.get(f"/api/v1/imchat/chatrecords/{requests.utils.quote(rid, safe='')}.json", {"page": page, "per_page": 100})
        records = env_.get("im_chatrecords")
        contents = (records.get("contents") or []) if isinstance(records, dict) else []
        if not contents:
            break
        for m in contents:
            role_raw = text(m.get("spokesman_identity"))
            role = BW8_ROLE.get(integer(role_raw), role_raw) if role_raw is not None else "unknown"
            spokesman = text(m.get("spokesman"))
            messages.append({
                "id": None,
                "sender": {"role": role, "id": spokesman if role == "customer" else None, "name": spokesman},
                "kind": "text", "text": text(m.get("msg")), "sent_at": instant(m.get("create_time"), zone),
                "read": None, "attachments": [], "raw": m,
            })
        received += len(contents)
        count = integer(env_.get("count"))
        if not env_.get("next_page") or (count is not None and received >= count):
            break
        page += 1
    conv["messages"], conv["messages_fetched"] = messages, True
    # The service summary.
    s = relaxed_json(c.get_text(f"/api/v1/servicesummary/{requests.utils.quote(rid, safe='')}.json", {"servicesummary_type": 1}))
    if text(s.get("status")) == "200":
        summary = ((s.get("data") or {}).get("serviceSummary")) or {}
        conv["summary"] = {
            "template": text(summary.get("ticketTemplateName")),
            "fields": [{"key": text(f.get("key")), "value": text(f.get("value"))} for f in summary.get("custom_fields") or []],
        }
    return conv


# ---------------------------------------------------------------- KF5

def kf5(page_size: int, zone: ZoneInfo) -> Iterator[Dict[str, Any]]:
    base = env("kf5", "base_url")
    subdomain = env("kf5", "subdomain")
    if not base:
        base = f"https://{subdomain}.kf5.com"
    account = subdomain or re.sub(r"^https?://([^/:]+).*$", r"\1", base)
    c = Client(base, auth=(env("kf5", "email"), env("kf5", "password")))
    page = 1
    while True:
        chats = c.get("/apiv2/chats.json", {"page": page, "per_page": page_size}).get("chats") or []
        if not chats:
            break
        for chat in chats:
            yield kf5_conversation(c, chat, account, zone)
        # A short page ends the listing only when no more than the documented default was asked for.
        if page_size <= 100 and len(chats) < page_size:
            break
        page += 1


def kf5_conversation(c: Client, chat: Dict[str, Any], account: str, zone: ZoneInfo) -> Dict[str, Any]:
    cid = text(chat.get("id"))
    conv = conversation("kf5", account, cid)
    conv["channel"] = "web"
    started = text(chat.get("started_by"))
    conv["initiated_by"] = {"visitor": "customer", "agent": "agent"}.get(started, started) if started else None
    status = text(chat.get("status"))
    conv["status"] = "closed" if status in ("close", "closed") else status
    if text(chat.get("agent_id")):
        agent = {"id": text(chat.get("agent_id")), "name": None, "email": None, "group": None}
        conv["agent"], conv["agents"] = agent, [agent]
    conv["customer"].update(id=text(chat.get("visitor_id")), user_id=text(chat.get("user_id")))
    rating = text(chat.get("rating"))
    sat = {"good": "satisfied", "bad": "dissatisfied"}.get(rating or "", "unrated")
    conv["rating"] = {"satisfaction": sat, "score": rating if rating and sat == "unrated" else None, "comment": None, "rated_at": None}
    conv["created_at"] = instant(chat.get("created_at"), zone)
    conv["assigned_at"] = instant(chat.get("assigned_at"), zone)
    conv["ended_at"] = instant(chat.get("end_at"), zone)
    conv["raw"] = chat
    items = chat.get("messages")
    if items is None:
        items = (c.get(f"/apiv2/chats/{requests.utils.quote(cid, safe='')}.json").get("chat") or {}).get("messages") or []
    messages = []
    for m in items:
        kind_raw = text(m.get("type"))
        kind = {"chat.memberjoin": "event", "chat.msg": "text"}.get(kind_raw or "", kind_raw)
        name = text(m.get("name"))
        attachments = []
        upload = m.get("upload")
        if isinstance(upload, dict):
            attachments.append({
                "name": text(upload.get("name") or upload.get("file_name")),
                "url": text(upload.get("url") or upload.get("content_url")),
                "mime": text(upload.get("content_type") or upload.get("mime")),
                "size": integer(upload.get("size")),
            })
        read = integer(m.get("is_read"))
        messages.append({
            "id": text(m.get("id")),
            "sender": {"role": "system" if kind == "event" and not name else "unknown", "id": None, "name": name},
            "kind": kind, "text": text(m.get("msg")), "sent_at": instant(m.get("created_at"), zone),
            "read": None if read is None else bool(read), "attachments": attachments, "raw": m,
        })
    conv["messages"], conv["messages_fetched"] = messages, True
    return conv


# ---------------------------------------------------------------- CareSoft

CS_CHANNEL = {0: "web", 1: "facebook", 3: "zalo"}
CS_STATUS = {"LBL_CHAT_STATUS_MEET": "closed", "LBL_CHAT_STATUS_MISS": "missed"}


def caresoft(page_size: int, zone: ZoneInfo) -> Iterator[Dict[str, Any]]:
    domain = env("caresoft", "domain")
    base = env("caresoft", "base_url") or f"https://api.caresoft.vn/{domain}"
    account = domain or re.sub(r"^https?://([^/:]+).*$", r"\1", base)
    c = Client(base, headers={"Authorization": f"Bearer {env('caresoft', 'token')}"})
    count = min(page_size, 500)
    for ctype in (0, 1, 3):
        page = 1
        while True:
            body = c.get("/api/v1/chats", {"conversation_type": ctype, "page": page, "count": count})
            if body.get("code") != "OK":
                raise RuntimeError(f"caresoft: /api/v1/chats page {page}: code {body.get('code')}")
            chats = body.get("chats") or []
            if not chats:
                break
            for chat in chats:
                yield caresoft_conversation(chat, ctype, account, zone)
            found = integer(body.get("numFound"))
            if found is not None and page * count >= found:
                break
            page += 1


def caresoft_conversation(chat: Dict[str, Any], ctype: int, account: str, zone: ZoneInfo) -> Dict[str, Any]:
    conv = conversation("caresoft", account, text(chat.get("conversation_id")))
    conv["channel"] = CS_CHANNEL[ctype]
    status = text(chat.get("chat_status"))
    conv["status"] = CS_STATUS.get(status or "", status)
    conv["customer"].update(id=text(chat.get("customer_id")), name=text(chat.get("cus_name")),
                            email=text(chat.get("cus_email")), phone=text(chat.get("cus_phone")))
    agent = {"id": None, "name": text(chat.get("agent_name")), "email": text(chat.get("agent_email")), "group": text(chat.get("group_name"))}
    if any(agent.values()):
        conv["agent"], conv["agents"] = agent, [agent]
    conv["created_at"] = instant(chat.get("start_time"), zone)
    conv["assigned_at"] = instant(chat.get("ring_time"), zone)
    conv["answered_at"] = instant(chat.get("meet_time"), zone)
    conv["ended_at"] = instant(chat.get("end_time"), zone)
    conv["metrics"].update(wait_secs=hms(chat.get("waitTime")), talk_secs=hms(chat.get("answer_time")),
                           duration_secs=hms(chat.get("chat_duration")))
    if text(chat.get("ticket_id")) or text(chat.get("ticket_no")):
        conv["ticket"] = {"id": text(chat.get("ticket_id")), "number": text(chat.get("ticket_no"))}
    conv["raw"] = chat
    return conv


VENDORS = {
    "bangwo8": (bangwo8, 100, "Asia/Shanghai"),
    "kf5": (kf5, 100, "Asia/Shanghai"),
    "caresoft": (caresoft, 500, "Asia/Ho_Chi_Minh"),
}


def pull(vendor: str, page_size: Optional[int] = None) -> Iterator[Dict[str, Any]]:
    """Every conversation of `vendor`, with messages and summaries, as dicts."""
    fetch, default_page, zone = VENDORS[vendor]
    return fetch(page_size or default_page, ZoneInfo(env(vendor, "timezone") or zone))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("vendor", choices=sorted(VENDORS))
    p.add_argument("--out", required=True)
    p.add_argument("--page-size", type=int)
    a = p.parse_args()
    n = m = 0
    with open(a.out, "w", encoding="utf-8") as f:
        for conv in pull(a.vendor, a.page_size):
            f.write(json.dumps(conv, ensure_ascii=False))
            f.write("\n")
            n += 1
            m += len(conv["messages"])
    print(f"{a.vendor}: {n} conversations, {m} messages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
