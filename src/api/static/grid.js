// The camera grid: refreshes phases, last-segment times and snapshots by itself, or shows
// every camera live ("Live tiles", remembered by the browser).
"use strict";
(() => {
  const S = window.Spectare;
  const grid = document.getElementById("grid");
  if (!grid) return;
  const every = Number(grid.dataset.refresh || 10) * 1000;

  for (const img of grid.querySelectorAll("img.snap")) S.guardImage(img);

  function setPhase(el, phase) {
    el.textContent = phase;
    el.className = `phase phase-${phase.toLowerCase()}`;
  }

  const toggle = document.getElementById("live-tiles");
  const stops = new Map();       // card -> function that stops its live tile
  let live = false;

  /** Show every camera live (a muted video per card) or its snapshot again. */
  function setLive(on) {
    live = on;
    toggle.classList.toggle("on", on);
    toggle.setAttribute("aria-pressed", String(on));
    localStorage.setItem("spectare.liveTiles", on ? "1" : "");
    for (const card of grid.querySelectorAll(".card")) {
      const img = card.querySelector("img.snap");
      if (on && !stops.has(card)) {
        if (card.querySelector('[data-field="phase"]').textContent === "Disabled") continue;
        const video = document.createElement("video");
        Object.assign(video, { muted: true, playsInline: true, className: "live" });
        img.hidden = true;
        img.after(video);
        const url = `/api/v1/cameras/${encodeURIComponent(card.dataset.camera)}/live`;
        const stop = window.SpectareLive.play(video, url);
        stops.set(card, () => { stop(); video.remove(); img.hidden = false; });
      } else if (!on && stops.has(card)) {
        stops.get(card)();
        stops.delete(card);
      }
    }
  }
  toggle.addEventListener("click", () => setLive(!live));
  if (localStorage.getItem("spectare.liveTiles")) setLive(true);

  /** Swap in a fresh snapshot only once it has loaded, so the picture never blinks. */
  function refreshSnapshot(img) {
    if (img.hidden) return; // a live tile shows the camera instead
    const next = new Image();
    next.onload = () => { img.src = next.src; };
    next.src = `${img.dataset.src}?t=${Date.now()}`;
  }

  async function refresh() {
    let cameras;
    try {
      cameras = (await S.getJSON("/api/v1/cameras")).items;
    } catch (e) {
      return; // keep what is shown; try again at the next tick
    }
    const shown = [...grid.querySelectorAll(".card")].map((c) => c.dataset.camera);
    if (shown.join() !== cameras.map((c) => c.id).join()) {
      location.reload(); // cameras were added or removed
      return;
    }
    for (const camera of cameras) {
      const card = grid.querySelector(`.card[data-camera="${CSS.escape(camera.id)}"]`);
      setPhase(card.querySelector('[data-field="phase"]'), camera.phase);
      card.querySelector('[data-field="orphaned"]').hidden = !camera.orphaned;
      const last = card.querySelector('[data-field="last"]');
      last.dataset.epoch = camera.last_segment_at ?? "";
      refreshSnapshot(card.querySelector("img.snap"));
    }
    S.localiseTimes(grid);
  }

  setInterval(refresh, every);
  // Keep "x s ago" honest between refreshes.
  setInterval(() => S.localiseTimes(grid), 1000);
})();
