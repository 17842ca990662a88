"""Open an HTML file in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright; no browser
download) and report what a reader would see: the page text, script errors, and a screenshot."""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@dataclass
class Rendered:
    text: str
    errors: list[str] = field(default_factory=list)  # uncaught exceptions and console errors
    requests: list[str] = field(default_factory=list)  # every URL the page tried to load beyond itself
    evaluated: object = None


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError("Debian's chromium is not installed: `make browser` (part of `make test`) installs it")
    return path


def render(html: Path, screenshot: Path | None = None, *, evaluate: str | None = None,
           width: int = 1280, height: int = 900) -> Rendered:  # fmt: skip
    """Load `html` from disk with the network cut off; optionally evaluate a JS expression after load."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            result = Rendered(text="")
            page.on("pageerror", lambda e: result.errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: result.errors.append(f"console: {m.text}") if m.type == "error" else None)
            target = html.resolve().as_uri()

            def _route(route):  # type: ignore[no-untyped-def]
                if route.request.url != target and not route.request.url.startswith(("data:", "blob:")):
                    result.requests.append(route.request.url)
                    return route.abort()
                return route.continue_()

            page.route("**/*", _route)
            page.goto(target, wait_until="load")
            page.wait_for_timeout(300)
            result.text = page.inner_text("body")
            if evaluate:
                result.evaluated = page.evaluate(evaluate)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            return result
        finally:
            browser.close()
