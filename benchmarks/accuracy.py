"""Accuracy on real speech: swbatch's paths next to plain faster-whisper, and silence left silent.

One command, one run, on the committed real-speech set (tests/data/real: LibriSpeech, LJ Speech,
jfk; see its SOURCES.md) and generated non-speech (tests/nonspeech.py):

- utterances: every utterance as its own file;
- long: the same utterances joined into one recording (1 s of silence between), so the windowed
  sequential path and the batched path decode many 30-s chunks of one file;
- mixed: the utterances with long stretches of non-speech between them (silence, room tone, hold
  music, noise, hum taking turns): its speech WER should equal the long recording's;
- non-speech: every kind of tests/nonspeech.py, ``--nonspeech-seconds`` long each: words written.

Contenders: plain faster-whisper as a user writes it (``WhisperModel(path).transcribe(file)``, its
own defaults), and swbatch through its CLI (``swbatch transcribe``), each in its own process, with
the flags each row names. WER is corpus WER after Whisper's English normaliser
(``whisper-normalizer``), as the Whisper paper scores it; the paper's own number for tiny.en on
LibriSpeech is printed beside (Radford et al. 2022, "Robust Speech Recognition via Large-Scale
Weak Supervision", arXiv:2212.04356, Appendix D.1.1, English transcription with greedy decoding).

    python benchmarks/accuracy.py                         # tiny.en (the demo set), CPU
    python benchmarks/accuracy.py --nonspeech-seconds 600 # 10-minute non-speech files
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import nonspeech  # noqa: E402
import real_speech  # noqa: E402
from results_io import machine, write_results  # noqa: E402

#: the Whisper paper's tiny.en WER (%) on LibriSpeech (Appendix D.1.1, greedy decoding)
PAPER = {"test-clean": 5.6, "test-other": 14.6}
#: the non-speech kinds between utterances in the mixed recording, in turn
MIXED_GAPS = ("silence", "music", "room_tone", "pink_noise", "mains_hum", "dtmf")
#: swbatch rows: (label, flags)
SPEECH_ROWS = [
    ("swbatch defaults", []),
    ("swbatch --vad", ["--vad"]),
    ("swbatch --batch-size 8", ["--batch-size", "8"]),
    ("swbatch --batch-size 8 --vad", ["--batch-size", "8", "--vad"]),
]
NONSPEECH_ROWS = [
    ("swbatch defaults", []),
    ("swbatch --vad", ["--vad"]),
    ("swbatch --batch-size 8", ["--batch-size", "8"]),
]


def build(work: Path, nonspeech_seconds: float, gap_seconds: float, mixed_count: int) -> dict:
    """The sets as folders with raw_audio/: {set: {"root", "refs": {file name: text}}}, the most
    telling first (the long recording), so a run cut short still has it."""
    import numpy as np
    from faster_whisper import decode_audio

    utts = real_speech.utterances()
    sets: dict[str, dict] = {}
    joined = real_speech.join(utts, work / "long" / "raw_audio" / "long.wav")
    sets["long"] = {"root": work / "long", "refs": {"long.wav": joined.text}}
    root = work / "utterances"
    (root / "raw_audio").mkdir(parents=True)
    for u in utts:
        (root / "raw_audio" / u.path.name).symlink_to(u.path)
    sets["utterances"] = {"root": root, "refs": {u.path.name: u.text for u in utts}}
    nonspeech.write_set(work / "nonspeech" / "raw_audio", nonspeech_seconds)
    sets["nonspeech"] = {
        "root": work / "nonspeech",
        "refs": {f"{k}.wav": "" for k in nonspeech.KINDS},
    }
    pieces = []
    for i, u in enumerate(utts[:mixed_count]):
        kind = MIXED_GAPS[i % len(MIXED_GAPS)]
        pieces += [nonspeech.make(kind, gap_seconds), decode_audio(str(u.path))]
    pieces.append(nonspeech.make("silence", gap_seconds))
    text = " ".join(u.text for u in utts[:mixed_count])
    for name, audio in (("mixed", np.concatenate(pieces)),
                        ("mixed-speech-alone", np.concatenate(pieces[1::2]))):  # fmt: skip
        nonspeech.write_wav(work / name / "raw_audio" / f"{name}.wav", audio)
        sets[name] = {"root": work / name, "refs": {f"{name}.wav": text}}
    return sets


def swbatch(root: Path, out: Path, flags: list[str], env: dict) -> tuple[dict[str, str], float]:
    """{file name: transcript} of one CLI run over ``root``, and its wall time."""
    started = time.perf_counter()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "swbatch.cli",
            "transcribe",
            "--root",
            str(root),
            "--output",
            str(out),
            "--model",
            "demo",
            "--formats",
            "json",
            *flags,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if res.returncode != 0:
        raise SystemExit(f"swbatch {' '.join(flags)} failed: {res.stderr.strip()[-500:]}")
    texts = {}
    for doc in (out / "whisper_json").glob("*.json"):
        data = json.loads(doc.read_text())
        texts[Path(data["file"]).name] = " ".join(s["text"] for s in data["segments"])
    return texts, wall


def plain(root: Path, model_path: str) -> tuple[dict[str, str], float]:
    """faster-whisper as its README shows it: the model's defaults, one file at a time."""
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    model = WhisperModel(model_path)
    texts = {}
    for path in sorted((root / "raw_audio").iterdir()):
        segments, _info = model.transcribe(str(path))
        texts[path.name] = " ".join(s.text for s in segments)
    return texts, time.perf_counter() - started


