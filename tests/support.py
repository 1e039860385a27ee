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
