"""What the worker asks of Lambda's memory: `python -m bench.memory [--quick] [--runs N]`.

Measures the worker's conversion (bench/measure.py's `worker`: app.worker's own, in a fresh
process that has imported what the function imports for an S3 event) of the largest image
`MAX_PIXELS` admits of each format the worker reads, each within `MAX_UPLOAD_MB`, and of typical
photos: its CPU time (every thread's user and system time) and the process's peak resident
memory (VmHWM). Then, for each Lambda memory size: Lambda gives a function CPU in proportion to
its memory, one vCPU at 1,769 MB, and Pillow converts on one thread, so a conversion takes its
CPU time divided by min(1, memory / 1,769 MB); its cost follows (bench/prices.py). It chooses
the cheapest size whose worst peak is at most 70% of it and which converts a 12 MP photo
within the latency budget, and says whether the pages would be cheaper in a function of their
own. Writes bench/memory.md (with --quick, under bench/out/).
"""

from __future__ import annotations

import io
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench import corpus, formats_corpus, prices, rounds_and_folder
from bench.imaging import _measure
from bench.measure import WORKER

FOLDER = corpus.CORPUS / f"v{corpus.VERSION}" / "memory"
# The largest 4:3 image MAX_PIXELS (100 megapixels) admits.
LARGEST = (11547, 8660)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # MAX_UPLOAD_MB: a larger upload is refused unread
SIZES_MB = (512, 1024, 1769, 2048, 3008)
FULL_VCPU_MB = 1769  # Lambda's memory for one vCPU; Pillow uses one thread
HEADROOM = 0.70  # the worst peak may take this share of the memory, no more
STEP_MB = 64  # the least size that holds the worst peak, rounded up to this
# The 12 MP conversion's share of the 0.8 s p50 target (docs/performance.md): bench/latency.py's
# p50 path took 0.61 s, 0.29 s of it in the worker, so the worker may take 0.48 s; its S3 and
# DynamoDB calls took about 0.1 s of that, which leaves the conversion itself about 0.38 s.
CONVERSION_BUDGET_S = 0.38
# What the pages of one conversion keep an instance busy (docs/cost.md: the upload page, the
# upload's redirect, the job's page, a download at about 50 ms each; the long poll's 0.5 s; a
# cold start of 1.2 s once in 20 conversions). They wait on S3 and DynamoDB more than they
# compute, so their duration stays the same at any size, and their cost grows with it.
PAGE_SECONDS = 4 * 0.05 + 0.5 + 1.2 / 20
PAGE_INVOCATIONS = 5
WEB_MB = 512  # what the pages would run at in a function of their own


