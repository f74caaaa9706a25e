"""A synthetic batch record of many files, for the report's scale test and benchmark.

It is what a sharded run leaves in an output folder (the status record of every job, each shard's
summary, a JSON per finished file), written directly so that 10,000 files take seconds instead of
hours of transcription. Every 25th file failed (four reasons), every 200th was interrupted, every
40th finished file carries a review flag; the transcripts are a few short segments with words.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

REASONS = ["not decodable audio: Invalid data found when processing input", "empty file (0 bytes)",
           "file not found", "no audio decoded (0.000 s)"]  # fmt: skip
WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "near",
    "quiet",
    "river",
)


def synthetic_batch(output: Path, files: int, shards: int = 4, seed: int = 1) -> dict[str, int]:
    """Write the record of a finished ``files``-file batch run as ``shards`` shards under
    ``output``; returns its counts {"done", "failed", "interrupted", "flagged"}."""
    rng = random.Random(seed)
    state = output / ".swbatch"
    (output / "whisper_json").mkdir(parents=True, exist_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    started = time.time() - 3600
    counts = {"done": 0, "failed": 0, "interrupted": 0, "flagged": 0}
    per_shard = {i: {"done": 0, "failed": 0, "audio": 0.0} for i in range(shards)}
    lines = []
    for i in range(files):
        shard = i % shards
        job = f"calls/{i // 1000:02d}/call-{i:05d}.wav"
        seconds = round(rng.uniform(20, 600), 3)
        at = started + (i / files) * 3000 + rng.uniform(0, 5)
        record = {"id": job, "audio": f"/data/raw_audio/{job}", "state": "done", "reason": None,
                  "action": "run", "audio_seconds": seconds, "wall_seconds": round(seconds / 40, 3),
                  "outputs": [], "shard": f"{shard}/{shards}",
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at))}  # fmt: skip
        if i % 25 == 7:
            record.update(state="failed", reason=REASONS[i % len(REASONS)], audio_seconds=0.0)
        elif i % 200 == 13:
            record.update(state="interrupted", reason="interrupted (Ctrl-C)", audio_seconds=0.0)
        else:
            path = output / "whisper_json" / f"{job}.json"
            flagged = counts["done"] % 40 == 0
            record["outputs"] = [str(path)]
            _write_doc(path, job, seconds, rng, flagged)
            counts["flagged"] += flagged
            per_shard[shard]["done"] += 1
            per_shard[shard]["audio"] += seconds
        counts[record["state"]] += 1
        per_shard[shard]["failed"] += record["state"] == "failed"
        lines.append(json.dumps(record))
    (state / "status.jsonl").write_text("\n".join(lines) + "\n")
    for shard, c in per_shard.items():
        wall = 3000.0 + shard
        summary = {"total": files // shards, "done": c["done"], "skipped": 0, "failed": c["failed"],
                   "transcribed": c["done"], "audio_seconds": round(c["audio"], 3),
                   "started": started, "wall_seconds": wall, "interrupted": False,
                   "shard": f"{shard}/{shards}", "speed_x_realtime": round(c["audio"] / wall, 2),
                   "host": f"node-{shard}"}  # fmt: skip
        (state / f"summary-{shard}-of-{shards}.json").write_text(json.dumps(summary))
    return counts


def _write_doc(path: Path, job: str, seconds: float, rng: random.Random, flagged: bool) -> None:
    segments, t = [], 0.0
    for k in range(4):
        words = [rng.choice(WORDS) for _ in range(8)]
        step = seconds / 4
        segments.append({
            "id": k, "start": round(t, 2), "end": round(t + step, 2),
            "text": " " + " ".join(words), "avg_logprob": -0.3, "no_speech_prob": 0.01,
            "speaker": f"SPEAKER_0{k % 2}",
            "words": [{"start": round(t + j * step / 8, 2), "end": round(t + (j + 1) * step / 8, 2),
                       "word": " " + w, "probability": round(rng.uniform(0.3, 1.0), 2)}
                      for j, w in enumerate(words)],
        })  # fmt: skip
        t += step
    doc = {"id": job, "file": f"/data/raw_audio/{job}", "duration": seconds, "language": "en",
           "segments": segments, "speakers": [{"id": "SPEAKER_00"}, {"id": "SPEAKER_01"}],
           "turns": [{"start": s["start"], "end": s["end"], "speaker": s["speaker"]}
                     for s in segments]}  # fmt: skip
    if flagged:
        doc["review"] = [
            {
                "reason": "low_logprob",
                "segments": [1],
                "detail": "average log-probability down to -1.20 (under -1.0)",
            }
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
