"""Silence left silent: which gate keeps the defaults from writing words over non-speech, and
what each costs on real speech.

Each set of benchmarks/accuracy.py (the long recording, single utterances packed, the mixed
recording and its speech alone, the non-speech set) plus longer non-speech files is decoded once
per path with the silence gate off (``--no-silence-gate``), and every candidate gate is then
applied to the same segments, with Silero VAD heard the way the runner's
:class:`swbatch.review.Listener` hears it (per window of the file, at each candidate threshold).
A gate acts after decoding, so applying it here gives the words a run with it writes. Decoding
options that change the decode itself (the hallucination-silence threshold) are their own runs.

    python benchmarks/silence.py --jobs 2                 # 30-s non-speech, 4 kinds at 10 min
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import accuracy  # noqa: E402
import nonspeech  # noqa: E402
import real_speech  # noqa: E402
from results_io import machine, write_results  # noqa: E402

from swbatch.silence import PAD, heard  # noqa: E402

#: faster-whisper's hallucination-silence filter (it decodes differently: runs of its own)
HST = ["--hallucination-silence-threshold", "2"]
#: (set, label, flags) decoded; the gate is applied afterwards to each
RUNS = [
    ("nonspeech", "defaults", []),
    ("nonspeech", "--batch-size 8", ["--batch-size", "8"]),
    ("mixed", "defaults", []),
    ("mixed-speech-alone", "defaults", []),
    ("long", "defaults", []),
    ("long", "--batch-size 8", ["--batch-size", "8"]),
    ("utterances", "defaults", []),
    ("nonspeech-long", "defaults", []),
    ("nonspeech", " ".join(HST), HST),
    ("mixed", " ".join(HST), HST),
    ("mixed-speech-alone", " ".join(HST), HST),
    ("mixed", "--batch-size 8", ["--batch-size", "8"]),
    ("mixed-speech-alone", "--batch-size 8", ["--batch-size", "8"]),
]  # fmt: skip
#: the non-speech kinds also decoded at ``--long-seconds``
LONG_KINDS = ("silence", "room_tone", "music", "clicks")
#: VAD thresholds tried for the gate (0.5: Silero's and the review flag's)
THRESHOLDS = (0.5, 0.35, 0.2)


def decode(sets: dict, work: Path, env: dict, jobs: int, flags: list[str]) -> dict:
    """{(set, label): {file name: output document}}, each run's JSON kept under ``work``."""

    def one(name: str, label: str, extra: list[str]) -> dict:
        out = work / "out" / name / re.sub(r"\W+", "_", label)
        if not (out / "done").exists():
            accuracy.swbatch(sets[name]["root"], out, [*flags, *extra], env)
            (out / "done").touch()
        docs = (json.loads(p.read_text()) for p in (out / "whisper_json").glob("*.json"))
        return {Path(d["file"]).name: d for d in docs}

    with ThreadPoolExecutor(jobs) as pool:
        futures = {(n, lab): pool.submit(one, n, lab, fl) for n, lab, fl in RUNS if n in sets}
        out = {}
        for key, fut in futures.items():
            out[key] = fut.result()
            print(f"decoded {key}", flush=True)
        return out


def vad_speech(path: Path, threshold: float) -> list[tuple[float, float]]:
    """Where VAD hears speech in a file, window by window, by the runner's own Listener."""
    from swbatch.audio import window_seconds
    from swbatch.pipeline.decode import decode_file
    from swbatch.review import Listener

    listener = Listener(threshold)
    for _window in listener.windows(decode_file(path, window_seconds()).windows()):
        pass
    return listener.speech


def share(seg: dict, speech: list[tuple[float, float]]) -> float:
    """The share of the segment's time on VAD speech (what the gate tried before measured)."""
    start, end = seg["start"], seg["end"]
    on = sum(max(0.0, min(end, b) - max(start, a)) for a, b in speech)
    return on / (end - start) if end > start else 0.0


