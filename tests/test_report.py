"""The batch report (``swbatch report``, and the page every run writes) in a real headless Chromium.

A real run of the demo model over espeak-ng speech, a corrupt file and a file with a hostile name
writes ``.swbatch/report.html`` by itself; the page's counts must equal ``summary.json``'s, the
"failed" filter must show exactly the failed files, a click on a segment must seek the audio, and
text from the batch must render as text with no script run.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import chromium, errors, open_report, wait_for
from conftest import REPO, run_cli
from nonspeech import make, write_wav
from report_synthetic import synthetic_batch
from speech import have_espeak
from test_interrupt import long_file  # noqa: F401 (a fixture: five minutes of speech)
from test_interrupt import start as start_interrupt

pytestmark = pytest.mark.browser

HOSTILE_NAME = "<img src=x onerror=window.__x=1>.wav"
HOSTILE_TEXT = "</script><b>x</b><img src=x onerror=window.__x=2> & <!--"
SCREENSHOTS = REPO / ".work" / "screenshots"


@pytest.fixture(scope="module")
def batch(tmp_path_factory, speech_files, demo_cache) -> Path:
    """ROOT/raw_audio with three spoken files (one under a hostile name), 30 s of digital silence
    (tiny.en writes a word over it, kept with --no-silence-gate: the run flags that for review),
    a corrupt file and a text file, transcribed by the real CLI with word timestamps (exit 1:
    two failed)."""
    from conftest import cli_env

    root = tmp_path_factory.mktemp("report") / "root"
    raw = root / "raw_audio"
    (raw / "calls").mkdir(parents=True)
    spoken = list(speech_files.values())
    shutil.copy(spoken[0], raw / "calls" / "first.wav")
    shutil.copy(spoken[1], raw / "second.wav")
    shutil.copy(spoken[2], raw / HOSTILE_NAME)
    write_wav(raw / "silence.wav", make("silence", 30))
    (raw / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    (raw / "notes.mp3").write_text("<b>not audio</b>")
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--word-timestamps",
                   "--no-silence-gate", "--formats", "json,txt"], cli_env(demo_cache))  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "report: " in res.stdout and (root / ".swbatch" / "report.html").is_file()
    return root


def tiles(driver) -> dict[str, str]:
    return driver.execute_script(
        "const o = {}; for (const t of document.querySelectorAll('#totals .tile'))"
        " o[t.dataset.key] = t.querySelector('.v').textContent; return o;"
    )


def table_ids(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#table tbody tr td:first-child')]"
        ".map(td => td.textContent);"
    )


def test_the_page_a_run_writes_shows_summary_counts(batch):
    summary = json.loads((batch / ".swbatch" / "summary.json").read_text())
    with chromium() as driver:
        open_report(driver, batch / ".swbatch" / "report.html")
        shown = tiles(driver)
        assert errors(driver) == []
    assert (summary["done"], summary["failed"], summary["skipped"]) == (4, 2, 0)
    assert shown["jobs"] == "6"
    assert shown["done"] == str(summary["done"]) and shown["failed"] == str(summary["failed"])
    assert shown["skipped"] == str(summary["skipped"])
    assert shown["audio_hours"] == str(summary["audio_hours"])  # under 0.1 h: all 4 decimals
    assert shown["speed"] == f"{summary['speed_x_realtime']:.1f}×"


def test_the_failed_filter_shows_exactly_the_failed_files_and_how_to_rerun(batch):
    summary = json.loads((batch / ".swbatch" / "summary.json").read_text())
    with chromium() as driver:
        open_report(driver, batch / ".swbatch" / "report.html")
        assert len(table_ids(driver)) == 6
        driver.execute_script(
            "const s = document.getElementById('filter-state'); s.value = 'failed';"
            "s.dispatchEvent(new Event('change'));"
        )
        failed = table_ids(driver)
        commands = driver.execute_script(
            "return [...document.querySelectorAll('#failures pre.cmd')].map(p => p.textContent)"
        )
    assert sorted(failed) == sorted(f["id"] for f in summary["failures"])
    assert sorted(failed) == ["corrupt.wav", "notes.mp3"]
    assert commands == [f"cd {summary['cwd']} && {summary['command']}"]
    assert "transcribe --root" in summary["command"] and "--word-timestamps" in summary["command"]


def test_the_files_the_run_flagged_are_listed_with_their_reasons(batch):
    """The review flags of a real run (no plant): the page lists exactly summary.json's flagged
    files, each with the reasons summary.json gives."""
    summary = json.loads((batch / ".swbatch" / "summary.json").read_text())
    flagged = {item["id"]: sorted(item["reasons"]) for item in summary["review"]}
    assert "silence.wav" in flagged, summary["review"]  # tiny.en's word over silence
    with chromium() as driver:
        open_report(driver, batch / ".swbatch" / "report.html")
        groups = driver.execute_script(
            "return [...document.querySelectorAll('#review .group')].map(g =>"
            " [g.querySelector('button').textContent,"
            "  [...g.querySelectorAll('.flag')].map(f => f.textContent.split(':')[0])])"
        )
        assert errors(driver) == []
    assert {name: sorted(reasons) for name, reasons in groups} == flagged


def test_a_click_on_a_segment_seeks_the_audio_to_its_start(batch):
    doc = json.loads((batch / "whisper_json" / "second.wav.json").read_text())
    with chromium() as driver:
        open_report(driver, batch / ".swbatch" / "report.html")
        row = driver.execute_script(
            "return [...document.querySelectorAll('#table tbody tr')]"
            ".find(tr => tr.cells[0].textContent === 'second.wav').dataset.row"
        )
        driver.execute_script(f"document.querySelector('tr[data-row=\"{row}\"]').click()")
        wait_for(driver, lambda: driver.execute_script(
            "const a = document.querySelector('#detail audio'); return a && a.readyState >= 1"),
            "the audio element")  # fmt: skip
        segments = driver.find_elements("css selector", "#detail .seg")
        assert len(segments) == len(doc["segments"]) >= 1
        target = len(segments) - 1
        segments[target].click()
        at = driver.execute_script("return document.querySelector('#detail audio').currentTime")
        low = driver.find_elements("css selector", "#detail .seg .low")
    start = doc["segments"][target]["start"]
    assert start <= at < start + 0.5, (start, at)
    probabilities = [w["probability"] for s in doc["segments"] for w in s["words"]]
    assert len(low) == sum(p < 0.5 for p in probabilities)


def test_hostile_names_and_transcripts_render_as_text(batch, tmp_path):
    """A file named like an <img> tag, a transcript holding </script>, a planted review flag
    with markup: all shown as text, no script runs; audio gone since is said to be gone."""
    copy = tmp_path / "root"
    shutil.copytree(batch, copy)
    path = copy / "whisper_json" / f"{HOSTILE_NAME}.json"
    doc = json.loads(path.read_text())
    doc["segments"][0]["text"] = HOSTILE_TEXT
    doc["segments"][0]["words"][0]["word"] = HOSTILE_TEXT
    # a review flag in the shape of swbatch.review's, planted to hold markup
    doc["review"] = [{"reason": "<script>window.__x=3</script>", "detail": "<b>y</b>",
                      "segments": [doc["segments"][0]["id"]]}]  # fmt: skip
    path.write_text(json.dumps(doc))
    res = run_cli(["report", str(copy), "--output", str(tmp_path / "page.html")], dict(os.environ))
    assert res.returncode == 0, res.stderr
    (copy / "raw_audio" / "second.wav").unlink()  # audio gone since the report was written
    html = (tmp_path / "page.html").read_text()
    assert "</script><b>" not in html and "<img src=x" not in html
    with chromium() as driver:
        open_report(driver, tmp_path / "page.html")
        assert HOSTILE_NAME in table_ids(driver)
        driver.execute_script(
            "[...document.querySelectorAll('#table tbody tr')]"
            f".find(tr => tr.cells[0].textContent === {json.dumps(HOSTILE_NAME)}).click()"
        )
        first = driver.execute_script(
            "return document.querySelector('#detail .seg .text').textContent"
        )
        review = driver.execute_script(
            "return [...[...document.querySelectorAll('#review .group')]"
            f".find(g => g.querySelector('button').textContent === {json.dumps(HOSTILE_NAME)})"
            ".querySelectorAll('.flag')].map(f => f.textContent)"
        )
        title = driver.execute_script("return document.querySelector('#detail h2').textContent")
        injected = driver.execute_script(
            "return [window.__x, document.querySelectorAll('main img, aside img, main b, aside b,"
            " main script, aside script').length]"
        )
        assert errors(driver) == []  # no script error, no CSP violation
        driver.execute_script(
            "[...document.querySelectorAll('#table tbody tr')]"
            ".find(tr => tr.cells[0].textContent === 'second.wav').click()"
        )
        absent = wait_for(
            driver,
            lambda: driver.execute_script(
                "return document.querySelector('#detail .audio-absent')?.textContent"
            ),
            "the notice",
        )
    assert title == HOSTILE_NAME
    assert first.startswith("<script>window.__x=3</script>" + HOSTILE_TEXT)  # flag, then text
    assert review == ["<script>window.__x=3</script>: <b>y</b>"]
    assert injected == [None, 0]
    assert "could not be loaded" in absent and "second.wav" in absent


def test_screenshot_of_the_bundled_example(tmp_path, demo_cache):
    """The report of example/ (the README's demo), as it opens and then on its transcript: saved
    under .work/screenshots/ for a look (docs/report*.png are two of these)."""
    from conftest import cli_env

    root = tmp_path / "example"
    shutil.copytree(REPO / "example" / "raw_audio", root / "raw_audio")
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--word-timestamps"],
                  cli_env(demo_cache))  # fmt: skip
    assert res.returncode == 0, res.stderr
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        open_report(driver, root / ".swbatch" / "report.html")
        assert tiles(driver)["done"] == "1"
        assert driver.save_screenshot(str(SCREENSHOTS / "report-example.png"))
        driver.execute_script("document.querySelector('#table tbody tr').click()")
        ready = "return document.querySelector('#detail audio').readyState >= 1"
        wait_for(driver, lambda: driver.execute_script(ready), "the audio")
        assert driver.save_screenshot(str(SCREENSHOTS / "report-example-transcript.png"))


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        """No access log on stderr."""


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` served over http://127.0.0.1 for the block: its URL."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_ten_thousand_files_open_and_filter(tmp_path):
    """10,000 synthetic records (4 shards) with 1 MB of transcripts embedded: the page opens and
    filters within the hang guard (times: benchmarks/report.py); a transcript left out is read
    from its JSON over http://, and from a file:// page the user is offered a file picker."""
    out = tmp_path / "out"
    counts = synthetic_batch(out, 10_000)
    res = run_cli(["report", str(out), "--embed-mb", "1"], dict(os.environ))
    assert res.returncode == 0, res.stderr
    page = out / ".swbatch" / "report.html"
    with chromium() as driver:
        open_report(driver, page)
        shown = tiles(driver)
        assert (shown["jobs"], shown["done"], shown["failed"], shown["interrupted"]) == (
            "10000",
            str(counts["done"]),
            str(counts["failed"]),
            str(counts["interrupted"]),
        )
        assert len(table_ids(driver)) == 100  # one page
        select_state(driver, "failed")
        failed = table_ids(driver)
        count = driver.find_element("id", "filter-count").text
        assert count == f"{counts['failed']} of 10000 files"
        assert len(failed) == 100 and all(int(i[-9:-4]) % 25 == 7 for i in failed)
        flagged = driver.execute_script(
            "document.getElementById('filter-state').value = '';"
            "const box = document.getElementById('filter-flagged'); box.checked = true;"
            "box.dispatchEvent(new Event('change'));"
            "const n = document.getElementById('filter-count').textContent;"
            "box.checked = false; box.dispatchEvent(new Event('change')); return n;"
        )
        assert flagged == f"{counts['flagged']} of 10000 files"
        data = driver.execute_script(
            "return JSON.parse(document.getElementById('swbatch-data').textContent)"
        )
        left_out = next(i for i, r in enumerate(data["rows"])
                        if r["state"] == "done" and str(i) not in data["transcripts"])  # fmt: skip
        assert 0 < len(data["transcripts"]) < counts["done"]
        open_row(driver, left_out)
        wait_for(driver, lambda: driver.find_elements("css selector", ".transcript-not-embedded"))
        assert driver.find_elements("css selector", ".transcript-not-embedded input[type=file]")
        refused = errors(driver)  # Chromium's refusal of fetch() from a file:// page, and no other
        assert refused and all("Access to fetch" in e or "ERR_FAILED" in e for e in refused)
        with served(out) as url:
            open_report(driver, f"{url}/.swbatch/report.html")
            open_row(driver, left_out)
            segments = wait_for(
                driver, lambda: driver.find_elements("css selector", "#detail .seg")
            )
        assert len(segments) == 4
        assert errors(driver) == []


def select_state(driver, state: str) -> None:
    driver.execute_script(
        "const s = document.getElementById('filter-state'); s.value = arguments[0];"
        "s.dispatchEvent(new Event('change'));",
        state,
    )


def open_row(driver, index: int) -> None:
    """Open the detail of row ``index`` of the data, whichever page the table is on."""
    driver.execute_script(
        "document.getElementById('filter-state').value = '';"
        "document.getElementById('filter-text').value = arguments[0];"
        "document.getElementById('filter-state').dispatchEvent(new Event('change'));"
        "document.querySelector(`#table tbody tr[data-row='${arguments[1]}']`).click();",
        driver.execute_script(
            "return JSON.parse(document.getElementById('swbatch-data').textContent)"
            ".rows[arguments[0]].id", index),
        index,
    )  # fmt: skip


@pytest.mark.torch
@pytest.mark.sox
def test_a_diarized_run_shows_who_spoke_when(tmp_path, demo_cache, pipeline_folder):
    """A real diarized run (pyannote with the real segmentation-3.0 weights, tests/torch_models.py)
    of two espeak-ng voices: the page draws each turn on its speaker's lane and labels each
    segment with its speaker; a click on a turn seeks the audio to its start."""
    import torch_models
    from conftest import cli_env
    from test_enrich_cli import dialogue_root

    from swbatch.diarization import DEFAULT_MODEL

    cache = tmp_path / "cache"
    shutil.copytree(demo_cache / "whisper", cache / "whisper", symlinks=True)
    torch_models.place_in_hub_layout(cache / "diarization", DEFAULT_MODEL, pipeline_folder)
    root = dialogue_root(tmp_path)
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--diarize",
                   "--num-speakers", "2", "--formats", "json"], cli_env(cache))  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads((root / "whisper_json" / "dialogue.wav.json").read_text())
    assert len(doc["turns"]) >= 2
    with chromium() as driver:
        open_report(driver, root / ".swbatch" / "report.html")
        assert driver.find_element("css selector", "#table tbody td:nth-child(6)").text == str(
            len(doc["speakers"])
        )
        driver.execute_script("document.querySelector('#table tbody tr').click()")
        ready = "return document.querySelector('#detail audio').readyState >= 1"
        wait_for(driver, lambda: driver.execute_script(ready), "the audio")
        lanes = driver.execute_script(
            "return [...document.querySelectorAll('#detail svg.timeline > text')]"
            ".map(t => t.textContent)"
        )
        turns = driver.find_elements("css selector", "#detail svg.timeline rect.turn")
        who = driver.execute_script(
            "return [...document.querySelectorAll('#detail .seg .who')].map(w => w.textContent)"
        )
        turns[-1].click()
        at = driver.execute_script("return document.querySelector('#detail audio').currentTime")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / "report-diarized.png"))
        assert errors(driver) == []
    assert lanes == [s["id"] for s in doc["speakers"]]
    assert len(turns) == len(doc["turns"])
    assert who == [s["speaker"] for s in doc["segments"]]
    assert doc["turns"][-1]["start"] <= at < doc["turns"][-1]["start"] + 0.5


