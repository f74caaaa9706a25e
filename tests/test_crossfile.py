"""Cross-file batching (``--batch-size N``): chunks of many short files share batches, and every
file still gets its own outputs, its own failure, and words as accurate as sequential decoding.

Batched and sequential decoding compute differently (int8 GEMMs of another shape, which also
differ between CPUs: one clip read "lazy nod" sequentially and "lazy dog" batched on an AMD EPYC),
so the two are compared by word error rate against the spoken text, never word for word."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import run_cli
from speech import SENTENCES, normalise, word_error_rate


def clips_root(tmp_path: Path, speech_files: dict[str, Path], copies: int = 2) -> Path:
    """raw_audio with every sentence ``copies`` times (short clips), and two files that fail."""
    raw = tmp_path / "root" / "raw_audio"
    raw.mkdir(parents=True)
    for n in range(copies):
        for i, src in enumerate(speech_files.values()):
            shutil.copy(src, raw / f"c{n}-{i}.wav")
    (raw / "empty.wav").write_bytes(b"")
    (raw / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    return raw.parent


#: how much worse than sequential decoding cross-file batching may read the clips (corpus WER)
WER_BOUND = 0.03


def words(root: Path) -> dict[str, list[str]]:
    """{file: its normalised words} for every finished file."""
    return {
        p.name: normalise(
            " ".join(s["text"] for s in json.loads(p.read_text())["segments"])
        ).split()
        for p in (root / "whisper_json").glob("*.json")
    }


def corpus_wer(found: dict[str, list[str]]) -> float:
    """WER of every clip ``c{copy}-{sentence}.wav`` against the sentence it speaks."""
    names = sorted(found)
    refs = [SENTENCES[int(n.split("-")[1].split(".")[0])] for n in names]
    return word_error_rate(refs, [" ".join(found[n]) for n in names])


def test_cross_file_batches_read_each_file_as_well_as_sequential(tmp_path, speech_files, demo_env):
    sequential = clips_root(tmp_path / "seq", speech_files)
    batched = clips_root(tmp_path / "batched", speech_files)
    res = run_cli(["transcribe", "--root", str(sequential), "--model", "demo", "--formats", "json"],
                  demo_env)  # fmt: skip
    assert res.returncode == 1, res.stderr
    res = run_cli(["transcribe", "--root", str(batched), "--model", "demo", "--formats",
                   "json,srt", "--batch-size", "8"], demo_env)  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "16 done, 0 skipped, 2 failed" in res.stdout  # the bad files fail alone
    expected, found = words(sequential), words(batched)
    assert len(expected) == 16 and all(expected.values())
    assert sorted(found) == sorted(expected) and all(found.values())
    assert corpus_wer(found) <= corpus_wer(expected) + WER_BOUND
    for doc in (batched / "whisper_json").glob("*.json"):
        data = json.loads(doc.read_text())
        assert data["options"]["batch_size"] == 8
        assert 0 <= data["segments"][0]["start"] <= data["segments"][-1]["end"] <= data["duration"]
    assert len(list((batched / "transcripts").glob("*.srt"))) == 16

    again = run_cli(["transcribe", "--root", str(batched), "--model", "demo", "--batch-size", "8",
                     "--formats", "json,srt"], demo_env)  # fmt: skip
    assert "0 done, 16 skipped, 2 failed" in again.stdout, again.stdout


def test_chunks_of_different_files_share_a_batch(tmp_path, speech_files, demo_cache):
    from swbatch.cache import CachePaths
    from swbatch.jobs import JobSettings, discover
    from swbatch.pipeline import RunOptions, run_batch
    from swbatch.pipeline.infer import crossfile

    root = clips_root(tmp_path, speech_files, copies=1)
    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(demo_cache)})
    # without packing: each clip its own chunk
    options = RunOptions(device="cpu", batch_size=4, workers=1, quiet=True, pack=False)
    summary = run_batch(discover(root, JobSettings(formats=("json",))), options, paths)
    assert (summary.done, summary.failed) == (8, 2)
    (batcher,) = [b for (_, size), b in crossfile._BATCHERS.items() if size == 4]
    assert batcher.chunks_run == 8
    assert batcher.batches_run < 8, "some batch held chunks of more than one file"
