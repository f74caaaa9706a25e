"""The committed real-speech set (tests/data/real) is whole and consistent, its helpers work, and
tiny.en through the CLI reads it about as well as tiny.en is known to."""

from __future__ import annotations

import json

import pytest
import real_speech as rs
from conftest import run_cli

#: what the set may weigh in the repository
MAX_BYTES = 10 * 1024 * 1024


def test_every_listed_file_decodes_to_its_listed_duration():
    from faster_whisper import decode_audio

    utts = rs.utterances()
    assert utts, "references.tsv lists nothing"
    assert len({u.id for u in utts}) == len(utts), "utterance ids repeat"
    for u in utts:
        audio = decode_audio(str(u.path), sampling_rate=rs.SAMPLE_RATE)
        assert len(audio) / rs.SAMPLE_RATE == pytest.approx(u.duration_s, abs=0.1), u.id
        assert u.text.strip() and u.speaker and u.subset, u.id
    listed = {u.path.name for u in utts}
    on_disk = {p.name for p in (rs.DATA_DIR / "audio").iterdir()}
    assert on_disk == listed, "audio files and references.tsv disagree"


def test_every_file_has_a_recorded_source_and_the_set_stays_small():
    sources = (rs.DATA_DIR / "SOURCES.md").read_text(encoding="utf-8")
    files = [u.path for u in rs.utterances()] + [f for m in rs.meetings() for f in (m.path, m.rttm)]
    missing = [str(f) for f in files if f"`{f.relative_to(rs.DATA_DIR)}`" not in sources]
    assert not missing, f"SOURCES.md does not name {missing}"
    size = sum(p.stat().st_size for p in rs.DATA_DIR.rglob("*") if p.is_file())
    assert size <= MAX_BYTES, f"tests/data/real weighs {size} bytes"


def test_filters_and_lookup():
    short = rs.utterances(max_duration=8.0, min_duration=1.5)
    assert short and all(1.5 <= u.duration_s <= 8.0 for u in short)
    clean = rs.utterances(subset="test-clean")
    assert clean and {u.subset for u in clean} == {"test-clean"}
    both = rs.utterances(subset=["test-clean", "test-other"])
    assert len(both) == len(clean) + len(rs.utterances(subset="test-other"))
    first = rs.utterances()[0]
    assert rs.reference(first.id) == first.text
    with pytest.raises(KeyError):
        rs.utterance("no-such-utterance")


def test_normaliser_and_corpus_wer():
    assert rs.normalize("Mr. Quilter's ten DOLLARS, isn't it?") == rs.normalize(
        "mister quilter's $10 is not it"
    )
    refs = ["HE COULD WAIT NO LONGER", "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"]
    same = ["He could wait no longer.", "Stuff it into you, his belly counselled him."]
    assert rs.corpus_wer(refs, same) == 0
    # the normaliser takes British spelling to American; "them" is one substitution in 13 words
    wer = rs.corpus_wer(refs, [same[0], "Stuff it into you, his belly counseled them."])
    assert wer == pytest.approx(1 / 13)
    with pytest.raises(ValueError):
        rs.corpus_wer(refs, ["one"])


def test_join_writes_one_recording_with_spans(tmp_path):
    from faster_whisper import decode_audio

    utts = rs.utterances(max_duration=8.0)[:3]
    joined = rs.join(utts, tmp_path / "joined.wav", gap_s=1.5)
    audio = decode_audio(str(joined.path), sampling_rate=rs.SAMPLE_RATE)
    total = sum(u.duration_s for u in utts) + 1.5 * (len(utts) - 1)
    assert len(audio) / rs.SAMPLE_RATE == pytest.approx(total, abs=0.1)
    assert joined.text == " ".join(u.text for u in utts)
    assert [s.utterance_id for s in joined.spans] == [u.id for u in utts]
    for span, u, nxt in zip(joined.spans, utts, [*joined.spans[1:], None], strict=True):
        assert span.end - span.start == pytest.approx(u.duration_s, abs=0.1)
        if nxt:
            assert nxt.start - span.end == pytest.approx(1.5, abs=0.001)
    lines = joined.rttm("meeting").splitlines()
    assert len(lines) == len(utts) and lines[0].startswith("SPEAKER meeting 1 0.000 ")


def test_meeting_clips_decode_and_their_references_fit():
    from faster_whisper import decode_audio

    found = rs.meetings()
    assert found, "no meeting clips"
    for m in found:
        seconds = len(decode_audio(str(m.path), sampling_rate=rs.SAMPLE_RATE)) / rs.SAMPLE_RATE
        turns = m.turns()
        assert turns and all(0 <= t.start < t.end <= seconds + 0.1 for t in turns), m.id
        first = m.rttm.read_text(encoding="utf-8").split()
        assert first[1] == m.id, "the RTTM names its own file"
    assert max(len(m.speakers()) for m in found) >= 4


def first_short_utterance_per_speaker(count: int) -> list[rs.Utterance]:
    """One utterance of 1.5 to 8 s from each of ``count`` speakers: a spread, not a pick."""
    seen: dict[str, rs.Utterance] = {}
    for u in rs.utterances(max_duration=8.0, min_duration=1.5):
        seen.setdefault(u.speaker, u)
    return list(seen.values())[:count]


#: tiny.en's WER in the Whisper paper is 0.056 on LibriSpeech test-clean and 0.146 on test-other;
#: on these 12 utterances (10 of them test-other, through the CLI, int8) it measured 0.10 here.
#: 0.25 leaves room for another CPU's int8 kernels and still fails a broken decode path.
WER_BOUND = 0.25


def test_tiny_en_reads_real_speech_through_the_cli(tmp_path, demo_env):
    utts = first_short_utterance_per_speaker(12)
    assert len(utts) == 12
    root = tmp_path / "root"
    (root / "raw_audio").mkdir(parents=True)
    for u in utts:
        (root / "raw_audio" / u.path.name).symlink_to(u.path)
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json"],
                  demo_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    hyps = []
    for u in utts:
        doc = json.loads((root / "whisper_json" / f"{u.path.name}.json").read_text())
        hyps.append(" ".join(s["text"] for s in doc["segments"]))
    wer = rs.corpus_wer([u.text for u in utts], hyps)
    assert wer < WER_BOUND, (wer, list(zip([u.id for u in utts], hyps, strict=True)))
