// Spectare web UI: helpers shared by the pages. Plain script, no build step.
"use strict";
window.Spectare = (() => {
  const pad = (n) => String(n).padStart(2, "0");

  /** HH:MM:SS in the browser's time zone. */
  function fmtTime(epoch) {
    const d = new Date(epoch * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** YYYY-MM-DD HH:MM:SS in the browser's time zone. */
  function fmtDateTime(epoch) {
    const d = new Date(epoch * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(epoch)}`;
  }

  /** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
  function ago(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 172800) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  /** Local date-time plus how long ago, "to the second". */
  function describe(epoch) {
    if (epoch === null || epoch === undefined || epoch === "") return "none yet";
    return `${fmtDateTime(Number(epoch))} (${ago(Date.now() / 1000 - Number(epoch))})`;
  }

  /** Render every <time data-epoch> in local time. */
  function localiseTimes(root = document) {
    for (const el of root.querySelectorAll("time[data-epoch]")) {
      el.textContent = describe(el.dataset.epoch);
    }
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (response.status === 401) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      throw new Error("not signed in");
    }
    if (!response.ok) {
      let message = `${response.status}`;
      try { message = (await response.json()).message; } catch (e) { /* not JSON */ }
      throw new Error(message);
    }
    return response.json();
  }

  const PLACEHOLDER = "/static/no-picture.svg";

  /** Show the placeholder when a picture cannot load (no snapshot yet). */
  function guardImage(img) {
    const fallback = () => { if (!img.src.endsWith(PLACEHOLDER)) img.src = PLACEHOLDER; };
    img.addEventListener("error", fallback);
    // The picture may have failed before this script ran.
    if (img.complete && img.naturalWidth === 0) fallback();
  }

  document.addEventListener("DOMContentLoaded", () => localiseTimes());
  return { fmtTime, fmtDateTime, ago, describe, localiseTimes, getJSON, guardImage, PLACEHOLDER };
})();
