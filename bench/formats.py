"""Pictures people send: small images, animations and HEIC. `python -m bench.formats [--quick]`.

- Small images: the bytes of each rendition of typical icons and screenshots, and the worst
  error of a colour in it, against today's (JPEG quality 85 with 4:2:0 chroma when opaque,
  lossy WebP quality 85 when transparent: what the engine wrote before it kept them whole).
- Animations: the time and peak memory of thumb+preview kept moving, against the first frame
  alone (what the engine made before), each a fresh process (bench/measure.py), median of the
  rounds; and the time per megapixel of animation (frames × width × height), which sets
  MAX_ANIMATION_PIXELS.
- HEIC: a 12 MP photo from a phone, as HEIC against the same photo as JPEG.
Writes bench/formats.md (with --quick, under bench/out/).
"""

from __future__ import annotations

import io
import statistics
import sys

from PIL import Image, ImageChops, ImageDraw

from bench import MEMORY_MB, corpus, rounds_and_folder
from bench.imaging import _measure
from bench.measure import _load_engine

SPECS = [("thumb", 256), ("preview", 1024)]
# The share of a vCPU Lambda gives the function (one vCPU at 1,769 MB; a conversion runs on
# one thread, so no more than one counts).
LAMBDA_VCPU = min(1.0, MEMORY_MB / 1769)
MOVING, STILL = "engine thumb+preview, moving", "engine thumb+preview"


def main(argv: list[str]) -> int:
    """Measure, print and write the report."""
    runs, out = rounds_and_folder("python -m bench.formats", argv)
    lines = ["# Pictures people send: small images, animations, HEIC", ""]
    lines += small_images() + drawings() + animations(runs) + heic(runs)
    report = "\n".join(lines) + "\n"
    (out / "formats.md").write_text(report)
    print(report)
    return 0


def small_images() -> list[str]:
    """Return the table of small images: bytes and worst colour error, today's and now."""
    imaging = _load_engine()
    lines = ["## Small images, kept whole", "", SMALL_TEXT, ""]
    lines += ["| image | rendition | today: bytes, worst error | now: format, bytes, worst error |"]
    lines += ["| --- | --- | ---: | ---: |"]
    for name, image, fmt in _small_samples():
        data = _encoded(image, fmt)
        source = _rgba(Image.open(io.BytesIO(data)))
        # A shrunk rendition is lossy as before: bench/imaging.py measures those.
        whole = [
            r
            for r in imaging.make_renditions(data, SPECS)
            if r.shown and (r.width, r.height) == source.size
        ]
        if whole:
            lines.append(_small_row(name, whole, source))
    return lines + [""]


def _small_row(name: str, whole: list, source: Image.Image) -> str:
    rendition = whole[0]
    today = _today(source)
    before = _worst(_rgba(Image.open(io.BytesIO(today))), source)
    now = _worst(_rgba(Image.open(io.BytesIO(rendition.data))), source)
    ratio = len(rendition.data) / len(today)
    names = ", ".join(r.name for r in whole)
    return (
        f"| {name} | {names} {rendition.width}×{rendition.height} | "
        f"{len(today)} B, {before} | {rendition.extension.upper()} lossless, "
        f"{len(rendition.data)} B ({ratio:.2f}×), {now} |"
    )


SMALL_TEXT = (
    "Each rendition whose size is the image's own. Today's: what the engine wrote before, JPEG "
    "quality 85 (4:2:0) when opaque, WebP quality 85 when transparent. Worst error: the largest "
    "difference of one channel of one pixel from the upload, premultiplied by its alpha (as it "
    "is seen), in levels of 255."
)


def _small_samples() -> list[tuple[str, Image.Image, str]]:
    return [
        ("icon 32 px, RGBA", _icon(32), "PNG"),
        ("icon 64 px, RGBA", _icon(64), "PNG"),
        ("icon 128 px, RGBA", _icon(128), "PNG"),
        ("palette logo 200×80, 16 colours", _logo(), "PNG"),
        ("logo GIF 200×80", _logo(), "GIF"),
        ("screenshot 800×600", _screenshot((800, 600)), "PNG"),
        ("screenshot 1024×768", _screenshot((1024, 768)), "PNG"),
        ("photo JPEG 640×480", corpus.photo((640, 480), seed=3), "JPEG"),
    ]


