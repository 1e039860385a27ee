"""Hostile uploads, each through the whole pipeline: S3's policy, the worker, the status page."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageCms, PngImagePlugin

from .cluster import ROOT, Cluster, Visitor
from .scenarios import Outcome


@dataclass
class Case:
    """One hostile upload and what must become of it."""

    name: str
    filename: str
    data: bytes
    expect: str  # "refused" at upload, "failed", "done", or "ended" (either, with a message)
    content_type: str = "image/jpeg"


def _save(image: Image.Image, format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(side: int) -> bytes:
    """A real PNG of side × side black pixels: a few hundred kB that decode to side² bytes."""
    compressor, row, parts = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"".join(parts))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_save(Image.new("RGB", (16, 16), "red"), "JPEG"))
    at = data.index(b"\xff\xc0") + 5  # SOF0: length(2) precision(1) height(2) width(2)
    data[at : at + 4] = struct.pack(">HH", height, width)
    return bytes(data)


def _webp_claiming(width: int, height: int) -> bytes:
    """A lossless WebP header for width × height, and nothing behind it."""
    payload = b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14) + b"\0" * 32
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _frames(format: str, count: int, **options) -> bytes:
    frames = [Image.new("RGB", (64, 48), (n % 256, 80, 160)) for n in range(count)]
    return _save(frames[0], format, save_all=True, append_images=frames[1:], **options)


def _text_bomb() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("bomb", "A" * 50_000_000, zip=True)  # 50 MB of text, ~50 kB compressed
    return _save(Image.new("RGB", (32, 32), "blue"), "PNG", pnginfo=info)


def _with_exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return _save(Image.new("RGB", (300, 200), "green"), "JPEG", exif=exif.tobytes())


def _giant_icc() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _save(
        Image.new("RGB", (200, 200), "orange"), "JPEG", icc_profile=profile + os.urandom(3_000_000)
    )


def cases() -> list[Case]:
    """Return the hostile uploads, at least thirty kinds."""
    from .hostile_formats import cases as heic_and_animations

    photo = _save(Image.effect_noise((400, 300), 60).convert("RGB"), "JPEG")
    png = _save(Image.new("RGB", (64, 64), "purple"), "PNG")
    return [
        Case("zero bytes", "empty.jpg", b"", "refused"),
        Case("over the size limit", "huge.jpg", b"\xff\xd8" + os.urandom(21 * 2**20), "refused"),
        Case("declared as text", "notes.txt", b"hello", "refused", "text/plain"),
        Case("text named .jpg", "notes.jpg", b"Dear diary, " * 100, "failed"),
        Case(
            "HTML page",
            "page.png",
            b"<html><script>alert(1)</script></html>",
            "failed",
            "image/png",
        ),
        Case(
            "SVG with script",
            "vector.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "failed",
            "image/svg+xml",
        ),
        Case("PDF", "doc.jpg", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "failed"),
        Case("ZIP archive", "archive.jpg", b"PK\x03\x04" + os.urandom(2000), "failed"),
        Case("executable", "program.jpg", b"\x7fELF\x02\x01\x01" + os.urandom(4000), "failed"),
        Case(
            "EPS (would run Ghostscript)",
            "art.eps",
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n",
            "failed",
            "image/x-eps",
        ),
        Case(
            "PSD",
            "layers.psd",
            b"8BPS\x00\x01" + b"\x00" * 200,
            "failed",
            "image/vnd.adobe.photoshop",
        ),
        Case(
            "ICO",
            "icon.ico",
            _save(Image.new("RGB", (32, 32), "red"), "ICO"),
            "failed",
            "image/x-icon",
        ),
        Case("truncated JPEG", "half.jpg", photo[: len(photo) // 2], "failed"),
        Case("truncated PNG", "half.png", png[: len(png) // 2], "failed", "image/png"),
        Case(
            "JPEG marker then noise", "noise.jpg", b"\xff\xd8\xff\xe0" + os.urandom(5000), "failed"
        ),
        Case(
            "PNG with a broken CRC",
            "crc.png",
            png[:-8] + b"\0\0\0\0" + png[-4:],
            "ended",
            "image/png",
        ),
        Case("PNG bomb 20000×20000", "bomb.png", _png_bomb(20_000), "failed", "image/png"),
        Case("JPEG claiming 65000×65000", "claims.jpg", _jpeg_claiming(65000, 65000), "failed"),
        Case(
            "GIF claiming 65535×65535",
            "claims.gif",
            b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00;",
            "failed",
            "image/gif",
        ),
        Case(
            "BMP claiming 50000×50000",
            "claims.bmp",
            b"BM"
            + struct.pack("<IHHI", 70, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, 50000, 50000, 1, 24, 0, 0, 0, 0, 0, 0)
            + b"\0" * 16,
            "failed",
            "image/bmp",
        ),
        Case(
            "WebP claiming 16384×16384",
            "big.webp",
            _webp_claiming(16384, 16384),
            "failed",
            "image/webp",
        ),
        Case("PNG text-chunk bomb", "text.png", _text_bomb(), "ended", "image/png"),
        Case("GIF of 3000 frames", "frames.gif", _frames("GIF", 3000), "done", "image/gif"),
        Case(
            "animated WebP of 300 frames", "frames.webp", _frames("WEBP", 300), "done", "image/webp"
        ),
        Case("APNG of 300 frames", "frames.png", _frames("PNG", 300), "done", "image/png"),
        Case("TIFF of 500 pages", "pages.tif", _frames("TIFF", 500), "done", "image/tiff"),
        Case(
            "oversized EXIF block",
            "exif.jpg",
            _save(
                Image.new("RGB", (300, 200), "teal"),
                "JPEG",
                exif=b"Exif\x00\x00" + os.urandom(60000),
            ),
            "ended",
        ),
        Case("giant ICC profile", "icc.jpg", _giant_icc(), "ended"),
        Case(
            "corrupt ICC profile",
            "badicc.png",
            _save(Image.new("RGB", (100, 100), "navy"), "PNG", icc_profile=os.urandom(5000)),
            "ended",
            "image/png",
        ),
        Case("invalid EXIF orientation", "orient.jpg", _with_exif_orientation(9), "done"),
        Case(
            "GIF/JavaScript polyglot",
            "poly.gif",
            _save(Image.new("P", (40, 40)), "GIF") + b"\n/*\n*/alert(1);//",
            "done",
            "image/gif",
        ),
        Case(
            "JPEG with a ZIP appended", "poly.jpg", photo + b"PK\x03\x04" + os.urandom(3000), "done"
        ),
        Case(
            "extreme aspect ratio 20000×2",
            "thin.png",
            _save(Image.new("RGB", (20000, 2), "red"), "PNG"),
            "done",
            "image/png",
        ),
        Case(
            "one pixel",
            "dot.png",
            _save(Image.new("RGB", (1, 1), "red"), "PNG"),
            "done",
            "image/png",
        ),
        Case(
            "CMYK JPEG",
            "cmyk.jpg",
            _save(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG"),
            "done",
        ),
        Case(
            "16-bit PNG",
            "deep.png",
            _save(Image.linear_gradient("L").convert("I;16"), "PNG"),
            "done",
            "image/png",
        ),
        *heic_and_animations(),
    ]


def memory_limit() -> int:
    """Return the Lambda memory size the deployment configures, in MB."""
    return json.loads((ROOT / "zappa_settings.json").read_text())["dev"]["memory_size"]


def run(cluster: Cluster) -> Outcome:
    """Send every hostile case through the pipeline; each must end, with words, in budget."""
    outcome = Outcome("hostile inputs")
    before = len(cluster.worker_events("invocation"))
    all_cases = cases()
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda case: _try(cluster, case), all_cases))
    for case, (ending, message) in zip(all_cases, results, strict=True):
        outcome.counts[ending] += 1
        wanted = {"ended": {"done", "failed"}}.get(case.expect, {case.expect})
        if ending not in wanted:
            outcome.problems.append(f"{case.name}: {ending} ({message}), expected {case.expect}")
        elif not message:
            outcome.problems.append(f"{case.name}: {ending} without a message")
    peaks = [e["peak_rss_mb"] for e in cluster.worker_events("invocation")[before:]]
    outcome.counts.update(
        kinds=len(all_cases),
        peak_rss_mb=round(max(peaks, default=0)),
        memory_limit_mb=memory_limit(),
    )
    if max(peaks, default=0) >= memory_limit():
        outcome.problems.append(f"the worker peaked at {max(peaks)} MB, over {memory_limit()} MB")
    return outcome


def _try(cluster: Cluster, case: Case) -> tuple[str, str]:
    """Upload one case as a browser would; return how it ended and the words shown."""
    visitor = Visitor(cluster)
    answer, _ = visitor.upload(case.filename, case.data, case.content_type)
    if answer.status_code != 303:
        code = (
            answer.text.split("<Code>")[-1].split("</Code>")[0]
            if "<Code>" in answer.text
            else answer.status_code
        )
        return "refused", f"S3 refused it: {code}"
    job_path = answer.headers["Location"].split("?")[0].rsplit("/uploaded", 1)[0]
    visitor.get(answer.headers["Location"])
    status = visitor.wait(job_path)
    ending = status.get("status", "unknown")
    return (ending if status.get("finished") else f"stuck ({ending})"), status.get("message", "")
