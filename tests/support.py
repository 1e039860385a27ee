"""Plain helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import html
import io
import re
import socket
from urllib.parse import quote_plus

from PIL import Image


def jpeg_bytes(size=(1200, 800), color=(200, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def s3_event(bucket: str, key: str, size: int = 1000, name: str = "ObjectCreated:Post") -> dict:
    """Return an S3 notification as Lambda receives it (keys URL-encoded, + for spaces)."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventName": name,
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key), "size": size}},
    }]}


def upload_form(page: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the upload form's action and its fields, in order, from the page's HTML."""
    action = re.search(r'<form id="upload"[^>]*\baction="([^"]+)"', page).group(1)
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return html.unescape(action), [(html.unescape(n), html.unescape(v)) for n, v in fields]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(fields: list[tuple[str, str]], file: tuple[str, bytes, str] | None,
              after: list[tuple[str, str]] = ()) -> tuple[bytes, str]:
    """Encode a browser's form upload: `fields` in order, then the file, then `after`."""
    from urllib3 import encode_multipart_formdata

    parts = list(fields) + ([("file", file)] if file else []) + list(after)
    return encode_multipart_formdata(parts)


def photo_bytes(size=(1600, 1067), quality=90) -> bytes:
    """Return a photo-like JPEG: a sky, a sun, hills and grain (not flat colour)."""
    from PIL import ImageDraw, ImageFilter

    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    sky = Image.new("RGB", size, (70, 130, 210))
    image = Image.blend(sky, Image.merge("RGB", [image.getchannel(0)] * 3), 0.25)
    draw = ImageDraw.Draw(image)
    draw.ellipse([width * 0.65, height * 0.12, width * 0.8, height * 0.35], fill=(255, 214, 102))
    for i, colour in enumerate([(64, 120, 72), (46, 94, 56), (30, 70, 40)]):
        top = height * (0.5 + 0.12 * i)
        points = [(x, top + 40 * ((x * (i + 3)) % 97) / 97) for x in range(0, width + 40, 40)]
        draw.polygon(points + [(width, height), (0, height)], fill=colour)
    noise = Image.effect_noise(size, 48).convert("RGB")
    image = Image.blend(image, noise, 0.08).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