@dataclass(frozen=True)
class Sample:
    """A file the worker converts, in the shape bench/imaging.py's runner takes."""

    name: str
    path: Path
    warmup: Path
    size: tuple[int, int]
    largest: bool  # the largest of its format MAX_PIXELS admits
    alpha: bool = False

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def _soft_photo(size: tuple[int, int]) -> Image.Image:
    """A photo without fine grain: at 100 megapixels, a photo with grain outgrows the upload
    limit in every format; the decoded pixels, what the memory holds, are as many."""
    small = corpus.photo((max(16, size[0] // 4), max(12, size[1] // 4)), seed=100)
    return small.resize(size, Image.Resampling.BICUBIC)


def _drawing(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A screenshot-like drawing: flat colours and text, which lossless formats keep small."""
    from bench.formats import _screenshot

    image = _screenshot(size)
    if mode == "RGBA":
        alpha = Image.linear_gradient("L").resize(size).point(lambda v: 255 - v // 2)
        image.putalpha(alpha)
    return image


def _encoded(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


# How each largest file is made: (name, a function of the size that returns its bytes, alpha).
MAKERS: list[tuple[str, str, Callable[[tuple[int, int]], bytes], bool]] = [
    ("JPEG", "jpg", lambda s: _encoded(_soft_photo(s), "JPEG", quality=90), False),
    (
        "progressive JPEG, 4:4:4",
        "progressive.jpg",
        lambda s: _encoded(_soft_photo(s), "JPEG", quality=90, progressive=True, subsampling=0),
        False,
    ),
    ("PNG, RGBA", "png", lambda s: _encoded(_drawing(s, "RGBA"), "PNG"), True),
    (
        "GIF",
        "gif",
        lambda s: _encoded(_drawing(s).quantize(64, method=Image.Quantize.FASTOCTREE), "GIF"),
        False,
    ),
    ("WebP", "webp", lambda s: _encoded(_soft_photo(s), "WEBP", quality=80), False),
    ("HEIC", "heic", lambda s: formats_corpus._heic(_soft_photo(s)), False),
    ("AVIF", "avif", lambda s: _encoded(_soft_photo(s), "AVIF", quality=60, speed=8), False),
    ("BMP, 1 bit", "bmp", lambda s: _encoded(_drawing(s).convert("1"), "BMP"), False),
    (
        "TIFF, deflate",
        "tif",
        lambda s: _encoded(_drawing(s), "TIFF", compression="tiff_deflate"),
        False,
    ),
]


def samples() -> list[Sample]:
    """Return the largest file of each format and the typical photos, generated if missing."""
    made = []
    for name, suffix, make, alpha in MAKERS:
        path = FOLDER / f"largest.{suffix}"
        warmup = FOLDER / f"warmup.{suffix}"
        for target, size in ((path, LARGEST), (warmup, (64, 48))):
            if not target.exists():
                FOLDER.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                partial.write_bytes(make(size))
                partial.rename(target)
        made.append(
            Sample(f"{name}, {LARGEST[0]}×{LARGEST[1]}", path, warmup, LARGEST, True, alpha)
        )
    jpeg, heic = formats_corpus.phone_photo()
    made += [
        Sample("phone JPEG 12 MP", jpeg.path, jpeg.warmup, (4032, 3024), False),
        Sample("phone HEIC 12 MP", heic.path, heic.warmup, (4032, 3024), False),
    ]
    for sample in corpus.ensure():
        if sample.name in ("JPEG 48 MP", "RGBA PNG 12 MP"):
            made.append(
                Sample(sample.name, sample.path, sample.warmup, sample.size, False, sample.alpha)
            )
    return made


@dataclass(frozen=True)
class Measured:
    sample: Sample
    cpu_ms: float  # median
    wall_ms: float  # median
    peak_mib: float  # the largest of the rounds

    @property
    def file_mb(self) -> float:
        return self.sample.path.stat().st_size / 1e6


def measure(all_samples: list[Sample], runs: int) -> list[Measured]:
    """Convert each sample `runs` times, each in a fresh process, interleaved."""
    results: dict[str, list[dict]] = {}
    for round_ in range(runs):
        for sample in all_samples:
            results.setdefault(sample.name, []).append(_measure(WORKER, sample))
        print(f"round {round_ + 1}/{runs} done", file=sys.stderr)
    return [
        Measured(
            sample,
            statistics.median(r["cpu_ms"] for r in results[sample.name]),
            statistics.median(r["ms"] for r in results[sample.name]),
            max(r["peak_kb"] for r in results[sample.name]) / 1024,
        )
        for sample in all_samples
    ]


def vcpu(memory_mb: int) -> float:
    """Return the share of a vCPU a single thread gets at `memory_mb`."""
    return min(1.0, memory_mb / FULL_VCPU_MB)


def seconds(cpu_ms: float, memory_mb: int) -> float:
    """Return how long a conversion of `cpu_ms` takes at `memory_mb`."""
    return cpu_ms / 1000 / vcpu(memory_mb)


def dollars(duration_s: float, memory_mb: int, architecture: str = "x86_64") -> float:
    """Return what one invocation of `duration_s` at `memory_mb` costs."""
    gb_seconds = duration_s * memory_mb / 1024
    return gb_seconds * prices.LAMBDA_GB_SECOND[architecture] + prices.LAMBDA_REQUEST


def least_holding(peak_mib: float) -> int:
    """Return the least memory, in steps of STEP_MB, at which `peak_mib` is within HEADROOM."""
    return math.ceil(peak_mib / HEADROOM / STEP_MB) * STEP_MB


def choose(worst_peak_mib: float, photo_cpu_ms: float, sizes) -> int | None:
    """Return the cheapest of `sizes` whose worst peak is within HEADROOM and which converts the
    photo within CONVERSION_BUDGET_S, or None. The smallest is the cheapest: a conversion costs
    the same GB-seconds at any size up to one vCPU and more above, and the pages, which wait
    more than they compute, cost more with every MB."""
    for memory_mb in sorted(sizes):
        holds = worst_peak_mib <= HEADROOM * memory_mb
        if holds and seconds(photo_cpu_ms, memory_mb) <= CONVERSION_BUDGET_S:
            return memory_mb
    return None


def main(argv: list[str]) -> int:
    """Measure, choose, print and write the report."""
    runs, out = rounds_and_folder("python -m bench.memory", argv)
    report = render(measure(samples(), runs), runs)
    (out / "memory.md").write_text(report)
    print(report)
    return 0


def render(measured: list[Measured], runs: int) -> str:
    """Return the report: the measurements, each size's figures, the choice and the split."""
    photo = next(m for m in measured if m.sample.name == "phone JPEG 12 MP")
    heic = next(m for m in measured if m.sample.name == "phone HEIC 12 MP")
    worst = max(measured, key=lambda m: m.peak_mib)
    slowest = max(measured, key=lambda m: m.cpu_ms)
    sizes = sorted({*SIZES_MB, least_holding(worst.peak_mib)})
    chosen = choose(worst.peak_mib, photo.cpu_ms, sizes)
    lines = ["# The worker's memory and CPU, and Lambda's memory size", "", INTRO.format(runs=runs)]
    lines += ["", "| image | file | megapixels | CPU time | wall time here | peak (VmHWM) |"]
    lines += ["| --- | ---: | ---: | ---: | ---: | ---: |"]
    for m in measured:
        over = " (over the upload limit)" if m.sample.path.stat().st_size > MAX_UPLOAD_BYTES else ""
        lines.append(
            f"| {m.sample.name} | {m.file_mb:.1f} MB{over} | {m.sample.megapixels:.0f} | "
            f"{m.cpu_ms:,.0f} ms | {m.wall_ms:,.0f} ms | {m.peak_mib:,.0f} MiB |"
        )
    lines += [
        "",
        "## At each memory size",
        "",
        SIZES_TEXT.format(**_names(photo, heic, worst, slowest)),
    ]
    lines += [
        "",
        "| memory | vCPU | worst peak | 12 MP JPEG | $ per 1,000, x86_64 | $ per 1,000, arm64 "
        "| 12 MP HEIC | slowest | fits |",
    ]
    lines += ["| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for memory_mb in sizes:
        lines.append(_size_row(memory_mb, photo, heic, worst, slowest))
    lines += ["", "## The choice", ""] + _choice(chosen, worst, photo, slowest)
    if chosen:
        lines += ["", "## One function or two", ""] + _split(chosen, photo)
    return "\n".join(lines) + "\n"


INTRO = (
    "The worker's own conversion of each file (app.worker's, with thumb and preview at the "
    "default settings), each in a fresh process that has imported what the function imports "
    "for an S3 event (Zappa's handler, Flask, boto3); {runs} rounds, interleaved: the median "
    "CPU time (user and system, every thread) and wall time, and the largest peak resident "
    "memory of the process (VmHWM, MiB: interpreter, imports, the upload's bytes and the work). "
    "The largest files hold the most pixels `MAX_PIXELS` admits (100 megapixels) within the "
    "20 MB upload limit: photos without fine grain, or drawings where a format keeps only "
    "those that small; the decoded pixels, what the memory holds, are as many either way. "
    "Measured on x86_64; Lambda's runtime adds its own few MiB to the process."
)
SIZES_TEXT = (
    "Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB, and "
    "Pillow converts on one thread: a conversion takes its CPU time divided by the vCPU "
    "share, which stops at 1. Cost per 1,000 conversions: the worker's duration and request "
    "at AWS's prices of {date} (`bench/prices.py`); arm64 at the same durations, since no "
    "Graviton is measured here. Worst peak: {worst}'s, as a share of the memory. Slowest: "
    "{slowest}'s conversion. Fits: the worst peak within 70% of the memory, and the 12 MP "
    "JPEG ({photo}) converted within {budget:.2f} s, its share of the 0.8 s target of "
    "docs/performance.md."
)


def _names(photo: Measured, heic: Measured, worst: Measured, slowest: Measured) -> dict:
    return {
        "date": prices.PRICES_DATE,
        "worst": worst.sample.name,
        "slowest": slowest.sample.name,
        "photo": photo.sample.name,
        "budget": CONVERSION_BUDGET_S,
    }


def _size_row(memory_mb: int, photo, heic, worst, slowest) -> str:
    photo_s = seconds(photo.cpu_ms, memory_mb)
    holds = worst.peak_mib <= HEADROOM * memory_mb
    quick = photo_s <= CONVERSION_BUDGET_S
    fits = (
        "yes"
        if holds and quick
        else ", ".join(
            reason for reason, bad in (("memory", not holds), ("time", not quick)) if bad
        ).join(("no: ", ""))
    )
    cost = {arch: 1000 * dollars(photo_s, memory_mb, arch) for arch in prices.LAMBDA_GB_SECOND}
    return (
        f"| {memory_mb:,} MB | {vcpu(memory_mb):.2f} | {worst.peak_mib / memory_mb:.0%} | "
        f"{photo_s:.2f} s | ${cost['x86_64']:.4f} | ${cost['arm64']:.4f} | "
        f"{seconds(heic.cpu_ms, memory_mb):.2f} s | {seconds(slowest.cpu_ms, memory_mb):.1f} s | "
        f"{fits} |"
    )


def _choice(chosen: int | None, worst: Measured, photo: Measured, slowest: Measured) -> list[str]:
    if chosen is None:
        return [
            "No size both holds the worst peak within 70% and converts the 12 MP photo in time."
        ]
    return [
        f"memory_size: {chosen}",
        "",
        f"{chosen:,} MB is the least size that holds the worst peak ({worst.sample.name}, "
        f"{worst.peak_mib:,.0f} MiB) within 70% (at most {HEADROOM * chosen:,.0f} MiB), and "
        f"converts the 12 MP JPEG in {seconds(photo.cpu_ms, chosen):.2f} s (budget "
        f"{CONVERSION_BUDGET_S:.2f} s); the slowest file takes "
        f"{seconds(slowest.cpu_ms, chosen):.1f} s of the function's 60 s. A conversion costs "
        "the same GB-seconds at any size up to one vCPU (half the memory, twice the time), so "
        "the least size that fits is the cheapest: more memory only makes the pages dearer.",
    ]


def _split(chosen: int, photo: Measured) -> list[str]:
    """Compare one function at `chosen` with the pages at WEB_MB beside a worker at `chosen`."""
    worker = 1000 * dollars(seconds(photo.cpu_ms, chosen), chosen)
    pages = {
        memory_mb: 1000 * PAGE_INVOCATIONS * dollars(PAGE_SECONDS / PAGE_INVOCATIONS, memory_mb)
        for memory_mb in (chosen, WEB_MB)
    }
    one, two = worker + pages[chosen], worker + pages[WEB_MB]
    return [
        f"Per 1,000 conversions of the 12 MP JPEG, Lambda alone (x86_64): the worker "
        f"${worker:.4f}; the pages (their {PAGE_INVOCATIONS} invocations, "
        f"{PAGE_SECONDS:.2f} s in all, docs/cost.md) ${pages[chosen]:.4f} at {chosen:,} MB, "
        f"${pages[WEB_MB]:.4f} at {WEB_MB} MB. One function: ${one:.4f}; a web function at "
        f"{WEB_MB} MB beside the worker: ${two:.4f} ({two / one:.2f}× of one function).",
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
