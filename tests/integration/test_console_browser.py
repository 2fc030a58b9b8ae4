"""The console as a person uses it: a real headless Chromium clicking through the pages.

Chromium and chromedriver come from the distribution (Debian: ``apt-get install chromium
chromium-driver``); ``.ci/run`` installs them. Without them the tests skip locally, and
fail in CI (``CI=true``): a browser test that silently skips tests nothing.

One server (uvicorn, in a thread) and one browser per module, on a copy of the demo.
Every wait is on the page's state, never a sleep. With ``SYNCENGINE_CONSOLE_SCREENSHOTS``
set to a folder, the overview and a record page are saved there as PNG (how the
screenshots in docs/ are made).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the server extra (syncengine-hub[server]) is needed")

CHROMIUM = Path(os.environ.get("SYNCENGINE_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("SYNCENGINE_CHROMEDRIVER", "/usr/bin/chromedriver"))
_MISSING = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
try:
    import selenium  # noqa: F401
except ImportError:
    _MISSING.append("the selenium package (syncengine-hub[browser])")
if _MISSING:
    _WHY = (
        f"no browser to drive: {', '.join(_MISSING)} missing "
        "(apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{_WHY}; CI must install them (.ci/run)", pytrace=False)
    pytest.skip(_WHY, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from syncengine import Side  # noqa: E402
from syncengine.configfile import load  # noqa: E402
from syncengine.server import app_from_config  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "syncengine_tests_console_demo", Path(__file__).with_name("console_demo.py")
)
console_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(console_demo)

TOKEN = "browser-token-0123456789abcdef"
#: Flags without which Chromium hangs on network look-ups on a machine without internet.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
WAIT = 30  # seconds: an upper bound for a page to reach a state, not a sleep


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """The demo, made hostile, for this module."""
    directory = tmp_path_factory.mktemp("browser-demo")
    return console_demo.build(directory)


@pytest.fixture(scope="module")
def server(config):
    """The console of the demo, with a token, served on a free local port."""
    application = app_from_config(config, token=TOKEN, interval=0)
    with console_demo.serving(application) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with a fresh profile; selenium-manager never runs (offline)."""
    os.environ.setdefault("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="syncengine-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, condition):
    return WebDriverWait(driver, WAIT).until(condition)


def heading(driver) -> str:
    return wait_for(driver, ec.presence_of_element_located((By.TAG_NAME, "h1"))).text


def click(driver, by, what):
    """Click an element and wait for the page it leads to."""
    element = wait_for(driver, ec.element_to_be_clickable((by, what)))
    element.click()
    wait_for(driver, ec.staleness_of(element))


def sign_in(driver, server):
    driver.get(server + "/")
    if heading(driver) != "Sign in":
        return
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    click(driver, By.ID, "sign-in")


def screenshot(driver, name: str) -> None:
    folder = os.environ.get("SYNCENGINE_CONSOLE_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / name))


def test_a_person_signs_in_and_follows_a_failure_to_its_record(browser, server):
    """Sign in, then overview → failed count → failures → the failing record's page."""
    browser.get(server + "/failures")
    assert "Sign in" == heading(browser)  # the token is asked for first
    browser.find_element(By.ID, "token").send_keys("not-the-token-at-all")
    click(browser, By.ID, "sign-in")
    assert browser.find_element(By.ID, "login-failed").is_displayed()
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    click(browser, By.ID, "sign-in")
    assert "Failures" == heading(browser)  # back where they were going
    click(browser, By.LINK_TEXT, "Overview")
    assert "Overview" == heading(browser)
    assert "done" in browser.find_element(By.ID, "initial-sync").text
    screenshot(browser, "console-overview.png")
    click(browser, By.CSS_SELECTOR, "#counts a.failed")
    assert "Failures" == heading(browser)
    group = browser.find_element(By.ID, "contacts-validation")
    assert "Fix the value named in the message" in group.text  # the category's hint
    click(browser, By.CSS_SELECTOR, "#contacts-validation a.record-link")
    assert "contacts record" == heading(browser)
    assert "Failed (validation)" in browser.find_element(By.CSS_SELECTOR, ".problem").text
    fields = browser.find_element(By.ID, "fields").text
    assert "lead_score" in fields
    assert "firstname" in fields
    assert browser.find_elements(By.CSS_SELECTOR, "#history tbody tr")
    click(browser, By.LINK_TEXT, "Failures")
    click(browser, By.CSS_SELECTOR, "#contacts-deleted a.record-link")
    assert "the app record" in browser.find_element(By.ID, "pairing").text
    screenshot(browser, "console-record.png")


def test_hostile_values_show_as_text_and_never_run(browser, server):
    """A contact named <script>alert(1)</script> is text on the page; no script runs."""
    sign_in(browser, server)
    browser.get(f"{server}/record?side=hub&type=contacts&id={console_demo.HOSTILE_ID}")
    assert "contacts record" == heading(browser)
    fields = browser.find_element(By.ID, "fields").text
    assert console_demo.HOSTILE_NAME in fields  # shown, character for character
    assert console_demo.HOSTILE_SCORE in browser.find_element(By.CSS_SELECTOR, ".problem").text
    assert [] == browser.find_elements(By.TAG_NAME, "script")
    assert [] == browser.find_elements(By.CSS_SELECTOR, "main img")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - raises when no dialog opened


def test_restoring_deleted_records_shows_the_plan_then_restores(browser, server, config):
    """Actions → review the list → confirm → the two deleted contacts are back in the app."""
    sign_in(browser, server)
    browser.get(server + "/actions")
    click(browser, By.CSS_SELECTOR, "#restore a.restore-link")
    assert "Restore deleted records" == heading(browser)
    assert (
        "Restore 2 contacts record(s) into the app?" in browser.find_element(By.ID, "question").text
    )
    assert 2 == len(browser.find_elements(By.CSS_SELECTOR, "#plan tbody tr"))
    click(browser, By.ID, "confirm")
    assert "Restored" == heading(browser)
    assert (
        "Restored 2 of 2 contacts record(s) into the app."
        in browser.find_element(By.ID, "outcome").text
    )
    with load(config) as setup:
        assert 0 == len(setup.engine().plan_restore("contacts", Side.APP))


def test_a_form_on_another_site_cannot_act(browser, server, config):
    """A page elsewhere posting to the console (CSRF) is refused; the sync stays on."""
    sign_in(browser, server)
    attack = (
        "data:text/html,<form method=post action='"
        + server
        + "/actions/sync'><input name=turn value=off><button id=go>go</button></form>"
    )
    browser.get(attack)
    click(browser, By.ID, "go")
    assert heading(browser) in ("Refused", "Problem")
    assert "refused" in browser.find_element(By.TAG_NAME, "main").text
    with load(config) as setup:
        assert setup.engine().enabled
