// Live video through Media Source Extensions: the API's fragmented MP4 appended as it
// arrives, kept within about a second of the camera, reconnected when the stream ends.
"use strict";
window.SpectareLive = (() => {
  const MAX_LAG = 1.5;      // seconds behind the newest picture before jumping ahead
  const KEEP = 10;          // seconds of picture kept behind the playhead
  const RETRY_MS = [3000, 30000];  // first wait, longest wait (doubling in between)

  /** Play ``url`` live in ``video``; returns a function that stops it. ``onState`` hears
   *  "connecting", "live" or an error message. */
  function play(video, url, onState = () => {}) {
    let stopped = false;
    let controller = null;
    let retry = null;
    let wait = RETRY_MS[0];

    async function connect() {
      controller = new AbortController();
      onState("connecting");
      const response = await fetch(url, { signal: controller.signal });
      if (!response.ok) {
        let message = `${response.status}`;
        try { message = (await response.json()).message; } catch (e) { /* not JSON */ }
        // 4xx (unknown or disabled camera, not signed in) will not mend by itself.
        throw Object.assign(new Error(message), { final: response.status < 500 });
      }
      const type = response.headers.get("Content-Type");
      if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
        throw Object.assign(new Error(`this browser cannot play ${type} live`), { final: true });
      }
      const source = new MediaSource();
      video.src = URL.createObjectURL(source);
      await new Promise((resolve) => source.addEventListener("sourceopen", resolve, { once: true }));
      URL.revokeObjectURL(video.src);
      const buffer = source.addSourceBuffer(type);
      const reader = response.body.getReader();
      video.play().catch(() => { /* autoplay may wait for a click; the controls work */ });
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stopped) return;
        await settled(buffer, () => buffer.appendBuffer(value));
        await keepUp(buffer);
        wait = RETRY_MS[0];
        onState("live");
      }
    }

    /** Run ``change`` (an append or a removal) and wait until the buffer has applied it. */
    function settled(buffer, change) {
      return new Promise((resolve, reject) => {
        const done = (e) => {
          buffer.removeEventListener("updateend", done);
          buffer.removeEventListener("error", done);
          if (e.type === "error") reject(new Error("the browser refused the video"));
          else resolve();
        };
        buffer.addEventListener("updateend", done);
        buffer.addEventListener("error", done);
        change();
      });
    }

    /** Stay near the newest picture and drop what lies far behind. */
    async function keepUp(buffer) {
      const ranges = buffer.buffered;
      if (!ranges.length) return;
      const newest = ranges.end(ranges.length - 1);
      if (newest - video.currentTime > MAX_LAG) video.currentTime = newest - 0.3;
      const oldest = ranges.start(0);
      if (video.currentTime - oldest > 2 * KEEP) {
        await settled(buffer, () => buffer.remove(oldest, video.currentTime - KEEP));
      }
    }

    async function run() {
      try {
        await connect();
        if (!stopped) onState("the stream ended; reconnecting");
      } catch (e) {
        if (stopped) return;
        onState(e.message);
        if (e.final) return;
      }
      if (stopped) return;
      retry = setTimeout(run, wait);
      wait = Math.min(wait * 2, RETRY_MS[1]);
    }

    run();
    return () => {
      stopped = true;
      clearTimeout(retry);
      if (controller) controller.abort();
      video.removeAttribute("src");
      video.load();
    };
  }

  return { play };
})();
