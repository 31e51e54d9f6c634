"""The reader in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

Open a feed and an episode, click a timestamp (the audio element's currentTime moves there), search,
follow a highlighted hit to the transcript. The audio is a real WAV file served by a local HTTP server.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import Embedder
from cast_pipeline_tests.httpserver import LocalHTTPServer
from cast_pipeline_tests.serve.conftest import Service, start_service, write_archive

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOTS = Path(os.environ.get("CAST_SCREENSHOT_DIR", "")) if os.environ.get("CAST_SCREENSHOT_DIR") else None


def tone_wav(seconds: int = 240, rate: int = 8000) -> bytes:
    """A quiet 440 Hz tone, 8-bit mono: long enough to seek anywhere in the corpus transcripts."""
    frames = bytes(128 + int(20 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(rate))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(frames * seconds)
    return out.getvalue()


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Service]:
    audio = LocalHTTPServer().start()
    url = audio.add("/episode.wav", tone_wav(), content_type="audio/wav", ranges=True)
    paths = DataPaths(tmp_path_factory.mktemp("reader") / "data")
    write_archive(paths, embedder, audio_url=url)
    svc = start_service(paths, dagster_url="http://dagster.test:3000")
    try:
        yield svc
    finally:
        svc.stop()
        audio.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI") == "true":
            raise RuntimeError("chromium and chromium-driver are missing (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=DriverService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _shot(driver: Any, name: str) -> None:
    if SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_read_an_episode_and_seek_the_audio_by_clicking_a_timestamp(reader: Service, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(reader.url + "/")
    browser.find_element(By.LINK_TEXT, "Kitchen Science").click()
    _wait(browser, lambda d: "Kitchen Science" in d.find_element(By.TAG_NAME, "h1").text)
    browser.find_element(By.LINK_TEXT, "Why onions make you cry").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript .seg"))
    segments = browser.find_elements(By.CSS_SELECTOR, "#transcript .seg")
    assert "Maya:" in segments[0].text and "00:00:05" in segments[0].text
    assert (
        browser.find_element(By.ID, "dagster-link")
        .get_attribute("href")
        .startswith("http://dagster.test:3000/assets/transcript?view=partitions&partition=")
    )
    _wait(browser, lambda d: d.execute_script("return document.getElementById('player').readyState") >= 1)
    assert browser.execute_script("return document.getElementById('player').currentTime") < 1
    segments[2].find_element(By.CSS_SELECTOR, "button.ts").click()  # 00:01:05
    _wait(browser, lambda d: d.execute_script("return document.getElementById('player').currentTime") >= 65)
    assert "hit" in segments[2].get_attribute("class")
    _shot(browser, "episode")


def test_search_and_follow_a_hit_to_the_transcript(reader: Service, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(reader.url + "/")
    box = browser.find_element(By.CSS_SELECTOR, "header input[name=q]")
    box.send_keys("fermentation too cold", Keys.ENTER)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results li"))
    marks = [m.text.lower() for m in browser.find_elements(By.CSS_SELECTOR, "#results mark")]
    assert "fermentation" in marks
    _shot(browser, "search")
    link = browser.find_element(By.CSS_SELECTOR, "#results a.hit-link")
    target = link.get_attribute("href")
    link.click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".seg.hit"))
    hit = browser.find_element(By.CSS_SELECTOR, ".seg.hit")
    assert target.endswith("#" + hit.get_attribute("id"))
    assert "fermentation" in hit.text.lower() or "cold" in hit.text.lower()
    start = float(hit.find_element(By.CSS_SELECTOR, "button.ts").get_attribute("data-t"))
    _wait(browser, lambda d: abs(d.execute_script("return document.getElementById('player').currentTime") - start) < 1)
    _shot(browser, "hit")
