"""The design mjray replaces, rebuilt faithfully for the benchmark only. Do not copy it.

Per camera: one receiver process decodes RTSP with PyAV and writes each frame into slot
`counter % N` of the camera's N `multiprocessing.shared_memory` buffers, then sets that slot's
Event; N inference processes, each spinning on its own Event (`is_set()` in a loop, no sleep),
run YOLO on the slot, draw the result (`result.plot()`), copy the drawn frame into the camera's
one result buffer and set the camera's "done" Event; one viewer process spins on that Event
and shows the buffer (here: reads the frame-index marker of what it would show and records it).
No sequence numbers, no locks, shapes fixed from a first frame. Its flaws are kept on purpose:
frames can be overwritten while read (torn), results are shown in whatever order workers finish,
every loop busy-waits.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing import shared_memory

import numpy as np


def _receiver(url, shape, slot_names, slot_events, stop):
    import av

    from mjray.camera.sources import RTSP_OPTIONS

    slots = [shared_memory.SharedMemory(name=n) for n in slot_names]
    views = [np.ndarray(shape, np.uint8, buffer=s.buf) for s in slots]
    counter = 0
    with av.open(url, options={**RTSP_OPTIONS, "timeout": "5000000"}) as container:
        for frame in container.decode(video=0):
            if stop.is_set():
                break
            i = counter % len(views)
            views[i][:] = frame.to_ndarray(format="bgr24")
            slot_events[i].set()
            counter += 1


def _inference(slot_name, shape, event, result_name, done, stop, counts, spec: dict):
    from mjray.detect.model import keep_ultralytics_offline, predict_options, preprocess, resolve_weights
    from mjray.sim import marker

    keep_ultralytics_offline()
    from ultralytics import YOLO

    model = YOLO(resolve_weights(spec["weights"]), task="detect")
    options = predict_options(spec)
    slot = shared_memory.SharedMemory(name=slot_name)
    out = shared_memory.SharedMemory(name=result_name)
    frame = np.ndarray(shape, np.uint8, buffer=slot.buf)
    result_view = np.ndarray(shape, np.uint8, buffer=out.buf)
    model.predict(np.zeros(shape, np.uint8), **options)
    inferred = mismatched = 0
    while not stop.is_set():
        if not event.is_set():
            continue  # spin, as the original did
        event.clear()
        grey = preprocess(frame, spec["grayscale"], spec["autocontrast"])
        result = model.predict(grey, **options)[0]
        result.orig_img = frame  # draw on the slot as it is now (it may have moved on)
        drawn = result.plot()
        result_view[:] = drawn
        done.set()
        # Instrumentation only (the original had none): were these boxes drawn on the frame they came from?
        inferred += 1
        mismatched += marker.read(grey).marker != marker.read(drawn).marker
    counts.put((inferred, mismatched))


def _viewer(seat, result_name, shape, done, stop, queue):
    from mjray.sim import marker

    out = shared_memory.SharedMemory(name=result_name)
    view = np.ndarray(shape, np.uint8, buffer=out.buf)
    shown = []
    while not stop.is_set():
        if not done.is_set():
            continue  # spin
        done.clear()
        shown.append((time.time(), marker.read(view)))
    queue.put((seat, shown))


class Baseline:
    """Start/stop the whole original design for a set of cameras."""

    def __init__(self, urls: list[str], shape: tuple[int, int, int], workers_per_camera: int, model: dict) -> None:
        self.urls, self.shape, self.n, self.model = urls, shape, workers_per_camera, model
        self.ctx = mp.get_context("spawn")
        self.stop_event = self.ctx.Event()
        self.queue = self.ctx.Queue()
        self.counts = self.ctx.Queue()
        self.memory: list[shared_memory.SharedMemory] = []
        self.processes: list = []
        self.events: list = []  # kept alive: a spawned child unpickles them after start() returns

    def _shm(self) -> str:
        block = shared_memory.SharedMemory(create=True, size=int(np.prod(self.shape)))
        self.memory.append(block)
        return block.name

    def start(self) -> None:
        for seat, url in enumerate(self.urls):
            slots = [self._shm() for _ in range(self.n)]
            events = [self.ctx.Event() for _ in range(self.n)]
            result, done = self._shm(), self.ctx.Event()
            self.events += [*events, done]
            self.processes.append(
                self.ctx.Process(target=_viewer, args=(seat, result, self.shape, done, self.stop_event, self.queue))
            )
            for slot, event in zip(slots, events):
                self.processes.append(
                    self.ctx.Process(
                        target=_inference,
                        args=(slot, self.shape, event, result, done, self.stop_event, self.counts, self.model),
                    )
                )
            self.processes.append(
                self.ctx.Process(target=_receiver, args=(url, self.shape, slots, events, self.stop_event))
            )
        for p in self.processes:
            p.daemon = True
            p.start()

    def stop(self) -> tuple[dict[int, list], dict]:
        """(what each viewer showed, how many results were drawn on a frame other than their own)."""
        self.stop_event.set()
        shown = {}
        for _ in self.urls:
            seat, records = self.queue.get(timeout=60)
            shown[seat] = records
        inferred = mismatched = 0
        for _ in range(len(self.urls) * self.n):
            i, m = self.counts.get(timeout=60)
            inferred, mismatched = inferred + i, mismatched + m
        for p in self.processes:
            p.join(10)
            if p.is_alive():
                p.kill()
        for block in self.memory:
            block.close()
            block.unlink()
        return shown, {"inferred": inferred, "boxes_drawn_on_another_frame": mismatched}
