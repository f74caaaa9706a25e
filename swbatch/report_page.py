"""The report's HTML: one file holding its style, its script and its data, nothing fetched.

Safety: the data travels as JSON inside ``<script type="application/json">`` with ``<``, ``>``
and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026``, so no text in it (a transcript saying
``</script>``, a file named ``<img onerror=...>``) can end the block; the page's script builds
every element with ``textContent`` and attributes set as properties, never from HTML text. A
Content-Security-Policy allows only the page's own script (by its hash) and style: an injected
script or inline event handler would not run even if something slipped through.

Size: transcripts are embedded, cut down to what the page shows (segment times, text, speaker,
word probabilities), up to :data:`EMBED_LIMIT` bytes in all, the files flagged for review first.
Beyond that a transcript is read from its JSON when opened, which a browser allows over http://
but not from a file:// page (Chromium refuses fetch() there); the page then offers a file picker.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources

#: embedded transcripts in all, in bytes of compact JSON (the rest are loaded when opened)
EMBED_LIMIT = 16 * 1024 * 1024
#: a word below this probability is marked for a listener to check
LOW_PROBABILITY = 0.5


def compact_transcript(doc: dict) -> dict:
    """What the transcript view needs of a document, in the document's own shape (so the page
    reads an embedded transcript and a JSON it loads later with the same code): duration,
    speakers, turns, review flags, and segments with times, text, speaker and words'
    probabilities."""
    segments = []
    for seg in doc.get("segments") or []:
        if not isinstance(seg, dict):
            continue
        item = {k: seg.get(k) for k in ("id", "start", "end", "text", "speaker") if k in seg}
        if seg.get("words"):
            item["words"] = [{"word": w.get("word"), "probability": w.get("probability")}
                             for w in seg["words"] if isinstance(w, dict)]  # fmt: skip
        segments.append(item)
    return {k: doc[k] for k in ("duration", "speakers", "turns", "review") if k in doc} | {
        "segments": segments
    }


def script_json(data) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` block: no ``<``, ``>`` or ``&`` (so
    nothing can close the block or open a comment), lone surrogates (undecodable file names)
    kept as ``\\udcXX`` escapes, and U+2028/9 escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _embed(rows: list[dict], docs: list[dict | None], limit: int) -> dict[str, str]:
    """{row index: compact transcript as script-safe JSON} up to ``limit`` bytes, flagged files
    first (each is serialised once, here: the page splices these texts in)."""
    order = sorted(range(len(rows)), key=lambda i: not rows[i]["flags"])
    out, used = {}, 0
    for i in order:
        if docs[i] is None:
            continue
        text = script_json(compact_transcript(docs[i]))
        size = len(text.encode("utf-8"))
        if used + size > limit:
            continue
        out[str(i)] = text
        used += size
    return out


def render_page(data: dict, limit: int = EMBED_LIMIT) -> str:
    """The page of :func:`swbatch.report.collect`'s data."""
    asset = resources.files("swbatch") / "report_assets"
    template = (asset / "report.html").read_text(encoding="utf-8")
    style = (asset / "report.css").read_text(encoding="utf-8")
    script = (asset / "report.js").read_text(encoding="utf-8")
    docs = data.pop("docs")
    embedded = _embed(data["rows"], docs, limit)
    data["embed_limit"] = limit
    data["low_probability"] = LOW_PROBABILITY
    data["not_embedded"] = sum(d is not None for d in docs) - len(embedded)
    data["transcripts"] = {}  # the last key: its value is spliced in as the texts made above
    text = script_json(data)
    head = text.removesuffix('"transcripts":{}}')
    assert head != text, "transcripts must be the data's last key"
    pieces = ",".join(f'"{i}":{piece}' for i, piece in embedded.items())
    values = {
        "TITLE": html.escape(data["title"].encode("utf-8", "replace").decode()),
        "SCRIPT_HASH": _sha256(script),
        "STYLE_HASH": _sha256(style),
        "STYLE": style,
        "SCRIPT": script,
        "DATA": f'{head}"transcripts":{{{pieces}}}}}',
    }
    # one pass over the template: text put in is never searched for placeholders again
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: values[m.group(1)], template)


def _sha256(text: str) -> str:
    """The CSP source of an inline block: its sha256, base64."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
