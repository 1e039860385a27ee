"""What the browser sends of a photo, and what the renditions lose by it: `python -m
bench.shrink [--quick]`.

Chromium shrinks each photo as the upload page does (site.js, at each JPEG quality tried, set
on the page's form as the settings set it); the POST to S3 is caught and its file kept. The
server's own code (app.imaging) then makes the renditions from the original and from what was
sent, and each pair is compared by SSIM (bench/ssim.py). The baseline is the original sent as
it is: its renditions are the reference, its size the ratio's denominator.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

from bench import corpus
from bench.latency import CHROMIUM, site_served
from bench.ssim import ssim

QUALITIES = (0.5, 0.6, 0.7, 0.8, 0.9)
# The photos: the latency benchmark's 12 MP camera photo, and one turned by its EXIF.
SAMPLES = ("baseline-12mp.jpg", "rotated-12mp.jpg", "baseline-24mp.jpg")
UPLINK_BITS = 750_000  # the slow-phone profile's upload (bench/latency.py --profile slow-phone)
# Sets the page's quality as the form is parsed, before the page's script reads it.
SET_QUALITY = """new MutationObserver((_, watching) => {
    const form = document.getElementById("upload");
    if (form) { form.dataset.shrinkQuality = "%s"; watching.disconnect(); }
}).observe(document, {childList: true, subtree: true});"""


@contextlib.contextmanager
def page_shrinking():
    """Serve the site and start Chromium; yield `shrunk(path, quality)`, the file the upload
    page sends when `path` is chosen (at that JPEG quality, or at the page's own)."""
    from playwright.sync_api import sync_playwright

    with site_served() as (url, _, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )

        def shrunk(path: Path, quality: float | None = None) -> bytes:
            page = browser.new_page()
            try:
                return sent_file(page, url, path, quality)
            finally:
                page.close()

        yield shrunk
        browser.close()


def sent_file(page, url: str, path: Path, quality: float | None) -> bytes:
    """Choose `path` on the upload page at `quality`; return the file part of the POST to S3
    (the request is then refused, so nothing is stored or converted)."""
    caught: list[bytes] = []

    def catch(route):
        caught.append(route.request.post_data_buffer)
        route.abort()

    page.route("**/*uploads*", catch)
    if quality is not None:  # else the page's own
        page.add_init_script(SET_QUALITY % quality)
    page.goto(url + "/")
    page.set_input_files("#file", str(path))
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelector('.progress-item.failed, .waiting')")
    page.unroute("**/*uploads*")
    return file_part(caught[0])[1]


def file_part(body: bytes) -> tuple[str, bytes]:
    """Return the file name and bytes of the `file` part of a multipart/form-data body, as
    they were sent (byte for byte: no parser's idea of line endings)."""
    boundary = body.split(b"\r\n", 1)[0]
    for part in body.split(boundary):
        head, _, data = part.partition(b"\r\n\r\n")
        found = re.search(rb'name="file"; filename="([^"]*)"', head)
        if found:
            return found.group(1).decode(), data.removesuffix(b"\r\n")
    raise ValueError("no file part")


def renditions(data: bytes, output_format: str = "auto", qualities: dict | None = None) -> dict:
    """Return the server's renditions of `data`, by name, as images (at the settings'
    qualities, or at `qualities`, by longest side)."""
    from PIL import Image

    from app import imaging
    from app.config import Settings

    settings = Settings()
    options = imaging.Options(
        output_format=output_format,
        quality=settings.jpeg_quality,
        qualities=settings.rendition_qualities if qualities is None else qualities,
    )
    made = imaging.make_renditions(data, settings.rendition_specs, options)
    return {r.name: Image.open(io.BytesIO(r.data)) for r in made}


def compare(original: bytes, sent: bytes) -> dict:
    """Return, per rendition, the SSIM against its exact pixels (the original's rendition
    kept losslessly) of the rendition the server serves from the original, and of the one it
    serves from what was sent."""
    exact = renditions(original, "png")
    served, ours = renditions(original), renditions(sent)
    scores = {}
    for name, pixels in exact.items():
        if ours[name].size != pixels.size:
            raise SystemExit(f"{name}: {ours[name].size} from what was sent, {pixels.size} else")
        scores[name] = (ssim(served[name], pixels), ssim(ours[name], pixels))
    return scores


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shrink")
    parser.add_argument("--quick", action="store_true", help="the 12 MP photo only")
    args, _ = parser.parse_known_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"Shrinking in the browser: skipped, no Chromium at {CHROMIUM}")
        return 0
    corpus.ensure()
    names = SAMPLES[:1] if args.quick else SAMPLES
    samples = [s for s in corpus.SAMPLES if s.filename in names]
    rows = []
    with page_shrinking() as shrunk:
        for sample in samples:
            original = sample.path.read_bytes()
            for quality in QUALITIES:
                sent = shrunk(sample.path, quality)
                rows.append((sample, quality, len(original), len(sent), compare(original, sent)))
    report(rows)
    return 0


def report(rows) -> None:
    print(
        "Shrinking in the browser (Chromium, as the upload page does) to 2x the largest "
        "rendition; baseline: the original sent as it is. SSIM against the exact pixels (the "
        "original's rendition kept losslessly; 1.0 = the same) of each rendition the server "
        "makes from what was sent, and of the one it makes from the original:"
    )
    for sample, quality, original, sent, scores in rows:
        seconds = sent * 8 / UPLINK_BITS
        before = original * 8 / UPLINK_BITS
        ssims = ", ".join(
            f"{name} {shrunk:.4f} (from the original {whole:.4f})"
            for name, (whole, shrunk) in scores.items()
        )
        print(
            f"  {sample.name} ({original / 1e6:.1f} MB), quality {quality}: "
            f"sent {sent / 1e3:.0f} kB "
            f"({sent / original:.1%} of the original; {seconds:.1f} s vs {before:.1f} s at "
            f"{UPLINK_BITS // 1000} kbit/s); SSIM {ssims}"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
