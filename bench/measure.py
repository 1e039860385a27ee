"""One measurement in a fresh process: `python -m bench.measure METHOD FILE WARMUP_FILE [alpha]`.

Prints one JSON line: the method's wall time and CPU time in milliseconds, from the file's
bytes in memory to the renditions' bytes, and this process's peak resident memory (VmHWM),
which counts the interpreter, the method's imports and the source's bytes, as in the worker.
Each method imports only what it uses, and runs once on a tiny file of the same kind before the
timed run, so one-time costs (loading a codec, building an operation cache) are left to the
cold-start benchmark.
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


def engine_moving(alpha: bool):
    return _engine([("thumb", THUMB), ("preview", PREVIEW)], still=False)


def _engine(specs, still: bool = True):
    imaging = _load_engine()
    # An animation's first frame, as every other method here makes it, unless asked to keep
    # it moving (bench/formats.py measures that).
    options = imaging.Options(max_animation_pixels=0) if still else imaging.Options()
    return lambda data: [r.data for r in imaging.make_renditions(data, specs, options)]


def _load_engine():
    """Import app.imaging alone: running app/__init__.py would also bring in Flask."""
    import importlib.machinery
    import importlib.util

    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app")
    package = importlib.util.module_from_spec(importlib.machinery.ModuleSpec("app", None))
    package.__path__ = [folder]
    sys.modules["app"] = package
    return importlib.import_module("app.imaging")


def worker(alpha: bool):
    """The worker's own conversion (`app.worker._convert`: the settings' renditions and
    options, its deadline for an animation), in a process that has imported what the
    function's has for an S3 event (Zappa's handler, Flask, boto3); the renditions are kept
    in memory rather than written to S3."""
    import types

    import zappa.handler  # noqa: F401  (the function's entry point imports it first)

    from app import worker as module
    from app.config import Settings

    kept: list[bytes] = []

    def write_rendition(job_id, rendition):
        kept.append(rendition.data)
        return f"results/{job_id}/{rendition.name}.{rendition.extension}"

    storage = types.SimpleNamespace(write_rendition=write_rendition)
    services = types.SimpleNamespace(settings=Settings(), storage=storage)

    def run(data):
        kept.clear()
        module._convert(services, "benchjob", data, time.time() + 60)
        return list(kept)

    return run


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


def pyvips_thumb(alpha: bool, threads: int | None = None):
    return _pyvips(alpha, [THUMB], threads)


def pyvips_pair(alpha: bool, threads: int | None = None):
    return _pyvips(alpha, [THUMB, PREVIEW], threads)


def _pyvips(alpha, sides, threads):
    """One `thumbnail` call per rendition, each shrinking on load from the file."""
    pyvips = _import_pyvips(threads)

    def run(data):
        outputs = []
        for side in sides:
            image = pyvips.Image.thumbnail_buffer(data, side)
            outputs += _vips_outputs(image, alpha, lossless=alpha and side == max(sides))
        return outputs

    return run


def pyvips_best_pair(alpha: bool, threads: int | None = None):
    """Both sizes as a careful libvips user makes them: one shrink on load to the preview, held
    in memory, then the thumbnail made from the preview."""
    pyvips = _import_pyvips(threads)

    def run(data):
        preview = pyvips.Image.thumbnail_buffer(data, PREVIEW).copy_memory()
        thumb = preview.thumbnail_image(THUMB)
        return _vips_outputs(preview, alpha, lossless=alpha) + _vips_outputs(thumb, alpha)

    return run


def _import_pyvips(threads: int | None):
    """Import pyvips with libvips on `threads` threads, or on as many as it picks (the cores)."""
    if threads:
        os.environ["VIPS_CONCURRENCY"] = str(threads)  # read once, when libvips starts
    else:
        os.environ.pop("VIPS_CONCURRENCY", None)
    import pyvips

    return pyvips


def _vips_outputs(image, alpha: bool, lossless: bool = False) -> list[bytes]:
    """Encode as the engine does: JPEG when opaque; WebP with alpha when transparent, and a
    lossless PNG of the largest size. An image written twice is first held in memory."""
    if not alpha:
        return [image.write_to_buffer(f".jpg[Q={QUALITY},optimize_coding,keep=none]")]
    if lossless:
        image = image.copy_memory()
    outputs = [image.write_to_buffer(f".webp[Q={QUALITY},keep=none]")]
    return outputs + ([image.write_to_buffer(".png[keep=none]")] if lossless else [])


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
    "engine thumb+preview, moving": engine_moving,
    "naive Pillow": naive,
    "pyvips thumb": pyvips_thumb,
    "pyvips thumb+preview": pyvips_pair,
    "pyvips best pair": pyvips_best_pair,
    "pyvips thumb, 1 thread": lambda alpha: pyvips_thumb(alpha, threads=1),
    "pyvips thumb+preview, 1 thread": lambda alpha: pyvips_pair(alpha, threads=1),
    "pyvips best pair, 1 thread": lambda alpha: pyvips_best_pair(alpha, threads=1),
    "floor (1/8 decode)": floor,
}
MAGICK = "ImageMagick convert"
WORKER = "worker"  # bench/memory.py's: not one of the engine's rivals


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
    run = (worker if method == WORKER else METHODS[method])(alpha)
    with open(warmup, "rb") as source:
        run(source.read())
    with open(path, "rb") as source:
        data = source.read()
    start, cpu = time.perf_counter(), time.process_time()
    outputs = run(data)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "ms": elapsed * 1000,
        "cpu_ms": cpu * 1000,  # every thread's user and system time
        "peak_kb": peak_kb(),
        "out_bytes": sum(map(len, outputs)),
    }


if __name__ == "__main__":
    method, path, warmup, *flags = sys.argv[1:]
    result = measure(method, path, warmup, "alpha" in flags)
    import json  # after the peak is read

    print(json.dumps(result))