def score(refs: dict[str, str], texts: dict[str, str]) -> dict:
    names = sorted(refs)
    if not any(refs.values()):  # non-speech: every word is an error
        words = {n: len(real_speech.normalize(texts.get(n, "")).split()) for n in names}
        return {"words": sum(words.values()), "by_kind": words}
    hyps = [texts.get(n, "") for n in names]
    out = {"wer": round(real_speech.corpus_wer([refs[n] for n in names], hyps), 4)}
    for subset in PAPER:  # the LibriSpeech subsets alone, beside the paper's number
        ids = {u.path.name for u in real_speech.utterances(subset)}
        picked = [n for n in names if n in ids]
        if picked and len(names) > 1:
            out[subset] = round(
                real_speech.corpus_wer(
                    [refs[n] for n in picked], [texts.get(n, "") for n in picked]
                ),
                4,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nonspeech-seconds", type=float, default=60.0)
    parser.add_argument(
        "--gap-seconds",
        type=float,
        default=10.0,
        help="non-speech between the utterances of the mixed recording",
    )
    parser.add_argument(
        "--mixed-utterances",
        type=int,
        default=24,
        help="utterances in the mixed recording (and the same speech alone)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="contenders of a set run at once (wall times then mean little)",
    )
    parser.add_argument("--cache", help="cache root holding the demo set (default: a new one)")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="swbatch-accuracy-"))
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", SLOWER_WHISPER_CACHE_ROOT=args.cache or str(work / "cache")
    )
    if not args.cache:
        subprocess.run(
            [sys.executable, "-m", "swbatch.cli", "prefetch", "demo"],
            env=env,
            check=True,
            capture_output=True,
        )
    model_path = str(
        next(Path(env["SLOWER_WHISPER_CACHE_ROOT"]).glob("whisper/models--*tiny.en/snapshots/*"))
    )
    sets = build(work, args.nonspeech_seconds, args.gap_seconds, args.mixed_utterances)
    utts = real_speech.utterances()
    result = {
        "machine": machine(),
        "model": "tiny.en (demo set)",
        "utterances": len(utts),
        "speech_seconds": round(sum(u.duration_s for u in utts), 1),
        "nonspeech_seconds_each": args.nonspeech_seconds,
        "gap_seconds": args.gap_seconds,
        "jobs": args.jobs,
        "mixed_utterances": args.mixed_utterances,
        "paper_tiny_en_wer_percent": PAPER,
        "rows": {},
    }
    rows = result["rows"]
    for name, data in sets.items():
        print(f"-- {name}", flush=True)
        listed = NONSPEECH_ROWS if name == "nonspeech" else SPEECH_ROWS
        if name.startswith("mixed"):
            listed = listed[:3]  # defaults, --vad, --batch-size 8: speech among non-speech
        runs = {"faster-whisper (plain)": lambda data=data: plain(data["root"], model_path)}
        for label, flags in listed:
            out = work / "out" / name / label.split(" (")[0].replace(" ", "_")
            runs[label] = lambda data=data, out=out, flags=flags: swbatch(
                data["root"], out, flags, env
            )
        with ThreadPoolExecutor(args.jobs) as pool:  # WER only: timings would mean nothing
            futures = {label: pool.submit(run) for label, run in runs.items()}
            for label, future in futures.items():
                texts, wall = future.result()
                rows.setdefault(label, {})[name] = {
                    **score(data["refs"], texts),
                    "wall_s": round(wall, 1),
                }
                print(f"   {label}: {rows[label][name]}", flush=True)
        write_results(args.out, "accuracy", result, table(result))  # after each set


def table(result: dict) -> str:
    rows = result["rows"]

    def cell(label: str, name: str, key: str = "wer") -> str:
        value = rows[label].get(name, {}).get(key)
        return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        f"WER (Whisper's English normaliser), tiny.en, {result['utterances']} real utterances "
        f"({result['speech_seconds'] / 60:.1f} min); {result['machine']}\n",
        "| path | utterances | test-clean | test-other | long recording | mixed: speech alone"
        f" / with {result['gap_seconds']:.0f}-s non-speech gaps | non-speech words "
        f"({len(nonspeech.KINDS)} x {result['nonspeech_seconds_each']:.0f} s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label in rows:
        mixed = f"{cell(label, 'mixed-speech-alone')} / {cell(label, 'mixed')}".strip(" /")
        lines.append(
            f"| {label} | {cell(label, 'utterances')} | "
            f"{cell(label, 'utterances', 'test-clean')} | "
            f"{cell(label, 'utterances', 'test-other')} | {cell(label, 'long')} | "
            f"{mixed} | {cell(label, 'nonspeech', 'words')} |"
        )
    paper = result["paper_tiny_en_wer_percent"]
    lines.append(
        f"| Whisper paper, tiny.en (full LibriSpeech test sets) |  | "
        f"{paper['test-clean'] / 100:.3f} | {paper['test-other'] / 100:.3f} |  |  |  |"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