def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def drawings() -> list[str]:
    """Return the table of drawings shrunk to JPEG: 4:4:4 now, 4:2:0 today."""
    imaging = _load_engine()
    lossless = imaging.Options(output_format="png")  # the same pixels, before any JPEG
    lines = ["## Drawings shrunk to JPEG: full colour resolution (4:4:4)", "", DRAWINGS_TEXT, ""]
    lines += ["| image | rendition | today (4:2:0): bytes, worst error | now (4:4:4) |"]
    lines += ["| --- | --- | ---: | ---: |"]
    for name, image, fmt in [
        ("screenshot 1600×1000", _screenshot((1600, 1000)), "PNG"),
        ("phone screenshot 1170×2532", _screenshot((1170, 2532)), "PNG"),
        ("chart GIF 1200×800", _chart(), "GIF"),
    ]:
        data = _encoded(image, fmt)
        exact = imaging.make_renditions(data, SPECS, lossless)
        for rendition, pixels in zip(imaging.make_renditions(data, SPECS), exact, strict=True):
            if rendition.content_type != "image/jpeg":
                continue  # kept whole: the table above
            reference = _rgba(Image.open(io.BytesIO(pixels.data)))
            today = io.BytesIO()
            reference.convert("RGB").save(today, "JPEG", quality=85, optimize=True)
            before = _worst(_rgba(Image.open(today)), reference)
            now = _worst(_rgba(Image.open(io.BytesIO(rendition.data))), reference)
            size = len(today.getvalue())
            lines.append(
                f"| {name} | {rendition.name} {rendition.width}×{rendition.height} | "
                f"{size} B, {before} | {len(rendition.data)} B "
                f"({len(rendition.data) / size:.2f}×), {now} |"
            )
    return lines + [""]


DRAWINGS_TEXT = (
    "Drawn images (PNG, GIF, 256 colours or fewer) larger than a rendition, shrunk to JPEG "
    "quality 85: today with the colour at every second pixel (4:2:0), now at every pixel. Worst "
    "error against the same shrink kept lossless."
)


def _today(image: Image.Image) -> bytes:
    out = io.BytesIO()
    if image.getchannel("A").getextrema()[0] < 255:
        image.save(out, "WEBP", quality=85)
    else:
        image.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def _rgba(image: Image.Image) -> Image.Image:
    """Return the pixels as seen: RGBA, every fully transparent pixel alike."""
    rgba = image.convert("RGBA")
    rgba.paste((0, 0, 0, 0), mask=rgba.getchannel("A").point(lambda a: 255 if a == 0 else 0))
    return rgba


def _worst(image: Image.Image, source: Image.Image) -> int:
    """Return the largest difference of a channel, premultiplied by alpha: as it is seen."""
    difference = ImageChops.difference(image.convert("RGBa"), source.convert("RGBa"))
    return max(high for _, high in difference.getextrema())


