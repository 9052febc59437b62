"""Is the camera's frame stream live? A per-transaction monitor of every frame the camera delivers.

A live sensor never delivers the same image twice: its noise alone changes every frame (measured on real
footage, see the README: the mean absolute grey difference of consecutive frames never fell below 0.5). An
injected stream (a virtual camera, a capture card fed by a player, a hacked driver) gives itself away by:

- ``CAMERA_FROZEN``: ``frozen_run`` consecutive frames identical, or differing by less than
  ``frozen_difference`` grey levels on average (a still image re-sent), or device timestamps that stop;
- ``CAMERA_REPLAY``: frames that repeat, byte for byte, a frame seen earlier in this transaction (a loop) or
  in one of the last transactions at this gate (the same clip played again: decoding is deterministic), or
  timestamps that run backwards (a file restarting); and ``replay_run`` consecutive frames whose perceptual
  hashes follow, in order, a run of an earlier transaction's (or of this one's) frames while the picture
  moves (a clip re-encoded or with noise added keeps its perceptual hashes). A still scene legitimately
  repeats its perceptual hash, so only runs whose hashes spread over ``min_spread`` bits count.

- ``CAMERA_UNTRUSTED``: the configured camera, checked again at the start of the transaction, is no longer
  the trusted one (unplugged, swapped, a virtual camera behind its link).

What it cannot see: an injector that renders every frame anew (a live deepfake, fresh noise on each frame of
a clip never played here before). Against those the gate has the trusted camera path
(``kiosk.devices.camera_identity``) and the PAD signals. The history holds fingerprints only (digests and
64-bit perceptual hashes), never pixels, in memory."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from kiosk.devices.camera_identity import CameraUntrusted

HASH_BITS = 256


@dataclass(frozen=True)
class IntegrityConfig:
    frozen_difference: float = 0.1  # mean |grey difference| of consecutive frames at or below which they are
    # frozen (real compressed footage: 0.53 at least over 794 frame pairs, see the README)
    frozen_run: int = 3  # consecutive frozen pairs that raise CAMERA_FROZEN (a driver may resend one buffer)
    replay_run: int = 6  # consecutive frames whose perceptual hashes follow an earlier run in order
    hash_distance: int = 8  # bits (of 256) within which two perceptual hashes match
    min_spread: int = 40  # bits between a run's most different hashes: the picture must move
    history: int = 50  # transactions remembered at this gate

    def __post_init__(self) -> None:
        if self.frozen_run < 1 or self.replay_run < 2 or self.history < 0 or self.frozen_difference < 0:
            raise ValueError("frame integrity: frozen_run >= 1, replay_run >= 2, history >= 0")
        if not (0 <= self.hash_distance < self.min_spread <= HASH_BITS):
            raise ValueError(f"frame integrity: 0 <= hash_distance < min_spread <= {HASH_BITS}")


class StreamHistory:
    """Fingerprints of the frames of the last transactions at one gate (digests and perceptual hashes), and
    the gate's camera: ``device``, its identity record, and ``verify``, which raises CameraUntrusted when the
    configured camera is no longer the trusted one (unplugged, replaced, a virtual camera in its place); it
    runs at the start of every transaction (a few sysfs reads)."""

    def __init__(
        self,
        transactions: int = 50,
        *,
        device: dict[str, Any] | None = None,
        verify: Callable[[], object] | None = None,
    ) -> None:
        self.device = device if device is not None else {"trusted": False, "note": "identity not checked"}
        self._verify = verify
        self._runs: deque[tuple[int, list[np.ndarray], set[bytes]]] = deque(maxlen=max(1, transactions))
        self._serial = itertools.count(1)
        self.enabled = transactions > 0

    def open(self) -> tuple[int, list[np.ndarray], set[bytes]]:
        """A new transaction's entry (its hashes and digests fill in as frames arrive)."""
        entry: tuple[int, list[np.ndarray], set[bytes]] = (next(self._serial), [], set())
        if self.enabled:
            self._runs.append(entry)
        return entry

    def check_device(self) -> str:
        """Why the camera is not (or no longer) trusted; "" when it is, or there is nothing to check."""
        if self._verify is None:
            return ""
        try:
            self._verify()
        except CameraUntrusted as exc:
            return str(exc)
        return ""

    def others(self, serial: int) -> list[tuple[list[np.ndarray], set[bytes]]]:
        return [(hashes, digests) for s, hashes, digests in self._runs if s != serial]


