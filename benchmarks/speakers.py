"""Speaker assignment on a 2-hour diarized transcript: the sweep against the old pairwise loop.

The transcript is synthetic but shaped like a real one (tests/speakers_reference.py): 18,000
words in segments of up to 30 words, 1,521 turns of 4 speakers, some overlapping. Both
algorithms run in this one process on the same input, best of ``--repeats``, so the ratio holds
on a noisy machine; the results must be identical. Writes benchmarks/results/speakers.{json,md}.

    python benchmarks/speakers.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from results_io import machine, write_results  # noqa: E402
from speakers_reference import assign_speakers_pairwise, synthetic_transcript  # noqa: E402

from swbatch.speakers import assign_speakers  # noqa: E402


def best_of(repeats: int, fn, *args) -> tuple[float, object]:
    """The shortest wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--words", type=int, default=18_000)
    parser.add_argument("--turns", type=int, default=1_521)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    segments, turns = synthetic_transcript(
        args.hours * 3600, words=args.words, turns=args.turns, speakers=4, seed=0
    )
    sweep_s, sweep = best_of(args.repeats, assign_speakers, segments, turns)
    pairwise_s, pairwise = best_of(args.repeats, assign_speakers_pairwise, segments, turns)
    if sweep != pairwise:
        raise SystemExit("the sweep and the pairwise loop disagree")
    result = {
        "hours": args.hours,
        "words": args.words,
        "segments": len(segments),
        "turns": len(turns),
        "sweep_seconds": round(sweep_s, 4),
        "pairwise_seconds": round(pairwise_s, 4),
        "speedup": round(pairwise_s / sweep_s, 1),
        "machine": machine(),
    }
    table = (
        f"{args.hours:g} h transcript: {args.words} words in {len(segments)} segments, "
        f"{len(turns)} turns; machine: {result['machine']} (shared; best of {args.repeats}).\n\n"
        "| algorithm | wall (s) | vs pairwise |\n|---|---:|---:|\n"
        f"| pairwise (old) | {pairwise_s:.3f} | 1.0x |\n"
        f"| sweep | {sweep_s:.3f} | {result['speedup']}x |\n"
    )
    write_results(args.out, "speakers", result, table)


if __name__ == "__main__":
    main()
