"""One measurement in a fresh process: `python -m bench.measure METHOD FILE WARMUP_FILE [alpha]`.

Prints one JSON line: the method's wall time in milliseconds, from the file's bytes in memory
to the renditions' bytes, and this process's peak resident memory (VmHWM), which counts the
interpreter, the method's imports and the source's bytes, as in the worker. Each method imports
only what it uses, and runs once on a tiny file of the same kind before the timed run, so
one-time costs (loading a codec, building an operation cache) are left to the cold-start benchmark.
"""

from __future__ import annotations

import os
import sys
import time

# Only what every method needs is imported here: all the rest counts in the measured peak.

THUMB, PREVIEW = 256, 1024
QUALITY = 85


def engine_thumb(alpha: bool):
    return _engine([("thumb", THUMB)])


def engine_pair(alpha: bool):
    return _engine([("thumb", THUMB), ("preview", PREVIEW)])


def _engine(specs):
    imaging = _load_engine()
    return lambda data: [rendition.data for rendition in imaging.make_renditions(data, specs)]


def _load_engine():
    """Import app/imaging.py alone: importing the app package would also bring in Flask."""
    sys.path.insert(
        0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app")
    )
    import imaging

    return imaging


def naive(alpha: bool):
    """Open, decode the whole image, resize to the target with LANCZOS: the usual tutorial."""
    import io

    from PIL import Image

    def run(data):
        image = Image.open(io.BytesIO(data))
        image = image.convert("RGBA" if alpha else "RGB")
        scale = THUMB / max(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
        out = io.BytesIO()
        image.save(out, "PNG" if alpha else "JPEG", quality=QUALITY)
        return [out.getvalue()]

    return run


def pyvips_thumb(alpha: bool):
    return _pyvips(alpha, [THUMB])


def pyvips_pair(alpha: bool):
    return _pyvips(alpha, [THUMB, PREVIEW])


def _pyvips(alpha, sides):
    """One `thumbnail` call per rendition, as libvips is meant to be used."""
    import pyvips

    suffix = ".png" if alpha else f".jpg[Q={QUALITY},optimize_coding,keep=none]"
    return lambda data: [
        pyvips.Image.thumbnail_buffer(data, side).write_to_buffer(suffix) for side in sides
    ]


def floor(alpha: bool):
    """Decode the JPEG at 1/8 scale and nothing else: no resampling, no encoding."""
    import io

    from PIL import Image

    def run(data):
        image = Image.open(io.BytesIO(data))
        image.draft(image.mode, (image.width // 8, image.height // 8))
        image.load()
        return []

    return run


METHODS = {
    "engine thumb": engine_thumb,
    "engine thumb+preview": engine_pair,
    "naive Pillow": naive,
    "pyvips thumb": pyvips_thumb,
    "pyvips thumb+preview": pyvips_pair,
    "floor (1/8 decode)": floor,
}
MAGICK = "ImageMagick convert"


def peak_kb() -> int:
    """Return this process's peak resident memory (VmHWM) in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("VmHWM is not in /proc/self/status")


def magick(path: str, alpha: bool) -> dict:
    """Time `convert -thumbnail` as a command; its peak is the child's ru_maxrss, which exec
    leaves at no less than this small launcher's own peak (about 9 MB)."""
    import resource
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "thumb.png" if alpha else "thumb.jpg")
        command = [
            "convert",
            f"{path}[0]",
            "-auto-orient",
            "-thumbnail",
            f"{THUMB}x{THUMB}",
            "-quality",
            str(QUALITY),
            out,
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - start
        out_bytes = os.path.getsize(out)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"ms": elapsed * 1000, "peak_kb": peak, "out_bytes": out_bytes}


def measure(method: str, path: str, warmup: str, alpha: bool) -> dict:
    """Run `method` once on `warmup`, then time it on `path`."""
    if method == MAGICK:
        return magick(path, alpha)
    run = METHODS[method](alpha)
    with open(warmup, "rb") as source:
        run(source.read())
    with open(path, "rb") as source:
        data = source.read()
    start = time.perf_counter()
    outputs = run(data)
    elapsed = time.perf_counter() - start
    return {"ms": elapsed * 1000, "peak_kb": peak_kb(), "out_bytes": sum(map(len, outputs))}


if __name__ == "__main__":
    method, path, warmup, *flags = sys.argv[1:]
    result = measure(method, path, warmup, "alpha" in flags)
    import json  # after the peak is read

    print(json.dumps(result))
