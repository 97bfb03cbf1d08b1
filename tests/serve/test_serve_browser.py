"""The chat page in a real headless Chromium (Selenium driving Debian's chromium + chromium-driver).

The page is served by `augment serve --collection` over the sample docs on the real default model. The
test asks a question, sees the answer stream in with a citation, opens the cited passage, rates the
answer (recorded to the feedback log), and keeps a screenshot in its output folder (tmp_path).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.real_model


def _chromium() -> tuple[str, str]:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("no headless Chromium here: install it with `apt-get install -y chromium chromium-driver` "
                    "(.ci/run does; it could not on this machine)")
    return browser, driver


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra: pip install -e '.[test]'")
    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=412,915",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield chrome
    chrome.quit()


def test_chat_page_streams_an_answer_with_a_citation(browser, rag_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(rag_server.base + "/")
    wait = WebDriverWait(browser, 300, poll_frequency=0.2)
    wait.until(lambda b: rag_server.model_name in b.find_element(By.ID, "model").text)
    assert not browser.find_elements(By.CSS_SELECTOR, "script[src^='http'], link[href^='http']")  # no CDN
    box = browser.find_element(By.ID, "question")
    box.send_keys("How tall is the Eiffel Tower?")
    box.send_keys(Keys.ENTER)
    first = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".msg.assistant").get_attribute("data-deltas"))
    answer = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".msg.assistant[data-done='1']"))
    assert int(answer.get_attribute("data-deltas")) > int(first) >= 1  # text arrived in pieces, while streaming
    assert "Error" not in answer.text, answer.text
    cites = answer.find_elements(By.CSS_SELECTOR, "a.cite")
    assert cites, f"no citation in the answer: {answer.text!r}"
    cites[0].click()
    passage = wait.until(lambda b: b.find_element(By.ID, "passage") if b.find_element(By.ID, "passage").is_displayed() else None)
    assert "Eiffel" in passage.text
    answer.find_element(By.CSS_SELECTOR, "button.thumb-up").click()
    wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".msg.assistant").get_attribute("data-rated") == "1")
    shot = tmp_path / "chat-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    records = [json.loads(line) for line in Path(rag_server.state.feedback_path).read_text().splitlines()]
    assert records[-1]["rating"] == 1 and records[-1]["prompt"] == "How tall is the Eiffel Tower?"
    print(f"screenshot: {shot}")
