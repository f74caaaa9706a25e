"""Speaker assignment against known turns: overlap, a change inside a segment, no overlap."""

from __future__ import annotations

import copy
import random

import pytest
from speakers_reference import assign_speakers_pairwise, synthetic_transcript

from swbatch.speakers import SpeakerTurn, assign_speakers, speaker_table, turns_as_dicts

TURNS = [
    SpeakerTurn(0.0, 4.0, "SPEAKER_00"),
    SpeakerTurn(4.0, 8.0, "SPEAKER_01"),
    SpeakerTurn(7.5, 9.0, "SPEAKER_00"),  # overlaps the end of SPEAKER_01's turn
]


def word(start: float, end: float, text: str) -> dict:
    return {"start": start, "end": end, "word": text, "probability": 0.9}


def test_segment_takes_the_speaker_it_overlaps_longest():
    segments = [
        {"id": 0, "start": 0.5, "end": 3.0, "text": "Hello."},
        {"id": 1, "start": 3.5, "end": 7.0, "text": "Mostly the second voice."},
    ]
    out = assign_speakers(segments, TURNS)
    assert [s["speaker"] for s in out] == ["SPEAKER_00", "SPEAKER_01"]
    assert [s["text"] for s in out] == ["Hello.", "Mostly the second voice."]


def test_overlap_is_summed_per_speaker():
    # 7.0-9.0: SPEAKER_01 talks 7.0-8.0 (1.0 s), SPEAKER_00 7.5-9.0 (1.5 s): SPEAKER_00 wins.
    out = assign_speakers([{"id": 0, "start": 7.0, "end": 9.0, "text": "x"}], TURNS)
    assert out[0]["speaker"] == "SPEAKER_00"


def test_no_overlap_gives_none():
    out = assign_speakers([{"id": 0, "start": 10.0, "end": 11.0, "text": "late"}], TURNS)
    assert out[0]["speaker"] is None


def test_segment_spanning_a_change_is_split_at_word_boundaries():
    segments = [
        {"id": 0, "start": 0.0, "end": 1.0, "text": "Before.", "avg_logprob": -0.2},
        {
            "id": 1,
            "start": 2.0,
            "end": 6.0,
            "text": " One two three four.",
            "avg_logprob": -0.3,
            "tokens": [1, 2, 3],
            "words": [
                word(2.0, 2.8, " One"),
                word(2.9, 3.8, " two"),
                word(4.1, 5.0, " three"),
                word(5.1, 6.0, " four."),
            ],
        },
    ]
    original = copy.deepcopy(segments)
    out = assign_speakers(segments, TURNS)
    assert segments == original, "the input must not be modified"
    assert [s["id"] for s in out] == [0, 1, 2]
    assert [(s["speaker"], s["text"]) for s in out] == [
        ("SPEAKER_00", "Before."),
        ("SPEAKER_00", "One two"),
        ("SPEAKER_01", "three four."),
    ]
    first, second = out[1], out[2]
    assert (first["start"], first["end"]) == (2.0, 3.8)
    assert (second["start"], second["end"]) == (4.1, 6.0)
    assert [w["speaker"] for w in first["words"] + second["words"]] == [
        "SPEAKER_00",
        "SPEAKER_00",
        "SPEAKER_01",
        "SPEAKER_01",
    ]
    assert second["avg_logprob"] == -0.3
    assert "tokens" not in first, "token ids cannot be divided between the pieces"


def test_segment_spanning_a_change_without_words_keeps_the_majority_speaker():
    out = assign_speakers([{"id": 5, "start": 2.0, "end": 7.0, "text": "no words"}], TURNS)
    assert len(out) == 1
    assert out[0]["speaker"] == "SPEAKER_01"  # 3.0 s of SPEAKER_01 against 2.0 s
    assert out[0]["id"] == 0


def test_word_in_a_pause_takes_its_neighbours_speaker():
    turns = [SpeakerTurn(0.0, 1.0, "A"), SpeakerTurn(3.0, 4.0, "B")]
    words = [word(0.1, 0.9, " yes"), word(1.2, 1.8, " and"), word(3.1, 3.9, " no")]
    out = assign_speakers([{"id": 0, "start": 0.0, "end": 4.0, "text": "", "words": words}], turns)
    assert [(s["speaker"], s["text"]) for s in out] == [("A", "yes and"), ("B", "no")]


def test_speaker_table_and_turns():
    assert speaker_table(TURNS) == [
        {"id": "SPEAKER_00", "total_seconds": 5.5, "turns": 2},
        {"id": "SPEAKER_01", "total_seconds": 4.0, "turns": 1},
    ]
    assert turns_as_dicts(list(reversed(TURNS)))[0] == {
        "start": 0.0,
        "end": 4.0,
        "speaker": "SPEAKER_00",
    }
    assert speaker_table([]) == []


@pytest.mark.parametrize("seed", range(40))
def test_sweep_gives_exactly_the_pairwise_result(seed):
    """The sweep against the old every-word-with-every-turn loop on random transcripts: same
    speakers, same splits, same ties (turn counts from none to many, words with and without
    timestamps, spans in and out of order)."""
    rng = random.Random(seed)
    seconds = rng.uniform(5, 300)
    segments, turns = synthetic_transcript(
        seconds, words=rng.randint(1, 400), turns=rng.randint(1, 60),
        speakers=rng.randint(1, 4), seed=seed,
    )  # fmt: skip
    if seed % 4 == 0:
        turns = [SpeakerTurn(t.start, t.end, t.speaker) for t in rng.sample(turns, len(turns))]
    if seed % 5 == 0:
        # equal overlaps with two speakers: the tie must go to the speaker of the earlier turn
        turns += [SpeakerTurn(1.0, 2.0, "TIE_B"), SpeakerTurn(1.0, 2.0, "TIE_A")]
        segments.insert(0, {"id": 0, "start": 1.0, "end": 2.0, "text": "tie"})
    if seed % 3 == 0:
        segments = [{k: v for k, v in s.items() if k != "words"} for s in segments]
    if seed % 7 == 0:
        turns = []
    assert assign_speakers(segments, turns) == assign_speakers_pairwise(segments, turns)
