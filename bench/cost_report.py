"""bench/cost.md from what bench/cost.py counted: each flow's requests by kind, priced from
bench/prices.py, per way in and architecture; the naive baseline; floods; capacity; the
reconciler; a lost event. Sections between `<!-- figures: NAME -->` and `<!-- end -->` are
copied into docs/cost.md as they stand (tests/test_docs.py holds the two alike)."""

from __future__ import annotations

import statistics

from bench import MEMORY_MB
from bench import prices as p
from bench.cost_flows import Bill

# The GB a measured second is billed at: the function's memory (bench.MEMORY_MB).
MEMORY_GB = MEMORY_MB / 1024
WAYS = {"REST": p.API_GATEWAY_REST_REQUEST, "direct": p.FUNCTION_URL_REQUEST}
S3_CLASS_A = {"PutObject", "PostObject", "ListObjectsV2", "ListObjects", "CopyObject"}
S3_FREE = {"DeleteObject", "DeleteObjects"}
DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
DYNAMODB_READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
# Each write to the table writes the by_owner index too (it projects every attribute).
WRITE_UNITS_A_WRITE = 2
LOG_BYTES_AN_INVOCATION = 1000  # the function's JSON line and Lambda's START/END/REPORT
LOG_RETENTION_MONTHS = 1  # LOG_RETENTION_DAYS, 30
RESULTS_KEPT_MONTHS = 7 / 30
RUNS_A_MONTH = 30 * 24 * 3600 / 120
CONVERSIONS_A_MONTH = 30 * 24 * 3600  # 1 a second
RETURNING = "returning visitor, one photo, one download"
GB = 1e9


def kinds(bill: Bill) -> dict[str, float]:
    """Return a bill's requests by the kind AWS prices them."""
    invocations = sum(t.get("invocations", 0) for t in bill.function.values())
    site = bill.function.get("site", {})
    s3 = bill.calls.get("s3", {})
    return {
        "site requests": site.get("invocations", 0),
        "invocations": invocations,
        "GB-seconds": sum(t.get("seconds", 0) for t in bill.function.values()) * MEMORY_GB,
        "S3 class A": sum(n for op, n in s3.items() if op in S3_CLASS_A),
        "S3 class B": sum(n for op, n in s3.items() if op not in S3_CLASS_A | S3_FREE),
        "S3 free": sum(n for op, n in s3.items() if op in S3_FREE),
        "DynamoDB writes": bill.total("dynamodb", DYNAMODB_WRITES),
        "DynamoDB reads": bill.total("dynamodb", DYNAMODB_READS),
        "Lambda Invoke": bill.total("lambda", {"Invoke"}),
        "bytes out": site.get("bytes_out", 0) + bill.s3_bytes_out,
        "bytes in": site.get("bytes_in", 0),
    }


def price(bill: Bill, way: str, arch: str = "x86_64", stored_bytes: float = 0) -> dict:
    """Return each line of the bill in dollars, for one request flow."""
    k = kinds(bill)
    log_gb = k["invocations"] * LOG_BYTES_AN_INVOCATION / GB
    return {
        f"API requests ({way})": k["site requests"] * WAYS[way],
        "Lambda requests": k["invocations"] * p.LAMBDA_REQUEST,
        f"Lambda duration ({arch})": k["GB-seconds"] * p.LAMBDA_GB_SECOND[arch],
        "S3 PUT, POST, LIST": k["S3 class A"] * p.S3_CLASS_A,
        "S3 GET, HEAD": k["S3 class B"] * p.S3_CLASS_B,
        "S3 DELETE": k["S3 free"] * p.S3_FREE,
        "S3 storage": stored_bytes / GB * RESULTS_KEPT_MONTHS * p.S3_STORAGE_GB_MONTH,
        "DynamoDB writes": k["DynamoDB writes"] * WRITE_UNITS_A_WRITE * p.DYNAMODB_WRITE_UNIT,
        "DynamoDB reads": k["DynamoDB reads"] * p.DYNAMODB_READ_UNIT,
        "data out": k["bytes out"] / GB * p.DATA_OUT_GB,
        "logs ingested": log_gb * p.LOGS_INGEST_GB,
        "logs stored": log_gb * LOG_RETENTION_MONTHS * p.LOGS_STORAGE_GB_MONTH,
    }


