"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by selenium, for
the report tests: no network, a fresh profile, nothing fetched by selenium itself (the driver is
named, so Selenium Manager never looks one up)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from skip_report import skip_or_fail

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1400,1000"]  # fmt: skip
#: how long any one page may take to load or answer (a hang guard, not a timing)
HANG_GUARD = 120


def _binaries() -> tuple[str, str]:
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                     "google-chrome"))), None)  # fmt: skip
    # GitHub's runners carry Chrome and its driver outside PATH, named by CHROMEWEBDRIVER
    driver = shutil.which("chromedriver") or shutil.which(
        "chromedriver", path=os.environ.get("CHROMEWEBDRIVER", "")
    )
    if not chromium or not driver:
        skip_or_fail("chromium and chromium-driver are not installed "
                     "(apt-get install chromium chromium-driver)", "browser")  # fmt: skip
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip_or_fail("selenium is not installed (pip install -e '.[dev]')", "browser")
    return chromium, driver


@contextmanager
def chromium() -> Iterator:
    """A selenium WebDriver on a headless Chromium with a new user-data folder; quits after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _binaries()
    profile = tempfile.mkdtemp(prefix="swbatch-chromium-")
    options = webdriver.ChromeOptions()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(HANG_GUARD)
    driver.set_script_timeout(HANG_GUARD)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver, page: Path | str) -> None:
    """Load a report (a file path or a URL) and wait until its script has built the page."""
    driver.get(page if isinstance(page, str) else page.as_uri())
    wait_for(driver, lambda: driver.execute_script("return window.swbatchReady === true"))


def wait_for(driver, condition: Callable[[], object], what: str = "the page") -> object:
    """Poll ``condition`` until it is truthy; fail after :data:`HANG_GUARD` seconds."""
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not get ready within {HANG_GUARD} s")


def errors(driver) -> list[str]:
    """The browser console's errors so far (a CSP violation, a script error)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
