"""The built book, loaded in headless Chromium: no failed request, no console error, every image loaded and
every formula typeset; nothing wider than the content column, every figure captioned, no code shown as prose, no
stray `$`, no NaN or "± 0.00" in a table, no raw DataFrame dump and no conclusion printed to stdout.
Screenshots of each page go to _build/screenshots/ for review.

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


# Layout and content checks, run in the page. Each returns a list of short descriptions of what is wrong.
PAGE_CHECKS = r"""
const article = document.querySelector('article.bd-article') || document.querySelector('main');
const right = article.getBoundingClientRect().right + 2;
const label = e => (e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ?
                    '.' + e.className.split(' ')[0] : '') + ': ' + (e.textContent || e.src || '').trim().slice(0, 60));
const inCode = e => e.closest('div.highlight, pre, code');
const out = {overflow: [], uncaptioned: [], code_as_text: [], stray_dollar: [], bad_cells: [], dumps: [],
             stdout_prose: []};
for (const e of article.querySelectorAll('*')) {
  if (inCode(e) || e.closest('mjx-container')) continue;
  const r = e.getBoundingClientRect();
  if (r.width > 0 && r.right > right) out.overflow.push(label(e));
}
for (const pre of article.querySelectorAll('.cell_output pre')) {
  if (pre.scrollWidth > pre.clientWidth + 2) out.overflow.push('output text runs off: ' + label(pre));
}
out.overflow = out.overflow.slice(0, 5);
for (const img of article.querySelectorAll('img')) {
  const fig = img.closest('figure');
  if (!fig || !fig.querySelector('figcaption')) out.uncaptioned.push(label(img));
}
for (const p of article.querySelectorAll('p, li')) {
  if (inCode(p)) continue;
  const t = p.textContent.trim();
  if (/^(print\(|import |from \w+ import )/.test(t) || /^[A-Za-z_][\w.]*\(.*\)$/.test(t)) out.code_as_text.push(t.slice(0, 80));
}
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (el && !inCode(el) && !el.closest('.math, mjx-container, script, style') && n.textContent.includes('$'))
    out.stray_dollar.push(n.textContent.trim().slice(0, 80));
}
for (const td of article.querySelectorAll('td, th')) {
  if (/\bNaN\b|\bnan\b|± ?0\.00\b/.test(td.textContent)) out.bad_cells.push(td.textContent.trim());
}
for (const t of article.querySelectorAll('table.dataframe')) out.dumps.push(label(t));
for (const o of article.querySelectorAll('.cell_output .output.stream pre, .cell_output .output.text_plain pre')) {
  if (/dtype: /.test(o.textContent)) out.dumps.push('printed Series: ' + o.textContent.trim().slice(0, 60));
  for (const line of o.textContent.split('\n')) {
    if (line.trim().split(/\s+/).length > 14 && /[.!]$/.test(line.trim())) out.stdout_prose.push(line.trim().slice(0, 80));
  }
}
return out;
"""


def pages_to_check():
    """Every page; those of chapters still being moved onto the template (tests/test_chapters.py) may fail."""
    from tests.test_chapters import _rewriting

    return [pytest.param(p, id=p, marks=[pytest.mark.xfail(strict=False, reason="being rewritten")]
                         if _rewriting(Path(p).name) else []) for p in toc_pages()]


@pytest.mark.parametrize("page", pages_to_check())
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
    checks = browser.execute_script(PAGE_CHECKS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / (page.replace("/", "_") + ".png")))
    assert untypeset == 0, f"{page}: {untypeset} formula(s) not typeset"
    assert broken_images == [], f"{page}: images failed to load: {broken_images}"
    assert console == [], f"{page}: console errors: {console}"
    assert failures == [], f"{page}: failed requests: {failures}"
    problems = {k: v for k, v in checks.items() if v}
    assert problems == {}, f"{page}: {problems}"


def test_index_redirects_to_intro(server, browser):
    browser.get(f"{server}/index.html")
    assert "intro" in browser.current_url
