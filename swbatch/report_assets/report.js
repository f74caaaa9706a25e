// The swbatch report page: reads its data from the JSON block and builds the page.
// Every text from the batch (file names, transcripts, reasons) goes in through textContent or an
// attribute set on an element, never as HTML; no event handler is written into markup.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("swbatch-data").textContent);
  const ROWS = D.rows;
  const SVGNS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2457c5", "#d9480f", "#2b8a3e", "#9c36b5", "#0b7285", "#c2255c", "#5c940d", "#e67700"];
  const PAGE = 100;

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid != null) e.append(kid);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }
  function clock(sec) {
    if (sec == null || !isFinite(sec)) return "–";
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const ss = s.toFixed(1).padStart(4, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  }
  function span(sec) {
    if (sec == null || !isFinite(sec)) return "–";
    if (sec < 60) return `${sec.toFixed(1)} s`;
    if (sec < 3600) return `${(sec / 60).toFixed(1)} min`;
    return `${(sec / 3600).toFixed(2)} h`;
  }
  const num = (v, d) => (v == null ? "–" : Number(v).toFixed(d));

  // --- header and totals -------------------------------------------------------------------
  function header() {
    const meta = document.getElementById("meta");
    meta.append(el("span", { class: "verdict" + (D.complete ? "" : " incomplete"),
                             text: D.complete ? "complete" : "incomplete" }),
      `${D.output_dir} · written ${D.generated} · swbatch ${D.swbatch_version}`);
    const t = D.totals;
    const tiles = [
      ["jobs", "files", t.jobs], ["done", "done", t.done], ["failed", "failed", t.failed],
      ["interrupted", "interrupted", t.interrupted], ["missing", "not run", t.missing],
      ["skipped", "skipped (last run)", t.skipped], ["audio_hours", "audio hours", t.audio_hours < 0.1 ? String(t.audio_hours) : num(t.audio_hours, 2)],
      ["wall", "wall time", span(t.wall_seconds)],
      ["speed", "× real time", t.speed_x_realtime == null ? "–" : `${num(t.speed_x_realtime, 1)}×`],
    ];
    const box = document.getElementById("totals");
    for (const [key, label, value] of tiles) {
      box.append(el("div", { class: `tile ${key}`, "data-key": key },
        el("span", { class: "v", text: String(value) }), el("span", { class: "k", text: label })));
    }
  }

  function fileLink(i) {
    return el("button", { type: "button", class: "link", text: ROWS[i].id, onclick: () => openDetail(i) });
  }
  function fileList(indices, shown) {
    const ul = el("ul", { class: "filelist" });
    const put = (from, to) => { for (const i of indices.slice(from, to)) ul.append(el("li", {}, fileLink(i))); };
    put(0, shown);
    if (indices.length > shown) {
      const more = el("button", { type: "button", class: "link", text: `… and ${indices.length - shown} more`,
        onclick: () => { more.parentNode.remove(); put(shown, indices.length); } });
      ul.append(el("li", {}, more));
    }
    return ul;
  }

  function failures() {
    if (!D.failures.length && !D.totals.missing && !D.totals.interrupted) return;
    const sec = document.getElementById("failures");
    sec.hidden = false;
    const body = sec.querySelector(".body");
    for (const g of D.failures) {
      body.append(el("div", { class: "group" },
        el("div", { class: "reason" }, g.reason, el("span", { class: "count", text: `${g.rows.length} file(s)` })),
        fileList(g.rows, 12)));
    }
    const rest = ROWS.map((r, i) => i).filter((i) => ROWS[i].state === "interrupted" || ROWS[i].state === "missing");
    if (rest.length) {
      body.append(el("div", { class: "group" },
        el("div", { class: "reason" }, "interrupted or not run", el("span", { class: "count", text: `${rest.length} file(s)` })),
        fileList(rest, 12)));
    }
    const how = el("div", { class: "group" }, el("div", { class: "reason", text: "To rerun them" }),
      el("p", { text: "Run the batch's command again: finished files are skipped, the others are done again." }));
    for (const r of D.rerun) {
      const label = r.shard === "all" ? "" : `shard ${r.shard}: `;
      const cmd = r.command || "the command the batch ran with (swbatch transcribe --root DIR or swbatch run JOBS.yaml, same flags)";
      how.append(el("pre", { class: "cmd", text: label + (r.cwd ? `cd ${r.cwd} && ` : "") + cmd }));
    }
    body.append(how);
  }

  function review() {
    const flagged = ROWS.map((r, i) => i).filter((i) => ROWS[i].flags.length);
    if (!flagged.length) return;
    const sec = document.getElementById("review");
    sec.hidden = false;
    sec.querySelector("h2").append(el("span", { class: "count", text: `${flagged.length} file(s)` }));
    const body = sec.querySelector(".body");
    for (const i of flagged.slice(0, 200)) {
      body.append(el("div", { class: "group" }, fileLink(i), " ",
        ...ROWS[i].flag_details.map((f) => el("span", { class: "flag", text: f }))));
    }
    if (flagged.length > 200) body.append(el("p", { text: `… and ${flagged.length - 200} more: filter the table by "flagged only".` }));
  }

  // --- charts ------------------------------------------------------------------------------
  function axes(g, w, h, pad, xmax, ymax, xfmt, yfmt) {
    g.append(svg("line", { class: "axis", x1: pad.l, y1: h - pad.b, x2: w - pad.r, y2: h - pad.b }));
    g.append(svg("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: h - pad.b }));
    for (let k = 0; k <= 4; k++) {
      const x = pad.l + (k / 4) * (w - pad.l - pad.r), y = h - pad.b - (k / 4) * (h - pad.t - pad.b);
      g.append(svg("text", { x, y: h - pad.b + 14, "text-anchor": "middle" }, xfmt((k / 4) * xmax)));
      g.append(svg("text", { x: pad.l - 4, y: y + 4, "text-anchor": "end" }, yfmt((k / 4) * ymax)));
    }
  }
  function chartTime() {
    const box = document.getElementById("chart-time");
    if (!D.events.length) { box.append(el("p", { class: "facts", text: "No file finished in the last run." })); return; }
    const w = 640, h = 220, pad = { l: 56, r: 26, t: 10, b: 24 };
    const shards = [...new Set(D.events.map((e) => e[1]))];
    const xmax = Math.max(1, ...D.events.map((e) => e[0]));
    const lines = shards.map((s) => {
      let acc = 0;
      return [[0, 0], ...D.events.filter((e) => e[1] === s).map((e) => [e[0], (acc += e[2] / 3600)])];
    });
    const ymax = Math.max(1e-6, ...lines.map((l) => l[l.length - 1][1]));
    const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img" });
    axes(root, w, h, pad, xmax, ymax, span, (v) => span(v * 3600));
    const X = (x) => pad.l + (x / xmax) * (w - pad.l - pad.r), Y = (y) => h - pad.b - (y / ymax) * (h - pad.t - pad.b);
    lines.forEach((l, k) => root.append(svg("polyline", { fill: "none", stroke: PALETTE[k % PALETTE.length],
      "stroke-width": 2, points: l.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ") })));
    box.append(root);
    if (shards.length > 1) box.append(legend(shards.map((s) => `shard ${s}`)));
  }
  function legend(names) {
    return el("div", { class: "legend" }, ...names.map((n, k) => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = PALETTE[k % PALETTE.length];
      return el("span", {}, sw, n);
    }));
  }
  function chartShards() {
    const box = document.getElementById("chart-shards");
    const rows = D.shards;
    const w = 320, bar = 18, h = Math.max(40, rows.length * (bar + 10) + 10), left = 70;
    const most = Math.max(1, ...rows.map((r) => r.done + r.failed + r.missing));
    const root = svg("svg", { viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img" });
    rows.forEach((r, k) => {
      const y = 6 + k * (bar + 10);
      root.append(svg("text", { x: left - 6, y: y + 13, "text-anchor": "end" }, r.shard));
      let x = left;
      for (const [n, color] of [[r.done, "#1f7a4d"], [r.failed, "#b3261e"], [r.missing, "#a15c00"]]) {
        const width = (n / most) * (w - left - 80);
        if (width > 0) root.append(svg("rect", { x, y, width, height: bar, fill: color }));
        x += width;
      }
      const speed = r.speed_x_realtime == null ? "" : ` · ${num(r.speed_x_realtime, 1)}×`;
      root.append(svg("text", { x: x + 4, y: y + 13 }, `${r.done}/${r.done + r.failed + r.missing}${speed}`));
    });
    box.append(root, el("div", { class: "legend" }, ...[["done", "#1f7a4d"], ["failed", "#b3261e"], ["not run", "#a15c00"]]
      .map(([n, c]) => { const sw = el("span", { class: "swatch" }); sw.style.background = c; return el("span", {}, sw, n); })));
  }

  // --- the table ---------------------------------------------------------------------------
  const COLUMNS = [
    { key: "id", label: "file", width: "30%" },
    { key: "state", label: "state", width: "9%" },
    { key: "duration", label: "duration", num: true, fmt: (r) => clock(r.duration), width: "9%" },
    { key: "language", label: "lang", width: "6%" },
    { key: "speed", label: "speed", num: true, fmt: (r) => (r.speed == null ? "–" : `${num(r.speed, 1)}×`), width: "8%" },
    { key: "speakers", label: "speakers", num: true, width: "8%" },
    { key: "flags", label: "flags / reason", sortBy: (r) => r.flags.length || (r.reason ? 0.5 : 0), width: "22%" },
    { key: "shard", label: "shard", width: "8%" },
  ];
  const view = { sort: null, desc: false, page: 0, list: ROWS.map((r, i) => i) };
  const lower = ROWS.map((r) => [r.id, r.audio, r.reason || "", ...r.flag_details].join("\n").toLowerCase());

  function tableSetup() {
    const head = document.querySelector("#table thead tr");
    COLUMNS.forEach((c) => {
      const th = el("th", { text: c.label, class: c.num ? "num" : "", onclick: () => sortBy(c, th) });
      th.style.width = c.width;
      head.append(th);
    });
    const states = document.getElementById("filter-state");
    states.append(el("option", { value: "", text: `all states (${ROWS.length})` }));
    for (const s of ["done", "failed", "interrupted", "missing"]) {
      const n = ROWS.filter((r) => r.state === s).length;
      if (n) states.append(el("option", { value: s, text: `${s === "missing" ? "not run" : s} (${n})` }));
    }
    const langs = document.getElementById("filter-language");
    langs.append(el("option", { value: "", text: "all languages" }));
    for (const l of [...new Set(ROWS.map((r) => r.language).filter(Boolean))].sort()) {
      langs.append(el("option", { value: l, text: l }));
    }
    let timer = null;
    document.getElementById("filter-text").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(applyFilter, 120);
    });
    for (const id of ["filter-state", "filter-language", "filter-flagged"]) {
      document.getElementById(id).addEventListener("change", applyFilter);
    }
    document.getElementById("page-prev").addEventListener("click", () => { view.page--; drawTable(); });
    document.getElementById("page-next").addEventListener("click", () => { view.page++; drawTable(); });
    document.querySelector("#table tbody").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr");
      if (tr && tr.dataset.row) openDetail(Number(tr.dataset.row));
    });
  }
  function applyFilter() {
    const text = document.getElementById("filter-text").value.trim().toLowerCase();
    const state = document.getElementById("filter-state").value;
    const lang = document.getElementById("filter-language").value;
    const flagged = document.getElementById("filter-flagged").checked;
    const list = [];
    for (let i = 0; i < ROWS.length; i++) {
      const r = ROWS[i];
      if (state && r.state !== state) continue;
      if (lang && r.language !== lang) continue;
      if (flagged && !r.flags.length) continue;
      if (text && !lower[i].includes(text)) continue;
      list.push(i);
    }
    view.list = list;
    view.page = 0;
    sortList();
    drawTable();
  }
  function sortBy(col, th) {
    view.desc = view.sort === col ? !view.desc : false;
    view.sort = col;
    document.querySelectorAll("#table th").forEach((h) => h.classList.remove("sorted", "desc"));
    th.classList.add("sorted");
    if (view.desc) th.classList.add("desc");
    sortList();
    drawTable();
  }
  function sortList() {
    const col = view.sort;
    if (!col) return;
    const key = col.sortBy || ((r) => r[col.key]);
    const sign = view.desc ? -1 : 1;
    view.list.sort((a, b) => {
      const x = key(ROWS[a]), y = key(ROWS[b]);
      if (x == null || x === "") return y == null || y === "" ? a - b : 1;
      if (y == null || y === "") return -1;
      return (x < y ? -1 : x > y ? 1 : a - b) * sign;
    });
  }
  function drawTable() {
    const pages = Math.max(1, Math.ceil(view.list.length / PAGE));
    view.page = Math.min(Math.max(0, view.page), pages - 1);
    const body = document.querySelector("#table tbody");
    const frag = document.createDocumentFragment();
    for (const i of view.list.slice(view.page * PAGE, (view.page + 1) * PAGE)) {
      const r = ROWS[i];
      const tr = el("tr", { "data-row": String(i) });
      for (const c of COLUMNS) {
        const td = el("td", { class: c.num ? "num" : "" });
        if (c.key === "state") td.append(el("span", { class: `state ${r.state}`, text: r.state === "missing" ? "not run" : r.state }));
        else if (c.key === "flags") {
          r.flags.forEach((f) => td.append(el("span", { class: "flag", text: f })));
          if (r.reason) td.append(r.reason);
          td.title = [...r.flag_details, r.reason || ""].join("\n").trim();
        } else td.textContent = c.fmt ? c.fmt(r) : (r[c.key] == null ? "–" : String(r[c.key]));
        if (c.key === "id") td.title = r.audio;
        tr.append(td);
      }
      frag.append(tr);
    }
    body.replaceChildren(frag);
    document.getElementById("filter-count").textContent = `${view.list.length} of ${ROWS.length} files`;
    document.getElementById("page-info").textContent = `page ${view.page + 1} of ${pages}`;
    document.getElementById("page-prev").disabled = view.page === 0;
    document.getElementById("page-next").disabled = view.page >= pages - 1;
  }

  // --- one file: facts, audio, speaker timeline, transcript ---------------------------------
  const detail = document.getElementById("detail");
  document.getElementById("detail-close").addEventListener("click", () => { detail.hidden = true; detail.querySelector("audio")?.pause(); });
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") document.getElementById("detail-close").click(); });

  function openDetail(i) {
    const r = ROWS[i];
    const body = detail.querySelector(".body");
    body.replaceChildren();
    detail.dataset.row = String(i);
    body.append(el("h2", { text: r.id }),
      el("p", { class: "facts", text: [r.state === "missing" ? "not run" : r.state, clock(r.duration),
        r.language, r.speed == null ? null : `${num(r.speed, 1)}× real time`,
        r.speakers == null ? null : `${r.speakers} speaker(s)`, r.shard ? `shard ${r.shard}` : null]
        .filter(Boolean).join(" · ") }),
      el("p", { class: "facts", text: r.audio }));
    if (r.reason) body.append(el("div", { class: "notice", text: `${r.state}: ${r.reason}` }));
    r.flag_details.forEach((f) => body.append(el("div", {}, el("span", { class: "flag", text: f }))));
    const audio = audioPlayer(r, body);
    const slot = el("div", { class: "transcript" });
    body.append(slot);
    detail.hidden = false;
    detail.scrollTop = 0;
    const doc = D.transcripts[String(i)];
    if (doc) transcript(doc, audio, slot);
    else if (r.state === "done") loadTranscript(r, audio, slot);
  }
  function audioPlayer(r, body) {
    if (!r.audio_src) {
      body.append(el("div", { class: "notice audio-absent", text: `Audio absent: ${r.audio || "no path recorded"} was not there when this report was written.` }));
      return null;
    }
    const audio = el("audio", { controls: "", preload: "metadata" });
    audio.addEventListener("error", () => {
      audio.replaceWith(el("div", { class: "notice audio-absent", text: `Audio could not be loaded from ${r.audio} (moved, or the report was copied without it).` }));
    });
    audio.src = r.audio_src;
    body.append(audio);
    return audio;
  }
  function loadTranscript(r, audio, slot) {
    slot.append(el("p", { class: "facts", text: "Loading the transcript…" }));
    const fail = () => {
      const pick = el("input", { type: "file", accept: ".json,application/json" });
      pick.addEventListener("change", () => {
        const f = pick.files[0];
        if (f) f.text().then((t) => { slot.replaceChildren(); transcript(JSON.parse(t), audio, slot); });
      });
      slot.replaceChildren(el("div", { class: "notice transcript-not-embedded" },
        `This transcript is not embedded (the report embeds up to ${(D.embed_limit / 1048576).toFixed(0)} MB of transcripts) and a page opened from a file may not read ${decodeURI(r.json_src || "its JSON")}. Open that file here: `,
        pick, el("br"), "or serve the output folder (python3 -m http.server) and open the report through it."));
    };
    if (!r.json_src) { fail(); return; }
    fetch(r.json_src).then((res) => (res.ok ? res.json() : Promise.reject(res.status)))
      .then((doc) => { slot.replaceChildren(); transcript(doc, audio, slot); }, fail);
  }
  function seek(audio, t) {
    if (!audio || !isFinite(t)) return;
    audio.currentTime = t;
    const p = audio.play();
    if (p && p.catch) p.catch(() => {});
  }
  function transcript(doc, audio, slot) {
    const names = (doc.speakers || []).map((s) => String(s.id));
    const segs = doc.segments || [];
    for (const s of segs) if (s.speaker != null && !names.includes(String(s.speaker))) names.push(String(s.speaker));
    const color = (name) => PALETTE[Math.max(0, names.indexOf(String(name))) % PALETTE.length];
    const turns = doc.turns || [];
    const why = new Map();  // segment id -> the reasons it is flagged for review
    for (const f of doc.review || []) {
      for (const id of (f && f.segments) || []) why.set(id, [...(why.get(id) || []), String(f.reason)]);
    }
    let head = null;
    if (turns.length) {
      const w = 680, lane = 24, left = 96, dur = Math.max(doc.duration || 0, ...turns.map((t) => t.end)) || 1;
      const root = svg("svg", { class: "timeline", viewBox: `0 0 ${w} ${names.length * lane + 4}`, width: "100%", role: "img" });
      names.forEach((n, k) => root.append(svg("text", { x: left - 6, y: k * lane + 16, "text-anchor": "end" }, n)));
      for (const t of turns) {
        const rect = svg("rect", { class: "turn", x: left + (t.start / dur) * (w - left), y: names.indexOf(String(t.speaker)) * lane + 3,
          width: Math.max(1, ((t.end - t.start) / dur) * (w - left)), height: lane - 6, rx: 3, fill: color(t.speaker) });
        rect.append(svg("title", {}, `${t.speaker} ${clock(t.start)}–${clock(t.end)}`));
        rect.addEventListener("click", () => seek(audio, t.start));
        root.append(rect);
      }
      head = svg("line", { x1: left, x2: left, y1: 0, y2: names.length * lane + 4, stroke: "#1d2430", "stroke-width": 2 });
      root.append(head);
      slot.append(el("h3", { text: "Who spoke when" }), root);
      head.dataset.left = left; head.dataset.scale = (w - left) / dur;
    }
    slot.append(el("h3", { text: `Transcript (${segs.length} segments)` }));
    if (!segs.length) slot.append(el("p", { class: "facts", text: "No speech was transcribed." }));
    const nodes = segs.map((s, k) => {
      const text = el("span", { class: "text" });
      if (s.words && s.words.length) {
        for (const w of s.words) {
          const low = w.probability != null && w.probability < D.low_probability;
          text.append(low ? el("span", { class: "low", title: `probability ${num(w.probability, 2)}`, text: w.word }) : w.word);
        }
      } else text.textContent = s.text;
      const who = el("span", { class: "who", text: s.speaker == null ? "" : String(s.speaker) });
      if (s.speaker != null) who.style.color = color(s.speaker);
      const reasons = why.get(s.id);
      if (reasons) text.prepend(...reasons.map((f) => el("span", { class: "flag", text: f })));
      const row = el("div", { class: "seg" + (reasons ? " flagged" : ""), tabindex: "0", "data-seg": String(k),
        "data-start": String(s.start) }, el("span", { class: "t", text: clock(s.start) }), who, text);
      row.addEventListener("click", () => seek(audio, s.start));
      row.addEventListener("keydown", (ev) => { if (ev.key === "Enter") seek(audio, s.start); });
      slot.append(row);
      return row;
    });
    if (!audio) return;
    let current = -1;
    audio.addEventListener("timeupdate", () => {
      const t = audio.currentTime;
      let k = -1;
      for (let lo = 0, hi = segs.length - 1; lo <= hi;) {
        const mid = (lo + hi) >> 1;
        if (segs[mid].start <= t) { k = mid; lo = mid + 1; } else hi = mid - 1;
      }
      if (k !== current) {
        if (current >= 0) nodes[current].classList.remove("current");
        if (k >= 0) nodes[k].classList.add("current");
        current = k;
      }
      if (head) { const x = Number(head.dataset.left) + t * Number(head.dataset.scale); head.setAttribute("x1", x); head.setAttribute("x2", x); }
    });
  }

  header();
  failures();
  review();
  chartTime();
  chartShards();
  tableSetup();
  applyFilter();
  window.swbatchReady = true;
})();
