// The camera grid: refreshes phases, last-segment times and snapshots by itself.
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

  /** Swap in a fresh snapshot only once it has loaded, so the picture never blinks. */
  function refreshSnapshot(img) {
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
