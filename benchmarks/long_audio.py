"""Peak memory and speed against recording length: swbatch and plain faster-whisper side by side.

For each length (20 min, 1 h and 2 h by default) one recording of espeak-ng sentences with pauses
is written as FLAC (see ``tests/speech.py:long_speech``), then transcribed once by each contender,
each in a child process of its own, whose peak RSS comes from ``getrusage(RUSAGE_CHILDREN)`` in a
wrapper around it (``throughput.run_isolated``):

- faster-whisper: ``WhisperModel(tiny.en, cpu, int8, cpu_threads=T).transcribe(file)`` (T:
  the cores this process may use), the
  segments consumed in a loop, as a user would write it;
- swbatch: ``swbatch transcribe --root`` with ``--workers 1`` (so T threads as well), int8, JSON
  only, its default window length (or ``--window-seconds``).

Both use the same model, compute type and thread count, so the columns differ only in how the
file is decoded and cut. Writes ``results/long_audio.json`` and ``results/long_audio.md``.

    nice python benchmarks/long_audio.py                    # 20, 60 and 120 minutes
    python benchmarks/long_audio.py --minutes 5 10          # a quick look
    python benchmarks/long_audio.py --contenders faster-whisper   # one side only (results merge)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from results_io import write_results  # noqa: E402
from speech import long_speech, word_error_rate  # noqa: E402
from throughput import _demo_model_path, run_isolated  # noqa: E402

#: plain faster-whisper on one file; prints its text as JSON
PLAIN = """
import json, sys
from faster_whisper import WhisperModel
model = WhisperModel({model!r}, device="cpu", compute_type="int8", cpu_threads={threads})
segments, _info = model.transcribe(sys.argv[1])
print(json.dumps(" ".join(s.text for s in segments)))
"""
CONTENDERS = ("faster-whisper", "swbatch")


def recording(workdir: Path, minutes: float) -> tuple[Path, str]:
    """The FLAC of ``minutes`` of speech under ``workdir/<m>min/raw_audio`` and its text."""
    path = workdir / f"{minutes:g}min" / "raw_audio" / f"{minutes:g}min.flac"
    text_file = path.with_suffix(".txt")
    if not text_file.exists():
        spoken = long_speech(path, minutes * 60)
        text_file.write_text(" ".join(spoken))
    return path, text_file.read_text()


def run_contender(name: str, path: Path, model: str, window: float | None) -> dict:
    """One transcription of ``path`` in a child process: wall, peak RSS and the text."""
    threads = len(os.sched_getaffinity(0))  # what swbatch --workers 1 gives its one worker
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if name == "faster-whisper":
        cmd = [sys.executable, "-c", PLAIN.format(model=model, threads=threads), str(path)]
        wall, rss, out = run_isolated(cmd, env)
        return {"wall": wall, "peak_rss": rss, "text": json.loads(out)}
    root = path.parent.parent
    if window:
        env["SWBATCH_WINDOW_SECONDS"] = str(window)
    cmd = [sys.executable, "-m", "swbatch.cli", "transcribe", "--root", str(root), "--model",
           model, "--compute-type", "int8", "--device", "cpu", "--workers", "1", "--overwrite",
           "--quiet", "--formats", "json"]  # fmt: skip
    wall, rss, _ = run_isolated(cmd, env)
    doc = json.loads((root / "whisper_json" / f"{path.name}.json").read_text())
    text = " ".join(s["text"] for s in doc["segments"])
    return {"wall": wall, "peak_rss": rss, "text": text, "windows": doc.get("windows")}


def measure(args) -> dict:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="swbatch-long-"))
    model = args.model or _demo_model_path()
    out_json = Path(args.out) / "long_audio.json"
    result = json.loads(out_json.read_text()) if out_json.exists() else {"rows": {}}
    for minutes in args.minutes:
        path, text = recording(workdir, minutes)
        for name in args.contenders:
            run = run_contender(name, path, model, args.window_seconds)
            row = {
                "audio_seconds": minutes * 60,
                "wall_seconds": round(run["wall"], 1),
                "speed_x_realtime": round(minutes * 60 / run["wall"], 1),
                "peak_rss_mib": round(run["peak_rss"] / 2**20),
                "wer": round(word_error_rate([text], [run["text"]]), 4),
            }
            if run.get("windows"):
                row["windows"] = run["windows"]
            result["rows"].setdefault(f"{minutes:g}", {})[name] = row
            print(f"{minutes:g} min {name:14s} {row}", file=sys.stderr, flush=True)
    result["machine"] = {
        "cpus": len(os.sched_getaffinity(0)),
        "threads_per_contender": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    return result


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"tiny.en, int8, {m['threads_per_contender']} threads each, on {m['cpus']} CPUs "
        f"({m['platform']}, Python {m['python']}).",
        "",
        "| length | contender | peak RSS (MiB) | wall (s) | speed (x real time) | WER |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for minutes, rows in sorted(result["rows"].items(), key=lambda kv: float(kv[0])):
        for name in CONTENDERS:
            if name in rows:
                r = rows[name]
                lines.append(
                    f"| {float(minutes):g} min | {name} | {r['peak_rss_mib']} | "
                    f"{r['wall_seconds']} | {r['speed_x_realtime']} | {r['wer']:.3f} |"
                )
    ours = {k: v["swbatch"]["peak_rss_mib"] for k, v in result["rows"].items() if "swbatch" in v}
    if len(ours) > 1:
        shortest, longest = min(ours, key=float), max(ours, key=float)
        lines += [
            "",
            f"swbatch peak RSS, {float(longest):g} min against {float(shortest):g} min: "
            f"{ours[longest] / ours[shortest]:.2f}x.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[20, 60, 120])
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--window-seconds", type=float, help="swbatch's window length")
    parser.add_argument("--model", help="model folder (default: tiny.en of the demo set)")
    parser.add_argument("--workdir", help="where the recordings go (kept for reruns)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    if not shutil.which("espeak-ng"):
        sys.exit("long_audio.py needs espeak-ng (apt-get install espeak-ng)")
    result = measure(args)
    write_results(args.out, "long_audio", result, markdown(result))


if __name__ == "__main__":
    main()
