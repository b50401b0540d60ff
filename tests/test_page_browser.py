"""The timeline page in a real browser: Debian's chromium, driven by Playwright.

A short session (fake speech engine, real ffmpeg) is exported with ``--page`` once
per module, and its page opened from a ``file://`` URL: no console errors and no
request other than ``file:``/``data:``/``blob:``; every step title and cue text on
show; a click on a cue sets the player's ``currentTime`` to the cue's start (within
50 ms); the highlighted cue follows playback (seeking, and playing muted); space and
the arrow keys; phone and desktop screenshots; dark mode readable.  The default
built-in session is exported with the real engine for the size and render-time test,
whose desktop screenshot is the README's picture (``docs/timeline-page.png``, rewritten
when ``LEGSUP_UPDATE_SCREENSHOT=1``).

Playwright's own browser downloads are never used: ``tools/setup.sh`` installs Debian's
``chromium`` and this module launches ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

import legsup_audio.script.resources as resources
from conftest import FAKE_PROFILE
from legsup_audio.output.export import export_scripts

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--autoplay-policy=no-user-gesture-required", "--mute-audio"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
DOCS_PICTURE = Path(__file__).resolve().parent.parent / "docs" / "timeline-page.png"
ALLOWED_SCHEMES = ("file:", "data:", "blob:")

SCRIPT = """\
title: Browser Test Session
author: Tester
lead_in: 0.5s
tail: 2s
gap: 1s
background:
  drone: {note: A2, level: -30dB}
  bells: {at: steps, level: -20dB}
steps:
  - title: Arriving at the wall
    cues:
      - Find a quiet place beside a wall.
      - Lie down on your side, close to it.
      - say: Swing your legs up, slowly.
        gap: 2s
  - title: Breathing together
    cues:
      - Follow the breath for a moment.
    breathe:
      pattern: 4-6
      cycles: 2
  - title: Coming back
    cues:
      - Bend your knees and roll to one side.
      - Rest there, then sit up when you are ready.
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The short session exported with --page, in a hermetic folder with the fake engine."""
    work = tmp_path_factory.mktemp("page-browser")
    (work / "voices").mkdir()
    (work / "voices" / "default.yaml").write_text(FAKE_PROFILE, encoding="utf-8")
    script = work / "session.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEGSUP_CACHE_DIR", str(work / "cache"))
        mp.setattr(resources, "builtin_dir", lambda kind: work / "no-builtins" / kind)
        mp.chdir(work)
        batch = export_scripts([script], output=work / "out" / "session.mp3", page=True)
    (track,) = batch.tracks
    assert track.page is not None
    text = track.page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="legsup-data" type="application/json">(.*?)</script>', text, re.S)[1])
    yield {"page": track.page, "track": track.path, "data": data}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run tools/setup.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def wait_until(page: Page, expression: str, timeout: float = 3.0) -> None:
    """Poll ``expression`` in the page until it is true.

    Not Playwright's ``wait_for_function``: that evaluates a string inside the page with
    ``eval``, which the page's Content-Security-Policy (no 'unsafe-eval') refuses.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.02)


class Opened:
    """A page opened from file://, with every request and console message it made recorded."""

    def __init__(self, browser: Browser, url: str, viewport: dict, scheme: str = "light") -> None:
        self.context = browser.new_context(viewport=viewport, color_scheme=scheme)
        self.page: Page = self.context.new_page()
        self.requests: list[str] = []
        self.console: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        started = time.perf_counter()
        self.page.goto(url, wait_until="load")
        wait_until(self.page, "document.documentElement.dataset.drawn === '1'")
        self.wall_ms = (time.perf_counter() - started) * 1000

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    def ready_audio(self) -> None:
        wait_until(self.page, "document.getElementById('player').readyState >= 1")

    def current_time(self) -> float:
        return self.page.evaluate("document.getElementById('player').currentTime")

    def highlighted(self) -> list[int]:
        return self.page.eval_on_selector_all(".cue.current", "els => els.map(e => Number(e.dataset.cue))")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def opened(browser: Browser, exported: dict) -> Iterator[Opened]:
    page = Opened(browser, exported["page"].as_uri(), DESKTOP)
    page.ready_audio()
    yield page
    page.close()


