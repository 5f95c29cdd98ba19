// A camera's page: the camera live, and below it a timeline of segments (gaps visible,
// motion events marked). A click on the timeline plays that moment; playback runs on into
// the next segment; "Live" goes back to the camera.
"use strict";
(() => {
  const S = window.Spectare;
  const root = document.getElementById("camera");
  if (!root) return;
  const camera = root.dataset.camera;
  const base = `/api/v1/cameras/${encodeURIComponent(camera)}`;
  const video = document.getElementById("player");
  const bar = document.getElementById("timeline");
  const segLayer = document.getElementById("segments");
  const evLayer = document.getElementById("events");
  const playhead = document.getElementById("playhead");
  const ticks = document.getElementById("ticks");
  const range = document.getElementById("range");
  const nowPlaying = document.getElementById("now-playing");
  const liveButton = document.getElementById("go-live");

  const MAX_PAGES = 100;         // 100 000 segments: more than a day of 1 s segments
  const MAX_DRAWN = 3000;        // beyond this, touching segments are drawn as one block
  const TICK_STEPS = [60, 120, 300, 600, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600];

  let span = 86400;              // seconds shown
  let end = null;                // right edge; null follows "now"
  let segments = [];             // in view, by start
  let current = null;            // segment playing
  let pendingOffset = 0;         // seek once the new source knows its duration
  let stopLive = null;           // set while the player shows the camera live

  const viewEnd = () => end ?? Date.now() / 1000;

  async function fetchSegments(from, to) {
    let url = `${base}/footage?from=${from}&to=${to}&limit=1000`;
    const out = [];
    for (let i = 0; url && i < MAX_PAGES; i++) {
      const page = await S.getJSON(url);
      out.push(...page.items);
      url = page.links.next;
    }
    return out;
  }

  let loads = 0;                 // a slow answer to an older view must not replace a newer one

  async function load() {
    const ticket = ++loads;
    const to = viewEnd();
    const from = to - span;
    try {
      const [items, events] = await Promise.all([
        fetchSegments(from, to),
        S.getJSON(`/api/v1/events?camera=${encodeURIComponent(camera)}&from=${from}&to=${to}&limit=5000`),
      ]);
      if (ticket !== loads) return;
      segments = items;
      draw(from, to, events.items);
    } catch (e) {
      if (ticket === loads) nowPlaying.textContent = `Could not load the timeline: ${e.message}`;
    }
  }

  const pct = (t, from) => `${((t - from) / span) * 100}%`;

  /** Consecutive segments as blocks; touching ones merged only when there are very many. */
  function blocks(from, to) {
    const visible = segments.filter((s) => s.end > from && s.start < to);
    if (visible.length <= MAX_DRAWN) return visible.map((s) => ({ start: s.start, end: s.end, seg: s }));
    const slack = span / 2000;
    const merged = [];
    for (const s of visible) {
      const last = merged[merged.length - 1];
      if (last && s.start - last.end <= slack) last.end = Math.max(last.end, s.end);
      else merged.push({ start: s.start, end: s.end, seg: null });
    }
    return merged;
  }

  const drawn = new Map();       // block key -> element, kept across redraws

  function draw(from, to, events) {
    // Elements are kept and moved rather than rebuilt every refresh, so what is under
    // the pointer (or being clicked) stays the same element while "now" moves on.
    const order = [];
    for (const block of blocks(from, to)) {
      const key = block.seg ? block.seg.id : `run:${block.start}`;
      let el = drawn.get(key);
      if (!el) {
        el = document.createElement("div");
        el.className = "seg";
        if (block.seg) el.dataset.id = block.seg.id;
        drawn.set(key, el);
      }
      const start = Math.max(block.start, from);
      el.style.left = pct(start, from);
      el.style.width = pct(from + Math.min(block.end, to) - start, from);
      el.title = `${S.fmtTime(block.start)} – ${S.fmtTime(block.end)}`;
      el.classList.toggle("playing", Boolean(block.seg && current && current.id === block.seg.id));
      order.push(el);
    }
    const keep = new Set(order);
    for (const [key, el] of drawn) {
      if (!keep.has(el)) { el.remove(); drawn.delete(key); }
    }
    segLayer.append(...order); // in time order; moving an element keeps it
    evLayer.replaceChildren();
    for (const ev of events) {
      const el = document.createElement("div");
      el.className = "ev";
      el.style.left = pct(Math.max(ev.start, from), from);
      el.title = `motion ${S.fmtTime(ev.start)} (score ${ev.score.toFixed(2)})`;
      evLayer.append(el);
    }
    drawTicks(from, to);
    root.dispatchEvent(new CustomEvent("view", { detail: { from, span } }));
    range.textContent = `${S.fmtDateTime(from)} – ${S.fmtDateTime(to)} · ${segments.length} segments`;
    movePlayhead();
  }

  function drawTicks(from, to) {
    ticks.replaceChildren();
    const step = TICK_STEPS.find((s) => span / s <= 12) ?? 86400;
    // Align ticks to the local clock (whole hours, minutes) rather than to UTC.
    const offset = -new Date(from * 1000).getTimezoneOffset() * 60;
    for (let t = Math.ceil((from + offset) / step) * step - offset; t < to; t += step) {
      if ((t - from) / span < 0.025 || (t - from) / span > 0.975) continue; // no half labels
      const el = document.createElement("span");
      el.className = "tick";
      el.style.left = pct(t, from);
      el.textContent = S.fmtTime(t).slice(0, 5);
      ticks.append(el);
    }
  }

  function movePlayhead() {
    if (!current) return;
    const t = current.start + (video.currentTime || 0);
    const from = viewEnd() - span;
    playhead.hidden = t < from || t > from + span;
    playhead.style.left = pct(t, from);
    nowPlaying.textContent = `Playing ${S.fmtDateTime(t)}`;
  }

  function markPlaying() {
    for (const el of segLayer.querySelectorAll(".seg.playing")) el.classList.remove("playing");
    const el = current && segLayer.querySelector(`.seg[data-id="${CSS.escape(current.id)}"]`);
    if (el) el.classList.add("playing");
  }

  function goLive() {
    if (stopLive) return;
    current = null;
    markPlaying();
    playhead.hidden = true;
    video.dataset.mode = "live";
    delete video.dataset.segment;
    liveButton.classList.add("on");
    let shown = null;
    stopLive = window.SpectareLive.play(video, `${base}/live`, (state) => {
      if (state === shown) return;
      shown = state;
      nowPlaying.textContent = state === "live" ? "Live"
        : state === "connecting" ? "Connecting to the camera…" : `Live view: ${state}`;
    });
  }

  function leaveLive() {
    if (!stopLive) return;
    stopLive();
    stopLive = null;
    video.dataset.mode = "playback";
    liveButton.classList.remove("on");
  }

  function play(segment, offset) {
    leaveLive();
    current = segment;
    pendingOffset = offset;
    video.dataset.segment = segment.id;
    video.src = segment.links.video;
    video.play().catch(() => { /* the controls still work */ });
    markPlaying();
    movePlayhead();
  }

  /** Play the moment ``t``: inside a segment, or from the next segment after a gap. */
  function playAt(t) {
    const segment = segments.find((s) => s.end > t);
    if (!segment) {
      nowPlaying.textContent = `No footage after ${S.fmtDateTime(t)}.`;
      return;
    }
    play(segment, Math.max(0, t - segment.start));
  }

  /** The segment after ``segment``: from the timeline, or asked of the API past its edge. */
  async function nextAfter(segment) {
    const i = segments.findIndex((s) => s.id === segment.id);
    if (i >= 0 && i + 1 < segments.length) return segments[i + 1];
    const page = await S.getJSON(`${base}/footage?from=${segment.end}&limit=5`);
    return page.items.find((s) => s.start > segment.start && s.id !== segment.id) ?? null;
  }

  bar.addEventListener("click", (e) => {
    const rect = bar.getBoundingClientRect();
    const from = viewEnd() - span;
    let t = from + ((e.clientX - rect.left) / rect.width) * span;
    // A block is at least 3 px wide, wider than a short segment: keep the click inside it.
    const id = e.target.dataset && e.target.dataset.id;
    const hit = id && segments.find((s) => s.id === id);
    if (hit) t = Math.min(Math.max(t, hit.start), hit.end - 0.5);
    playAt(t);
  });

  video.addEventListener("loadedmetadata", () => {
    if (pendingOffset > 0 && !(video.duration <= pendingOffset)) video.currentTime = pendingOffset;
    pendingOffset = 0;
  });
  video.addEventListener("timeupdate", movePlayhead);
  video.addEventListener("ended", async () => {
    if (!current) return;
    try {
      const next = await nextAfter(current);
      if (next) play(next, 0);
      else nowPlaying.textContent = "End of the footage on record.";
    } catch (e) {
      nowPlaying.textContent = `Could not find the next segment: ${e.message}`;
    }
  });
  video.addEventListener("error", () => {
    if (current) nowPlaying.textContent = `This segment cannot be played here (${current.container}).`;
  });

  for (const button of document.querySelectorAll("[data-span]")) {
    button.addEventListener("click", () => {
      span = Number(button.dataset.span);
      for (const b of document.querySelectorAll("[data-span]")) b.classList.toggle("on", b === button);
      if (current) {
        // Zoom around what is playing.
        const t = current.start + (video.currentTime || 0) + span / 2;
        end = t >= Date.now() / 1000 ? null : t;
      }
      load();
    });
  }
  for (const button of document.querySelectorAll("[data-pan]")) {
    button.addEventListener("click", () => {
      const next = viewEnd() + Number(button.dataset.pan) * span * 0.75;
      end = next >= Date.now() / 1000 ? null : next;
      load();
    });
  }
  document.querySelector("[data-live]").addEventListener("click", () => { end = null; load(); });
  liveButton.addEventListener("click", () => { end = null; load(); goLive(); });

  load();
  goLive();
  // Following "now": new segments appear by themselves.
  setInterval(() => { if (end === null) load(); }, 15000);
})();
