"""Live video shared by the API and the worker: one ffmpeg per watched camera, its
fragmented MP4 fanned out to every viewer (see ``feed``)."""