def test_the_page_works_offline_with_no_errors(opened: Opened, exported: dict) -> None:
    page = opened.page
    page.click("button.cue >> nth=2")
    page.click("#drawing", position={"x": 300, "y": 60})
    page.evaluate("() => { const a = document.getElementById('player'); a.muted = true; return a.play(); }")
    page.wait_for_timeout(300)
    page.evaluate("document.getElementById('player').pause()")
    assert opened.console == []
    assert opened.requests, "no request recorded at all"
    assert [url for url in opened.requests if not url.startswith(ALLOWED_SCHEMES)] == []
    assert exported["track"].as_uri() in opened.requests  # the player loads the track beside the page
    assert page.evaluate("document.getElementById('player').error") is None


def test_every_step_title_and_cue_text_is_shown(opened: Opened, exported: dict) -> None:
    page, data = opened.page, exported["data"]
    listed = page.inner_text("#steps")
    for step in data["steps"]:
        assert step[1] in listed
    shown = page.eval_on_selector_all("button.cue .text", "els => els.map(e => e.textContent)")
    assert shown == [cue[4] for cue in data["cues"]]
    assert page.locator("button.cue").first.is_visible()
    assert page.locator("#drawing .cue-mark").count() == len(data["cues"])
    assert page.inner_text("#title") == "Browser Test Session"
    facts = page.inner_text("#facts")
    assert "LUFS" in facts and "default" in facts
    assert page.locator("#drawing path.wave").count() == 1  # the measured peaks
    assert page.locator("#drawing .inhale").count() == 2 and page.locator("#drawing .bell").count() == 4


def test_clicking_a_cue_seeks_the_player_to_its_start(opened: Opened, exported: dict) -> None:
    page, cues = opened.page, exported["data"]["cues"]
    for i in [3, 0, len(cues) - 1, 1]:
        page.click(f'button.cue[data-cue="{i}"]')
        assert abs(opened.current_time() - cues[i][0] / 1000) <= 0.05, i
        assert opened.highlighted() == [i]
    page.click('#drawing .cue-mark[data-cue="2"]')
    assert abs(opened.current_time() - cues[2][0] / 1000) <= 0.05
    assert cues[2][4] in page.inner_text("#tip")
    step = exported["data"]["steps"][1]
    page.click("button.step-seek >> nth=1")
    assert abs(opened.current_time() - step[2] / 1000) <= 0.05


def test_the_highlight_follows_playback(opened: Opened, exported: dict) -> None:
    page, cues = opened.page, exported["data"]["cues"]
    for i in (4, 1):  # seeking from the player itself, not through the page
        page.evaluate(f"document.getElementById('player').currentTime = {cues[i][0] / 1000 + 0.2}")
        wait_until(page, f"document.querySelector('.cue.current')?.dataset.cue === '{i}'", 3)
    page.evaluate(f"document.getElementById('player').currentTime = {cues[2][0] / 1000 - 0.5}")
    wait_until(page, "document.querySelector('.cue.current')?.dataset.cue === '1'", 3)
    page.evaluate("() => { const a = document.getElementById('player'); a.muted = true; return a.play(); }")
    wait_until(page, "document.querySelector('.cue.current')?.dataset.cue === '2'", 5)
    assert not page.evaluate("document.getElementById('player').paused")
    page.evaluate("document.getElementById('player').pause()")
    assert opened.current_time() >= cues[2][0] / 1000
    assert page.locator('#drawing .cue-mark.now').get_attribute("data-cue") == "2"
    playhead = float(page.locator("#drawing .playhead").get_attribute("x1") or 0)
    width = float(page.locator("#drawing").get_attribute("width") or 1)
    assert abs(playhead / width - opened.current_time() * 1000 / exported["data"]["duration"]) < 0.01