def candidates() -> dict:
    """{label: keep(segment, {threshold: speech}) -> bool}."""

    def letters(seg: dict, _speech: dict) -> bool:
        return bool(re.search(r"\w", seg["text"]))

    out = {"none": lambda seg, speech: True, "letters or digits": letters}
    for t in THRESHOLDS:
        for pad in (0.0, 0.5, 1.0):
            shipped = " (the default)" if (t, pad) == (0.5, PAD) else ""
            out[f"VAD {t} heard within span ±{pad:g}s{shipped}"] = (
                lambda seg, speech, t=t, pad=pad: heard(seg, speech[t], pad)
            )
        out[f"letters + VAD {t} within ±0.5s"] = lambda seg, speech, t=t: (
            letters(seg, speech) and heard(seg, speech[t], 0.5)
        )
    out["VAD 0.5 share >= 20% (removed gate)"] = lambda seg, speech: share(seg, speech[0.5]) >= 0.2
    out["no-speech prob <= 0.6"] = lambda seg, speech: seg.get("no_speech_prob", 0) <= 0.6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nonspeech-seconds", type=float, default=30.0)
    parser.add_argument("--long-seconds", type=float, default=600.0)
    parser.add_argument("--gap-seconds", type=float, default=10.0)
    parser.add_argument("--mixed-utterances", type=int, default=24)
    parser.add_argument("--jobs", type=int, default=1, help="decode runs at once")
    parser.add_argument("--sets", default="", help="comma list of sets to run (default: all)")
    parser.add_argument("--work", help="work folder; decoded runs found there are reused")
    parser.add_argument("--cache", help="cache root holding the demo set (default: a new one)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="swbatch-silence-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = args.cache or str(work / "cache")
    env = dict(os.environ, HF_HUB_OFFLINE="1", SLOWER_WHISPER_CACHE_ROOT=cache)
    if not args.cache and not (work / "cache").exists():
        subprocess.run([sys.executable, "-m", "swbatch.cli", "prefetch", "demo"], env=env,
                       check=True, capture_output=True)  # fmt: skip
    if not (work / "long").exists():
        accuracy.build(work, args.nonspeech_seconds, args.gap_seconds, args.mixed_utterances)
        folder = work / "nonspeech-long" / "raw_audio"
        for kind in LONG_KINDS:
            nonspeech.write_wav(folder / f"{kind}.wav", nonspeech.make(kind, args.long_seconds))
    sets = {p.name: {"root": p} for p in work.iterdir() if (p / "raw_audio").is_dir()}
    if args.sets:
        sets = {k: v for k, v in sets.items() if k in args.sets.split(",")}
    utts = real_speech.utterances()
    mixed_text = " ".join(u.text for u in utts[: args.mixed_utterances])
    refs = {
        "long": {"long.wav": " ".join(u.text for u in utts)},
        "utterances": {u.path.name: u.text for u in utts},
        "mixed": {"mixed.wav": mixed_text},
        "mixed-speech-alone": {"mixed-speech-alone.wav": mixed_text},
    }
    decoded = decode(sets, work, env, args.jobs, ["--no-silence-gate"] if gate_flag() else [])
    vad = {}
    for name in sets:
        for path in sorted((sets[name]["root"] / "raw_audio").iterdir()):
            vad[(name, path.name)] = {t: vad_speech(path, t) for t in THRESHOLDS}
    rows: dict[str, dict] = {}
    for label, keep in candidates().items():
        for (name, run), docs in decoded.items():
            kept, dropped = {}, 0
            for file, doc in docs.items():
                segs = [s for s in doc["segments"] if keep(s, vad[(name, file)])]
                dropped += len(doc["segments"]) - len(segs)
                kept[file] = " ".join(s["text"] for s in segs)
            if name.startswith("nonspeech"):
                words = {f: len(real_speech.normalize(t).split()) for f, t in kept.items()}
                cell = {
                    "words": sum(words.values()),
                    "by_kind": {k: v for k, v in words.items() if v},
                }
            else:
                names = sorted(refs[name])
                hyps = [kept.get(n, "") for n in names]
                wer = real_speech.corpus_wer([refs[name][n] for n in names], hyps)
                cell = {"wer": round(wer, 4)}
            rows.setdefault(label, {})[f"{name} ({run})"] = {**cell, "dropped": dropped}
    result = {"machine": machine(), "model": "tiny.en (demo set)", "args": vars(args), "rows": rows}
    write_results(args.out, "silence", result, table(rows))


def gate_flag() -> bool:
    """Whether this tree has the silence gate (``--no-silence-gate`` decodes without it)."""
    from swbatch.flags import BY_NAME

    return "silence_gate" in BY_NAME


def table(rows: dict) -> str:
    columns = sorted({c for r in rows.values() for c in r})
    lines = ["| gate (keeps a segment when) | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]  # fmt: skip
    for label, row in rows.items():
        cells = []
        for c in columns:
            v = row.get(c, {})
            main = f"{v['wer']:.3f}" if "wer" in v else str(v.get("words", ""))
            cells.append(f"{main} ({v.get('dropped', 0)})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return (
        "\n".join(lines)
        + "\n\nEach cell: WER, or words written over non-speech; (segments dropped).\n"
    )


if __name__ == "__main__":
    main()
