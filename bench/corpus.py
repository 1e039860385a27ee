"""Generate the benchmark's corpus of photo-like images into bench/corpus/ (git-ignored)."""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy
from PIL import Image, ImageChops, ImageDraw

CORPUS = Path(__file__).parent / "corpus"
VERSION = 2  # bump when the generator changes, so stale corpora are rebuilt


@dataclass(frozen=True)
class Sample:
    name: str
    filename: str
    size: tuple[int, int]
    make: Callable[[Path, tuple[int, int]], None]
    baseline_jpeg: bool = False  # the class the speed targets are set for
    jpeg: bool = False  # has a 1/8-decode floor
    alpha: bool = False  # renditions are PNG, not JPEG

    @property
    def path(self) -> Path:
        return CORPUS / f"v{VERSION}" / self.filename

    @property
    def warmup(self) -> Path:
        """A tiny file of the same kind, run once before the timed run to load the codecs."""
        return CORPUS / f"v{VERSION}" / f"warmup-{self.filename}"

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def ensure() -> list[Sample]:
    """Generate each sample not already on disk; return all samples."""
    for sample in SAMPLES:
        for path, size in ((sample.path, sample.size), (sample.warmup, (64, 48))):
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(path.name + ".partial")
                sample.make(partial, size)
                partial.rename(path)
    return SAMPLES


def photo(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """Return a photo-like RGB image: shapes with soft edges, textured at several scales."""
    rng = random.Random(seed)
    width, height = size
    small = (max(16, width // 8), max(12, height // 8))
    scene = Image.new("RGB", small, tuple(rng.randrange(60, 200) for _ in range(3)))
    draw = ImageDraw.Draw(scene)
    for _ in range(120):
        x, y = rng.randrange(small[0]), rng.randrange(small[1])
        r = rng.randrange(small[0] // 40 + 1, small[0] // 6 + 2)
        colour = tuple(rng.randrange(20, 235) for _ in range(3))
        if rng.random() < 0.5:
            draw.polygon(
                [(x + rng.randint(-r, r), y + rng.randint(-r, r)) for _ in range(5)], fill=colour
            )
        else:
            draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    image = scene.resize(size, Image.Resampling.BICUBIC)
    texture = ImageChops.add(_octave(size, 16, 40), _octave(size, 3, 30), 1.0, -128)
    texture = ImageChops.add(texture, _octave(size, 1, 5), 1.0, -128)
    return ImageChops.add(image, texture.convert("RGB"), 1.0, -128)


def _octave(size: tuple[int, int], scale: int, sigma: float) -> Image.Image:
    small = Image.effect_noise((max(2, size[0] // scale), max(2, size[1] // scale)), sigma)
    return small.resize(size, Image.Resampling.BICUBIC) if scale > 1 else small


def _jpeg(cmyk: bool = False, **save):
    def make(path: Path, size: tuple[int, int]) -> None:
        image = photo(size, seed=size[0])
        (image.convert("CMYK") if cmyk else image).save(path, "JPEG", quality=90, **save)

    return make


def _rotated(path: Path, size: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side, shown upright by rotating 90° clockwise
    photo(size, seed=6).save(path, "JPEG", quality=90, exif=exif)


def _rgba(path: Path, size: tuple[int, int]) -> None:
    image = photo(size, seed=7)
    alpha = (
        Image.radial_gradient("L").resize(size).point(lambda v: 255 if v < 128 else (255 - v) * 2)
    )
    image.putalpha(alpha)  # opaque centre, fading out to fully transparent corners
    image.save(path, "PNG")


def _rgb16(path: Path, size: tuple[int, int]) -> None:
    """Write a 16-bit RGB PNG by hand: Pillow saves 16 bits only for greyscale."""
    rgb = numpy.asarray(photo(size, seed=16), dtype=numpy.uint16) * 257
    rgb += numpy.random.default_rng(16).integers(0, 256, rgb.shape, dtype=numpy.uint16)
    height, width, _ = rgb.shape
    rows = numpy.zeros((height, 1 + width * 6), dtype=numpy.uint8)  # filter byte 0, then samples
    rows[:, 1:] = rgb.astype(">u2").view(numpy.uint8).reshape(height, width * 6)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    chunks = [(b"IHDR", header), (b"IDAT", zlib.compress(rows.tobytes(), 6)), (b"IEND", b"")]
    png = b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    path.write_bytes(png)


def _animated(path: Path, size: tuple[int, int]) -> None:
    base = photo(size, seed=8)
    frames = [
        base.rotate(angle * 3, resample=Image.Resampling.BILINEAR).quantize(256)
        for angle in range(8)
    ]
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


SAMPLES = [
    Sample("JPEG 12 MP", "baseline-12mp.jpg", (4000, 3000), _jpeg(), baseline_jpeg=True, jpeg=True),
    Sample("JPEG 24 MP", "baseline-24mp.jpg", (6000, 4000), _jpeg(), baseline_jpeg=True, jpeg=True),
    Sample("JPEG 48 MP", "baseline-48mp.jpg", (8000, 6000), _jpeg(), baseline_jpeg=True, jpeg=True),
    Sample(
        "progressive JPEG 12 MP",
        "progressive-12mp.jpg",
        (4000, 3000),
        _jpeg(progressive=True),
        jpeg=True,
    ),
    Sample("CMYK JPEG 12 MP", "cmyk-12mp.jpg", (4000, 3000), _jpeg(cmyk=True), jpeg=True),
    Sample("EXIF-rotated JPEG 12 MP", "rotated-12mp.jpg", (4000, 3000), _rotated, jpeg=True),
    Sample("RGBA PNG 12 MP", "rgba-12mp.png", (4000, 3000), _rgba, alpha=True),
    Sample("16-bit PNG 6 MP", "rgb16-6mp.png", (3000, 2000), _rgb16),
    Sample("animated GIF, 8 frames", "animated.gif", (1000, 750), _animated),
]
