"""Generate bench/formats.py's animations and phone photo into bench/corpus/ (git-ignored)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from bench import corpus

FOLDER = corpus.CORPUS / f"v{corpus.VERSION}" / "formats"


@dataclass(frozen=True)
class Sample:
    """A file of the benchmark, in the shape bench/imaging.py's runner takes."""

    name: str
    filename: str
    make: Callable[[], bytes]
    frames: int = 1
    size: tuple[int, int] = (0, 0)
    alpha: bool = False

    @property
    def path(self) -> Path:
        return FOLDER / self.filename

    @property
    def warmup(self) -> Path:
        """A tiny file of the same kind, to load the codecs before the timed run."""
        return FOLDER / f"warmup-{self.filename}"

    @property
    def megapixels(self) -> float:
        return self.frames * self.size[0] * self.size[1] / 1e6

    def ensure(self) -> Sample:
        for path, make in ((self.path, self.make), (self.warmup, self._tiny)):
            if not path.exists():
                FOLDER.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(path.name + ".partial")
                partial.write_bytes(make())
                partial.rename(path)
        return self

    def _tiny(self) -> bytes:
        suffix = self.filename.rsplit(".", 1)[1]
        tiny = Image.new("RGB", (32, 24), (90, 120, 30))
        if suffix == "heic":
            return _heic(tiny)
        if suffix == "jpg":
            return _save([tiny], "JPEG")
        fmt = {"gif": "GIF", "png": "PNG", "webp": "WEBP"}[suffix]
        return _save([tiny, tiny.rotate(90)], fmt)


def animations() -> list[Sample]:
    """Return the animations, generated if missing."""
    samples = [
        Sample("screencast GIF 800×600, 60 frames", "screencast.gif", _screencast, 60, (800, 600)),
        Sample(
            "photo GIF 480×360, 24 frames", "photo.gif", _photo_gif(480, 360, 24), 24, (480, 360)
        ),
        Sample("sticker APNG 320×320, 30 frames", "sticker.png", _sticker, 30, (320, 320), True),
        Sample("animated WebP 480×270, 48 frames", "clip.webp", _clip, 48, (480, 270)),
        # Every frame different everywhere, lossless: the slowest kind per megapixel, as
        # many frames as a 20 MB upload holds of it.
        Sample(
            "photo GIF 500×500, 100 frames", "long.gif", _photo_gif(500, 500, 100), 100, (500, 500)
        ),
        Sample("video WebP 640×360, 217 frames", "video.webp", _video, 217, (640, 360)),
    ]
    return [sample.ensure() for sample in samples]


def phone_photo() -> tuple[Sample, Sample]:
    """Return one 12 MP photo as JPEG and as HEIC, generated if missing."""
    photo = corpus.photo((4032, 3024), seed=12)
    jpeg = Sample("JPEG 12 MP", "phone.jpg", lambda: _save([photo], "JPEG", quality=90))
    heic = Sample("HEIC 12 MP", "phone-tiles.heic", lambda: _heic(photo))
    return jpeg.ensure(), heic.ensure()


def _save(frames: list[Image.Image], fmt: str, **params) -> bytes:
    out = io.BytesIO()
    if len(frames) > 1:
        params = {
            "save_all": True,
            "append_images": frames[1:],
            "duration": 80,
            "loop": 0,
            **params,
        }
    frames[0].save(out, fmt, **params)
    return out.getvalue()


def _heic(image: Image.Image) -> bytes:
    import pillow_heif  # the tests' encoder (x265): never shipped

    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=80, tile_size=512)  # as a phone writes it
    return out.getvalue()


def _screencast() -> bytes:
    """A screen recording: a still page, a cursor that moves, a bar that fills."""
    page = Image.new("RGB", (800, 600), (246, 247, 249))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 800, 48), fill=(36, 41, 47))
    for y in range(70, 560, 22):
        draw.text((24, y), "The quick brown fox jumps over the lazy dog 0123456789", fill=(30,) * 3)
    frames = []
    for n in range(60):
        frame = page.copy()
        step = ImageDraw.Draw(frame)
        step.rectangle((24, 570, 24 + n * 12, 590), fill=(9, 105, 218))
        step.polygon(
            [(300 + n * 5, 200 + n * 3), (312 + n * 5, 214 + n * 3), (300 + n * 5, 218 + n * 3)],
            fill=0,
        )
        frames.append(frame.quantize(64))
    return _save(frames, "GIF")


def _photo_gif(width: int, height: int, count: int) -> Callable[[], bytes]:
    """A clip of a photo turning and moving: every frame differs everywhere."""

    def make() -> bytes:
        base = corpus.photo((width + 64, height + 64), seed=count)
        frames = [
            base.rotate(n * 2, resample=Image.Resampling.BILINEAR)
            .crop((n % 64, n % 64, n % 64 + width, n % 64 + height))
            .quantize(256)
            for n in range(count)
        ]
        return _save(frames, "GIF")

    return make


def _sticker() -> bytes:
    """A sticker: a shape that bounces on transparency, soft-edged."""
    frames = []
    for n in range(30):
        frame = Image.new("RGBA", (640, 640), (0, 0, 0, 0))
        top = 80 + abs(15 - n) * 20
        ImageDraw.Draw(frame).ellipse((160, top, 480, top + 260), fill=(240, 160, 20, 255))
        frames.append(frame.resize((320, 320), Image.Resampling.LANCZOS))
    return _save(frames, "PNG")


def _video() -> bytes:
    """A video clip of 50 megapixels (the default limit), as lossy animated WebP."""
    base = corpus.photo((900, 500), seed=217)
    frames = [base.crop((n, n // 2, n + 640, n // 2 + 360)) for n in range(217)]
    return _save(frames, "WEBP", quality=70)


def _clip() -> bytes:
    """A short video clip, saved as lossy animated WebP."""
    base = corpus.photo((560, 350), seed=48)
    frames = [base.crop((n, n // 2, n + 480, n // 2 + 270)) for n in range(48)]
    return _save(frames, "WEBP", quality=80)