def perceptual_hash(grey: np.ndarray) -> np.ndarray:
    """256-bit DCT hash (pHash, 32 bytes): the 16x16 lowest frequencies of the 32x32 image above or below
    their median. Survives re-encoding and added noise (at most 6 bits changed by noise of sigma 2 and JPEG
    at quality 85, on 300 frames); the 64-bit form (8x8) is too coarse to tell a traveller's second visit,
    walking up the same way, from a replay of the first."""
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:16, :16].flatten()
    return np.packbits(low > np.median(low[1:]))


def hash_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Bits that differ between two perceptual hashes."""
    return int(np.bitwise_count(a ^ b).sum())


@dataclass
class FrameIntegrity:
    """The frame stream of one transaction (every frame the camera delivered, in order)."""

    history: StreamHistory = field(default_factory=StreamHistory)
    config: IntegrityConfig = field(default_factory=IntegrityConfig)
    frames: int = 0
    frozen_pairs: int = 0
    longest_frozen: int = 0
    differences: list[float] = field(default_factory=list)  # mean |grey difference| of consecutive frames
    looped: int = 0  # frames repeating an earlier one of this transaction, byte for byte
    replayed: int = 0  # frames repeating one of an earlier transaction, byte for byte
    stalled: int = 0  # device timestamps equal to the previous
    backwards: int = 0  # device timestamps before the previous
    flat: int = 0  # frames of one grey value (a covered lens, a driver's blank start frames): not judged

    def __post_init__(self) -> None:
        self._serial, self._hashes, self._digests = self.history.open()
        self._prev: np.ndarray | None = None
        self._prev_digest = b""
        self._prev_time: float | None = None
        self._run = 0
        self._others = self.history.others(self._serial)  # the earlier transactions, as at its start
        self._signal: dict[str, Any] | None = None
        self.untrusted = self.history.check_device()

    def observe(self, frame: np.ndarray | None, timestamp_ms: float | None = None) -> None:
        """One frame as the camera delivered it (``None``: nothing decodable, skipped), with the device's
        capture time when the camera gives one (0 or less: none; some drivers leave it unset)."""
        if not isinstance(frame, np.ndarray) or not frame.size or frame.ndim not in (2, 3):
            return
        self.frames += 1
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        lowest, highest, _, _ = cv2.minMaxLoc(grey)
        if lowest == highest:  # identical by nature, not by replay; the quality checks refuse it
            self.flat += 1
            return
        timestamp_ms = timestamp_ms if timestamp_ms is not None and timestamp_ms > 0 else None
        digest = hashlib.blake2b(grey.tobytes(), digest_size=16).digest()
        if self._prev is not None and self._prev.shape == grey.shape:
            difference = float(cv2.mean(cv2.absdiff(grey, self._prev))[0])
            self.differences.append(difference)
            frozen = difference <= self.config.frozen_difference
            self._run = self._run + 1 if frozen else 0
            self.frozen_pairs += frozen
            self.longest_frozen = max(self.longest_frozen, self._run)
        if digest != self._prev_digest and digest in self._digests:
            self.looped += 1
        if any(digest in digests for _, digests in self._others):
            self.replayed += 1
        if timestamp_ms is not None and self._prev_time is not None:
            self.stalled += timestamp_ms == self._prev_time
            self.backwards += timestamp_ms < self._prev_time
        self._prev, self._prev_digest = grey, digest
        self._prev_time = timestamp_ms if timestamp_ms is not None else self._prev_time
        self._digests.add(digest)
        self._hashes.append(perceptual_hash(grey))

    def assess(self) -> dict[str, Any]:
        """The ``camera`` signal: ``passed`` (None before two frames), ``reasons`` (CAMERA_FROZEN,
        CAMERA_REPLAY) and the counts behind them."""
        if self._signal is not None and self._signal["frames"] == self.frames:
            return self._signal  # the gate asks twice at its decision; the run search is the costly part
        cfg = self.config
        own_loop = _repeated_run(self._hashes, self._hashes, cfg, same=True)
        earlier = sum(_repeated_run(self._hashes, hashes, cfg) for hashes, _ in self._others)
        reasons = ["CAMERA_UNTRUSTED"] if self.untrusted else []
        if self.longest_frozen >= cfg.frozen_run or self.stalled >= cfg.frozen_run:
            reasons.append("CAMERA_FROZEN")
        if self.looped or self.replayed or self.backwards or own_loop or earlier:
            reasons.append("CAMERA_REPLAY")
        self._signal = {
            "score": round(min(self.differences), 4) if self.differences else None,
            "threshold": cfg.frozen_difference,
            "frames": self.frames,
            "frozen_pairs": self.frozen_pairs,
            "longest_frozen_run": self.longest_frozen,
            "looped_frames": self.looped,
            "replayed_frames": self.replayed,
            "perceptual_runs": {"own": own_loop, "earlier": earlier, "length": cfg.replay_run},
            "timestamps": {"stalled": self.stalled, "backwards": self.backwards},
            "flat_frames": self.flat,
            "device": self.history.device,
            "device_problem": self.untrusted,
            "reasons": reasons,
            "passed": False if self.untrusted else None if self.frames < 2 else not reasons,
        }
        return self._signal


def _repeated_run(
    hashes: list[np.ndarray], earlier: list[np.ndarray], cfg: IntegrityConfig, *, same: bool = False
) -> int:
    """How many runs of ``replay_run`` consecutive frames of ``hashes`` follow, in order and within
    ``hash_distance`` bits, a run of ``earlier`` (with ``same``: an earlier, non-overlapping run of the same
    list), counting only runs that move (spread of at least ``min_spread`` bits)."""
    r = cfg.replay_run
    if len(hashes) < r or len(earlier) < r:
        return 0
    a, b = np.stack(hashes), np.stack(earlier)  # (frames, 32) bytes
    close = np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2) <= cfg.hash_distance
    run = np.ones((len(a) - r + 1, len(b) - r + 1), dtype=bool)
    for k in range(r):
        run &= close[k : k + len(a) - r + 1, k : k + len(b) - r + 1]
    if same:  # the earlier run must end before this one starts
        i, j = np.indices(run.shape)
        run &= j + r <= i
    windows = np.lib.stride_tricks.sliding_window_view(a, r, axis=0)  # (len a - r + 1, 32, r)
    pairs = np.bitwise_count(windows[:, :, :, None] ^ windows[:, :, None, :]).sum(axis=1)
    spread = pairs.max(axis=(1, 2))
    moving = spread >= cfg.min_spread
    return int(np.count_nonzero(run.any(axis=1) & moving))


def stream_report(
    frames: Iterable[np.ndarray | None], *, window: int = 40, config: IntegrityConfig | None = None
) -> dict[str, Any]:
    """The monitor run over a recorded stream cut into windows of ``window`` frames, one transaction each at
    one gate: how many windows raise each reason, the mean grey difference of consecutive frames (the live
    noise floor the frozen threshold must stay below) and the time per frame. Record a clip from the gate's
    own camera and run this on it to check the thresholds (``kiosk camera check-stream``)."""
    if window < 2:
        raise ValueError("window must be at least 2 frames")
    history = StreamHistory((config or IntegrityConfig()).history)
    monitors: list[FrameIntegrity] = []
    costs: list[float] = []
    for i, frame in enumerate(frames):
        if i % window == 0:
            monitors.append(FrameIntegrity(history, config or IntegrityConfig()))
        t0 = time.perf_counter()
        monitors[-1].observe(frame)
        costs.append((time.perf_counter() - t0) * 1000.0)
    if not monitors:
        raise ValueError("the stream has no frames")
    alarms: dict[str, int] = {}
    t0 = time.perf_counter()
    signals = [m.assess() for m in monitors]
    assess_ms = (time.perf_counter() - t0) * 1000.0 / len(monitors)
    for signal in signals:
        for reason in signal["reasons"]:
            alarms[reason] = alarms.get(reason, 0) + 1
    differences = np.array([d for m in monitors for d in m.differences] or [np.nan])
    return {
        "frames": len(costs),
        "windows": len(monitors),
        "alarms": alarms,
        "difference": {
            "pairs": int(np.count_nonzero(~np.isnan(differences))),
            "min": round(float(np.nanmin(differences)), 3),
            "p5": round(float(np.nanpercentile(differences, 5)), 3),
            "median": round(float(np.nanmedian(differences)), 3),
            "threshold": (config or IntegrityConfig()).frozen_difference,
        },
        "ms_per_frame": {
            "median": round(float(np.median(costs)), 3),
            "p95": round(float(np.percentile(costs, 95)), 3),
        },
        "ms_per_assessment": round(assess_ms, 3),
    }
