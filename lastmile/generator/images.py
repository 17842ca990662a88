"""Deterministic pools of proof images: PNG signature scribbles, JPEG doorstep photos and ID-card scans."""

import io
import math
import random

from PIL import Image, ImageDraw

SIGNATURE_SIZE = (240, 90)
PHOTO_SIZE = (160, 120)
JPEG_QUALITY = 70


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False)
    return buf.getvalue()


def signature(rng: random.Random) -> bytes:
    """A pen scribble on white: a few connected loops, like a signature on a handheld."""
    w, h = SIGNATURE_SIZE
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    x, y = rng.uniform(10, 40), rng.uniform(35, 60)
    points = [(x, y)]
    phase = rng.uniform(0, math.pi)
    steps = rng.randint(40, 70)
    for i in range(steps):
        x += rng.uniform(2.0, 5.0)
        y = h / 2 + math.sin(phase + i * rng.uniform(0.5, 0.9)) * rng.uniform(10, 30) + rng.uniform(-4, 4)
        points.append((min(x, w - 5), max(5.0, min(h - 5.0, y))))
    draw.line(points, fill=rng.randint(0, 60), width=2)
    if rng.random() < 0.7:  # an underline flourish
        y0 = rng.uniform(h * 0.7, h - 8)
        draw.line([(points[0][0], y0), (min(points[-1][0] + 10, w - 5), y0 - rng.uniform(-6, 6))], fill=40, width=1)
    return _png(img)


def photo(rng: random.Random) -> bytes:
    """A doorstep photo: a wall, a door and a parcel in front of it."""
    w, h = PHOTO_SIZE
    wall = (rng.randint(120, 220), rng.randint(100, 200), rng.randint(90, 180))
    img = Image.new("RGB", (w, h), wall)
    draw = ImageDraw.Draw(img)
    for row in range(0, h, 8):  # brick courses
        shade = tuple(max(0, c - rng.randint(5, 25)) for c in wall)
        draw.line([(0, row), (w, row)], fill=shade, width=1)
    dx = rng.randint(30, 80)
    door = (rng.randint(20, 120), rng.randint(20, 80), rng.randint(20, 120))
    draw.rectangle([dx, 15, dx + 50, h], fill=door)
    draw.ellipse([dx + 40, 65, dx + 45, 70], fill=(200, 180, 60))
    draw.rectangle([0, h - 18, w, h], fill=(90, 90, 95))  # step
    px, py = rng.randint(10, 110), rng.randint(70, 85)
    draw.rectangle([px, py, px + rng.randint(25, 45), py + rng.randint(18, 30)], fill=(170, 130, 80))
    draw.line([(px, py + 6), (px + 30, py + 6)], fill=(220, 210, 180), width=2)
    return _jpeg(img)


def id_check(rng: random.Random) -> bytes:
    """A scan of an ID card: photo box, name lines, a coloured band."""
    w, h = PHOTO_SIZE
    img = Image.new("RGB", (w, h), (235, 235, 228))
    draw = ImageDraw.Draw(img)
    band = (rng.randint(20, 80), rng.randint(60, 140), rng.randint(120, 200))
    draw.rectangle([8, 10, w - 8, h - 10], fill=(250, 248, 240), outline=(120, 120, 120))
    draw.rectangle([8, 10, w - 8, 26], fill=band)
    draw.rectangle([16, 34, 60, 92], fill=(200, 200, 205))
    draw.ellipse([26, 42, 50, 66], fill=(rng.randint(150, 230), rng.randint(110, 180), rng.randint(90, 150)))
    for i in range(5):
        y = 38 + i * 12
        draw.line([(70, y), (70 + rng.randint(40, 78), y)], fill=(60, 60, 60), width=2)
    return _jpeg(img)


def render_pool(kind: str, size: int, seed: int) -> list[bytes]:
    """`size` distinct images of one proof kind, the same bytes for the same (kind, size, seed)."""
    maker = {"signature": signature, "photo": photo, "id_check": id_check}[kind]
    rng = random.Random(f"{seed}:{kind}:pool")
    return [maker(rng) for _ in range(size)]
