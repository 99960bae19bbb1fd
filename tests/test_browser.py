"""The built book, loaded in headless Chromium: no failed request, no console error, every image loaded and
every formula typeset. Screenshots of each page go to _build/screenshots/ for review.

Needs `make book` first (CI builds the book before the tests); skipped otherwise, except under CI where a missing
book or browser is a failure.
"""
import functools
import http.server
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from mglib import paths

HTML = paths.ROOT / "_build" / "html"
SHOTS = paths.ROOT / "_build" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.browser


def _require(condition, reason):
    if not condition:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


def toc_pages() -> list[str]:
    toc = yaml.safe_load((paths.ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


@pytest.fixture(scope="module")
def server():
    _require((HTML / "index.html").exists(), "no built book: run `make book PROFILE=smoke` first")
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output free of access-log lines
            pass

    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    _require(chromium and driver_bin, "Debian packages chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(driver_bin), options=opts)
    drv.set_page_load_timeout(60)
    drv.get("about:blank")  # let Chromium's own start-up traffic settle before any page is judged
    drv.get_log("performance"), drv.get_log("browser")
    yield drv
    drv.quit()


def _network_failures(drv) -> list[str]:
    failures, urls = [], {}
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls[msg["params"]["requestId"]] = msg["params"]["request"]["url"]
        elif msg["method"] == "Network.loadingFailed" and not msg["params"].get("canceled"):
            url = urls.get(msg["params"]["requestId"], "?")
            failures.append(f"{msg['params'].get('errorText')} {url} ({msg['params'].get('type')})")
        elif msg["method"] == "Network.responseReceived" and msg["params"]["response"]["status"] >= 400:
            failures.append(f"HTTP {msg['params']['response']['status']} {msg['params']['response']['url']}")
    return failures


WAIT_FOR_MATH = """
const done = arguments[arguments.length - 1];
const start = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done(true), () => done(false));
  } else if (Date.now() - start > 15000) { done(document.querySelectorAll('.math').length === 0); }
  else { setTimeout(poll, 100); }
})();
"""


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_cleanly(page, server, browser):
    browser.get_log("performance"), browser.get_log("browser")  # drop entries of earlier pages
    browser.get(f"{server}/{page}.html")
    browser.set_script_timeout(30)
    assert browser.execute_async_script(WAIT_FOR_MATH), f"{page}: MathJax did not finish"
    untypeset = browser.execute_script(
        "return [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length")
    broken_images = browser.execute_script(
        "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    console = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    failures = _network_failures(browser)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / (page.replace("/", "_") + ".png")))
    assert untypeset == 0, f"{page}: {untypeset} formula(s) not typeset"
    assert broken_images == [], f"{page}: images failed to load: {broken_images}"
    assert console == [], f"{page}: console errors: {console}"
    assert failures == [], f"{page}: failed requests: {failures}"


def test_index_redirects_to_intro(server, browser):
    browser.get(f"{server}/index.html")
    assert "intro" in browser.current_url
