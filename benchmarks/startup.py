"""CLI start-up and the fast paths the docs quote: help, a 10,000-job manifest, a missing model.

Every case is a whole ``swbatch`` process, as a user runs it, so Python start-up is included. The
baseline is ``python -c pass`` with the same interpreter: the cases and the baseline run
interleaved, ``--repeats`` times each, and each case is reported as its median wall time and as a
ratio to the baseline's median, so the ratio holds on a noisy shared machine. Writes
benchmarks/results/startup.{json,md}.

- help: ``swbatch --help`` (it never imports torch or ctranslate2: the CLI's own start-up);
- cache-show: ``swbatch cache --show`` on an empty cache;
- validate-10k: ``swbatch run jobs.yaml`` on a 10,000-job manifest with one bad job at the end
  (exit 2 after the whole manifest is validated; no audio is touched);
- alias-bomb: ``swbatch run bomb.yaml``, a YAML alias bomb (exit 2, refused before expanding);
- missing-model: ``swbatch transcribe --model large-v3`` offline on a cache that holds only the
  ``demo`` set (exit 3, one line naming the model and ``swbatch prefetch large-v3``).

    python benchmarks/startup.py                 # default: 5 repeats
    python benchmarks/startup.py --repeats 2     # a quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_io import machine, write_results

REPO = Path(__file__).resolve().parent.parent
SWBATCH = [sys.executable, "-m", "swbatch.cli"]
#: nine levels of nine aliases: about 387 million strings if a loader expanded it
ALIAS_BOMB = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def make_inputs(work: Path) -> dict[str, tuple[list[str], int]]:
    """The cases: name -> (command, the exit code it must end with)."""
    manifest = work / "jobs.yaml"
    manifest.write_text(
        "output_dir: out\njobs:\n"
        + "".join(
            f"  - {{audio: audio/f{i:05d}.wav, id: job{i}, language: en}}\n" for i in range(10_000)
        )
        + "  - {audio: x.wav, task: dance}\n"
    )
    bomb = work / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB + "jobs: *i\n")
    root = work / "root" / "raw_audio"
    root.mkdir(parents=True)
    (root / "a.wav").write_bytes(b"")  # never read: the model is resolved before any audio
    return {
        "baseline": ([sys.executable, "-c", "pass"], 0),
        "help": ([*SWBATCH, "--help"], 0),
        "cache-show": ([*SWBATCH, "cache", "--show"], 0),
        "validate-10k": ([*SWBATCH, "run", str(manifest), "--model", "demo"], 2),
        "alias-bomb": ([*SWBATCH, "run", str(bomb)], 2),
        "missing-model": (
            [*SWBATCH, "transcribe", "--root", str(work / "root"), "--model", "large-v3"],
            3,
        ),
    }


def environment(cache: Path) -> dict[str, str]:
    """Offline, on a private cache; the repository first on the path (this checkout's code)."""
    drop = ("HF_HOME", "HF_HUB_CACHE", "TORCH_HOME", "HF_TOKEN", "SWBATCH_DEBUG")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    path = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(SLOWER_WHISPER_CACHE_ROOT=str(cache), HF_HUB_OFFLINE="1", PYTHONPATH=path)
    return env


def run_once(cmd: list[str], code: int, env: dict[str, str]) -> float:
    """Wall time of one process; a wrong exit code stops the benchmark (it measured a failure)."""
    start = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if res.returncode != code:
        raise SystemExit(f"{' '.join(cmd[-3:])}: exit {res.returncode}, expected {code}\n"
                         f"{res.stderr[-2000:]}")  # fmt: skip
    return wall


def markdown(result: dict) -> str:
    """The table docs/performance.md quotes."""
    lines = [
        f"Machine: {result['machine']} (shared; median of {result['repeats']}, interleaved).",
        "",
        "| case | median wall (s) | vs `python -c pass` |",
        "|---|---:|---:|",
    ]
    for name, case in result["cases"].items():
        lines.append(f"| {name} | {case['median_s']:.3f} | {case['ratio']:.1f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swbatch-startup-") as tmp:
        work = Path(tmp)
        env = environment(work / "cache")
        run_once([*SWBATCH, "prefetch", "demo"], 0, env)  # the demo set, from its package
        cases = make_inputs(work)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, (cmd, code) in cases.items():
                times[name].append(run_once(cmd, code, env))
    base = statistics.median(times["baseline"])
    result = {
        "machine": machine(),
        "repeats": args.repeats,
        "cases": {
            name: {
                "median_s": round(statistics.median(t), 4),
                "min_s": round(min(t), 4),
                "ratio": round(statistics.median(t) / base, 2),
            }
            for name, t in times.items()
        },
    }
    write_results(args.out, "startup", result, markdown(result))


if __name__ == "__main__":
    main()
