"""Cover art: a generated, calm square PNG for each session, or the user's own image.

This module owns the pictures that go into the tags: :func:`make_cover` draws a
deterministic cover with Pillow (a dusk gradient, a moon, a quiet wall-and-legs
figure on the floor, and the title set in DejaVu Sans when it is installed), and
:func:`load_cover` reads a user-supplied PNG or JPEG.  It returns bytes and a MIME
type only; writing them into a file is the job of :mod:`legsup_audio.output.tags`.
"""

from __future__ import annotations

import functools
import hashlib
import io
import random
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from legsup_audio.errors import UsageError

# Palette (RGB).  Dusk: deep navy at the top, through indigo, to lavender and a
# faint warm glow at the horizon; the floor is a darker plum.
SKY_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.00, (20, 26, 56)),
    (0.45, (58, 60, 112)),
    (0.72, (124, 108, 160)),
    (0.80, (196, 158, 178)),
)
FLOOR_TOP = (70, 56, 96)
FLOOR_BOTTOM = (36, 30, 60)
WALL = (92, 86, 140)
FIGURE = (236, 222, 240)
MOON = (250, 240, 228)
TEXT = (248, 244, 252)
SUBTEXT = (214, 206, 232)

#: Fonts tried in order before asking fontconfig; Debian's ``fonts-dejavu-core``.
FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
    "C:/Windows/Fonts/DejaVuSans.ttf",
)

_SUPERSAMPLE = 2  # shapes are drawn at 2x and scaled down for smooth edges


class CoverError(UsageError, ValueError):
    """A user-supplied cover image is missing, unreadable or not PNG/JPEG."""


