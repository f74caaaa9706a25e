"""Packing (the default): short files share 30-s windows, and every file still gets only the
words of its own audio, its own times, its own failure, and a rerun that skips it once done.

Packed and alone decoding compute differently, so they are compared by WER against the spoken
text, never word for word.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from conftest import run_cli
from speech import normalise, speak, word_error_rate

#: one sentence per clip, with few content words in common, so a stray word shows whose it is
DISTINCT = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call me tomorrow morning at the office.",
    "Seven purple kites flew over the frozen lake.",
    "My grandfather fixed the kitchen clock.",
    "Bright yellow flowers grew beside the river.",
    "Fresh oranges are sold near the harbour gate.",
    "A tired musician played guitar until midnight.",
    "Children built a castle of sand and shells.",
    "Heavy rain flooded every basement in town.",
    "Our doctor recommends walking after every meal.",
    "The library closes early on public holidays.",
    "Silver spoons were polished for the wedding dinner.",
]


def make_root(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """raw_audio with one clip per sentence, one file too long to pack, and two bad files;
    returns the root and {file name: spoken text}."""
    raw = tmp_path / "root" / "raw_audio"
    truth = {f"c{i:02d}.wav": text for i, text in enumerate(DISTINCT)}
    for name, text in truth.items():
        speak(raw / name, text)
    long_text = " ".join(DISTINCT[:4])  # about 14 s: longer than a packed clip may be
    speak(raw / "long.wav", long_text)
    truth["long.wav"] = long_text
    (raw / "empty.wav").write_bytes(b"")
    (raw / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    return raw.parent, truth


def docs(root: Path) -> dict[str, dict]:
    return {p.name[: -len(".json")]: json.loads(p.read_text())
            for p in (root / "whisper_json").glob("*.json")}  # fmt: skip


def text_of(doc: dict) -> str:
    return " ".join(s["text"] for s in doc["segments"])


def check_own_words(found: dict[str, dict], truth: dict[str, str]) -> None:
    """Word by word: a file holds at most one content word that is not in its own sentence but
    is in another's (tiny.en mishears a word now and then: "grew" as "flew"; a neighbour's
    phrase brings several), and its WER against its own sentence is under 0.5 (a neighbour's
    sentence, or half its own missing, would be well over)."""
    for name, doc in found.items():
        own = set(normalise(truth[name]).split())
        others = {w for n, t in truth.items() if n != name for w in normalise(t).split()} - own
        others = {w for w in others if len(w) > 3}  # content words: "at" may be a misheard "the"
        heard = normalise(text_of(doc)).split()
        assert len([w for w in heard if w in others]) <= 1, (name, text_of(doc))
        assert word_error_rate([truth[name]], [text_of(doc)]) < 0.5, (name, text_of(doc))


def test_packed_files_get_only_their_own_words(tmp_path, demo_env):
    root, truth = make_root(tmp_path)
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json,srt"],
                  demo_env)  # fmt: skip
    assert res.returncode == 1, res.stderr  # the two bad files
    assert "13 done, 0 skipped, 2 failed" in res.stdout, res.stdout
    found = docs(root)
    assert set(found) == set(truth)
    packed = {n for n, d in found.items() if d["options"].get("packed_clips", 0) >= 2}
    assert len(packed) >= 6, "half the short clips or more shared a window"
    assert "long.wav" not in packed  # longer than MAX_CLIP_SECONDS: decoded alone
    check_own_words(found, truth)
    names = sorted(truth)
    packed_wer = word_error_rate([truth[n] for n in names], [text_of(found[n]) for n in names])
    assert packed_wer <= 0.2
    for doc in found.values():  # times are the file's own, and the language its own result
        assert doc["language"] == "en"
        assert 0 <= doc["segments"][0]["start"] <= doc["segments"][-1]["end"] <= doc["duration"]
        assert "words" not in doc["segments"][0]  # not asked for: not written
    assert len(list((root / "transcripts").glob("*.srt"))) == 13

    again = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats",
                     "json,srt"], demo_env)  # fmt: skip
    assert "0 done, 13 skipped, 2 failed" in again.stdout, again.stdout
    assert docs(root) == found  # a rerun touches no finished file

    # changed settings redo every file (packed again), now with word times inside each file
    words = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json",
                     "--word-timestamps"], demo_env)  # fmt: skip
    assert "13 done, 0 skipped, 2 failed" in words.stdout, words.stdout
    for name, doc in docs(root).items():
        for seg in doc["segments"]:
            assert all(0 <= w["start"] <= w["end"] <= doc["duration"] for w in seg["words"]), name

    # each file alone (--no-pack): packing must be no less accurate
    alone_root, _ = make_root(tmp_path / "alone")
    res = run_cli(["transcribe", "--root", str(alone_root), "--model", "demo", "--formats", "json",
                   "--no-pack"], demo_env)  # fmt: skip
    alone = docs(alone_root)
    assert not any("packed_clips" in d["options"] for d in alone.values())
    alone_wer = word_error_rate([truth[n] for n in names], [text_of(alone[n]) for n in names])
    print(f"WER packed {packed_wer:.3f}, alone {alone_wer:.3f}")
    assert packed_wer <= alone_wer + 0.03, (packed_wer, alone_wer)


def test_packed_windows_fill_cross_file_batches_within_their_bounds(tmp_path, demo_cache):
    """--batch-size 8 on the CPU: packed windows share batches, at most CPU_BATCH_SIZE chunks a
    model call, and at most as many windows decoded at once as the model runs (the memory
    bound); counted in a real run."""
    from swbatch.cache import CachePaths
    from swbatch.jobs import JobSettings, discover
    from swbatch.pipeline import RunOptions, run_batch
    from swbatch.pipeline.infer import crossfile, packing
    from swbatch.pipeline.infer.options import CPU_BATCH_SIZE

    root, truth = make_root(tmp_path)
    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(demo_cache)})
    options = RunOptions(device="cpu", batch_size=8, workers=2, quiet=True)
    summary = run_batch(discover(root, JobSettings(formats=("json",))), options, paths)
    assert (summary.done, summary.failed) == (13, 2)
    found = docs(root)
    assert sum(d["options"].get("packed_clips", 0) >= 2 for d in found.values()) >= 6
    check_own_words(found, truth)
    batchers = [b for (_, size), b in crossfile._BATCHERS.items() if size == 8]
    packers = [p for (_, size), p in packing._PACKERS.items() if size == 8]
    assert sum(b.batches_run for b in batchers) > 0 and sum(p.windows_run for p in packers) > 0
    assert all(0 < b.largest_run <= CPU_BATCH_SIZE for b in batchers if b.batches_run)
    assert all(p.room == 2 * CPU_BATCH_SIZE and p.most_decoding <= p.room for p in packers)


def test_shards_pack_and_transcribe_every_file_once(tmp_path, demo_env):
    root, truth = make_root(tmp_path)
    cmd = [sys.executable, "-m", "swbatch.cli", "transcribe", "--root", str(root), "--model",
           "demo", "--formats", "json"]  # fmt: skip
    procs = [
        subprocess.Popen(
            [*cmd, "--shard", f"{i}/2"],
            env=demo_env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    done = sum(int(re.search(r"(\d+) done,", o).group(1)) for o in outs)
    assert done == 13, outs
    found = docs(root)
    assert set(found) == set(truth)
    check_own_words(found, truth)


def test_clips_of_a_doubtful_window_are_given_back():
    """A window whose text needed Whisper's temperature fallback was sampled whole at a higher
    temperature, neighbours too: every clip in it is given back (packed again, then alone). A
    segment still repetitive or improbable gives back only the clips it touches."""
    from faster_whisper.transcribe import Segment

    from swbatch.pipeline.infer.packing import _doubtful, split

    kwargs = {"temperature": [0.0, 0.2, 0.4], "log_prob_threshold": -1.0,
              "compression_ratio_threshold": 2.4}  # fmt: skip
    spans = [(0.0, 3.0), (4.5, 8.0), (9.5, 12.0)]

    def window(temperature=0.0, **middle) -> list:
        texts = ("the quick brown fox", "go home go home go home", "over the lazy dog")
        return [
            Segment(id=i, seek=0, start=low, end=high, text=text, tokens=[],
                    avg_logprob=middle.get("avg_logprob", -0.3) if i == 1 else -0.3,
                    compression_ratio=middle.get("compression_ratio", 1.2) if i == 1 else 1.2,
                    no_speech_prob=0.01, words=None, temperature=temperature)
            for i, ((low, high), text) in enumerate(zip(spans, texts, strict=True))
        ]  # fmt: skip

    def kept(segments: list) -> list[bool]:
        parts = split(segments, spans, keep_words=False, doubtful=lambda s: _doubtful(s, kwargs))
        return [part is not None for part in parts]

    assert kept(window()) == [True, True, True]
    assert kept(window(temperature=0.2)) == [False, False, False]
    assert kept(window(compression_ratio=3.1)) == [True, False, True]
    assert kept(window(avg_logprob=-1.6)) == [True, False, True]