def test_space_plays_and_arrows_move_between_cues(opened: Opened, exported: dict) -> None:
    page, cues = opened.page, exported["data"]["cues"]
    page.evaluate("document.getElementById('player').muted = true")
    page.click("h1")  # focus on the page, not on a button or the player
    page.keyboard.press("Space")
    wait_until(page, "!document.getElementById('player').paused", 3)
    page.keyboard.press("Space")
    wait_until(page, "document.getElementById('player').paused", 3)
    page.click('button.cue[data-cue="1"]')
    page.keyboard.press("ArrowRight")
    assert abs(opened.current_time() - cues[2][0] / 1000) <= 0.05
    assert opened.highlighted() == [2]
    page.keyboard.press("ArrowRight")
    assert abs(opened.current_time() - cues[3][0] / 1000) <= 0.05
    page.keyboard.press("ArrowLeft")
    assert abs(opened.current_time() - cues[2][0] / 1000) <= 0.05
    assert opened.highlighted() == [2]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_screenshots_at_phone_and_desktop_width(browser: Browser, exported: dict, tmp_path: Path) -> None:
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        opened = Opened(browser, exported["page"].as_uri(), viewport)
        try:
            page = opened.page
            # Nothing wider than the screen but the drawing's own scroller.
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            assert page.locator("#player").bounding_box()["width"] <= viewport["width"]
            assert page.locator("button.cue").first.bounding_box()["width"] <= viewport["width"]
            shot = tmp_path / f"{name}.png"
            page.screenshot(path=str(shot))
            assert png_size(shot) == (viewport["width"], viewport["height"])
            assert opened.console == []
        finally:
            opened.close()


def relative_luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css)[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_dark_mode_is_readable(browser: Browser, exported: dict, tmp_path: Path) -> None:
    opened = Opened(browser, exported["page"].as_uri(), PHONE, scheme="dark")
    try:
        page = opened.page
        page.click('button.cue[data-cue="1"]')
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert relative_luminance(background) < 0.05  # dark, not the light theme
        for selector in ("h1", ".cue .text", ".cue .when", ".facts dd", ".facts dt", "footer"):
            color = page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).color")
            assert contrast(color, background) >= 4.5, selector
        current = page.evaluate("getComputedStyle(document.querySelector('.cue.current')).backgroundColor")
        text = page.evaluate("getComputedStyle(document.querySelector('.cue.current .text')).color")
        assert contrast(text, current) >= 4.5
        page.screenshot(path=str(tmp_path / "dark.png"))
        assert opened.console == []
    finally:
        opened.close()


@pytest.mark.e2e
def test_the_default_session_page_is_small_and_renders_within_a_second(browser: Browser, tmp_path: Path) -> None:
    """The built-in 14-minute session, exported by the installed command with the real engine."""
    env = {**os.environ, "LEGSUP_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out" / "legs-up-the-wall.mp3"
    result = subprocess.run([sys.executable, "-m", "legsup_audio", "export", "-o", str(out), "--page"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    page_file = out.with_suffix(".html")
    size = page_file.stat().st_size
    assert size < 2_000_000, size
    print(f"\ndefault session page: {size} bytes")
    # Three loads, each in a fresh context; the machine is shared, so the median is what is held to 1 s.
    timings = []
    for attempt in range(3):
        opened = Opened(browser, page_file.as_uri(), DESKTOP)
        try:
            wait_until(opened.page, "performance.getEntriesByName('first-contentful-paint').length > 0")
            timings.append(opened.page.evaluate(
                "[performance.getEntriesByType('navigation')[0].loadEventEnd, window.legsupDrawn,"
                " performance.getEntriesByName('first-contentful-paint')[0].startTime]") + [opened.wall_ms])
            assert opened.console == []
            assert [u for u in opened.requests if not u.startswith(ALLOWED_SCHEMES)] == []
            if os.environ.get("LEGSUP_UPDATE_SCREENSHOT") == "1" and attempt == 0:
                opened.ready_audio()
                opened.page.click('button.cue[data-cue="40"]')
                opened.page.evaluate("window.scrollTo(0, 0)")
                shot = tmp_path / "timeline-page.png"
                opened.page.screenshot(path=str(shot))
                DOCS_PICTURE.parent.mkdir(exist_ok=True)
                shutil.copyfile(shot, DOCS_PICTURE)
        finally:
            opened.close()
    print("load event, drawing in place + 2 frames, first contentful paint, wall (ms):",
          [tuple(round(v) for v in t) for t in timings])
    for column in range(3):
        median = sorted(t[column] for t in timings)[1]
        assert median < 1000, timings
    assert DOCS_PICTURE.exists() and DOCS_PICTURE.stat().st_size < 1_000_000
    assert png_size(DOCS_PICTURE)[0] == DESKTOP["width"]