@pytest.mark.skipif(not have_espeak(), reason="espeak-ng makes the speech")
def test_an_interrupted_run_writes_its_page_too(tmp_path, long_file, demo_env):  # noqa: F811
    """Ctrl-C: the run records the file in flight as interrupted, writes its summary and its
    page, and exits 130; the page counts it interrupted and offers the command that finishes."""
    root, proc = start_interrupt(tmp_path, long_file, demo_env, 2.0)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)  # a hang guard
    assert proc.returncode == 130, err
    summary = json.loads((root / ".swbatch" / "summary.json").read_text())
    stopped = {r["id"] for r in map(json.loads, (root / ".swbatch" / "status.jsonl").read_text()
               .splitlines()) if r["state"] == "interrupted"}  # fmt: skip
    assert "a-long.wav" in stopped
    with chromium() as driver:
        open_report(driver, root / ".swbatch" / "report.html")
        shown = tiles(driver)
        listed = driver.execute_script(
            "return [...document.querySelectorAll('#failures .group')].map(g => g.textContent)"
        )
    assert shown["interrupted"] == str(len(stopped)) and shown["done"] == str(summary["done"])
    assert any(
        text.startswith("interrupted or not run") and "a-long.wav" in text for text in listed
    )
    assert any(summary["command"] in text for text in listed)


