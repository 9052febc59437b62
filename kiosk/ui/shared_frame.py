"""The camera's newest frame, shared between the kiosk's camera thread (the writer) and the gate's worker
process (the reader) through shared memory: one slot, overwritten by every frame, never a backlog (the gate
judges what the traveller does now).

The writer never waits: a frame that arrives while the reader copies the slot out is dropped (the next one
comes a frame period later), so a slow, hung or killed reader can never hold the preview back. A reader
killed while it holds the lock leaves it taken: each worker process gets a new ``SharedFrame``."""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

_HEADER = 6  # int64 fields: sequence, height, width, channels, has a timestamp, timestamp (float64 bits)


@dataclass(frozen=True)
class FrameSlot:
    """What a reader needs to attach: the shared memory's name, its pixel capacity, the lock (a
    ``multiprocessing`` lock, passed to the worker process when it is started)."""

    name: str
    capacity: int
    lock: Any


class SharedFrame:
    """One frame slot of ``capacity`` bytes of pixels. ``create`` (the kiosk) makes it, ``attach`` (the
    worker) opens it; only the creator ``unlink``s it."""

    def __init__(self, memory: SharedMemory, capacity: int, lock: Any, *, owner: bool) -> None:
        self._memory = memory
        self.slot = FrameSlot(memory.name, capacity, lock)
        self._header = np.ndarray((_HEADER,), np.int64, memory.buf)
        self._pixels = np.ndarray((capacity,), np.uint8, memory.buf, offset=_HEADER * 8)
        self._owner = owner
        self._read_seq = 0

    @classmethod
    def create(cls, capacity: int, lock: Any) -> SharedFrame:
        memory = SharedMemory(create=True, size=_HEADER * 8 + capacity)
        shared = cls(memory, capacity, lock, owner=True)
        shared._header[:] = 0
        return shared

    @classmethod
    def attach(cls, slot: FrameSlot) -> SharedFrame:
        return cls(SharedMemory(slot.name), slot.capacity, slot.lock, owner=False)

    def put(self, frame: np.ndarray, timestamp_ms: float | None) -> bool:
        """Publish ``frame`` (uint8, H x W or H x W x C); False when the reader was copying (dropped).
        ValueError for a frame larger than the slot."""
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.nbytes > self.slot.capacity:
            raise ValueError(
                f"camera frame {frame.shape[1]}x{frame.shape[0]} is larger than the shared frame slot "
                f"({self.slot.capacity} bytes)"
            )
        if not self.slot.lock.acquire(False):
            return False
        try:
            h, w = frame.shape[:2]
            self._pixels[: frame.nbytes] = frame.reshape(-1)
            stamp = np.float64(timestamp_ms if timestamp_ms is not None else 0.0).view(np.int64)
            seq = int(self._header[0]) + 1
            channels = frame.shape[2] if frame.ndim == 3 else 0
            self._header[:] = (seq, h, w, channels, timestamp_ms is not None, stamp)
        finally:
            self.slot.lock.release()
        return True

    def newest(self, timeout_s: float = 0.1) -> tuple[np.ndarray, float | None] | None:
        """A copy of the frame published since the last call (with its timestamp), or None: no new frame."""
        if not self.slot.lock.acquire(timeout=timeout_s):
            return None
        try:
            seq, h, w, c, stamped, stamp = (int(v) for v in self._header)
            if seq == self._read_seq:
                return None
            self._read_seq = seq
            shape = (h, w, c) if c else (h, w)
            frame = self._pixels[: h * w * max(c, 1)].reshape(shape).copy()
        finally:
            self.slot.lock.release()
        return frame, float(np.int64(stamp).view(np.float64)) if stamped else None

    def close(self) -> None:
        del self._header, self._pixels  # the views must go before the memory closes
        self._memory.close()
        if self._owner:
            self._memory.unlink()
