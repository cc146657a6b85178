"""The admin dashboard: GET /admin/overview (admin scope) and the page at /admin in a real
headless Chromium (Debian's `chromium`, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmrec.data.readers import Rejection
from llmrec.serve import create_app
from llmrec.serve.keys import create_key
from llmrec.store import Store
from tests.conftest import SHOP_PURCHASES, served_in_thread, stock_shop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = '<img src=x onerror="window.pwned = 1"><script>window.pwned = 1</script>'
ARMS = [{"name": "model", "share": 0.5}, {"name": "popular", "share": 0.5, "strategy": "popular"}]
# LLMREC_DOCS_SCREENSHOTS=1 refreshes the README's picture; otherwise it goes to tmp
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "results" / "dashboard.png"


@dataclass
class Live:
    base: str
    admin: dict[str, str]
    read: dict[str, str]


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    """The shop's service on 127.0.0.1 in a thread, with an experiment that has served
    every shopper and a quarantined row of hostile text."""
    from llmrec.config import load_settings
    from llmrec.eval.pipeline import run_evaluation

    home = tmp_path_factory.mktemp("dashboard")
    settings = stock_shop(load_settings(home=home))
    store = Store.open(settings.effective_database_url)
    run_evaluation(store, settings, home / "report", ["leave_last_one_out"], ["MostPop"],
                   tune_sources=False)  # fmt: skip
    store.add_quarantine("upload.csv", "events", [Rejection(7, "unknown event type", HOSTILE)])
    admin = {"Authorization": f"Bearer {create_key(store, ['admin'], 'a')[1]}"}
    read = {"Authorization": f"Bearer {create_key(store, ['read', 'write'], 'r')[1]}"}
    with served_in_thread(create_app(settings, store)) as base:
        _serve_an_experiment(base, admin, read)
        yield Live(base, admin, read)
    store.close()


def _serve_an_experiment(base: str, admin: dict, read: dict) -> None:
    """Every shopper's list from a running experiment, and a click on its first item."""
    made = httpx.post(f"{base}/admin/experiments", headers=admin,
                      json={"name": "floor", "variants": ARMS, "salt": "1" * 16})  # fmt: skip
    assert made.status_code == 201, made.text
    for user in SHOP_PURCHASES:
        listed = httpx.get(f"{base}/users/{user}/recommendations?k=2", headers=read).json()
        first = listed["items"][0]["item_id"]
        httpx.post(f"{base}/events", headers=read, json={"events": [
            {"user_id": user, "item_id": first, "event_type": "click", "timestamp": time.time() + 1}
        ]})  # fmt: skip


def test_the_overview_says_what_the_store_and_the_service_hold(live):
    assert httpx.get(f"{live.base}/admin/overview").status_code == 401
    assert httpx.get(f"{live.base}/admin/overview", headers=live.read).status_code == 403
    answer = httpx.get(f"{live.base}/admin/overview", headers=live.admin)
    assert answer.status_code == 200
    body = answer.json()
    counts = body["data"]["counts"]
    # the last 60 days of data: today's clicks (the purchases are from 2023)
    activity = body["data"]["activity"]
    assert {r["event_type"] for r in activity} == {"click"}
    assert sum(r["events"] for r in activity) == len(SHOP_PURCHASES) < counts["events"]
    assert counts["quarantine"] == 1 and body["data"]["quarantine"][0]["raw"] == HOSTILE
    assert body["models"]["served"]["sources"] == ["ease", "popular"]
    [evaluated] = body["models"]["last_evaluation"]["rows"]
    assert evaluated["system"] == "MostPop" and evaluated["users"] == len(SHOP_PURCHASES)
    routes = {(s["method"], s["route"]) for s in body["traffic"]["series"]}
    assert ("GET", "/users/{user_id}/recommendations") in routes
    assert len(body["traffic"]["bounds"]) == len(body["traffic"]["series"][0]["buckets"])
    report = body["experiments"]["report"]
    assert body["experiments"]["shown"] == "floor" and report["impressions"] == len(SHOP_PURCHASES)
    direct = httpx.get(f"{live.base}/admin/experiments/floor/report", headers=live.admin).json()
    assert report["variants"] == direct["variants"]


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")
def test_the_page_draws_the_overview_refuses_without_a_key_and_shows_text_as_text(live, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(live.base + "/admin")
        page.fill("#key", "llmrec_not_a_key")
        page.click("#load")
        page.wait_for_function("document.querySelector('#status').textContent.includes('refused')")
        assert page.is_hidden("#board")
        key = live.admin["Authorization"].removeprefix("Bearer ")
        page.fill("#key", key)
        page.click("#load")
        page.wait_for_selector("#board:not([hidden])")
        api = httpx.get(f"{live.base}/admin/experiments/floor/report", headers=live.admin).json()
        for variant in api["variants"]:
            row = page.locator(f"#report tr[data-variant='{variant['variant']}'] td")
            assert row.nth(1).inner_text() == str(variant["users"])
            assert row.nth(3).inner_text() == f"{variant['click_through']:.4f}"
        assert "MostPop" in page.inner_text("#evaluation")
        assert HOSTILE in page.inner_text("#quarantine")
        assert page.evaluate("window.pwned") is None
        assert page.locator("#quarantine img, #quarantine script").count() == 0
        assert page.locator("canvas").count() == 3  # activity, latency, the report
        assert all(url.startswith(live.base) for url in requested)  # no CDN: works offline
        refresh = os.environ.get("LLMREC_DOCS_SCREENSHOTS") == "1"
        shot = DOCS_SCREENSHOT if refresh else tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()