@functools.lru_cache(maxsize=1)
def find_font() -> str | None:
    """Path of DejaVu Sans if installed (common paths, then ``fc-match``), else None."""
    for candidate in FONT_PATHS:
        if Path(candidate).is_file():
            return candidate
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        out = subprocess.run(
            [fc_match, "-f", "%{file}", "DejaVu Sans"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if out and "dejavusans" in Path(out).name.lower().replace("-", "") and Path(out).is_file():
        return out
    return None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = find_font()
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _gradient_colour(y: float) -> tuple[int, int, int]:
    stops = SKY_STOPS
    if y <= stops[0][0]:
        return stops[0][1]
    for (y0, c0), (y1, c1) in zip(stops, stops[1:]):
        if y <= y1:
            return _lerp(c0, c1, (y - y0) / (y1 - y0))
    return stops[-1][1]


def _wrap(
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    max_width: float,
) -> list[str]:
    """Greedy word wrap; a word wider than the line is broken between characters."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if font.getlength(trial) <= max_width:
            current = trial
            continue
        if current:
            lines.append(current)
        current = ""
        while font.getlength(word) > max_width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > max_width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _fit_text(
    text: str,
    max_width: float,
    max_height: float,
    start_size: int,
    max_lines: int,
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, list[str], int]:
    """Largest font (from ``start_size`` down) whose wrapped lines fit the box."""
    min_size = max(8, min(start_size, round(max_width / 40)))
    size = start_size
    while True:
        font = _font(size)
        lines = _wrap(text, font, max_width)
        line_height = round(size * 1.22)
        if len(lines) <= max_lines and len(lines) * line_height <= max_height:
            return font, lines, line_height
        if size <= min_size:  # still too long: keep what fits and end with an ellipsis
            lines = lines[:max_lines]
            while lines[-1] and font.getlength(lines[-1] + "\u2026") > max_width:
                lines[-1] = lines[-1][:-1]
            lines[-1] = lines[-1].rstrip() + "\u2026"
            return font, lines, line_height
        size = max(min_size, int(size * 0.9))


def _draw_sky(img: Image.Image, horizon: int) -> None:
    width, _ = img.size
    draw = ImageDraw.Draw(img)
    for y in range(horizon):
        draw.line([(0, y), (width, y)], fill=_gradient_colour(y / img.size[1]))


def _draw_floor(img: Image.Image, horizon: int) -> None:
    width, height = img.size
    draw = ImageDraw.Draw(img)
    for y in range(horizon, height):
        t = (y - horizon) / max(1, height - horizon - 1)
        draw.line([(0, y), (width, y)], fill=_lerp(FLOOR_TOP, FLOOR_BOTTOM, t))


def _draw_stars(img: Image.Image, seed: bytes, limit_y: int) -> None:
    rng = random.Random(seed)
    draw = ImageDraw.Draw(img, "RGBA")
    width = img.size[0]
    for _ in range(38):
        x = rng.uniform(0.03, 0.97) * width
        y = rng.uniform(0.02, 1.0) ** 1.6 * limit_y  # denser near the top
        r = rng.choice((1.0, 1.0, 1.4, 1.8)) * width / 1000
        alpha = rng.randint(70, 190)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 250, 240, alpha))


def _draw_moon(img: Image.Image, cx: float, cy: float, r: float) -> Image.Image:
    # The glow is blurred at a quarter of the size (it is smooth anyway) to stay fast.
    k = 4
    w, h = img.size
    glow = Image.new("RGBA", (w // k, h // k), (0, 0, 0, 0))
    gd = ImageDraw.Draw(glow)
    g = r * 2.2 / k
    gd.ellipse([cx / k - g, cy / k - g, cx / k + g, cy / k + g], fill=(255, 220, 230, 46))
    glow = glow.filter(ImageFilter.GaussianBlur(r * 0.9 / k)).resize(
        img.size, Image.Resampling.BICUBIC
    )
    out = Image.alpha_composite(img.convert("RGBA"), glow)
    d = ImageDraw.Draw(out)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=MOON + (255,))
    return out


def _draw_figure(img: Image.Image, horizon: int) -> None:
    """A wall on the right and a resting figure: torso on a mat, legs up the wall."""
    width, height = img.size
    u = width / 1000  # design unit: the layout is drawn on a 1000-unit square

    def pt(x: float, y: float) -> tuple[float, float]:
        return (x * u, y * u)

    def dot(x: float, y: float, r: float, fill: tuple[int, ...]) -> None:
        draw.ellipse([(x - r) * u, (y - r) * u, (x + r) * u, (y + r) * u], fill=fill)

    draw = ImageDraw.Draw(img, "RGBA")
    wall_x = 770
    # The wall: a soft panel standing on the floor, lit along its edge.
    draw.rectangle([wall_x * u, 455 * u, width, height], fill=WALL + (235,))
    draw.rectangle([wall_x * u, 455 * u, (wall_x + 5) * u, height], fill=(150, 138, 196, 255))
    floor_line = [(0.0, float(horizon)), (wall_x * u, float(horizon))]
    draw.line(floor_line, fill=(150, 128, 170, 255), width=max(1, round(3 * u)))
    # A mat on the floor.
    draw.rounded_rectangle(
        [pt(300, 902), pt(wall_x - 4, 922)], radius=8 * u, fill=(104, 84, 134, 255)
    )
    body = FIGURE + (255,)
    limb = round(38 * u)
    leg_x = wall_x - 26
    body_y = 878
    # Torso along the floor, a rounded hip, and legs straight up the wall.
    bend = 46  # radius of the hip curve (centre line)
    half = 19
    draw.line([pt(405, body_y), pt(leg_x - bend + 1, body_y)], fill=body, width=limb)
    draw.line([pt(leg_x, body_y - bend + 1), pt(leg_x, 548)], fill=body, width=limb)
    cx, cy = leg_x - bend, body_y - bend
    draw.arc(
        [pt(cx - bend - half, cy - bend - half), pt(cx + bend + half, cy + bend + half)],
        start=0,
        end=90,
        fill=body,
        width=limb,
    )
    dot(405, body_y, half, body)
    # Feet relaxed, tipping slightly towards the face.
    draw.line([pt(leg_x + 2, 552), pt(leg_x - 20, 526)], fill=body, width=round(32 * u))
    dot(leg_x - 20, 526, 16, body)
    dot(leg_x + 2, 552, 16, body)
    # Head.
    dot(356, body_y - 6, 33, body)


def make_cover(title: str, subtitle: str | None = None, size: int = 1000) -> bytes:
    """A square PNG cover of ``size`` pixels for ``title`` (same input, same bytes)."""
    if size < 64:
        raise ValueError(f"cover size must be at least 64 pixels, not {size}")
    big = size * _SUPERSAMPLE
    horizon = round(big * 0.80)
    seed = hashlib.sha256(f"{title}\0{subtitle or ''}".encode()).digest()

    img = Image.new("RGB", (big, big))
    _draw_sky(img, horizon)
    _draw_floor(img, horizon)
    _draw_stars(img, seed, round(big * 0.55))
    rgba = _draw_moon(img, big * 0.20, big * 0.60, big * 0.055)
    _draw_figure(rgba, horizon)
    img = rgba.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)

    # Text is drawn at the final size (FreeType anti-aliases it already).
    draw = ImageDraw.Draw(img)
    margin = size * 0.09
    max_width = size - 2 * margin
    top = size * 0.10
    font, lines, line_height = _fit_text(
        " ".join(title.split()) or "legsup-audio",
        max_width,
        size * 0.30,
        start_size=round(size * 0.085),
        max_lines=3,
    )
    y = top
    for line in lines:
        draw.text((size / 2, y), line, font=font, fill=TEXT, anchor="ma")
        y += line_height
    if subtitle and subtitle.strip():
        y += size * 0.012
        sub_font, sub_lines, sub_height = _fit_text(
            " ".join(subtitle.split()),
            max_width,
            size * 0.11,
            start_size=min(round(size * 0.040), round(line_height / 1.22 * 0.7)),
            max_lines=2,
        )
        for line in sub_lines:
            draw.text((size / 2, y), line, font=sub_font, fill=SUBTEXT, anchor="ma")
            y += sub_height

    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()


def load_cover(path: str | Path) -> tuple[bytes, str]:
    """Read a user PNG or JPEG; return its bytes and MIME type.

    Raises :class:`CoverError` (a ``ValueError``) when the file is missing,
    unreadable, or not a PNG/JPEG image.
    """
    from legsup_audio.script.media import cover_problem

    path = Path(path)
    if not path.is_file():
        raise CoverError(f"cover image {path} does not exist; pass a PNG or JPEG file")
    problem, mime = cover_problem(path)  # the checks `validate` ran: a bomb or a GIF never gets this far
    if problem is not None or mime is None:
        raise CoverError(f"cover image {path} {problem}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CoverError(f"cannot read cover image {path}: {exc.strerror or exc}") from exc
    return data, mime
