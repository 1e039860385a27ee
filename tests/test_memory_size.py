"""The function's memory is the one bench/memory.py chose from its measurements."""

import json
import re
from pathlib import Path

import pytest

from bench import memory

ROOT = Path(__file__).resolve().parent.parent


def chosen_in_the_report() -> int:
    found = re.search(r"^memory_size: (\d+)$", (ROOT / "bench" / "memory.md").read_text(), re.M)
    assert found, "bench/memory.md names no memory_size: run python -m bench.memory"
    return int(found.group(1))


def test_every_stage_runs_at_the_memory_the_bench_chose():
    stages = json.loads((ROOT / "zappa_settings.json").read_text())
    assert stages["dev"]["memory_size"] == chosen_in_the_report()
    assert all("memory_size" not in s for name, s in stages.items() if name != "dev")  # extends


def test_the_cost_report_bills_each_second_at_the_functions_memory():
    # bench/cost.md once priced every second at 1 GB while the function ran at 2,304 MB.
    report = (ROOT / "bench" / "cost.md").read_text()
    billed = re.search(r"billed at the function's ([\d,]+) MB", report)
    assert billed, "bench/cost.md names no memory: run python -m bench.cost"
    assert int(billed.group(1).replace(",", "")) == chosen_in_the_report()


def test_the_docs_give_the_chosen_memory_and_its_worst_case():
    report = (ROOT / "bench" / "memory.md").read_text()
    worst = re.search(r"holds the worst peak \(([^)]*)\)", report).group(1)
    page = (ROOT / "docs" / "performance.md").read_text()
    assert f"{chosen_in_the_report():,} MB" in page
    assert worst.rsplit(", ", 1)[1] in page  # its peak, in MiB


def test_a_conversion_slows_with_less_than_one_vcpu_and_no_faster_above():
    assert memory.seconds(1000, 1769) == 1.0
    assert memory.seconds(1000, 3008) == 1.0  # one thread: a second vCPU does not help
    assert memory.seconds(1000, 512) == pytest.approx(1769 / 512)
    # Up to one vCPU, the same GB-seconds at any size: the request's price aside.
    small, large = (memory.dollars(memory.seconds(1000, mb), mb) for mb in (512, 1769))
    assert small == pytest.approx(large)


@pytest.mark.parametrize(
    "worst_mib, photo_cpu_ms, chosen",
    [
        (300, 100, 512),  # 59% of 512, and 0.35 s: the least size
        (300, 150, 1024),  # 0.52 s at 512 is over the budget
        (800, 100, 1152),  # 70% of 1,152 MB is 806 MiB
        (1590, 116, 2304),
        (2500, 100, None),  # nothing offered holds it
        (300, 500, None),  # not even one vCPU converts it in time
    ],
)
def test_the_choice_is_the_least_size_that_holds_the_worst_peak_and_converts_in_time(
    worst_mib, photo_cpu_ms, chosen
):
    sizes = sorted({*memory.SIZES_MB, memory.least_holding(worst_mib)})
    sizes = [size for size in sizes if size <= 3008]
    assert memory.choose(worst_mib, photo_cpu_ms, sizes) == chosen