def _icon(size: int) -> Image.Image:
    image = Image.new("RGBA", (size * 4, size * 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((8, 8, size * 4 - 9, size * 4 - 9), fill=(30, 120, 220), outline=(10, 40, 90))
    draw.rectangle((size * 4 // 3, size * 4 // 3, size * 8 // 3, size * 8 // 3), fill=(250, 80, 0))
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo() -> Image.Image:
    image = Image.new("RGB", (200, 80), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((10, 30), "LOGO co.", fill=(200, 30, 30), font_size=20)
    draw.rectangle((150, 10, 190, 70), fill=(20, 90, 200))
    return image.quantize(16)


def _chart() -> Image.Image:
    """A line chart: thin coloured lines and labels on white, 8 colours."""
    image = Image.new("RGB", (1200, 800), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    colours = [(220, 40, 40), (30, 110, 220), (30, 160, 70), (240, 150, 0)]
    for n, colour in enumerate(colours):
        points = [
            (x, 400 + n * 60 + int(120 * ((x * (n + 2)) % 97) / 97)) for x in range(0, 1200, 40)
        ]
        draw.line(points, fill=colour, width=3)
        draw.text((40, 40 + n * 30), f"Series {n + 1}", fill=colour, font_size=22)
    return image.quantize(8)


def _screenshot(size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0], 48), fill=(36, 41, 47))
    draw.rectangle((size[0] - 260, 80, size[0] - 30, 300), fill=(255, 255, 255), outline=(200,) * 3)
    inks = [(30, 30, 30), (9, 105, 218), (207, 34, 46), (26, 127, 55)]  # text, link, error, ok
    for n, y in enumerate(range(70, size[1] - 20, 22)):
        draw.text(
            (24, y), "The quick brown fox jumps over the lazy dog 0123456789", fill=inks[n % 4]
        )
    return image


def animations(runs: int) -> list[str]:
    """Return the table of animations: time and memory moving, against the first frame."""
    from bench import formats_corpus

    lines = ["## Animations kept moving", "", ANIMATION_TEXT, ""]
    lines += ["| animation | file | megapixels | moving | first frame | moving/first | ms per MP |"]
    lines += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    per_mp = []
    for sample in formats_corpus.animations():
        moving = _median(sample, MOVING, runs)
        still = _median(sample, STILL, runs)
        per_mp.append(moving["ms"] / sample.megapixels)
        lines.append(
            f"| {sample.name} | {sample.path.stat().st_size / 1e6:.1f} MB | "
            f"{sample.megapixels:.1f} | {_cell(moving)} | {_cell(still)} | "
            f"{moving['ms'] / still['ms']:.1f}× | {per_mp[-1]:.0f} |"
        )
    return lines + _at_the_limit(min(per_mp), max(per_mp))


def _at_the_limit(fastest: float, slowest: float) -> list[str]:
    """Say what the kinds measured would take at the default limit, here and on Lambda."""
    limit = _load_engine().Options().max_animation_pixels / 1e6
    here = [per_mp * limit / 1000 for per_mp in (fastest, slowest)]
    there = [seconds / LAMBDA_VCPU for seconds in here]
    return [
        "",
        f"At the default MAX_ANIMATION_PIXELS ({limit:g} megapixels), the kinds measured would "
        f"take from {here[0]:.0f} to {here[1]:.0f} s here; on a {MEMORY_MB:,} MB Lambda "
        f"({LAMBDA_VCPU:.2f} of a vCPU for one thread, if a core here is as fast as Lambda's) from "
        f"{there[0]:.0f} to {there[1]:.0f} s. The worker gives an animation half of the "
        "invocation's time left (about 30 s of 60), checked between frames, and shows the first "
        "frame of one that needs more, with a note.",
        "",
    ]


ANIMATION_TEXT = (
    "Thumb (256 px) and preview (1024 px) as animated WebP, against the first frame alone (what "
    "the engine made before). Each a fresh process; median time and peak memory (VmHWM, MiB: "
    "interpreter, imports, the file's bytes and the work). A size that is the animation's own "
    "is lossless, which costs the most."
)


def heic(runs: int) -> list[str]:
    """Return the HEIC table: a phone's 12 MP photo as HEIC and as JPEG."""
    from bench import formats_corpus

    jpeg, heic_sample = formats_corpus.phone_photo()
    lines = ["## HEIC", "", HEIC_TEXT, ""]
    lines += ["| file | bytes | thumb+preview | against the JPEG |", "| --- | ---: | ---: | ---: |"]
    times = {}
    for sample in (jpeg, heic_sample):
        times[sample.name] = _median(sample, STILL, runs)
        ratio = times[sample.name]["ms"] / times[jpeg.name]["ms"]
        lines.append(
            f"| {sample.name} | {sample.path.stat().st_size / 1e6:.1f} MB | "
            f"{_cell(times[sample.name])} | {ratio:.1f}× |"
        )
    return lines + [""]


HEIC_TEXT = (
    "A photo of 4032×3024 (a phone's 12 MP) as HEIC (quality 80, by x265, in tiles of 512×512 "
    "as phones write it) and as JPEG (quality 90). A JPEG decodes at 1/2 or 1/4 scale for these "
    "sizes; HEVC has no such shortcut, so a HEIC decodes whole (libheif, libde265). The first "
    "HEIC of a process also imports pi-heif: about 20 ms and 6 MiB, measured apart from this."
)


def _median(sample, method: str, runs: int) -> dict:
    measured = [_measure(method, sample) for _ in range(runs)]
    return {
        "ms": statistics.median(m["ms"] for m in measured),
        "mib": statistics.median(m["peak_kb"] for m in measured) / 1024,
    }


def _cell(median: dict) -> str:
    return f"{median['ms']:.0f} ms, {median['mib']:.0f} MiB"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
