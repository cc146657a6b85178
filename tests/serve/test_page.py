"""The web page in a real headless Chromium (Debian's `chromium`, driven by Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest

from llmrec.serve import create_app
from llmrec.serve.keys import create_key
from llmrec.store import Store
from tests.conftest import served_in_thread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")


@pytest.fixture(scope="module")
def live(trained_settings) -> Iterator[tuple[str, str]]:
    """The service on 127.0.0.1 in a thread; yields (base URL, a read+write key)."""
    store = Store.open(trained_settings.effective_database_url)
    key = create_key(store, ["read", "write"], "page")[1]
    with served_in_thread(create_app(trained_settings, store)) as base:
        yield base, key
    store.close()


@pytest.fixture(scope="module")
def page(live):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser.new_page()
        browser.close()


def _titles(page) -> list[str]:
    return page.locator("#items li .title").all_inner_texts()


def test_like_changes_the_list(live, page):
    base, key = live
    page.goto(base + "/")
    page.fill("#key", key)
    page.fill("#user", "42")
    page.click("#load")
    page.wait_for_selector("#items li")
    before = _titles(page)
    assert len(before) == 10 and "for user 42" in page.inner_text("#status")
    page.locator("#items li").first.locator("button.like").click()
    page.wait_for_function(
        "first => document.querySelector('#items li .title')?.textContent !== first", arg=before[0]
    )
    after = _titles(page)
    assert before[0] not in after and len(after) == 10


def test_item_text_is_shown_as_text_never_run(live, page):
    base, key = live
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 1">'
    posted = httpx.post(
        f"{base}/items",
        json={"items": [{"item_id": "hostile", "title": hostile,
                         "description": "zebra xylophone quartet marmalade"}]},
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert posted.status_code == 200
    page.goto(base + "/")
    page.fill("#key", key)
    page.fill("#user", "")
    page.fill("#query", "zebra xylophone quartet marmalade")
    page.click("#search")
    page.wait_for_selector("#items li")
    assert hostile in _titles(page)
    assert page.evaluate("window.pwned") is None
    assert page.locator("#items script, #items img").count() == 0


def test_the_page_explains_in_words_and_keeps_the_key_for_the_tab_only(live, page):
    base, key = live
    page.goto(base + "/")
    page.fill("#key", key)
    page.dispatch_event("#key", "change")
    page.fill("#user", "42")
    page.click("#load")
    page.wait_for_selector("#items li .reason")
    text = page.inner_text("#items")
    assert "score" not in text and "proposed by" not in text  # no raw scores, no jargon
    assert "because you liked" in text or "people with your taste" in text
    assert page.evaluate("sessionStorage.getItem('llmrec-key')") == key
    assert page.evaluate("localStorage.getItem('llmrec-key')") is None


def test_the_api_docs_work_offline_from_this_origin_only(live, page):
    base, _ = live
    requested: list[str] = []
    blocked: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    response = page.goto(base + "/docs")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/users/{user_id}/recommendations" in p for p in paths)
    assert requested and all(url.startswith(base) for url in requested)
    assert blocked == []


_GLYPHS = """(text) => {
  const draw = (t) => {
    const canvas = document.createElement("canvas");
    canvas.width = 120; canvas.height = 40;
    const context = canvas.getContext("2d");
    context.font = "24px system-ui, sans-serif";
    context.fillText(t, 4, 30);
    return Array.from(context.getImageData(0, 0, 120, 40).data).join(",");
  };
  // A private-use character has a glyph in no font: it draws as the empty box.
  return draw(text) !== draw("\\u{10FFFD}\\u{10FFFD}\\u{10FFFD}");
}"""


def test_a_chinese_title_draws_as_text_not_empty_boxes(live, page):
    base, _ = live
    page.goto(base + "/")
    assert page.evaluate(_GLYPHS, "电饭煲"), "no CJK font: install fonts-noto-cjk (see .ci/run)"
