"""The console in a real browser (Debian's Chromium through Playwright) against `otp-mock serve`
over real HTTP on 127.0.0.1: the live inbox, API Testing, CORS from another origin, escaping,
accessibility and the keyboard."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from test_served import start, stop

pytestmark = pytest.mark.served
ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "frontend", "pw-frontend"


def send(url: str, to: str, template: str = "sms-default", params: dict[str, str] | None = None,
         key: str = KEY) -> dict[str, Any]:
    body: dict[str, Any] = {"to": to, "template": {"id": template, **({"params": params} if params else {})}}
    reply = requests.post(f"{url}/v1/messages", json=body, auth=(key, SECRET), timeout=10)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def node(message_id: int) -> int:
    """The node of the process that made a message id: each worker takes its own from the
    store (mockserver.otp.ids)."""
    return (message_id >> 12) & 0x3FF


WORKERS: dict[str, bool] = {}  # base URL -> served by two workers


@pytest.fixture(scope="module", params=["one-process", "two-workers"])
def mock_url(request: pytest.FixtureRequest) -> Iterator[str]:
    args = ["--workers", "2", "--threads", "4"] if request.param == "two-workers" else []
    process, url = start("--seed", "11", *args)
    WORKERS[url] = bool(args)
    yield url
    code, out, err = stop(process)
    assert code == 0, err
    assert SECRET not in out + err


def test_a_sent_code_shows_live_then_verifies_through_api_testing(page: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{mock_url}/")
    expect(page.locator("h1")).to_contain_text("History Records")
    recipients: dict[int, str] = {}  # the node of a message id (the worker that made it) -> its recipient
    recipient, sent = "", {}
    for attempt in range(40):  # with workers: until sends went to both, so one is not the page's worker
        recipient = f"+659100{attempt:04d}"
        sent = send(mock_url, recipient)
        recipients.setdefault(node(int(sent["message_id"])), recipient)
        if len(recipients) == (2 if WORKERS[mock_url] else 1):
            break
    else:
        raise AssertionError(f"40 sends all went to one worker: {recipients}")
    started = time.monotonic()
    for shown in recipients.values():  # every worker's message, in the one tab (served by one of them)
        expect(page.locator("tr.msg", has_text=shown)).to_be_visible(timeout=1000)
    assert time.monotonic() - started < 1.0  # no reload: the page's poll brings them
    row = page.locator("tr.msg", has_text=recipient)
    code = row.locator('[data-field="code"]').inner_text().strip()
    assert code.isdigit() and len(code) == 6
    expect(row.locator('[data-field="status"]')).to_have_text("delivered")

    page.get_by_role("link", name="OTP Verification").click()
    page.get_by_label("dev_key").fill(KEY)
    page.get_by_label("dev_secret").fill(SECRET)
    page.get_by_label("message_id").fill(sent["message_id"])
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#http-status")).to_have_text("HTTP 200 OK")
    assert json.loads(page.locator("#response-body").inner_text())["verified"] is True

    page.get_by_role("link", name="History Records").click()
    expect(page.locator("tr.msg", has_text=recipient).locator('[data-field="status"]')).to_have_text("verified")


def test_the_send_page_shows_the_raw_answer_and_a_forced_error(page: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{mock_url}/_mock/console/send")
    page.get_by_label("dev_key").fill(KEY)
    page.get_by_label("dev_secret").fill(SECRET)
    page.get_by_label("Target (phone number or e-mail)").fill("+6598765432")
    page.get_by_label("Template ID").fill("sms-default")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#http-status")).to_have_text("HTTP 200 OK")
    answer = json.loads(page.locator("#response-body").inner_text())
    assert answer["send_channel"] == "sms" and answer["message_id"].isdigit()
    page.get_by_label("Force an error").select_option("3004")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#http-status")).to_contain_text("HTTP 400")
    assert json.loads(page.locator("#response-body").inner_text())["code"] == 3004
    assert page.locator("#response-links a").count() == 0


def test_the_detail_s_actions_and_the_controls(page: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    sent = send(mock_url, "+6591235555", key="actions")
    page.goto(f"{mock_url}/_mock/console/latest?to=+6591235555")  # the deep link, + unencoded
    expect(page.locator("#message-id")).to_have_text(sent["message_id"])
    page.get_by_role("button", name="Expire now").click()
    expect(page.locator("#action-result")).to_have_text("Done: the message is now verified_timeout.")
    expect(page.locator("h1 .status")).to_have_text("verified_timeout")
    expect(page.get_by_role("button", name="Expire now")).to_be_disabled()

    page.goto(f"{mock_url}/_mock/console/controls")
    page.locator("select[name=name]").select_option("rate-limited")
    page.locator("form[data-path='/_mock/scenario'] input[name=dev_key]").fill("actions")
    page.get_by_role("button", name="Switch").click()
    expect(page.locator("ul.keys")).to_contain_text("actions: rate-limited")
    page.locator("form[data-path='/_mock/clock'] input[name=dev_key]").fill("actions")
    page.get_by_role("button", name="+1 h").click()
    page.wait_for_load_state("load")
    clock = requests.get(f"{mock_url}/_mock/clock", params={"dev_key": "actions"}, timeout=5).json()
    assert clock["offset_seconds"] >= 3600
    replies = [requests.post(f"{mock_url}/v1/messages", json={"to": f"+659123555{i}", "template": {
        "id": "sms-default"}}, auth=("actions", SECRET), timeout=5).json() for i in (6, 7)]
    assert "message_id" in replies[0] and replies[1]["code"] == 3004  # the scenario the page switched on
    page.locator("form[data-path='/_mock/reset'] input[name=dev_key]").fill("actions")
    page.get_by_role("button", name="Reset").click()
    expect(page.locator("#control-result")).to_have_text("Click again to forget this state")
    page.get_by_role("button", name="Reset").click()
    page.wait_for_load_state("load")
    assert requests.get(f"{mock_url}/_mock/messages", params={"dev_key": "actions"},
                        timeout=5).json()["messages"] == []


class _Page(http.server.BaseHTTPRequestHandler):
    """A page of another origin (a frontend app) that calls the mock with fetch."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>frontend app</title><p>app</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"  # another origin than the mock's 127.0.0.1
    server.shutdown()
    server.server_close()


