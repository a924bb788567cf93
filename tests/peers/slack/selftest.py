#!/usr/bin/env python3
"""Checks the fake Slack against Slack's own Python SDK (slack_sdk): its Web API client, retry
handlers, signature verifier and Socket Mode client. Run after tests/peers/slack/setup:

  $HOME/.cache/jeny/peers/slack/bin/python tests/peers/slack/selftest.py

Prints `N passed, 0 failed` and exits 0 when everything holds.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings

from aiohttp import ClientSession, web
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

HERE = os.path.dirname(os.path.abspath(__file__))
BOT, APP, SECRET, TEAM, BOT_USER = "xoxb-test", "xapp-test", "SECRET", "T0TEST", "UBOT"

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


def start_fake():
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "fake_slack.py"), "--port", "0", "--bot-token", BOT,
         "--app-token", APP, "--signing-secret", SECRET, "--team", TEAM, "--bot-user", BOT_USER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open("/tmp/fake_slack_selftest.log", "w"),
        text=True)
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on http://127.0.0.1:"), line
    return proc, line.split(" ", 2)[2]


def ctl(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        txt = e.read()
        try:
            return e.code, json.loads(txt)
        except ValueError:
            return e.code, txt.decode()


def raw_api(base, method, body: bytes, ctype, token=None):
    headers = {"Content-Type": ctype} if ctype else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"{base}/api/{method}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def web_api_checks(base):
    api = base + "/api/"
    c = WebClient(token=BOT, base_url=api)
    r = c.auth_test()
    check(r["ok"] and r["user_id"] == BOT_USER and r["team_id"] == TEAM and r["bot_id"] == "B0BOT", "auth.test")

    ctl(base, "POST", "/_test/users", {"id": "U1", "email": "a@example.com", "name": "alice",
                                        "is_email_confirmed": True})
    u = c.users_info(user="U1")["user"]
    check(u["profile"]["email"] == "a@example.com" and u["name"] == "alice" and u["is_email_confirmed"],
          "users.info of a registered user")
    try:
        c.users_info(user="UNOPE")
        check(False, "users.info unknown -> user_not_found")
    except SlackApiError as e:
        check(e.response["error"] == "user_not_found", "users.info unknown -> user_not_found")

    for tok, err in ((None, "not_authed"), ("xoxb-wrong", "invalid_auth")):
        try:
            WebClient(token=tok, base_url=api).chat_postMessage(channel="#x", text="hi")
            check(False, f"token {tok} -> {err}")
        except SlackApiError as e:
            check(e.response["error"] == err and e.response.status_code == 200, f"token {tok} -> {err}")
    try:
        c.apps_connections_open(app_token=BOT)
        check(False, "bot token on apps.connections.open")
    except SlackApiError as e:
        check(e.response["error"] == "not_allowed_token_type", "bot token on apps.connections.open")
    try:
        WebClient(token=APP, base_url=api).chat_postMessage(channel="#x", text="hi")
        check(False, "app token on chat.postMessage")
    except SlackApiError as e:
        check(e.response["error"] == "not_allowed_token_type", "app token on chat.postMessage")

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*shop* to staging"}},
              {"type": "actions", "block_id": "act", "elements": [
                  {"type": "button", "action_id": "approve", "value": "dep-1",
                   "text": {"type": "plain_text", "text": "Approve"}, "style": "primary"}]}]
    meta = {"event_type": "jeny_deploy", "event_payload": {"deploy_id": "dep-1"}}
    r = c.chat_postMessage(channel="#deploys", text="shop to staging", blocks=blocks, metadata=meta)
    cid, ts = r["channel"], r["ts"]
    check(r["ok"] and cid.startswith("C") and len(cid) == 9 and r["message"]["bot_id"] == "B0BOT"
          and r["message"]["metadata"] == meta, "chat.postMessage (SDK sends JSON-string blocks/metadata)")
    r2 = c.chat_postMessage(channel="deploys", text="again")
    check(r2["channel"] == cid and float(r2["ts"]) > float(ts), "channel name maps to a stable id; ts grows")
    r3 = c.chat_postMessage(channel=cid, text="in thread", thread_ts=ts)
    check(r3["message"]["thread_ts"] == ts, "thread reply")
    try:
        c.chat_postMessage(channel="#deploys")
        check(False, "no_text")
    except SlackApiError as e:
        check(e.response["error"] == "no_text", "no_text")
    try:
        c.chat_postMessage(channel="#deploys", text="x", blocks=[{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}])
        check(False, "invalid_blocks")
    except SlackApiError as e:
        check(e.response["error"] == "invalid_blocks" and e.response["errors"], "invalid_blocks")

    c.chat_update(channel=cid, ts=ts, text="running", blocks=blocks[:1],
                  metadata={"event_type": "jeny_deploy", "event_payload": {"deploy_id": "dep-1", "state": "running"}})
    r = c.chat_update(channel="#deploys", ts=ts, text="done")
    kept = r["message"]["blocks"]
    check(r["ts"] == ts and len(kept) == 1 and kept[0]["text"] == blocks[0]["text"] and kept[0]["block_id"],
          "chat.update keeps blocks when left out (Slack fills in a block_id)")
    try:
        c.chat_update(channel=cid, ts="1.000001", text="x")
        check(False, "chat.update unknown ts")
    except SlackApiError as e:
        check(e.response["error"] == "message_not_found", "chat.update unknown ts -> message_not_found")

    h = c.conversations_history(channel=cid, include_all_metadata=True)
    msgs = h["messages"]
    check(len(msgs) == 2 and msgs[0]["ts"] == r2["ts"] and msgs[1]["ts"] == ts, "history newest first, top level only")
    check(msgs[1]["metadata"]["event_payload"]["state"] == "running" and msgs[1]["reply_count"] == 1,
          "history with metadata and reply_count")
    h = c.conversations_history(channel=cid)
    check("metadata" not in h["messages"][1], "history without include_all_metadata has no metadata")
    page = c.conversations_history(channel=cid, limit=1)
    check(page["has_more"] and page["response_metadata"]["next_cursor"], "history pages with a cursor")
    rep = c.conversations_replies(channel=cid, ts=ts, include_all_metadata="1")
    check([m["ts"] for m in rep["messages"]] == [ts, r3["ts"]] and "metadata" in rep["messages"][0],
          "conversations.replies parent then replies")

    _, vs = ctl(base, "GET", "/_test/messages?channel=%23deploys")
    first = vs["messages"][0]
    check([v["text"] for v in first["versions"]] == ["shop to staging", "running", "done"],
          "every version of a message is kept")
    _, calls = ctl(base, "GET", "/_test/calls?method=chat.update")
    check(len(calls["calls"]) == 3 and calls["calls"][0]["params"]["metadata"]["event_type"] == "jeny_deploy"
          and calls["calls"][0]["token_kind"] == "bot", "calls recorded with parsed params")

    e = c.chat_postEphemeral(channel=cid, user="U1", text="only you")
    check(e["ok"] and e["message_ts"], "chat.postEphemeral")

    # form-encoded with token parameter, and a JSON body without charset
    st, _, body = raw_api(base, "auth.test", urllib.parse.urlencode({"token": BOT}).encode(),
                          "application/x-www-form-urlencoded")
    check(st == 200 and body["ok"], "token as a form parameter")
    st, _, body = raw_api(base, "chat.postMessage", json.dumps({"channel": "#json", "text": "j",
                          "blocks": blocks}).encode(), "application/json", token=BOT)
    check(body["ok"] and body.get("warning") == "missing_charset", "JSON without charset -> missing_charset warning")
    st, _, body = raw_api(base, "auth.test", json.dumps({"token": BOT}).encode(), "application/json; charset=utf-8")
    check(body == {"ok": False, "error": "not_authed"}, "a token in a JSON body is not read")

    # rate limit retried by the SDK's own handler
    ctl(base, "POST", "/_test/rate_limit", {"method": "chat.update", "count": 1, "retry_after": 1})
    ctl(base, "DELETE", "/_test/calls")
    rc = WebClient(token=BOT, base_url=api, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    t0 = time.time()
    rc.chat_update(channel=cid, ts=ts, text="after 429")
    waited = time.time() - t0
    _, calls = ctl(base, "GET", "/_test/calls?method=chat.update")
    check([x["status"] for x in calls["calls"]] == [429, 200] and waited >= 1.0,
          f"429 + Retry-After retried by RateLimitErrorRetryHandler (waited {waited:.2f}s)")
    st, hdrs, body = (ctl(base, "POST", "/_test/rate_limit", {"method": "auth.test", "count": 1, "retry_after": 7}),
                      None, None)
    st, hdrs, body = raw_api(base, "auth.test", b"", None, token=BOT)
    check(st == 429 and hdrs.get("Retry-After") == "7" and body["error"] == "ratelimited", "429 shape")

    # outage
    ctl(base, "POST", "/_test/outage", {"on": True})
    st, _, body = raw_api(base, "auth.test", b"", None, token=BOT)
    check(st == 503, "outage -> 503")
    ctl(base, "POST", "/_test/outage", {"on": True, "mode": "reset"})
    try:
        raw_api(base, "auth.test", b"", None, token=BOT)
        check(False, "outage reset mode drops the connection")
    except Exception:
        check(True, "outage reset mode drops the connection")
    ctl(base, "POST", "/_test/outage", {"on": False})
    check(c.auth_test()["ok"], "outage off")
    return cid


async def app_side(base, cid):
    """An app endpoint (HTTP) plus a Socket Mode client, driven through the control API."""
    verifier = SignatureVerifier(SECRET)
    seen = []

    async def endpoint(request):
        body = await request.read()
        valid = verifier.is_valid_request(body, dict(request.headers))
        seen.append({"headers": dict(request.headers), "body": body.decode(), "valid": valid})
        if not valid:
            return web.Response(status=401, text="bad signature")
        if request.content_type == "application/json":
            data = json.loads(body)
            if data["type"] == "url_verification":
                return web.json_response({"challenge": data["challenge"]})
            return web.Response(status=200)
        form = dict(urllib.parse.parse_qsl(body.decode()))
        if "payload" in form:
            return web.Response(status=200)
        return web.json_response({"response_type": "ephemeral", "text": f"deploying {form['text']}",
                                  "blocks": [{"type": "actions", "elements": [
                                      {"type": "button", "action_id": "confirm", "value": form["text"],
                                       "text": {"type": "plain_text", "text": "Confirm"}}]}]})

    app = web.Application()
    app.router.add_post("/slack", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack"

    async with ClientSession() as s:
        async def post(path, body):
            async with s.post(base + path, json=body) as r:
                return r.status, await r.json(content_type=None)

        async def get(path):
            async with s.get(base + path) as r:
                return await r.json()

        st, res = await post("/_test/url_verification", {"url": url})
        check(st == 200 and json.loads(res["body"])["challenge"] == res["challenge"], "url_verification over HTTP")
        check(seen[-1]["valid"] and seen[-1]["headers"]["X-Slack-Signature"].startswith("v0="),
              "delivered signature verifies with SignatureVerifier")

        st, res = await post("/_test/command", {"via": "http", "url": url, "user_id": "U1",
                                                "channel_id": "#deploys", "text": "shop staging"})
        form = dict(urllib.parse.parse_qsl(seen[-1]["body"]))
        check(st == 200 and res["status"] == 200 and form["command"] == "/jeny" and form["user_name"] == "alice"
              and form["channel_id"] == cid and form["response_url"].startswith(base + "/_response/"),
              "slash command over HTTP, form fields")
        rid = res["response_id"]
        resp = await get("/_test/responses")
        check(resp["responses"][-1]["id"] == rid and resp["responses"][-1]["source"] == "http_response",
              "command HTTP reply recorded as a response")

        st, res = await post("/_test/command", {"via": "http", "url": url, "user_id": "U1", "channel_id": cid,
                                                "text": "x", "timestamp": int(time.time()) - 600})
        check(res["status"] == 401, "a 10 minute old timestamp is refused by the verifier")
        st, res = await post("/_test/command", {"via": "http", "url": url, "user_id": "U1", "channel_id": cid,
                                                "text": "x", "signature": "v0=bad"})
        check(res["status"] == 401, "a bad signature is refused by the verifier")

        # click the button of the ephemeral reply through its response_url id
        st, res = await post("/_test/action", {"via": "http", "url": url, "user_id": "U1", "channel_id": cid,
                                               "response_id": rid, "action_id": "confirm"})
        payload = json.loads(dict(urllib.parse.parse_qsl(seen[-1]["body"]))["payload"])
        check(st == 200 and payload["type"] == "block_actions" and payload["actions"][0]["value"] == "shop staging"
              and payload["container"]["is_ephemeral"] is True, "action on an ephemeral response_url message")
        # the app answers through the response_url
        async with s.post(payload["response_url"], json={"replace_original": True, "text": "confirmed"}) as r:
            check(r.status == 200 and await r.text() == "ok", "response_url answers ok")

        msgs = (await get("/_test/messages?channel=%23deploys"))["messages"]
        ts = msgs[0]["ts"]
        st, res = await post("/_test/action", {"via": "http", "url": url, "user_id": "U1", "channel_id": cid,
                                               "message_ts": ts, "action_id": "approve"})
        check(st == 404, "a button no longer in the latest blocks cannot be clicked")

        st, res = await post("/_test/mention", {"via": "http", "url": url, "user_id": "U1", "channel_id": cid,
                                                "text": f"<@{BOT_USER}> deploy shop staging"})
        ev = json.loads(seen[-1]["body"])
        check(st == 200 and res["status"] == 200 and ev["type"] == "event_callback"
              and ev["event"]["type"] == "app_mention" and ev["event"]["ts"] == res["ts"], "app_mention over HTTP")

        # Socket Mode with the SDK's aiohttp client
        got = []
        web_client = AsyncWebClient(token=APP, base_url=base + "/api/")
        sm = SocketModeClient(app_token=APP, web_client=web_client, ping_interval=1)

        async def listener(client: SocketModeClient, req: SocketModeRequest):
            got.append(req)
            if req.type == "slash_commands":
                await client.send_socket_mode_response(SocketModeResponse(
                    envelope_id=req.envelope_id,
                    payload={"response_type": "in_channel", "text": f"ok {req.payload['text']}",
                             "blocks": [{"type": "actions", "elements": [{
                                 "type": "button", "action_id": "go", "value": "v",
                                 "text": {"type": "plain_text", "text": "Go"}}]}]}))
            else:
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

        sm.socket_mode_request_listeners.append(listener)
        await sm.connect()
        for _ in range(50):
            if (await get("/_test/socket"))["connections"] == 1:
                break
            await asyncio.sleep(0.1)
        st, res = await post("/_test/command", {"via": "socket", "user_id": "U1", "channel_id": cid,
                                                "text": "shop prod"})
        check(st == 200 and res["ack"]["envelope_id"] == res["envelope_id"]
              and res["ack"]["payload"]["text"] == "ok shop prod" and got[-1].payload["command"] == "/jeny",
              "slash command over the socket, acked with a payload")
        msgs = (await get(f"/_test/messages?channel={cid}"))["messages"]
        check(msgs[-1]["source"] == "ack" and msgs[-1]["response_id"] == res["response_id"],
              "an in_channel ack payload becomes a channel message")
        st, res2 = await post("/_test/action", {"via": "socket", "user_id": "U1", "channel_id": cid,
                                                "message_ts": msgs[-1]["ts"], "action_id": "go"})
        check(st == 200 and got[-1].type == "interactive" and got[-1].payload["message"]["ts"] == msgs[-1]["ts"],
              "action over the socket")
        st, res3 = await post("/_test/mention", {"via": "socket", "user_id": "U1", "channel_id": cid,
                                                 "text": f"<@{BOT_USER}> status"})
        check(st == 200 and got[-1].type == "events_api" and got[-1].retry_attempt == 0, "mention over the socket")

        before = await get("/_test/socket")
        await post("/_test/socket/disconnect", {"reason": "refresh_requested"})
        for _ in range(100):
            now_ = await get("/_test/socket")
            if now_["opened_total"] > before["opened_total"] and now_["connections"] >= 1:
                break
            await asyncio.sleep(0.1)
        check(now_["opened_total"] == before["opened_total"] + 1 and now_["tickets_issued"] == before["tickets_issued"] + 1,
              "SDK reconnects after a disconnect message with a new ticket")
        await asyncio.sleep(3.5)
        st, res = await post("/_test/command", {"via": "socket", "user_id": "U1", "channel_id": cid, "text": "after"})
        check(st == 200 and (await get("/_test/socket"))["connections"] == 1, "old socket closed, new one serves")

        before = await get("/_test/socket")
        await post("/_test/socket/drop", {})
        for _ in range(200):
            now_ = await get("/_test/socket")
            if now_["opened_total"] > before["opened_total"] and now_["connections"] >= 1:
                break
            await asyncio.sleep(0.1)
        check(now_["opened_total"] == before["opened_total"] + 1, "SDK reconnects after the socket is dropped")
        await sm.close()
        await asyncio.sleep(0.3)
        st, res = await post("/_test/command", {"via": "socket", "user_id": "U1", "channel_id": cid, "text": "x"})
        check(st == 409, "no socket -> 409")
    await runner.cleanup()


def main():
    warnings.simplefilter("ignore", UserWarning)  # the SDK's "add a text argument" advice
    proc, base = start_fake()
    try:
        cid = web_api_checks(base)
        asyncio.run(app_side(base, cid))
    finally:
        proc.stdin.close()  # closing stdin stops the fake
        try:
            proc.wait(5)
            check(True, "fake exits when stdin closes")
        except subprocess.TimeoutExpired:
            proc.kill()
            check(False, "fake exits when stdin closes")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
