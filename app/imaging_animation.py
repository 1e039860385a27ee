"""Animations (GIF, WebP, APNG) made into animated WebP renditions, one frame at a time.

Each size is encoded from its own pass over the frames, each frame decoded, resized and
handed to the encoder before the next is read: memory holds a frame or two whatever the count.
`Options.max_animation_pixels` (frames × width × height) bounds the work before it starts, and
a deadline bounds its time, whatever the frames hold. An animation beyond either, one a
deployment's format cannot move, or one damaged after its first frame is shown by its first
frame, and the renditions say so. Knows nothing of Flask or AWS.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

from PIL import Image

from .imaging_formats import DECODE_ERRORS, pillow_limit_as_refusal
from .imaging_output import Options, Rendition, load_webp
from .imaging_pixels import REDUCING_GAP, TRANSPOSE, fit, orientation, oriented, srgb_converter

ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")
STILL = "This animation is shown still, by its first frame"
DAMAGED = f"{STILL}: a later frame of it is damaged."
SLOW = f"{STILL}: keeping it moving took longer than one image may take here."
ALPHA_FLAG = 0x10  # of the VP8X chunk's flags, which start at byte 20 of an animated WebP
# libwebp's fastest method: each frame costs what a still image costs, and a long animation
# must fit the time limit. It writes about 10% more bytes than the default, in half the time.
METHOD = 0


class Unfinished(Exception):
    """The animation could not be kept moving: a later frame is damaged, or time ran out."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


def is_animation(source: Image.Image) -> bool:
    """Whether `source` is an animation the engine can keep moving."""
    if source.format not in ANIMATED_FORMATS:
        return False
    try:
        return _frame_count(source) > 1
    except DECODE_ERRORS:
        return False  # the first frame decides whether the file is readable at all


def held_still(source: Image.Image, options: Options) -> str | None:
    """Return why the animation's renditions show its first frame, or None if they move."""
    if not options.animates:
        kind = options.output_format.upper()
        return f"{STILL}: this site makes {kind} images, which cannot move."
    frames = _frame_count(source)
    width, height = source.size
    if frames * width * height > options.max_animation_pixels:
        return (
            f"{STILL}: it has {frames} frames of {width}×{height} pixels "
            f"({frames * width * height / 1e6:.0f} megapixels in all), and animations of up to "
            f"{options.max_animation_pixels / 1e6:g} megapixels in all are kept moving."
        )
    return None


def render(source: Image.Image, specs, options: Options, deadline: float) -> list[Rendition]:
    """Return one animated WebP rendition per `(name, max_side)` spec; a size that is the
    whole animation is kept losslessly. Raise Unfinished if a frame cannot be read, or if
    `time.monotonic()` passes `deadline` before the last frame."""
    turn = orientation(source)
    upright = oriented(source.size, turn)
    sizes = {side: fit(upright, side) for _, side in specs}
    # Read before any seek: a later frame's info no longer says these.
    start = 1 if source.info.get("default_image") else 0
    indexes, loop = range(start, source.n_frames), _loop(source)
    to_srgb = srgb_converter(source.info.get("icc_profile"), "RGBA")
    made = {}
    with pillow_limit_as_refusal():
        for size in sorted(set(sizes.values()), reverse=True):
            frames = _frames(source, indexes, oriented(size, turn), turn, to_srgb, deadline)
            made[size] = _encode(frames, len(indexes), loop, size == upright, options)
    return [Rendition(name, *sizes[side], "image/webp", made[sizes[side]]) for name, side in specs]


def _frame_count(source: Image.Image) -> int:
    """Return the frames that move: an APNG's default image is for viewers without APNG."""
    return source.n_frames - (1 if source.info.get("default_image") else 0)


def _encode(frames, count: int, loop: int, whole: bool, options: Options) -> bytes:
    """Encode one size of the animation, a frame at a time."""
    first, duration = next(frames)
    rest = _Frames(frames, count - 1, [duration])
    out = io.BytesIO()
    load_webp()
    first.save(
        out,
        "WEBP",
        save_all=True,
        append_images=[rest],
        duration=rest.durations,
        loop=loop,
        lossless=whole,
        quality=options.quality,  # lossless: the effort spent on compression
        method=METHOD,
    )
    return (
        _with_alpha_flag(out.getvalue())
        if rest.transparent or _transparent(first)
        else out.getvalue()
    )


def _with_alpha_flag(data: bytes) -> bytes:
    """Say in the file's header that it has transparency. libwebp crops each frame to what
    changes and leaves the rest of the canvas transparent, but sets the flag only when a
    cropped frame itself has alpha: browsers show the canvas transparent either way, while
    decoders that trust the flag (Pillow's, libvips') make it black."""
    if data[12:16] != b"VP8X":
        return data
    return data[:20] + bytes([data[20] | ALPHA_FLAG]) + data[21:]


def _transparent(frame: Image.Image) -> bool:
    return frame.getextrema()[3][0] < 255


def _frames(source: Image.Image, indexes, size, turn: int, to_srgb, deadline: float) -> Iterator:
    """Yield each frame, composited, resized to `size` (before it is turned), upright and
    sRGB, with its duration."""
    for index in indexes:
        if index > indexes[0] and time.monotonic() > deadline:
            raise Unfinished(SLOW)
        try:
            source.seek(index)
            frame = source.convert("RGBA")  # loads it onto what the frames before it left
        except DECODE_ERRORS as error:
            raise Unfinished(DAMAGED) from error
        duration = source.info.get("duration", 0)  # WebP's is known once the frame is loaded
        if frame.size != size:
            frame = frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        if turn in TRANSPOSE:
            frame = frame.transpose(TRANSPOSE[turn])
        frame = to_srgb(frame) if to_srgb else frame
        frame.info = {}
        yield frame, duration


def _loop(source: Image.Image) -> int:
    """Return WebP's loop count (0: for ever) for the source's. A GIF without one plays once,
    and a GIF's count is of repeats after the first play, WebP's of plays (as gif2webp maps)."""
    loop = source.info.get("loop")
    if source.format != "GIF":
        return loop or 0
    return 1 if loop is None else loop + 1 if loop else 0


class _Frames:
    """The frames after the first, produced one at a time as Pillow's WebP encoder asks.

    Pillow encodes each image of `append_images` by seeking it to each of its `n_frames` in
    turn and reading its pixels, then reads that frame's duration from the list it was given:
    this produces the frame on that seek and adds its duration to `durations` at once.
    """

    def __init__(self, frames: Iterator[tuple[Image.Image, float]], count: int, durations):
        self.n_frames = count
        self.durations = durations
        self._frames = frames
        self._frame: Image.Image | None = None
        self.transparent = False  # whether any of these frames has a pixel not opaque

    def seek(self, index: int) -> None:
        self._frame, duration = next(self._frames)
        self.durations.append(duration)
        self.transparent = self.transparent or _transparent(self._frame)

    @property
    def mode(self) -> str:
        return self._frame.mode

    def getim(self):
        return self._frame.getim()
