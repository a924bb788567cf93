#!/usr/bin/env python3
"""A local stand-in for Slack, for jeny's Slack bot tests.

One aiohttp server on 127.0.0.1 serves:
  * Slack's side: the Web API under /api/{method}, Socket Mode WebSockets under /link/, and the
    response_url webhooks under /_response/{id}; shaped like Slack's documented wire format.
  * A control API for the tests under /_test/ (JSON in and out): register users, read what the app
    called and posted, arm rate limits and outages, and make "Slack" deliver slash commands, button
    clicks, mentions and URL verification to the app, over HTTP (signed with slack_sdk's own
    signature code) or over the open Socket Mode connection.

Start:
  $HOME/.cache/jeny/peers/slack/bin/python tests/peers/slack/fake_slack.py --port 0 \
      --bot-token xoxb-test --app-token xapp-test --signing-secret SECRET --team T0TEST --bot-user UBOT
The first line on stdout is `listening on http://127.0.0.1:PORT`; logs go to stderr. It exits when
stdin closes (unless --no-stdin-watch) or on SIGTERM/SIGINT.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import os
import random
import re
import secrets
import signal
import string
import sys
import threading
import time
import urllib.parse
import uuid

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger("fake_slack")

APP_ID = "A0FAKE"
BOT_ID = "B0BOT"
TEAM_NAME = "Fake"
TEAM_DOMAIN = "fake"
ENVELOPE_ACK_TIMEOUT = 10.0
HTTP_DELIVERY_TIMEOUT = 10.0

# Methods that take the app-level token (xapp-); every other method takes the bot token.
APP_TOKEN_METHODS = {"apps.connections.open"}
KNOWN_METHODS = {
    "api.test",
    "auth.test",
    "users.info",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "conversations.history",
    "conversations.replies",
    "apps.connections.open",
}
NO_AUTH_METHODS = {"api.test"}

BLOCK_TYPES = {
    "actions", "context", "divider", "file", "header", "image", "input", "rich_text", "section",
    "video", "markdown", "context_actions", "table",
}


def now() -> float:
    return time.time()


def truthy(v) -> bool:
    return v is True or v == 1 or (isinstance(v, str) and v.strip().lower() in ("true", "1"))


def rand_id(prefix: str, n: int = 9) -> str:
    return prefix + "".join(random.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def stable_id(prefix: str, name: str) -> str:
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    return prefix + digest[:8]


class SlackError(Exception):
    def __init__(self, error: str, status: int = 200, **extra):
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


class State:
    def __init__(self, cfg):
        self.cfg = cfg
        self.reset()

    def reset(self):
        cfg = self.cfg
        self.users = {}
        self.users[cfg.bot_user] = {
            "id": cfg.bot_user, "name": "jeny", "real_name": "jeny", "email": None,
            "is_email_confirmed": False, "is_bot": True, "deleted": False, "display_name": "jeny",
        }
        self.channels = {}  # id -> name (or None)
        self.calls = []
        self.messages = []  # channel messages, posting order
        self.ephemerals = []
        self.responses = []  # posts to response URLs (and command acks / HTTP replies)
        self.response_ctx = {}  # response id -> context
        self.rate_limits = {}  # method -> {"count", "retry_after"}
        self.outage = None  # None or mode ("503" | "reset")
        self.last_us = 0
        self.deliveries = []

    # -- timestamps, channels --------------------------------------------------------------
    def next_ts(self) -> str:
        us = max(int(now() * 1_000_000), self.last_us + 1)
        self.last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    @staticmethod
    def looks_like_id(s: str) -> bool:
        return re.fullmatch(r"[CGD][A-Z0-9]+", s) is not None

    def resolve_channel(self, value, create: bool):
        """A channel id (C.../G.../D...), a name (#deploys or deploys), or a user id (U.../W..., a DM).
        Returns the id, or None when unknown and not created."""
        if value is None or value == "":
            return None
        value = str(value)
        if value.startswith("#"):
            name = value[1:]
        elif self.looks_like_id(value):
            if value not in self.channels:
                if not create:
                    return None
                self.channels[value] = None
            return value
        elif re.fullmatch(r"[UW][A-Z0-9]+", value):
            cid = stable_id("D", value)
            if cid not in self.channels:
                if not create:
                    return None
                self.channels[cid] = None
            return cid
        else:
            name = value
        cid = stable_id("C", name.lower())
        if cid not in self.channels:
            if not create:
                return None
            self.channels[cid] = name.lower()
        elif self.channels[cid] is None:
            self.channels[cid] = name.lower()
        return cid

    def channel_name(self, cid: str) -> str:
        name = self.channels.get(cid)
        if name:
            return name
        if cid.startswith("D"):
            return "directmessage"
        return cid.lower()

    def user_name(self, uid: str) -> str:
        u = self.users.get(uid)
        return u["name"] if u else uid.lower()

    def find_message(self, cid: str, ts: str):
        for m in self.messages:
            if m["channel"] == cid and m["ts"] == ts:
                return m
        return None

    def find_ephemeral(self, cid, ts):
        for e in self.ephemerals:
            if (cid is None or e["channel"] == cid) and e["ts"] == ts:
                return e
        return None

    # -- shapes ----------------------------------------------------------------------------
    def bot_profile(self):
        return {
            "id": BOT_ID, "app_id": APP_ID, "name": "jeny", "deleted": False,
            "team_id": self.cfg.team, "updated": 1700000000,
            "icons": {"image_36": "https://fake.slack.com/jeny_36.png"},
        }

    def slack_message(self, rec, include_metadata: bool):
        v = rec["versions"][-1]
        m = {"type": "message"}
        if rec["kind"] == "bot":
            m["user"] = self.cfg.bot_user
            m["bot_id"] = BOT_ID
            m["app_id"] = APP_ID
        else:
            m["user"] = rec["user"]
            if rec.get("client_msg_id"):
                m["client_msg_id"] = rec["client_msg_id"]
        m["text"] = v["text"] if v["text"] is not None else ""
        m["ts"] = rec["ts"]
        m["team"] = self.cfg.team
        if rec["kind"] == "bot":
            m["bot_profile"] = self.bot_profile()
        if v["blocks"] is not None:
            m["blocks"] = v["blocks"]
        if rec["thread_ts"]:
            m["thread_ts"] = rec["thread_ts"]
            if rec["thread_ts"] != rec["ts"]:
                m["parent_user_id"] = self.parent_user(rec)
        replies = [r for r in self.messages
                   if r["channel"] == rec["channel"] and r["thread_ts"] == rec["ts"]
                   and r["ts"] != rec["ts"] and not r["deleted"]]
        if replies and (not rec["thread_ts"] or rec["thread_ts"] == rec["ts"]):
            m["thread_ts"] = rec["ts"]
            m["reply_count"] = len(replies)
            users = []
            for r in replies:
                u = self.cfg.bot_user if r["kind"] == "bot" else r["user"]
                if u not in users:
                    users.append(u)
            m["reply_users"] = users
            m["reply_users_count"] = len(users)
            m["latest_reply"] = replies[-1]["ts"]
            m["is_locked"] = False
            m["subscribed"] = False
        if len(rec["versions"]) > 1:
            m["edited"] = {"user": self.cfg.bot_user, "ts": v["edit_ts"]}
        if include_metadata and v["metadata"]:
            m["metadata"] = v["metadata"]
        return m

    def parent_user(self, rec):
        parent = self.find_message(rec["channel"], rec["thread_ts"])
        if parent is None:
            return self.cfg.bot_user
        return self.cfg.bot_user if parent["kind"] == "bot" else parent["user"]

    def user_shape(self, u):
        real_name = u.get("real_name") or u["name"]
        display = u.get("display_name") if u.get("display_name") is not None else u["name"]
        profile = {
            "real_name": real_name, "display_name": display,
            "real_name_normalized": real_name, "display_name_normalized": display,
            "team": self.cfg.team, "status_text": "", "status_emoji": "",
            "image_48": "https://fake.slack.com/avatar_48.png",
        }
        if u.get("email"):
            profile["email"] = u["email"]
        if u.get("is_bot"):
            profile["bot_id"] = BOT_ID
            profile["api_app_id"] = APP_ID
        return {
            "id": u["id"], "team_id": self.cfg.team, "name": u["name"],
            "deleted": bool(u.get("deleted")), "color": "9f69e7", "real_name": real_name,
            "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0,
            "profile": profile,
            "is_admin": bool(u.get("is_admin")), "is_owner": False, "is_primary_owner": False,
            "is_restricted": False, "is_ultra_restricted": False,
            "is_bot": bool(u.get("is_bot")), "is_app_user": False, "updated": 1700000000,
            "is_email_confirmed": bool(u.get("is_email_confirmed")),
        }


# -- block checks (the common limits Slack enforces; errors shaped like Slack's) -------------
def check_blocks(blocks):
    errors = []
    if not isinstance(blocks, list):
        return ["expected an array [json-pointer:/blocks]"]
    if len(blocks) > 50:
        errors.append("no more than 50 items allowed [json-pointer:/blocks]")
    seen_block_ids = set()
    seen_action_ids = set()
    for i, b in enumerate(blocks):
        p = f"/blocks/{i}"
        if not isinstance(b, dict) or "type" not in b:
            errors.append(f"missing required field: type [json-pointer:{p}]")
            continue
        t = b["type"]
        if t not in BLOCK_TYPES:
            errors.append(f"unsupported type: {t} [json-pointer:{p}/type]")
            continue
        bid = b.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or len(bid) > 255 or bid == "":
                errors.append(f"invalid block_id [json-pointer:{p}/block_id]")
            elif bid in seen_block_ids:
                errors.append(f"duplicate block_id [json-pointer:{p}/block_id]")
            seen_block_ids.add(bid)

        def text_obj(obj, ptr, max_len, plain_only=False):
            if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
                errors.append(f"must provide an object with type plain_text or mrkdwn [json-pointer:{ptr}]")
                return
            if plain_only and obj["type"] != "plain_text":
                errors.append(f"must be a plain_text object [json-pointer:{ptr}/type]")
            txt = obj.get("text")
            if not isinstance(txt, str) or len(txt) == 0:
                errors.append(f"must be more than 0 characters [json-pointer:{ptr}/text]")
            elif len(txt) > max_len:
                errors.append(f"must be less than {max_len + 1} characters [json-pointer:{ptr}/text]")

        def element(el, ptr):
            if not isinstance(el, dict) or "type" not in el:
                errors.append(f"missing required field: type [json-pointer:{ptr}]")
                return
            aid = el.get("action_id")
            if aid is not None:
                if not isinstance(aid, str) or len(aid) > 255:
                    errors.append(f"invalid action_id [json-pointer:{ptr}/action_id]")
                elif aid in seen_action_ids:
                    errors.append(f"duplicate action_id [json-pointer:{ptr}/action_id]")
                seen_action_ids.add(aid)
            if el["type"] == "button":
                text_obj(el.get("text"), f"{ptr}/text", 75, plain_only=True)
                val = el.get("value")
                if val is not None and (not isinstance(val, str) or len(val) > 2000):
                    errors.append(f"must be less than 2001 characters [json-pointer:{ptr}/value]")
                style = el.get("style")
                if style is not None and style not in ("primary", "danger"):
                    errors.append(f"must be one of primary, danger [json-pointer:{ptr}/style]")

        if t == "section":
            if "text" not in b and "fields" not in b:
                errors.append(f"must provide either text or fields [json-pointer:{p}]")
            if "text" in b:
                text_obj(b["text"], f"{p}/text", 3000)
            for j, f in enumerate(b.get("fields") or []):
                text_obj(f, f"{p}/fields/{j}", 2000)
            if len(b.get("fields") or []) > 10:
                errors.append(f"no more than 10 items allowed [json-pointer:{p}/fields]")
            if "accessory" in b:
                element(b["accessory"], f"{p}/accessory")
        elif t == "header":
            text_obj(b.get("text"), f"{p}/text", 150, plain_only=True)
        elif t == "actions":
            els = b.get("elements")
            if not isinstance(els, list) or not els:
                errors.append(f"must provide at least 1 item [json-pointer:{p}/elements]")
            else:
                if len(els) > 25:
                    errors.append(f"no more than 25 items allowed [json-pointer:{p}/elements]")
                for j, el in enumerate(els):
                    element(el, f"{p}/elements/{j}")
        elif t == "context":
            els = b.get("elements")
            if not isinstance(els, list) or not els:
                errors.append(f"must provide at least 1 item [json-pointer:{p}/elements]")
            elif len(els) > 10:
                errors.append(f"no more than 10 items allowed [json-pointer:{p}/elements]")
    return errors


def fill_block_ids(blocks):
    """Slack gives every block a block_id when the app gave none."""
    if not isinstance(blocks, list):
        return blocks
    out = []
    for b in blocks:
        if isinstance(b, dict) and "block_id" not in b:
            b = dict(b)
            b["block_id"] = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(5))
        out.append(b)
    return out


def find_button(blocks, action_id):
    for b in blocks or []:
        if not isinstance(b, dict):
            continue
        els = []
        if b.get("type") == "actions":
            els = b.get("elements") or []
        elif b.get("type") == "section" and isinstance(b.get("accessory"), dict):
            els = [b["accessory"]]
        for el in els:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return b, el
    return None, None


class FakeSlack:
    def __init__(self, cfg):
        self.cfg = cfg
        self.st = State(cfg)
        self.verifier = SignatureVerifier(cfg.signing_secret)
        self.base_url = None  # http://127.0.0.1:PORT once bound
        self.tickets = set()
        self.tickets_issued = 0
        self.conns = []
        self.opened_total = 0
        self.pending_acks = {}  # envelope_id -> (future, conn)
        self.envelopes = []
        self.client = None

    # ======================================================================================
    # Web API
    # ======================================================================================
    async def api(self, request: web.Request):
        method = request.match_info["method"]
        st = self.st
        record = {"method": method, "params": {}, "token_kind": None, "status": 200, "at": now()}
        st.calls.append(record)
        warnings = []
        try:
            params, token, warnings = await self.parse_params(request)
        except SlackError as e:
            params, token = {}, None
            record["params"] = params
            return self.api_error(record, e)
        token_kind = None
        if token == self.cfg.bot_token:
            token_kind = "bot"
        elif token == self.cfg.app_token:
            token_kind = "app"
        record["token_kind"] = token_kind
        record["params"] = params

        if st.outage:
            record["status"] = 503
            record["outage"] = True
            if st.outage == "reset":
                log.info("outage: resetting %s", method)
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=503)  # never reaches the caller: the connection is gone
            log.info("outage: 503 for %s", method)
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)

        rl = st.rate_limits.get(method)
        if rl and rl["count"] > 0:
            rl["count"] -= 1
            if rl["count"] == 0:
                del st.rate_limits[method]
            record["status"] = 429
            record["rate_limited"] = True
            log.info("rate limiting %s (Retry-After %s)", method, rl["retry_after"])
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(rl["retry_after"])})

        try:
            if method not in KNOWN_METHODS:
                raise SlackError("unknown_method")
            if method not in NO_AUTH_METHODS:
                if not token:
                    raise SlackError("not_authed")
                if token_kind is None:
                    raise SlackError("invalid_auth")
                need = "app" if method in APP_TOKEN_METHODS else "bot"
                if token_kind != need:
                    raise SlackError("not_allowed_token_type")
            handler = getattr(self, "m_" + method.replace(".", "_"))
            body = handler(params)
            if asyncio.iscoroutine(body):
                body = await body
        except SlackError as e:
            return self.api_error(record, e, warnings)
        out = {"ok": True}
        out.update(body)
        self.add_warnings(out, warnings)
        record["response"] = out
        return web.json_response(out)

    def add_warnings(self, out, warnings):
        if warnings:
            out["warning"] = ",".join(warnings)
            rm = out.setdefault("response_metadata", {})
            rm["warnings"] = list(warnings)

    def api_error(self, record, e: SlackError, warnings=()):
        out = {"ok": False, "error": e.error}
        out.update(e.extra)
        self.add_warnings(out, list(warnings))
        record["status"] = e.status
        record["response"] = out
        log.info("%s -> error %s", record["method"], e.error)
        return web.json_response(out, status=e.status)

    async def parse_params(self, request):
        params = {k: v for k, v in request.query.items()}
        warnings = []
        json_body = False
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            raw = await request.read()
            if ctype == "application/json":
                json_body = True
                if request.charset is None:
                    warnings.append("missing_charset")
                try:
                    data = json.loads(raw.decode("utf-8") or "{}")
                except ValueError:
                    raise SlackError("invalid_json")
                if not isinstance(data, dict):
                    raise SlackError("invalid_json")
                params.update(data)
            elif ctype == "multipart/form-data":
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
            else:
                # application/x-www-form-urlencoded (and Slack's lenient reading of a missing type)
                for k, v in urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
                    params[k] = v
        token = None
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if "token" in params:
            t = params.pop("token")
            # Slack reads a token from a JSON body never: JSON callers must use the header.
            if token is None and not json_body:
                token = t
        for key, err in (("blocks", "invalid_blocks_format"), ("metadata", "invalid_metadata_format")):
            if key in params and isinstance(params[key], str):
                if params[key] == "":
                    params[key] = None
                    continue
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    raise SlackError(err)
        return params, token, warnings

    # -- methods ---------------------------------------------------------------------------
    def m_api_test(self, p):
        return {"args": {k: v for k, v in p.items()}} if p else {}

    def m_auth_test(self, p):
        return {
            "url": "https://fake.slack.com/", "team": TEAM_NAME, "user": "jeny",
            "team_id": self.cfg.team, "user_id": self.cfg.bot_user, "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def m_users_info(self, p):
        uid = p.get("user")
        if not uid:
            raise SlackError("user_not_found")
        u = self.st.users.get(uid)
        if u is None:
            raise SlackError("user_not_found")
        return {"user": self.st.user_shape(u)}

    def check_message_content(self, p, require_text=True):
        text = p.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        blocks = p.get("blocks")
        if blocks is not None:
            errs = check_blocks(blocks)
            if errs:
                raise SlackError("invalid_blocks", errors=errs,
                                 response_metadata={"messages": [f"[ERROR] {e}" for e in errs]})
        if require_text and (text is None or text == "") and not blocks and not p.get("attachments"):
            raise SlackError("no_text")
        if text is not None and len(text) > 40000:
            raise SlackError("msg_too_long")
        meta = p.get("metadata")
        if meta is not None:
            if meta == {}:
                meta = {}
            elif (not isinstance(meta, dict) or not isinstance(meta.get("event_type"), str)
                  or not isinstance(meta.get("event_payload"), dict)):
                raise SlackError("invalid_metadata_schema")
        return text, blocks, meta

    def m_chat_postMessage(self, p):
        st = self.st
        chan = p.get("channel")
        if not chan:
            raise SlackError("channel_not_found")
        text, blocks, meta = self.check_message_content(p)
        cid = st.resolve_channel(chan, create=True)
        thread_ts = p.get("thread_ts") or None
        if thread_ts is not None:
            thread_ts = str(thread_ts)
            parent = st.find_message(cid, thread_ts)
            if parent is not None and parent["thread_ts"] and parent["thread_ts"] != parent["ts"]:
                thread_ts = parent["thread_ts"]  # a reply to a reply lands in the same thread
        ts = st.next_ts()
        rec = {
            "channel": cid, "ts": ts, "thread_ts": thread_ts, "kind": "bot", "user": st.cfg.bot_user,
            "deleted": False, "response_id": None, "source": "chat.postMessage",
            "versions": [{"text": text, "blocks": fill_block_ids(blocks) if blocks is not None else None,
                          "metadata": meta or None, "at": now(), "edit_ts": None}],
        }
        st.messages.append(rec)
        log.info("posted %s in %s%s", ts, cid, f" (thread {thread_ts})" if thread_ts else "")
        return {"channel": cid, "ts": ts, "message": st.slack_message(rec, include_metadata=True)}

    def m_chat_update(self, p):
        st = self.st
        chan = p.get("channel")
        if not chan:
            raise SlackError("channel_not_found")
        cid = st.resolve_channel(chan, create=False)
        if cid is None:
            raise SlackError("channel_not_found")
        ts = p.get("ts")
        if not ts:
            raise SlackError("message_not_found")
        rec = st.find_message(cid, str(ts))
        if rec is None or rec["deleted"]:
            raise SlackError("message_not_found")
        if rec["kind"] != "bot":
            raise SlackError("cant_update_message")
        text, blocks, meta = self.check_message_content(p, require_text=False)
        prev = rec["versions"][-1]
        # Slack keeps the previous blocks / metadata when the field is left out; an empty array /
        # object removes them.
        if "blocks" in p:
            new_blocks = fill_block_ids(blocks) if blocks else None
        else:
            new_blocks = prev["blocks"]
        if "metadata" in p:
            new_meta = meta or None
        else:
            new_meta = prev["metadata"]
        if text is None and new_blocks is None and "attachments" not in p:
            raise SlackError("no_text")
        new_text = text if text is not None else ""
        rec["versions"].append({"text": new_text, "blocks": new_blocks, "metadata": new_meta,
                                "at": now(), "edit_ts": st.next_ts()})
        log.info("updated %s in %s (version %d)", rec["ts"], cid, len(rec["versions"]))
        return {"channel": cid, "ts": rec["ts"], "text": new_text,
                "message": st.slack_message(rec, include_metadata=True)}

    def m_chat_postEphemeral(self, p):
        st = self.st
        chan = p.get("channel")
        if not chan:
            raise SlackError("channel_not_found")
        user = p.get("user")
        if not user:
            raise SlackError("user_not_in_channel")
        text, blocks, _ = self.check_message_content(p)
        cid = st.resolve_channel(chan, create=True)
        ts = st.next_ts()
        st.ephemerals.append({
            "channel": cid, "user": user, "ts": ts, "thread_ts": p.get("thread_ts") or None,
            "source": "chat.postEphemeral", "response_id": None, "deleted": False,
            "versions": [{"text": text, "blocks": fill_block_ids(blocks) if blocks is not None else None,
                          "metadata": None, "at": now(), "edit_ts": None}],
        })
        log.info("ephemeral %s in %s for %s", ts, cid, user)
        return {"message_ts": ts}

    @staticmethod
    def ts_filter(msgs, p):
        oldest = p.get("oldest")
        latest = p.get("latest")
        inclusive = truthy(p.get("inclusive", False))
        out = []
        for m in msgs:
            t = float(m["ts"])
            if oldest not in (None, ""):
                o = float(oldest)
                if t < o or (t == o and not inclusive):
                    continue
            if latest not in (None, ""):
                lt = float(latest)
                if t > lt or (t == lt and not inclusive):
                    continue
            out.append(m)
        return out

    @staticmethod
    def paginate(items, p, default_limit):
        try:
            limit = int(p.get("limit") or default_limit)
        except (TypeError, ValueError):
            limit = default_limit
        if limit <= 0:
            limit = default_limit
        limit = min(limit, 999)
        start = 0
        cursor = p.get("cursor")
        if cursor:
            try:
                start = int(base64.b64decode(cursor).decode().split(":", 1)[1])
            except Exception:
                raise SlackError("invalid_cursor")
        page = items[start:start + limit]
        has_more = start + limit < len(items)
        extra = {}
        if has_more:
            extra["response_metadata"] = {
                "next_cursor": base64.b64encode(f"next:{start + limit}".encode()).decode()}
        return page, has_more, extra

    def m_conversations_history(self, p):
        st = self.st
        cid = st.resolve_channel(p.get("channel"), create=False)
        if cid is None:
            raise SlackError("channel_not_found")
        with_meta = truthy(p.get("include_all_metadata", False))
        top = [m for m in st.messages if m["channel"] == cid and not m["deleted"]
               and (not m["thread_ts"] or m["thread_ts"] == m["ts"])]
        top = self.ts_filter(top, p)
        top.reverse()
        page, has_more, extra = self.paginate(top, p, 100)
        out = {"messages": [st.slack_message(m, with_meta) for m in page], "has_more": has_more,
               "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}
        out.update(extra)
        return out

    def m_conversations_replies(self, p):
        st = self.st
        cid = st.resolve_channel(p.get("channel"), create=False)
        if cid is None:
            raise SlackError("channel_not_found")
        ts = p.get("ts")
        if not ts:
            raise SlackError("thread_not_found")
        rec = st.find_message(cid, str(ts))
        if rec is None or rec["deleted"]:
            raise SlackError("thread_not_found")
        root_ts = rec["thread_ts"] or rec["ts"]
        root = st.find_message(cid, root_ts) or rec
        with_meta = truthy(p.get("include_all_metadata", False))
        replies = [m for m in st.messages if m["channel"] == cid and m["thread_ts"] == root_ts
                   and m["ts"] != root_ts and not m["deleted"]]
        replies = self.ts_filter(replies, p)
        items = [root] + replies
        page, has_more, extra = self.paginate(items, p, 1000)
        out = {"messages": [st.slack_message(m, with_meta) for m in page], "has_more": has_more}
        out.update(extra)
        return out

    def m_apps_connections_open(self, p):
        ticket = secrets.token_hex(16)
        self.tickets.add(ticket)
        self.tickets_issued += 1
        host = self.base_url.replace("http://", "ws://", 1)
        return {"url": f"{host}/link/?ticket={ticket}"}

    # ======================================================================================
    # Socket Mode
    # ======================================================================================
    async def link(self, request: web.Request):
        ticket = request.query.get("ticket")
        if not ticket or ticket not in self.tickets:
            log.info("socket: refused ticket %r", ticket)
            return web.Response(status=401, text="invalid or used ticket")
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = {"ws": ws, "transport": request.transport, "id": uuid.uuid4().hex[:8],
                "disconnecting": False, "opened_at": now()}
        self.conns.append(conn)
        self.opened_total += 1
        log.info("socket %s: open (%d open)", conn["id"], len(self.conns))
        try:
            await ws.send_json({
                "type": "hello", "num_connections": len(self.conns),
                "debug_info": {"host": "fake-1", "build_number": 1,
                               "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            })
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        log.warning("socket %s: not JSON: %r", conn["id"], msg.data[:200])
                        continue
                    eid = data.get("envelope_id") if isinstance(data, dict) else None
                    pend = self.pending_acks.get(eid) if eid else None
                    if pend and not pend[0].done():
                        pend[0].set_result(data)
                        log.info("socket %s: ack %s", conn["id"], eid)
                    else:
                        log.info("socket %s: message %s", conn["id"], msg.data[:300])
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    log.info("socket %s: error %s", conn["id"], ws.exception())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
            for eid, (fut, c) in list(self.pending_acks.items()):
                if c is conn and not fut.done():
                    fut.set_exception(ConnectionError("socket closed before the ack"))
            log.info("socket %s: closed (%d open)", conn["id"], len(self.conns))
        return ws

    def pick_conn(self):
        live = [c for c in self.conns if not c["ws"].closed]
        fresh = [c for c in live if not c["disconnecting"]]
        pool = fresh or live
        return pool[-1] if pool else None

    async def deliver_socket(self, etype, payload, accepts_response_payload, extra=None):
        conn = self.pick_conn()
        if conn is None:
            return None, web.json_response({"error": "no socket is open"}, status=409)
        eid = str(uuid.uuid4())
        env = {"envelope_id": eid, "payload": payload, "type": etype,
               "accepts_response_payload": accepts_response_payload}
        if extra:
            env.update(extra)
        fut = asyncio.get_running_loop().create_future()
        self.pending_acks[eid] = (fut, conn)
        rec = {"envelope_id": eid, "type": etype, "sent_at": now(), "ack": None, "acked_at": None,
               "connection": conn["id"]}
        self.envelopes.append(rec)
        try:
            await conn["ws"].send_json(env)
            log.info("socket %s: sent %s envelope %s", conn["id"], etype, eid)
            ack = await asyncio.wait_for(fut, ENVELOPE_ACK_TIMEOUT)
        except asyncio.TimeoutError:
            return None, web.json_response({"error": "no ack", "envelope_id": eid}, status=504)
        except (ConnectionError, RuntimeError) as e:
            return None, web.json_response({"error": f"no ack: {e}", "envelope_id": eid}, status=504)
        finally:
            self.pending_acks.pop(eid, None)
        rec["ack"] = ack
        rec["acked_at"] = now()
        return {"envelope_id": eid, "ack": ack, "elapsed": rec["acked_at"] - rec["sent_at"]}, None

    async def _close_later(self, conn, delay):
        await asyncio.sleep(delay)
        ws = conn["ws"]
        if not ws.closed:
            log.info("socket %s: closing after disconnect", conn["id"])
            try:
                await asyncio.wait_for(ws.close(code=1000, message=b"disconnect"), 3)
            except Exception:
                if conn["transport"] is not None:
                    conn["transport"].abort()

    # ======================================================================================
    # Delivering to the app over HTTP
    # ======================================================================================
    async def deliver_http(self, url, body: bytes, content_type, req, extra_headers=None):
        ts = req.get("timestamp")
        if ts is None:
            ts = str(int(now()))
        else:
            ts = str(int(float(ts)))
        sig = req.get("signature")
        if sig is None:
            sig = self.verifier.generate_signature(timestamp=ts, body=body)
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "Accept": "application/json,*/*",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
        }
        if extra_headers:
            headers.update(extra_headers)
        if req.get("omit_signature"):
            headers.pop("X-Slack-Signature")
            headers.pop("X-Slack-Request-Timestamp")
        t0 = now()
        try:
            async with self.client.post(url, data=body, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=HTTP_DELIVERY_TIMEOUT),
                                        allow_redirects=False) as resp:
                text = await resp.text(errors="replace")
                result = {"status": resp.status, "headers": dict(resp.headers), "body": text}
        except asyncio.TimeoutError:
            return None, web.json_response({"error": "the app did not answer in time"}, status=504)
        except aiohttp.ClientError as e:
            return None, web.json_response({"error": f"cannot reach the app: {e}"}, status=502)
        result["elapsed"] = now() - t0
        result["sent"] = {"headers": headers, "body": body.decode()}
        log.info("http delivery to %s -> %s in %.3fs", url, result["status"], result["elapsed"])
        return result, None

    # ======================================================================================
    # response_url
    # ======================================================================================
    def new_response_id(self, ctx):
        rid = secrets.token_hex(8)
        self.st.response_ctx[rid] = ctx
        return rid

    def response_url(self, rid):
        return f"{self.base_url}/_response/{rid}"

    def apply_response(self, rid, body, source):
        """What Slack does with a message sent to a response_url (or in a command's ack/reply)."""
        st = self.st
        ctx = st.response_ctx[rid]
        rec = {"id": rid, "body": body, "at": now(), "source": source, "effect": None}
        st.responses.append(rec)
        if not isinstance(body, dict):
            rec["effect"] = "ignored"
            return rec
        text = body.get("text")
        blocks = body.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                blocks = None
        target = None  # ("channel", message) or ("ephemeral", record)
        orig = ctx.get("original")
        if ctx.get("last_created") is not None and ctx["kind"] == "command":
            orig = ctx["last_created"]
        if orig is not None:
            kind, key = orig
            if kind == "channel":
                target = ("channel", st.find_message(*key))
            else:
                target = ("ephemeral", st.find_ephemeral(*key))
        if truthy(body.get("delete_original")):
            if target and target[1] is not None:
                target[1]["deleted"] = True
                rec["effect"] = f"deleted {target[0]} {target[1]['ts']}"
            else:
                rec["effect"] = "nothing to delete"
            return rec
        if truthy(body.get("replace_original")) and target and target[1] is not None:
            m = target[1]
            prev = m["versions"][-1]
            m["versions"].append({
                "text": text if text is not None else "",
                "blocks": fill_block_ids(blocks) if blocks else None,
                "metadata": prev["metadata"], "at": now(), "edit_ts": st.next_ts()})
            m["response_id"] = rid
            rec["effect"] = f"replaced {target[0]} {m['ts']}"
            rec["message_ts"] = m["ts"]
            return rec
        if text in (None, "") and not blocks:
            rec["effect"] = "nothing to show"
            return rec
        ts = st.next_ts()
        version = {"text": text if text is not None else "",
                   "blocks": fill_block_ids(blocks) if blocks else None,
                   "metadata": None, "at": now(), "edit_ts": None}
        if body.get("response_type") == "in_channel":
            m = {"channel": ctx["channel"], "ts": ts, "thread_ts": body.get("thread_ts") or None,
                 "kind": "bot", "user": self.cfg.bot_user, "deleted": False, "response_id": rid,
                 "source": source, "versions": [version]}
            st.messages.append(m)
            ctx["last_created"] = ("channel", (ctx["channel"], ts))
            rec["effect"] = f"posted in channel {ts}"
        else:
            m = {"channel": ctx["channel"], "user": ctx["user"], "ts": ts,
                 "thread_ts": body.get("thread_ts") or None, "source": source, "response_id": rid,
                 "deleted": False, "versions": [version]}
            st.ephemerals.append(m)
            ctx["last_created"] = ("ephemeral", (ctx["channel"], ts))
            rec["effect"] = f"ephemeral {ts}"
        rec["message_ts"] = ts
        return rec

    async def response_post(self, request: web.Request):
        rid = request.match_info["rid"]
        if rid not in self.st.response_ctx:
            return web.Response(status=404, text="no_such_response_url")
        raw = await request.read()
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = dict(urllib.parse.parse_qsl(raw.decode()))
                body = json.loads(form.get("payload", "{}"))
            else:
                body = json.loads(raw.decode() or "{}")
        except ValueError:
            self.st.responses.append({"id": rid, "body": raw.decode(errors="replace"), "at": now(),
                                      "source": "response_url", "effect": "invalid_payload"})
            return web.Response(status=400, text="invalid_payload")
        rec = self.apply_response(rid, body, "response_url")
        log.info("response_url %s: %s", rid, rec["effect"])
        return web.Response(text="ok")

    # ======================================================================================
    # Control API
    # ======================================================================================
    @staticmethod
    async def body(request):
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="JSON body expected")
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return data

    async def t_users(self, request):
        b = await self.body(request)
        uid = b.get("id")
        if not uid:
            raise web.HTTPBadRequest(text="id is required")
        u = {
            "id": uid, "name": b.get("name") or uid.lower(), "email": b.get("email"),
            "real_name": b.get("real_name"), "display_name": b.get("display_name"),
            "is_email_confirmed": bool(b.get("is_email_confirmed", True)),
            "is_bot": bool(b.get("is_bot", False)), "deleted": bool(b.get("deleted", False)),
            "is_admin": bool(b.get("is_admin", False)),
        }
        self.st.users[uid] = u
        return web.json_response({"ok": True, "user": self.st.user_shape(u)})

    async def t_calls(self, request):
        if request.method == "DELETE":
            self.st.calls.clear()
            return web.json_response({"ok": True})
        method = request.query.get("method")
        calls = [
            {k: c[k] for k in ("method", "params", "token_kind", "status", "at")}
            | ({"response": c["response"]} if "response" in c else {})
            for c in self.st.calls if method is None or c["method"] == method
        ]
        return web.json_response({"calls": calls})

    def message_out(self, m):
        return {
            "channel": m["channel"], "ts": m["ts"], "thread_ts": m["thread_ts"],
            "user": self.cfg.bot_user if m["kind"] == "bot" else m["user"],
            "bot": m["kind"] == "bot", "deleted": m["deleted"], "source": m["source"],
            "response_id": m["response_id"],
            "versions": [{"text": v["text"], "blocks": v["blocks"], "metadata": v["metadata"], "at": v["at"]}
                         for v in m["versions"]],
        }

    async def t_messages(self, request):
        chan = request.query.get("channel")
        cid = None
        if chan:
            cid = self.st.resolve_channel(chan, create=False)
            if cid is None:
                return web.json_response({"messages": []})
        msgs = [self.message_out(m) for m in self.st.messages if cid is None or m["channel"] == cid]
        return web.json_response({"messages": msgs})

    async def t_ephemerals(self, request):
        chan = request.query.get("channel")
        user = request.query.get("user")
        cid = self.st.resolve_channel(chan, create=False) if chan else None
        if chan and cid is None:
            return web.json_response({"ephemerals": []})
        out = []
        for e in self.st.ephemerals:
            if (cid is None or e["channel"] == cid) and (user is None or e["user"] == user):
                out.append({
                    "channel": e["channel"], "user": e["user"], "ts": e["ts"], "thread_ts": e["thread_ts"],
                    "source": e["source"], "response_id": e["response_id"], "deleted": e["deleted"],
                    "versions": [{"text": v["text"], "blocks": v["blocks"], "at": v["at"]} for v in e["versions"]],
                })
        return web.json_response({"ephemerals": out})

    async def t_channels(self, request):
        if request.method == "POST":
            b = await self.body(request)
            cid = self.st.resolve_channel(b.get("name") or b.get("id"), create=True)
            if cid is None:
                raise web.HTTPBadRequest(text="name or id is required")
            return web.json_response({"id": cid, "name": self.st.channel_name(cid)})
        return web.json_response({"channels": [{"id": c, "name": self.st.channel_name(c)}
                                               for c in self.st.channels]})

    async def t_rate_limit(self, request):
        b = await self.body(request)
        method = b.get("method")
        if not method:
            raise web.HTTPBadRequest(text="method is required")
        count = int(b.get("count", 1))
        retry_after = int(b.get("retry_after", 1))
        if count <= 0:
            self.st.rate_limits.pop(method, None)
        else:
            self.st.rate_limits[method] = {"count": count, "retry_after": retry_after}
        return web.json_response({"ok": True, "armed": self.st.rate_limits})

    async def t_outage(self, request):
        b = await self.body(request)
        on = bool(b.get("on"))
        mode = str(b.get("mode", "503"))
        if mode not in ("503", "reset"):
            raise web.HTTPBadRequest(text="mode is 503 or reset")
        self.st.outage = mode if on else None
        log.info("outage %s", self.st.outage or "off")
        return web.json_response({"ok": True, "outage": self.st.outage})

    async def t_responses(self, request):
        return web.json_response({"responses": self.st.responses})

    async def t_reset(self, request):
        self.st.reset()
        return web.json_response({"ok": True})

    async def t_socket(self, request):
        return web.json_response({
            "connections": len([c for c in self.conns if not c["ws"].closed]),
            "opened_total": self.opened_total,
            "tickets_issued": self.tickets_issued,
            "envelopes": self.envelopes,
        })

    async def t_socket_disconnect(self, request):
        b = await self.body(request)
        reason = b.get("reason", "refresh_requested")
        close_after = float(b.get("close_after", 3))
        n = 0
        for conn in list(self.conns):
            if conn["ws"].closed:
                continue
            conn["disconnecting"] = True
            try:
                await conn["ws"].send_json({"type": "disconnect", "reason": reason,
                                            "debug_info": {"host": "fake-1"}})
                n += 1
            except Exception as e:
                log.info("socket %s: could not send disconnect: %s", conn["id"], e)
            if close_after >= 0:
                asyncio.ensure_future(self._close_later(conn, close_after))
        log.info("sent disconnect (%s) to %d socket(s)", reason, n)
        return web.json_response({"ok": True, "sent": n})

    async def t_socket_drop(self, request):
        n = 0
        for conn in list(self.conns):
            if conn["transport"] is not None:
                conn["transport"].abort()
                n += 1
        log.info("dropped %d socket(s)", n)
        await asyncio.sleep(0.05)
        return web.json_response({"ok": True, "dropped": n})

    # -- payload builders ------------------------------------------------------------------
    def command_payload(self, b, cid, rid):
        user = b.get("user_id") or "U0USER"
        return {
            "token": self.cfg.verification_token,
            "team_id": self.cfg.team,
            "team_domain": TEAM_DOMAIN,
            "channel_id": cid,
            "channel_name": self.st.channel_name(cid),
            "user_id": user,
            "user_name": self.st.user_name(user),
            "command": b.get("command", "/jeny"),
            "text": b.get("text", ""),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.response_url(rid),
            "trigger_id": self.trigger_id(),
        }

    @staticmethod
    def trigger_id():
        return f"{random.randint(10**12, 10**13 - 1)}.{random.randint(10**11, 10**12 - 1)}.{secrets.token_hex(16)}"

    def via(self, b):
        via = b.get("via", "socket")
        if via not in ("http", "socket"):
            raise web.HTTPBadRequest(text="via is http or socket")
        if via == "http" and not b.get("url"):
            raise web.HTTPBadRequest(text="url is required with via http")
        return via

    def http_extras(self, b):
        return {k: b[k] for k in ("timestamp", "signature", "omit_signature") if k in b}

    async def t_command(self, request):
        b = await self.body(request)
        via = self.via(b)
        cid = self.st.resolve_channel(b.get("channel_id") or "#general", create=True)
        user = b.get("user_id") or "U0USER"
        rid = self.new_response_id({"kind": "command", "channel": cid, "user": user,
                                    "original": None, "last_created": None})
        payload = self.command_payload(b, cid, rid)
        if via == "socket":
            res, err = await self.deliver_socket("slash_commands", payload, True)
            if err:
                return err
            ack_payload = res["ack"].get("payload") if isinstance(res["ack"], dict) else None
            if ack_payload:
                self.apply_response(rid, ack_payload, "ack")
        else:
            body = urllib.parse.urlencode(payload).encode()
            res, err = await self.deliver_http(b["url"], body, "application/x-www-form-urlencoded",
                                               self.http_extras(b))
            if err:
                return err
            if res["status"] == 200 and res["body"].strip():
                ctype = res["headers"].get("Content-Type", "")
                if "json" in ctype:
                    try:
                        self.apply_response(rid, json.loads(res["body"]), "http_response")
                    except ValueError:
                        pass
                else:
                    self.apply_response(rid, {"text": res["body"]}, "http_response")
        res["response_id"] = rid
        res["response_url"] = self.response_url(rid)
        res["payload"] = payload
        return web.json_response(res)

    async def t_action(self, request):
        b = await self.body(request)
        via = self.via(b)
        st = self.st
        action_id = b.get("action_id")
        if not action_id:
            raise web.HTTPBadRequest(text="action_id is required")
        user = b.get("user_id") or "U0USER"
        target = None  # ("channel"|"ephemeral", record)
        if b.get("response_id"):
            rid = b["response_id"]
            cands = [("channel", m) for m in st.messages if m["response_id"] == rid] + \
                    [("ephemeral", e) for e in st.ephemerals if e["response_id"] == rid]
            cands = [c for c in cands if not c[1]["deleted"]]
            cands.sort(key=lambda c: c[1]["versions"][-1]["at"])
            with_button = [c for c in cands if find_button(c[1]["versions"][-1]["blocks"], action_id)[1]]
            target = (with_button or cands or [None])[-1]
            if target is None:
                return web.json_response({"error": f"no message from response {rid}"}, status=404)
        else:
            ts = b.get("message_ts")
            if not ts:
                raise web.HTTPBadRequest(text="message_ts or response_id is required")
            cid = st.resolve_channel(b.get("channel_id"), create=False) if b.get("channel_id") else None
            m = None
            for cand in st.messages:
                if cand["ts"] == ts and (cid is None or cand["channel"] == cid):
                    m = cand
            if m is not None:
                target = ("channel", m)
            else:
                e = st.find_ephemeral(cid, ts)
                if e is not None:
                    target = ("ephemeral", e)
            if target is None:
                return web.json_response({"error": f"no message {ts}"}, status=404)
        kind, msg = target
        if msg["deleted"]:
            return web.json_response({"error": "that message was deleted"}, status=404)
        cid = msg["channel"]
        block, button = find_button(msg["versions"][-1]["blocks"], action_id)
        if button is None:
            return web.json_response({"error": f"no element with action_id {action_id} in the message"},
                                     status=404)
        rid = self.new_response_id({"kind": "action", "channel": cid, "user": user,
                                    "original": (kind, (cid, msg["ts"])), "last_created": None})
        action_ts = st.next_ts()
        action = {"action_id": action_id, "block_id": block.get("block_id")}
        if isinstance(button.get("text"), dict):
            action["text"] = dict(button["text"])
            if action["text"].get("type") == "plain_text":
                action["text"].setdefault("emoji", True)
        if "value" in button:
            action["value"] = button["value"]
        if "style" in button:
            action["style"] = button["style"]
        action["type"] = button.get("type", "button")
        action["action_ts"] = action_ts
        u = st.users.get(user)
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": st.user_name(user), "name": st.user_name(user),
                     "team_id": self.cfg.team},
            "api_app_id": APP_ID,
            "token": self.cfg.verification_token,
            "container": {"type": "message", "message_ts": msg["ts"], "channel_id": cid,
                          "is_ephemeral": kind == "ephemeral"},
            "trigger_id": self.trigger_id(),
            "team": {"id": self.cfg.team, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": cid, "name": st.channel_name(cid)},
            "state": {"values": {}},
            "response_url": self.response_url(rid),
            "actions": [action],
        }
        if b.get("response_url"):
            # A payload naming another response_url, as a forged or misdirected one would.
            payload["response_url"] = b["response_url"]
        if kind == "channel":
            payload["message"] = st.slack_message(msg, include_metadata=bool(b.get("include_metadata")))
            if msg["thread_ts"] and msg["thread_ts"] != msg["ts"]:
                payload["container"]["thread_ts"] = msg["thread_ts"]
        if u is None:
            log.info("action by unregistered user %s", user)
        if via == "socket":
            res, err = await self.deliver_socket("interactive", payload, False)
        else:
            body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
            res, err = await self.deliver_http(b["url"], body, "application/x-www-form-urlencoded",
                                               self.http_extras(b))
        if err:
            return err
        res["response_id"] = rid
        res["response_url"] = self.response_url(rid)
        res["payload"] = payload
        return web.json_response(res)

    async def t_mention(self, request):
        b = await self.body(request)
        via = self.via(b)
        st = self.st
        user = b.get("user_id") or "U0USER"
        cid = st.resolve_channel(b.get("channel_id") or "#general", create=True)
        text = b.get("text", f"<@{self.cfg.bot_user}>")
        ts = st.next_ts()
        thread_ts = b.get("thread_ts") or None
        client_msg_id = str(uuid.uuid4())
        st.messages.append({
            "channel": cid, "ts": ts, "thread_ts": thread_ts, "kind": "user", "user": user,
            "deleted": False, "response_id": None, "source": "mention", "client_msg_id": client_msg_id,
            "versions": [{"text": text, "blocks": None, "metadata": None, "at": now(), "edit_ts": None}],
        })
        event = {"type": "app_mention", "user": user, "text": text, "ts": ts,
                 "client_msg_id": client_msg_id, "team": self.cfg.team, "channel": cid, "event_ts": ts}
        if thread_ts:
            event["thread_ts"] = thread_ts
        event_id = b.get("event_id") or rand_id("Ev0", 8)
        envelope = {
            "token": self.cfg.verification_token,
            "team_id": self.cfg.team,
            "context_team_id": self.cfg.team,
            "context_enterprise_id": None,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(float(ts)),
            "authorizations": [{"enterprise_id": None, "team_id": self.cfg.team,
                                "user_id": self.cfg.bot_user, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": "4-" + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("="),
        }
        retry_attempt = int(b.get("retry_attempt", 0))
        retry_reason = b.get("retry_reason", "" if retry_attempt == 0 else "timeout")
        if via == "socket":
            res, err = await self.deliver_socket("events_api", envelope, False,
                                                 {"retry_attempt": retry_attempt, "retry_reason": retry_reason})
        else:
            extra_headers = None
            if retry_attempt > 0:
                extra_headers = {"X-Slack-Retry-Num": str(retry_attempt), "X-Slack-Retry-Reason": retry_reason}
            res, err = await self.deliver_http(b["url"], json.dumps(envelope).encode(), "application/json",
                                               self.http_extras(b), extra_headers)
        if err:
            return err
        res["ts"] = ts
        res["channel"] = cid
        res["event_id"] = event_id
        res["payload"] = envelope
        return web.json_response(res)

    async def t_url_verification(self, request):
        b = await self.body(request)
        if not b.get("url"):
            raise web.HTTPBadRequest(text="url is required")
        challenge = b.get("challenge") or secrets.token_urlsafe(36)
        payload = {"token": self.cfg.verification_token, "challenge": challenge, "type": "url_verification"}
        res, err = await self.deliver_http(b["url"], json.dumps(payload).encode(), "application/json",
                                           self.http_extras(b))
        if err:
            return err
        res["challenge"] = challenge
        return web.json_response(res)

    # ======================================================================================
    def app(self):
        app = web.Application(client_max_size=8 * 1024 * 1024)
        r = app.router
        r.add_route("POST", "/api/{method}", self.api)
        r.add_route("GET", "/api/{method}", self.api)
        r.add_get("/link/", self.link)
        r.add_get("/link", self.link)
        r.add_post("/_response/{rid}", self.response_post)
        r.add_post("/_test/users", self.t_users)
        r.add_get("/_test/calls", self.t_calls)
        r.add_delete("/_test/calls", self.t_calls)
        r.add_get("/_test/messages", self.t_messages)
        r.add_get("/_test/ephemerals", self.t_ephemerals)
        r.add_get("/_test/channels", self.t_channels)
        r.add_post("/_test/channels", self.t_channels)
        r.add_post("/_test/rate_limit", self.t_rate_limit)
        r.add_post("/_test/outage", self.t_outage)
        r.add_get("/_test/responses", self.t_responses)
        r.add_post("/_test/reset", self.t_reset)
        r.add_get("/_test/socket", self.t_socket)
        r.add_post("/_test/socket/disconnect", self.t_socket_disconnect)
        r.add_post("/_test/socket/drop", self.t_socket_drop)
        r.add_post("/_test/command", self.t_command)
        r.add_post("/_test/action", self.t_action)
        r.add_post("/_test/mention", self.t_mention)
        r.add_post("/_test/url_verification", self.t_url_verification)
        return app


async def main_async(cfg):
    fake = FakeSlack(cfg)
    runner = web.AppRunner(fake.app(), access_log=None, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", cfg.port)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}"
    fake.client = aiohttp.ClientSession()
    sys.stdout.write(f"listening on {fake.base_url}\n")
    sys.stdout.flush()
    log.info("fake Slack up at %s (team %s, bot user %s)", fake.base_url, cfg.team, cfg.bot_user)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not cfg.no_stdin_watch:
        def watch_stdin():
            try:
                while True:
                    chunk = os.read(0, 4096)
                    if not chunk:
                        break
            except OSError:
                pass
            loop.call_soon_threadsafe(stop.set)
        threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    log.info("stopping")
    for conn in list(fake.conns):
        if conn["transport"] is not None:
            conn["transport"].abort()
    await fake.client.close()
    await runner.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bot-token", default="xoxb-test")
    ap.add_argument("--app-token", default="xapp-test")
    ap.add_argument("--signing-secret", default="SECRET")
    ap.add_argument("--team", default="T0TEST")
    ap.add_argument("--bot-user", default="UBOT")
    ap.add_argument("--verification-token", default="fakeVerificationToken0001",
                    help="the legacy verification token put in payloads")
    ap.add_argument("--no-stdin-watch", action="store_true",
                    help="do not exit when stdin closes (for running it by hand with no stdin)")
    ap.add_argument("--verbose", action="store_true")
    cfg = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if cfg.verbose else logging.INFO,
                        format="fake_slack %(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    try:
        asyncio.run(main_async(cfg))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
