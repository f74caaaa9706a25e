"""SRT, VTT and TSV output parsed back with pysrt and webvtt-py: layout, timing and escaping."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pysrt
import pytest
import webvtt

from swbatch.subtitles import Layout
from swbatch.writers import render

TIMING = re.compile(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}")
HOSTILE = "<b> & --> 00:00:01,000 --> x</b> a&amp;b"


def words_of(text: str, start: float, step: float) -> list[dict]:
    return [
        {"word": " " + w, "start": start + i * step, "end": start + (i + 1) * step,
         "probability": 0.9}
        for i, w in enumerate(text.split())
    ]  # fmt: skip


def doc_of(*segments: dict) -> dict:
    return {"file": "/x/a.wav", "segments": [{"id": i, **s} for i, s in enumerate(segments)]}


def parse_srt(text: str, tmp_path: Path) -> list:
    path = tmp_path / "out.srt"
    path.write_text(text, encoding="utf-8")
    return list(pysrt.open(str(path), encoding="utf-8"))


def parse_vtt(text: str) -> list:
    return list(webvtt.from_buffer(io.StringIO(text)))


LONG = (
    "the committee agreed that the quarterly numbers should be published before the "
    "board meets again in the spring"
)


@pytest.mark.parametrize("timed", [True, False], ids=["word-timestamps", "estimated"])
@pytest.mark.parametrize("speaker", [None, "SPEAKER_01"])
def test_line_width_and_count_hold_in_both_formats(tmp_path, timed, speaker):
    seg = {"start": 2.0, "end": 12.0, "text": " " + LONG}
    if timed:
        seg["words"] = words_of(LONG, 2.0, 0.5)
    if speaker:
        seg["speaker"] = speaker
    doc = doc_of(seg, {"start": 12.5, "end": 13.0, "text": " Done."})
    layout = Layout(max_line_width=24, max_line_count=2)

    srt = parse_srt(render("srt", doc, layout), tmp_path)
    vtt = parse_vtt(render("vtt", doc, layout))
    assert len(srt) > 3 and len(vtt) > 3  # the long segment became several cues
    for cues in (srt, vtt):
        lines = [ln for c in cues for ln in c.text.split("\n")]
        assert max(len(ln) for ln in lines) <= 24, lines
        assert all(1 <= len(c.text.split("\n")) <= 2 for c in cues)
        # every word once, in order, none cut in two
        said = " ".join(ln.removeprefix(f"[{speaker}] ") for ln in lines)
        assert said.split() == (LONG + " Done.").split()
    if speaker:
        assert all(c.text.startswith(f"[{speaker}] ") for c in srt[:-1])
        assert all(c.voice == speaker for c in vtt[:-1])
    # cues follow each other within the segment's time
    starts = [c.start.ordinal / 1000 for c in srt]
    ends = [c.end.ordinal / 1000 for c in srt]
    assert starts == sorted(starts) and all(s <= e for s, e in zip(starts, ends, strict=True))
    assert starts[0] == 2.0 and ends[-2] == 12.0
    if timed:  # a cue after the first starts at its first word's timestamp
        counts = [len(c.text.removeprefix(f"[{speaker}] ").split()) for c in srt[:-1]]
        assert starts[1:-1] == [2.0 + 0.5 * sum(counts[:k]) for k in range(1, len(counts))]


def test_one_word_longer_than_the_width_stays_whole(tmp_path):
    doc = doc_of({"start": 0.0, "end": 2.0, "text": "a supercalifragilistic b"})
    cues = parse_srt(render("srt", doc, Layout(max_line_width=5, max_line_count=1)), tmp_path)
    assert [c.text for c in cues] == ["a", "supercalifragilistic", "b"]


def test_without_layout_one_cue_per_segment(tmp_path):
    doc = doc_of({"start": 0.0, "end": 9.0, "text": " " + LONG, "words": words_of(LONG, 0, 0.3)})
    (cue,) = parse_srt(render("srt", doc), tmp_path)
    assert cue.text == LONG
    (vcue,) = parse_vtt(render("vtt", doc, Layout(max_line_count=2)))  # count alone: no wrap
    assert vcue.text == LONG


def test_hostile_text_round_trips_through_both_parsers(tmp_path):
    doc = doc_of(
        {"start": 0.0, "end": 1.5, "text": " " + HOSTILE},
        {"start": 1.5, "end": 2.5, "text": " <v Mallory> &lt; -->", "speaker": "A<b>&"},
    )
    for layout in (Layout(), Layout(max_line_width=12, max_line_count=3)):
        vtt_text = render("vtt", doc, layout)
        arrows = [ln for ln in vtt_text.splitlines() if "-->" in ln or "<" in ln]
        assert all(TIMING.fullmatch(ln) or ln.startswith("<v ") for ln in arrows), arrows
        vtt = parse_vtt(vtt_text)
        said = [" ".join(html.unescape(c.raw_text).removeprefix("<v A<b>&>").split()) for c in vtt]
        assert " ".join(said) == HOSTILE + " <v Mallory> &lt; -->"
        assert vtt[-1].voice == html.escape("A<b>&", quote=False)
        srt = parse_srt(render("srt", doc, layout), tmp_path)
        said = " ".join(" ".join(c.text.split()) for c in srt)
        assert said == f"{HOSTILE} [A<b>&] <v Mallory> &lt; -->"
        assert [str(c.start).replace(",", ".") for c in srt] == [c.start for c in vtt]


def test_tsv_is_whisperx_layout(tmp_path):
    doc = doc_of(
        {"start": 0.0, "end": 1.2344, "text": " Hello\tthere"},
        {"start": 1.5, "end": 3.0, "text": " Two\nlines", "speaker": "SPEAKER_00"},
    )
    rows = list(csv.reader(io.StringIO(render("tsv", doc)), delimiter="\t"))
    assert rows == [
        ["start", "end", "text"],
        ["0", "1234", "Hello there"],
        ["1500", "3000", "[SPEAKER_00] Two lines"],
    ]
