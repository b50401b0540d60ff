"""Generated covers (size, colour, determinism, wrapping) and user cover loading."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from legsup_audio.output import cover
from legsup_audio.output.cover import CoverError, load_cover, make_cover
from legsup_audio.errors import LegsupError

LONG_TITLE = (
    "A very long session title about resting your legs against the wall "
    "at the end of a long day, Supercalifragilisticexpialidociously"
)


def open_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return img.convert("RGB")


def bright(img: Image.Image) -> np.ndarray:
    """Mask of title-coloured (near white) pixels."""
    mask: np.ndarray = np.asarray(img).min(axis=2) > 235
    return mask


def text_rows(img: Image.Image, top: float, bottom: float) -> list[int]:
    """Rows in a horizontal band that contain title-coloured pixels."""
    h = img.size[1]
    rows = np.flatnonzero(bright(img).any(axis=1))
    return [int(y) for y in rows if h * top <= y < h * bottom]


def line_count(rows: list[int]) -> int:
    """Separate runs of text rows (gaps of more than a few pixels split lines)."""
    runs = 0
    last = -100
    for y in rows:
        if y - last > 4:
            runs += 1
        last = y
    return runs


@pytest.mark.parametrize("size", [1000, 600, 300])
def test_cover_is_square_png_of_requested_size(size: int) -> None:
    img = open_png(make_cover("Legs Up the Wall", "Evening", size=size))
    assert img.size == (size, size)


def test_cover_has_many_colours_and_readable_title() -> None:
    img = open_png(make_cover("Legs Up the Wall", size=500))
    colours = img.getcolors(maxcolors=500 * 500)
    assert colours is not None and len(colours) > 200  # gradient, shapes, anti-aliased text
    # Top darker than the horizon glow: a real vertical gradient.
    pixels = np.asarray(img).astype(int)
    assert pixels[int(500 * 0.78), 10].sum() > pixels[10, 10].sum() + 150
    # The title is drawn in the upper part, as one line of near-white text.
    assert line_count(text_rows(img, 0.05, 0.40)) == 1


def test_cover_is_deterministic_and_depends_on_text() -> None:
    a = make_cover("Legs Up the Wall", "Evening")
    assert a == make_cover("Legs Up the Wall", "Evening")
    assert a != make_cover("Legs Up the Wall", "Morning")
    assert a != make_cover("Legs Down the Wall", "Evening")


def test_long_title_wraps_inside_the_image() -> None:
    size = 600
    img = open_png(make_cover(LONG_TITLE, size=size))
    rows = text_rows(img, 0.0, 0.50)
    assert line_count(rows) >= 2
    # No title pixel touches the side margins.
    mask = bright(img)[rows]
    margin = int(size * 0.06)
    assert not mask[:, :margin].any() and not mask[:, size - margin :].any()
    assert mask[:, margin : size - margin].sum() > 1000  # but the text is there


def test_wrap_keeps_every_line_within_width() -> None:
    font = ImageFont.load_default(size=40)
    lines = cover._wrap(LONG_TITLE, font, 400)
    assert len(lines) > 2
    assert all(font.getlength(line) <= 400 for line in lines)
    assert "".join(lines).replace(" ", "") == LONG_TITLE.replace(" ", "")


def test_endless_title_is_cut_with_ellipsis() -> None:
    font, lines, _ = cover._fit_text("word " * 500, 400, 100, start_size=60, max_lines=3)
    assert len(lines) <= 3
    assert lines[-1].endswith("\u2026")
    assert all(font.getlength(line) <= 400 for line in lines)


def test_cover_works_without_truetype_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cover, "find_font", lambda: None)
    img = open_png(make_cover("Fallback font", size=400))
    assert img.size == (400, 400)
    assert line_count(text_rows(img, 0.05, 0.40)) == 1


def test_dejavu_is_found_when_installed() -> None:
    installed = [p for p in cover.FONT_PATHS if Path(p).is_file()]
    found = cover.find_font()
    if installed:
        assert found == installed[0]
    else:
        assert found is None or "DejaVuSans" in found


def test_tiny_cover_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        make_cover("x", size=10)


# --------------------------------------------------------------------------- load_cover


def test_load_cover_png_and_jpeg(tmp_path: Path) -> None:
    png = tmp_path / "c.png"
    png.write_bytes(make_cover("x", size=100))
    assert load_cover(png) == (png.read_bytes(), "image/png")
    jpg = tmp_path / "c.jpeg"
    Image.new("RGB", (50, 50), (10, 20, 30)).save(jpg, format="JPEG")
    data, mime = load_cover(str(jpg))
    assert mime == "image/jpeg" and data == jpg.read_bytes()


def test_load_cover_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_cover(tmp_path / "missing.png")
    text = tmp_path / "notes.png"
    text.write_text("not an image", encoding="utf-8")
    with pytest.raises(ValueError, match="not a readable image"):
        load_cover(text)
    gif = tmp_path / "anim.gif"
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    with pytest.raises(ValueError, match="GIF; use a PNG or JPEG"):
        load_cover(gif)
    with pytest.raises(CoverError) as info:
        load_cover(tmp_path)  # a folder
    assert isinstance(info.value, LegsupError)