def test_the_page_of_a_sharded_batch_merges_its_shards(tmp_path, speech_files, demo_env):
    """Two shards of one batch, run one after the other: the page the second writes counts the
    whole batch as `swbatch summary` does, with a bar and a throughput line per shard."""
    raw = tmp_path / "root" / "raw_audio"
    raw.mkdir(parents=True)
    for i, wav in enumerate(list(speech_files.values())[:4]):
        shutil.copy(wav, raw / f"clip-{i}.wav")
    for shard in ("0/2", "1/2"):
        res = run_cli(["transcribe", "--root", str(raw.parent), "--model", "demo", "--shard", shard,
                       "--formats", "json"], demo_env)  # fmt: skip
        assert res.returncode == 0, res.stderr
    merged = json.loads(run_cli(["summary", str(raw.parent), "--json"], demo_env).stdout)
    with chromium() as driver:
        open_report(driver, raw.parent / ".swbatch" / "report.html")
        shown = tiles(driver)
        bars = driver.execute_script(
            "return [...document.querySelectorAll('#chart-shards svg > text')]"
            ".map(t => t.textContent)"
        )
        lines = len(driver.find_elements("css selector", "#chart-time polyline"))
    assert shown["done"] == str(merged["done"]) == "4" and shown["jobs"] == "4"
    assert bars[0::2] == ["0/2", "1/2"] and lines == 2