FETCH = """async ([url, auth]) => {
  try {
    const reply = await fetch(url + "/v1/messages", {method: "POST", headers: {
      "Authorization": "Basic " + btoa(auth), "Content-Type": "application/json"},
      body: JSON.stringify({to: "+6591112222", template: {id: "sms-default"}})});
    return {status: reply.status, body: await reply.json(), note: reply.headers.get("X-Mock-Note")};
  } catch (error) { return {blocked: String(error)}; }
}"""


def test_a_page_of_another_origin_calls_the_api(page: Any, mock_url: str, app_origin: str) -> None:
    page.goto(app_origin)
    answer = page.evaluate(FETCH, [mock_url, f"{KEY}:{SECRET}"])
    assert answer["status"] == 200 and answer["body"]["send_channel"] == "sms", answer


def test_a_cors_list_without_the_origin_blocks_it(page: Any, app_origin: str) -> None:
    process, url = start("--cors-origin", "http://localhost:5173")
    try:
        page.goto(app_origin)
        answer = page.evaluate(FETCH, [url, f"{KEY}:{SECRET}"])
        assert answer == {"blocked": "TypeError: Failed to fetch"}
        allowed = requests.options(f"{url}/v1/messages", timeout=5, headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
        assert "Access-Control-Allow-Origin" not in requests.options(f"{url}/v1/messages", timeout=5, headers={
            "Origin": app_origin, "Access-Control-Request-Method": "POST"}).headers
    finally:
        stop(process)


XSS = "<img src=x onerror=window.__xss=1>"


def test_values_from_requests_render_as_text_and_run_nothing(page: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    template = {"template_id": "xss-template", "description": "<script>window.__xss=4</script>",
                "send_channel_strategy": "sms", "brand_name": "Acme",
                "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5},
                "sms_config": {"template_type": 2, "template_custom_config": {
                    "custom_sub_type": "authentication", "custom_content": "Hi {{name}}, code {{code}}"}}}
    created = requests.post(f"{mock_url}/v1/template-configs", json=template, auth=(KEY, SECRET), timeout=10)
    assert created.json()["code"] == 0, created.text
    email = send(mock_url, "<img/src=x/onerror=window.__xss=2>@example.com", "email-default",
                 {"name": "<script>window.__xss=3</script>"})
    sms = send(mock_url, "+6591239999", "xss-template", {"name": XSS})
    page.goto(f"{mock_url}/_mock/console/?dev_key={KEY}")
    expect(page.locator("tr.msg", has_text="<img/src=x/onerror=window.__xss=2>@example.com")).to_be_visible()
    expect(page.locator("tr.msg", has_text="<script>window.__xss=4</script>")).to_be_visible()
    page.goto(f"{mock_url}/_mock/console/messages/{email['message_id']}")
    expect(page.locator("#text")).to_contain_text("<script>window.__xss=3</script>")
    page.goto(f"{mock_url}/_mock/console/messages/{sms['message_id']}")
    expect(page.locator("#text")).to_contain_text(f"Hi {XSS}, code")
    send(mock_url, "+6591238888", "xss-template", {"name": XSS})  # a live update brings one more
    page.goto(f"{mock_url}/_mock/console/?dev_key={KEY}")
    time.sleep(1.0)
    assert page.evaluate("window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0 and page.locator("main script").count() == 0


def _serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_the_inbox_detail_and_api_testing_pages_pass_axe(page: Any, mock_url: str) -> None:
    sent = send(mock_url, "+6591230000")
    for path in ("/", f"/_mock/console/messages/{sent['message_id']}", "/_mock/console/send",
                 "/_mock/console/verify", "/_mock/console/controls"):
        page.goto(f"{mock_url}{path}")
        page.wait_for_load_state("networkidle")
        assert _serious(page) == [], path
    page.set_viewport_size({"width": 390, "height": 800})  # a narrow window: the inbox still reads
    page.goto(f"{mock_url}/")
    assert _serious(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_keyboard_only_reaches_a_detail_and_copies_its_code(browser: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=mock_url)
    page = context.new_page()
    try:
        sent = send(mock_url, "+6591231111")
        page.goto(f"{mock_url}/")
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("+6591231111")
        page.keyboard.press("Escape")
        page.keyboard.press("j")
        focused = page.evaluate("document.activeElement.dataset.id")
        assert focused == sent["message_id"]
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"  # the focus is visible
        page.keyboard.press("c")
        expect(page.locator("#toast")).to_contain_text("Copied code")
        code = page.evaluate("navigator.clipboard.readText()")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{mock_url}/_mock/console/messages/{sent['message_id']}")
        assert page.locator("#code").inner_text() == code and code.isdigit()
        page.keyboard.press("c")
        assert page.evaluate("navigator.clipboard.readText()") == code
        page.keyboard.press("Escape")
        expect(page).to_have_url(f"{mock_url}/_mock/console/")
    finally:
        context.close()


def test_the_readme_screenshot_of_the_inbox(page: Any) -> None:
    """The README's picture is this page as the test sees it; `make screenshot` keeps it."""
    process, url = start("--seed", "5")
    try:
        for to, template in (("+6591234567", "test-template-1"), ("+447700900123", "sms-default"),
                             ("ana@example.com", "email-default")):
            send(url, to, template, {"name": "Ana"} if "@" in to else None, key="web-team")
        requests.post(f"{url}/v1/verifications", auth=("web-team", SECRET), timeout=10, json={
            "message_id": send(url, "+6591230001", key="web-team")["message_id"], "verify_code": "000000"})
        page.goto(f"{url}/")
        page.locator("tr.msg").nth(3).wait_for()
        shot = page.screenshot()
    finally:
        stop(process)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("KIT_SCREENSHOT"):
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "console-inbox.png").write_bytes(shot)


def _inbox_tabs(context: Any, url: str, count: int) -> list[Any]:
    tabs = []
    for _ in range(count):
        tab = context.new_page()
        tab.goto(url)
        tab.locator("#live").wait_for()
        tabs.append(tab)
    return tabs


def test_the_tabs_of_one_browser_share_one_poll(browser: Any, mock_url: str) -> None:
    """Three tabs of one browser ask /_mock/inbox about as often as one (their answers go over a
    BroadcastChannel), each shows a new message within a second, and closing the tabs that asked
    leaves the last one live."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    asked: list[str] = []
    context.on("request", lambda r: asked.append(r.url) if "/_mock/inbox" in r.url else None)
    try:
        tabs = _inbox_tabs(context, f"{mock_url}/?dev_key=shared-tabs", 3)
        asked.clear()
        tabs[0].wait_for_timeout(3000)  # Playwright hands its events over while it waits, not in time.sleep
        assert 3 <= len(asked) <= 10, asked  # alone, each tab would ask 6 or 7 times in 3 s
        send(mock_url, "+6591240001", key="shared-tabs")
        started = time.monotonic()
        for tab in tabs:
            expect(tab.locator("tr.msg", has_text="+6591240001")).to_be_visible(timeout=1000)
        assert time.monotonic() - started < 1.0
        tabs[0].close()
        tabs[1].close()
        send(mock_url, "+6591240002", key="shared-tabs")
        expect(tabs[2].locator("tr.msg", has_text="+6591240002")).to_be_visible(timeout=1500)
    finally:
        context.close()


HIDE = """hidden => {
  Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_a_hidden_tab_asks_and_draws_nothing_then_catches_up(browser: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        shown, hidden = _inbox_tabs(context, f"{mock_url}/?dev_key=hidden-tab", 2)
        asked: list[str] = []
        hidden.on("request", lambda r: asked.append(r.url) if "/_mock/inbox" in r.url else None)
        hidden.evaluate(HIDE, True)  # as a browser does for a tab behind another
        send(mock_url, "+6591240101", key="hidden-tab")
        expect(shown.locator("tr.msg", has_text="+6591240101")).to_be_visible(timeout=1000)
        hidden.wait_for_timeout(1500)  # events are handed over while Playwright waits
        assert hidden.locator("tr.msg", has_text="+6591240101").count() == 0
        assert asked == []  # not while another tab asks (and alone, every 5 s at most)
        hidden.evaluate(HIDE, False)
        expect(hidden.locator("tr.msg", has_text="+6591240101")).to_be_visible(timeout=1000)
    finally:
        context.close()


def test_a_flood_is_drawn_bounded_then_the_list_comes_back(page: Any, mock_url: str) -> None:
    """More sends between two polls than a poll brings: the tab says so, draws the newest ten at
    most once a second, and shows the list again once the flood is over."""
    from playwright.sync_api import expect

    page.goto(f"{mock_url}/?dev_key=flood")
    page.locator("#live").wait_for()
    stop = threading.Event()
    last: list[str] = []

    def pour(lane: int) -> None:
        with requests.Session() as session:
            for n in range(3000):  # bounded: about 3 s of sends stop it first
                if stop.is_set():
                    return
                to = f"+65{lane}{n:07d}"
                session.post(f"{mock_url}/v1/messages", json={"to": to, "template": {"id": "sms-default"}},
                             auth=("flood", SECRET), timeout=10).raise_for_status()
                last.append(to)

    lanes = [threading.Thread(target=pour, args=(lane,), daemon=True) for lane in range(1, 5)]
    for lane in lanes:
        lane.start()
    try:
        expect(page.locator("#flood")).to_be_visible(timeout=3000)
        for _ in range(3):
            assert page.locator("tr.msg").count() <= 10
            time.sleep(0.3)
    finally:
        stop.set()
        for lane in lanes:
            lane.join(timeout=15)
    expect(page.locator("#flood")).to_be_hidden(timeout=2000)
    expect(page.locator("tr.msg", has_text=last[-1])).to_be_visible(timeout=1500)
    expect(page.locator("tr.msg").nth(10)).to_be_attached(timeout=1000)  # a whole page of the newest again


def test_pause_keeps_the_list_still_until_resume(page: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{mock_url}/?dev_key=pause")
    page.locator("#live").wait_for()
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#live")).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    send(mock_url, "+6591240201", key="pause")
    time.sleep(1.5)
    assert page.locator("tr.msg", has_text="+6591240201").count() == 0
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("tr.msg", has_text="+6591240201")).to_be_visible(timeout=1000)
    expect(page.locator("#live")).to_have_text("live")


def test_a_reset_reaches_the_open_tabs(page: Any, mock_url: str) -> None:
    from playwright.sync_api import expect

    for n in range(3):
        send(mock_url, f"+659124030{n}", key="reset-view")
    page.goto(f"{mock_url}/?dev_key=reset-view")
    expect(page.locator("tr.msg")).to_have_count(3)
    reset = requests.post(f"{mock_url}/_mock/reset", json={"dev_key": "reset-view"}, timeout=10)
    assert reset.status_code == 200, reset.text
    expect(page.locator("tr.msg")).to_have_count(0, timeout=1500)  # the forgotten messages go
    send(mock_url, "+6591240309", key="reset-view")
    expect(page.locator("tr.msg")).to_have_count(1, timeout=1500)
    expect(page.locator("tr.msg", has_text="+6591240309")).to_be_visible()