def per_thousand(measured: dict, way: str, arch: str = "x86_64") -> dict:
    """A returning visitor's conversion with one download, per 1,000, with the reconciler's
    fixed cost shared out at 1 conversion a second."""
    bill = measured["bills"][RETURNING]
    stored = measured.get("results_bytes", 0)  # kept 7 days; the upload is deleted at once
    lines = {name: cost * 1000 for name, cost in price(bill, way, arch, stored).items()}
    run = measured["reconciler"][10]
    share = RUNS_A_MONTH / CONVERSIONS_A_MONTH * 1000
    lines["the reconciler, shared out"] = sum(price(run, "direct", arch).values()) * share
    return lines


def _money(value: float, places: int = 4) -> str:
    return f"${value:,.{places}f}"


def _table(head: list[str], rows: list[list]) -> list[str]:
    lines = [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---"] + ["---:"] * (len(head) - 1)) + " |",
    ]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _n(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0")


def _photo(measured: dict) -> str:
    chosen, sent = measured["photo_bytes"], measured.get("sent_bytes", measured["photo_bytes"])
    if sent == chosen:
        return f"a 12 MP JPEG of {chosen / 1e6:.2f} MB, sent as it is (no Chromium to shrink it)"
    return (
        f"a 12 MP JPEG of {chosen / 1e6:.2f} MB, sent as the upload page sends it: shrunk by "
        f"Chromium to {sent / 1e6:.2f} MB"
    )


def report(measured: dict) -> tuple[str, str]:
    """Return bench/cost.md's text, and the summary line."""
    bills = measured["bills"]
    out = [
        "# What Thumbs costs, counted",
        "",
        "Written by `python -m bench.cost`: real flows against the site on the embedded AWS,",
        "every AWS request counted by the embedded AWS, every invocation of the function metered",
        f"(durations measured on this machine, billed at the function's {MEMORY_MB:,} MB),",
        f"priced from AWS's list prices for US East (N. Virginia) as read in {p.PRICES_DATE}",
        f"(bench/prices.py). The photo: {_photo(measured)}.",
        "arm64 is priced at the durations measured here on x86_64: Graviton's own speed for",
        "this work is not measured. REST is a stage behind API Gateway's REST API; direct, a",
        "stage on a Lambda function URL. Not measured but estimated: log lines at 1 kB an",
        "invocation; DynamoDB at 2 write units a write (the by_owner index projects every",
        "attribute: each write is also the index's) and 1 read unit a read; no cold starts.",
        "",
        "<!-- figures: requests -->",
    ]
    head = [
        "flow",
        "site requests",
        "invocations",
        "GB-s",
        "S3 A",
        "S3 B",
        "S3 free",
        "DynamoDB writes",
        "DynamoDB reads",
        "Invoke",
        "kB out",
    ]
    rows = []
    for name, bill in bills.items():
        k = kinds(bill)
        rows.append(
            [
                name,
                _n(k["site requests"]),
                _n(k["invocations"]),
                f"{k['GB-seconds']:.2f}",
                _n(k["S3 class A"]),
                _n(k["S3 class B"]),
                _n(k["S3 free"]),
                _n(k["DynamoDB writes"]),
                _n(k["DynamoDB reads"]),
                _n(k["Lambda Invoke"]),
                _n(round(k["bytes out"] / 1000)),
            ]
        )
    out += _table(head, rows) + ["<!-- end -->", ""]
    # The bill per 1,000 conversions.
    ways = {(w, a): per_thousand(measured, w, a) for w in WAYS for a in p.LAMBDA_GB_SECOND}
    out += ["<!-- figures: bill -->"]
    names = list(ways[("REST", "x86_64")])
    rows = []
    for at, name in enumerate(names):
        row = [name.replace(" (REST)", "").replace(" (x86_64)", "")]
        for key in ways:
            row.append(_money(list(ways[key].values())[at]))
        rows.append(row)
    totals = {key: sum(lines.values()) for key, lines in ways.items()}
    rows.append(["**total**", *[f"**{_money(t, 3)}**" for t in totals.values()]])
    out += _table(
        ["per 1,000 conversions", "REST, x86", "REST, arm64", "direct, x86", "direct, arm64"], rows
    )
    out += ["<!-- end -->", "", "<!-- figures: split -->", *split_lines(bills[RETURNING])]
    out += ["<!-- end -->", ""]
    # The quality setting.
    if measured.get("qualities"):
        out += ["<!-- figures: quality -->", *quality_table(measured), "<!-- end -->", ""]
    # The naive baseline.
    naive = per_naive(measured)
    ratio = totals[("REST", "x86_64")] / naive
    refused = measured["refused"]
    out += [
        "<!-- figures: naive -->",
        f"- naive baseline, REST, x86: **{_money(naive, 3)}** per 1,000 conversions; Thumbs "
        f"{_money(totals[('REST', 'x86_64')], 3)}: **{ratio:.2f}x**.",
        f"- the photo priced here: {_photo(measured)}; the naive baseline gets the same bytes.",
        f"- the naive baseline refuses a {refused[1] / 1e6:.2f} MB photo sent as it is (HTTP "
        f"{refused[0]}: its event would be {refused[2] / 1e6:.2f} MB, base64 included, over "
        "Lambda's 6 MB), as it would any file the browser cannot shrink (a PNG, a HEIC in "
        "Chromium).",
        "",
    ]
    naive_lines = price(measured["naive"], "REST", stored_bytes=measured.get("results_bytes", 0))
    ours = ways[("REST", "x86_64")]
    rows = [
        [name.replace(" (REST)", "").replace(" (x86_64)", ""), _money(cost * 1000), _money(mine)]
        for (name, cost), mine in zip(naive_lines.items(), ours.values())
    ]
    rows.append(
        ["the reconciler, shared out", _money(0), _money(ours["the reconciler, shared out"])]
    )
    out += _table(["per 1,000 conversions, REST, x86", "naive", "Thumbs"], rows)
    out += ["<!-- end -->", ""]
    # The reconciler.
    calls = {
        kept: sum(sum(ops.values()) for ops in bill.calls.values())
        for kept, bill in measured["reconciler"].items()
    }
    out += ["<!-- figures: reconciler -->"]
    out += _table(
        ["finished jobs kept", "AWS calls in one run", "seconds"],
        [
            [f"{kept:,}", calls[kept], f"{bill.function['reconciler']['seconds']:.3f}"]
            for kept, bill in measured["reconciler"].items()
        ],
    )
    out += ["<!-- end -->", ""]
    # A lost event.
    lost = measured["lost"]
    p50 = statistics.median(lost)
    out += [
        "<!-- figures: lost -->",
        f"- a lost event, watched: p50 **{p50:.1f} s** from the upload page to done, over "
        f"{len(lost)} uploads (max {max(lost):.1f} s), `LOCAL_EVENT_LOSS=1`.",
        "<!-- end -->",
        "",
    ]
    # Floods.
    out += ["<!-- figures: floods -->"] + flood_table(measured["floods"]) + ["<!-- end -->", ""]
    # Capacity.
    out += (
        ["<!-- figures: capacity -->"]
        + capacity_table(bills[RETURNING], totals)
        + ["<!-- end -->", ""]
    )
    sources = [f"- {name}: {url}" for name, url in p.SOURCES.items()]
    out += ["Prices from:", "", *sources, ""]
    summary = (
        f"cost: ${totals[('REST', 'x86_64')]:.3f} per 1,000 conversions (REST), "
        f"${totals[('direct', 'x86_64')]:.3f} (direct), {ratio:.2f}x the naive baseline; "
        f"reconciler: {calls[10]} calls a run with 10 jobs kept, {calls[10_000]} with 10,000"
    )
    return "\n".join(out + [summary, ""]), summary


# The memory the pages would need in a function of their own (bench/memory.md: a page peaks
# far below it).
PAGES_MB = 512


def split_lines(bill: Bill) -> list[str]:
    """Where the flow's function seconds go (pages, worker), and the most a function of the
    pages' own at PAGES_MB could save of them."""
    pages, worker = (bill.function.get(kind, {}).get("seconds", 0) for kind in ("site", "worker"))
    price = p.LAMBDA_GB_SECOND["x86_64"] * 1000
    saved = pages * (MEMORY_MB - PAGES_MB) / 1024 * price
    return [
        f"- the function's seconds in this flow: the pages {pages:.3f} s (their long poll waits "
        f"on the conversion), the worker {worker:.3f} s: {_money(pages * MEMORY_GB * price)} "
        f"and {_money(worker * MEMORY_GB * price)} per 1,000 at {MEMORY_MB:,} MB, x86.",
        f"- the pages in a function of their own at {PAGES_MB} MB would save at most "
        f"{_money(saved)} per 1,000 (if they ran no slower there: most of their time is waiting).",
    ]


def quality_table(measured: dict) -> list[str]:
    """The returning visitor's conversion at each quality of the largest rendition measured:
    what the renditions weigh, how close they are to their exact pixels, and the bill."""
    rows = []
    for quality, run in sorted(measured["qualities"].items(), reverse=True):
        at = dict(measured, bills={RETURNING: run["bill"]}, results_bytes=run["results_bytes"])
        sizes, ssim = run["sizes"], run["ssim"]
        rows.append(
            [
                f"{quality} (the site's)"
                if quality == measured.get("own_quality")
                else str(quality),
                *[f"{sizes[name] / 1000:,.0f} kB, {ssim[name]:.3f}" for name in sorted(ssim)],
                *[_money(sum(per_thousand(at, way).values()), 3) for way in WAYS],
            ]
        )
    names = sorted(next(iter(measured["qualities"].values()))["ssim"])
    return _table(
        [
            "the preview's quality",
            *[f"{name}: size, SSIM" for name in names],
            *[f"{way}, x86, per 1,000" for way in WAYS],
        ],
        rows,
    )


def per_naive(measured: dict) -> float:
    stored = measured.get("results_bytes", 0)
    return sum(price(measured["naive"], "REST", stored_bytes=stored).values()) * 1000


# What bounds a flood per stage: API Gateway's throttle (API_RATE_LIMIT) on REST; on
# `direct`, the account's 1,000 instances at Lambda's 10 requests a second each.
FLOOD_RATES = {"REST": 50, "direct": 10_000}


ACCOUNT_CONCURRENCY = 1000


def flood_rates(bill: Bill) -> dict[str, float]:
    """Requests a second a flood of this request reaches: REST, the stage's throttle; direct,
    Lambda's 10 a second per instance, or fewer when each request holds its instance longer."""
    seconds = bill.function.get("site", {}).get("seconds", 0)
    direct = min(FLOOD_RATES["direct"], ACCOUNT_CONCURRENCY / max(seconds, 0.1))
    return {"REST": FLOOD_RATES["REST"], "direct": direct}


def flood_table(floods: dict) -> list[str]:
    rows = []
    for name, bill in floods.items():
        k = kinds(bill)
        calls = k["S3 class A"] + k["S3 class B"] + k["DynamoDB writes"] + k["DynamoDB reads"]
        rates = flood_rates(bill)
        hourly = [sum(price(bill, way).values()) * rates[way] * 3600 for way in FLOOD_RATES]
        rows.append(
            [name, _n(round(calls, 2)), _n(round(rates["direct"])), *[_money(h, 2) for h in hourly]]
        )
    return _table(
        [
            "repeated request",
            "S3 and DynamoDB calls each",
            "direct: requests a second",
            "REST: an hour at 50 a second",
            "direct: an hour",
        ],
        rows,
    )


def capacity_table(bill: Bill, totals: dict) -> list[str]:
    k = kinds(bill)
    rates = (1, 10, 100, 1000)
    per_hour = totals[("REST", "x86_64")] / 1000 * 3600
    rows = [
        ["API requests a second", *[_n(k["site requests"] * r) for r in rates]],
        ["invocations a second", *[_n(k["invocations"] * r) for r in rates]],
        [
            # An instance busy a second is one execution, whatever its memory.
            "concurrent executions (busy seconds a second)",
            *[_n(round(k["GB-seconds"] / MEMORY_GB * r, 1)) for r in rates],
        ],
        [
            "S3 writes / reads a second",
            *[f"{_n(k['S3 class A'] * r)} / {_n(k['S3 class B'] * r)}" for r in rates],
        ],
        [
            "DynamoDB write / read units a second",
            *[
                f"{_n(k['DynamoDB writes'] * WRITE_UNITS_A_WRITE * r)} / "
                f"{_n(k['DynamoDB reads'] * r)}"
                for r in rates
            ],
        ],
        ["cost an hour (REST, x86)", *[_money(per_hour * r, 2) for r in rates]],
    ]
    return _table(["uploads a second", *[_n(r) for r in rates]], rows)
