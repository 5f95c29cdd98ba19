// A camera page's export: drag across the timeline to select a range, then download it
// as one MP4 (GET .../export?from=&to=). A plain click still plays, as camera.js does.
"use strict";
(() => {
  const S = window.Spectare;
  const root = document.getElementById("camera");
  if (!root) return;
  const base = `/api/v1/cameras/${encodeURIComponent(root.dataset.camera)}`;
  const bar = document.getElementById("timeline");
  const box = document.getElementById("selection");
  const panel = document.getElementById("export");
  const label = document.getElementById("export-range");
  const link = document.getElementById("export-link");
  const DRAG_PX = 6;             // less than this is a click

  let view = null;               // {from, span} of the timeline as drawn
  let selected = null;           // {from, to}, epoch seconds
  let press = null;              // clientX where the pointer went down
  let dragged = false;

  const timeAt = (x) => {
    const rect = bar.getBoundingClientRect();
    return view.from + ((x - rect.left) / rect.width) * view.span;
  };

  function show() {
    box.hidden = panel.hidden = !selected;
    if (!selected || !view) return;
    const left = Math.max(0, (selected.from - view.from) / view.span);
    const right = Math.min(1, (selected.to - view.from) / view.span);
    box.style.left = `${left * 100}%`;
    box.style.width = `${Math.max(0, right - left) * 100}%`;
    const from = Math.floor(selected.from);
    const to = Math.ceil(selected.to);
    label.textContent = `${S.fmtDateTime(from)} – ${S.fmtTime(to)} (${to - from} s)`;
    link.href = `${base}/export?from=${from}&to=${to}`;
  }

  root.addEventListener("view", (e) => { view = e.detail; show(); });
  bar.addEventListener("pointerdown", (e) => { press = e.clientX; dragged = false; });
  window.addEventListener("pointermove", (e) => {
    if (press === null || !view || Math.abs(e.clientX - press) < DRAG_PX) return;
    dragged = true;
    const [a, b] = [timeAt(press), timeAt(e.clientX)].sort((x, y) => x - y);
    selected = { from: a, to: b };
    show();
  });
  window.addEventListener("pointerup", () => { press = null; });
  // The click that ends a drag must not also play (camera.js listens for clicks).
  bar.addEventListener("click", (e) => {
    if (dragged) { e.stopImmediatePropagation(); dragged = false; }
  }, true);
  document.getElementById("export-clear").addEventListener("click", () => { selected = null; show(); });
})();
