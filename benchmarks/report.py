"""The batch report at scale: written and used in headless Chromium, 100 against 10,000 files.

Synthetic records (tests/report_synthetic.py: 4 shards, 4 % failed, transcripts of 4 segments with
words) stand in for a finished batch. For each size, in this one process: ``swbatch report`` as a
whole CLI process (reading every JSON, writing the page), the page's size, and in a fresh
headless Chromium (tests/browser.py) the time to load and build the page (navigation start to
the load event), to filter the table to "failed", to filter by text, to sort by duration and to
open one file's transcript, each timed inside the page. The 100-file report is the baseline the
10,000-file one is compared with. Writes benchmarks/results/report.{json,md}.

    python benchmarks/report.py            # --sizes 100,10000 --embed-mb 16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser import chromium, open_report  # noqa: E402
from report_synthetic import synthetic_batch  # noqa: E402
from results_io import machine, write_results  # noqa: E402

#: each in-page action, as a script returning its milliseconds (layout forced by offsetHeight)
ACTIONS = {
    "filter_failed_ms": "const s = document.getElementById('filter-state'); s.value = 'failed';"
    "const t = performance.now(); s.dispatchEvent(new Event('change'));"
    "document.body.offsetHeight; return performance.now() - t;",
    "filter_text_ms": "document.getElementById('filter-state').value = '';"
    "document.getElementById('filter-text').value = 'call-09';"
    "const t = performance.now();"
    "document.getElementById('filter-state').dispatchEvent(new Event('change'));"
    "document.body.offsetHeight; return performance.now() - t;",
    "sort_duration_ms": "document.getElementById('filter-text').value = '';"
    "document.getElementById('filter-state').dispatchEvent(new Event('change'));"
    "const th = document.querySelectorAll('#table th')[2]; const t = performance.now();"
    "th.click(); document.body.offsetHeight; return performance.now() - t;",
    "open_transcript_ms": "const tr = document.querySelector('#table tbody tr');"
    "const t = performance.now(); tr.click(); document.body.offsetHeight;"
    "return performance.now() - t;",
}


def measure(files: int, embed_mb: float, folder: Path) -> dict:
    out = folder / f"batch-{files}"
    synthetic_batch(out, files)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "swbatch.cli", "report", str(out), "--embed-mb",
                    str(embed_mb)], env=env, check=True, capture_output=True)  # fmt: skip
    write_seconds = time.perf_counter() - started
    page = out / ".swbatch" / "report.html"
    result = {"files": files, "write_seconds": round(write_seconds, 2),
              "page_mb": round(page.stat().st_size / 2**20, 2)}  # fmt: skip
    with chromium() as driver:
        open_report(driver, page)
        result["load_ms"] = round(
            driver.execute_script(
                "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd;"
            ),
            1,
        )
        for name, script in ACTIONS.items():
            result[name] = round(driver.execute_script(script), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--embed-mb", type=float, default=16.0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(n, args.embed_mb, Path(tmp)) for n in sizes]
    base = rows[0]
    keys = ["write_seconds", "page_mb", "load_ms", *ACTIONS]
    lines = [f"Synthetic batches (4 shards, transcripts embedded up to {args.embed_mb:g} MB); "
             f"machine: {machine()}, shared with other work.", "",
             "| files | " + " | ".join(keys) + " |", "|---:|" + "---:|" * len(keys)]  # fmt: skip
    for row in rows:
        cells = [f"{row[k]} ({row[k] / base[k]:.0f}x)" if row is not base and base[k] else
                 str(row[k]) for k in keys]  # fmt: skip
        lines.append(f"| {row['files']} | " + " | ".join(cells) + " |")
    lines += ["", f"(in brackets: against the {base['files']}-file report in the same run)", ""]
    write_results(args.out, "report", {"machine": machine(), "embed_mb": args.embed_mb,
                                       "results": rows}, "\n".join(lines))  # fmt: skip


if __name__ == "__main__":
    main()
