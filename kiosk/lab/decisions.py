"""Generated decision logs for the export's tests and benchmark: realistic decisions appended through the
real ``DecisionLog`` (chain, outbox, evidence), spread over a period, with officers resolving referrals.

Mix (per decision, seeded): 88% pass; referrals for face mismatch, quality time-out, document and chip
faults, watchlist hits; four gates; issuing states and document types; a face score drawn from a genuine or
an impostor-like distribution around the 0.3581 threshold. Officers admit most face mismatches (false
non-matches of genuine travellers), refuse some, leave some open.

Each record is version 2 (``kiosk.decision.RECORD_VERSION``): the traveller's age group (adults of working
age mostly; 2% minors, referred MINOR; travellers of 60 and over a little more often not matched), sex as
printed (52% M, 47.5% F, 0.2% X, 0.3% unspecified), nationality (the issuing state for 9 in 10, else another
state), the flow's timings (document read about 1.2 s, the traveller's capture about 6 s; ``total`` from the
document placed to the decision, lognormal, median near 9 s) and the attempts used with their configured
bounds. ``legacy_every`` makes every n-th decision a version-1 record without these fields.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from kiosk.decision import DEFAULT_AGE_BANDS, RECORD_VERSION, Decision, WatchlistHit
from kiosk.store.db import Synchronous
from kiosk.store.evidence import Evidence
from kiosk.store.keys import KeyRing
from kiosk.store.log import DecisionLog
from matcher.utc import iso_utc

THRESHOLD = 0.3581
GATES = ("gate-01", "gate-02", "gate-03", "gate-04")
STATES = ("UTO", "D", "FRA", "GBR", "NLD", "ITA", "ESP", "POL", "USA", "CAN", "AUS", "JPN", "ZZZ")
REFER_REASONS = (
    ("FACE_NO_MATCH", 40),
    ("QUALITY_TIMEOUT", 20),
    ("DOC_EXPIRED", 8),
    ("CHIP_PA_FAILED", 6),
    ("DOC_CHECKSUM", 8),
    ("WATCHLIST_HIT", 6),
    ("CAPTURE_UNREADABLE", 4),
    ("MULTIPLE_FACES", 8),
)
_ADMIT_REASONS = {  # the officer console's reason codes (kiosk.officer.REASON_CODES["admit"])
    "FACE_NO_MATCH": "IDENTITY_CONFIRMED",
    "WATCHLIST_HIT": "WATCHLIST_FALSE_MATCH",
    "MINOR": "MINOR_RELEASED",
}
TIMEOUTS_S = {"document": 60.0, "capture": 15.0, "time_warning": 20.0}
MAX_ATTEMPTS = {"document": 3, "capture": 3, "match": 2, "extensions": 10}
AGE_GROUPS = (("0-11", 1), ("12-17", 1), ("18-29", 22), ("30-44", 33), ("45-59", 27), ("60+", 16))
SEXES = (("M", 520), ("F", 475), ("X", 2), ("unspecified", 3))
MODELS = {
    "detector": "scrfd_500m@0123456789ab",
    "embedder": "w600k_mbf@ba9876543210",
    "watchlist.interpol": "v42",
    "policy.fmr": "0.001",
}


@dataclass(frozen=True)
class Generated:
    decisions: int
    referrals: int
    resolutions: int


def generated_decisions(
    count: int, keys: KeyRing, *, start: datetime, span: timedelta, seed: int = 0, legacy_every: int = 0
) -> Iterator[Decision]:
    """``count`` decisions in time order over ``[start, start + span)``; every ``legacy_every``-th one a
    version-1 record (no traveller, timings or attempts)."""
    assert tuple(int(g.split("-")[0].rstrip("+")) for g, _ in AGE_GROUPS[1:]) == DEFAULT_AGE_BANDS
    rng = random.Random(seed)
    codes, weights = zip(*REFER_REASONS, strict=True)
    groups, group_weights = zip(*AGE_GROUPS, strict=True)
    sexes, sex_weights = zip(*SEXES, strict=True)
    step = span / max(1, count)
    for i in range(count):
        group = rng.choices(groups, group_weights)[0]
        minor = group in ("0-11", "12-17")
        refer = minor or rng.random() < (0.15 if group == "60+" else 0.12)
        reason = "MINOR" if minor else rng.choices(codes, weights)[0] if refer else ""
        compared = reason not in ("QUALITY_TIMEOUT", "CAPTURE_UNREADABLE", "DOC_CHECKSUM", "MULTIPLE_FACES")
        if reason == "FACE_NO_MATCH":
            score = rng.uniform(0.05, THRESHOLD - 1e-3)
        else:
            score = min(0.95, max(THRESHOLD, rng.gauss(0.68, 0.09)))
        state = rng.choice(STATES)
        hits = (WatchlistHit("interpol", f"e-{rng.randrange(1000)}", 0.52, 0.45, "wanted", "high"),)
        quality: dict[str, object] = {
            "frames": rng.randrange(3, 40),
            "match_attempts": 1 + (reason == "FACE_NO_MATCH"),
            "timeouts_s": TIMEOUTS_S,  # the configured time-outs, as the gate records them
        }
        traveller = timings = version = None
        if not (legacy_every and i % legacy_every == legacy_every - 1):
            captures = 1 + (rng.random() < 0.08) + (reason == "QUALITY_TIMEOUT")
            quality["attempts"] = {
                "document": 1 + (rng.random() < 0.03),
                "capture": captures,
                "match": quality["match_attempts"],
                "extensions": int(rng.random() < 0.04),
                **{f"{name}_max": most for name, most in MAX_ATTEMPTS.items()},
            }
            nationality = state if rng.random() < 0.9 else rng.choice(STATES)
            traveller = {
                "age_group": group,
                "sex": rng.choices(sexes, sex_weights)[0],
                "nationality": nationality,
            }
            total = rng.lognormvariate(9.1, 0.35)  # ms; median e^9.1 = 8.95 s
            document = min(total * 0.4, rng.uniform(800.0, 1600.0))
            timings = {
                "document": round(document, 3),
                "portrait": round(rng.uniform(12.0, 20.0), 3),
                "capture": round(total - document - 40.0, 3),
                "match": round(rng.uniform(0.05, 0.2), 3),
                "watchlist": round(rng.uniform(0.1, 0.4), 3),
                "total": round(total, 3),
            }
            version = RECORD_VERSION
        yield Decision(
            kiosk_id=rng.choice(GATES),
            outcome="REFER" if refer else "PASS",
            reason_codes=(reason,) if refer else (),
            document_type=rng.choice(("P", "P", "P", "I", "ID")),
            issuing_state=state,
            document_number_hash=keys.hash_document_number(f"X{rng.randrange(10**8):08d}", state),
            document_checks={"mrz.check_digits": reason != "DOC_CHECKSUM", "chip.pa.sod_signature": True},
            quality=quality,
            liveness={"assessed": False, "required": False},
            face_score=round(score, 6) if compared else None,
            face_threshold=THRESHOLD if compared else None,
            watchlist_hits=hits if reason == "WATCHLIST_HIT" else (),
            models=MODELS,
            time_utc=iso_utc(start + step * i + timedelta(milliseconds=rng.randrange(1000))),
            traveller=traveller,
            timings_ms=timings,
            record_version=version,
        )


def generate_log(
    path: Path,
    keys: KeyRing,
    count: int,
    *,
    start: datetime,
    span: timedelta,
    seed: int = 0,
    evidence_every: int = 0,
    legacy_every: int = 0,
    synchronous: Synchronous = "NORMAL",
) -> Generated:
    """Append ``count`` generated decisions to the log at ``path`` and resolve most referrals: face
    mismatches 70% ADMITTED / 15% REFUSED, other referrals mostly ADMITTED, watchlist hits mostly REFUSED,
    about 10% left open. Every ``evidence_every``-th referral carries a small live-face image as evidence."""
    rng = random.Random(seed + 1)
    referrals = resolutions = 0
    face = _tiny_jpeg()
    with DecisionLog(path, keys, synchronous=synchronous) as log:
        decisions = generated_decisions(
            count, keys, start=start, span=span, seed=seed, legacy_every=legacy_every
        )
        for decision in decisions:
            evidence = None
            if decision.outcome == "REFER":
                referrals += 1
                if evidence_every and referrals % evidence_every == 0:
                    evidence = Evidence(live_face=face)
            log.append(decision, evidence=evidence)
            if decision.outcome == "PASS":
                continue
            draw = rng.random()
            if draw < 0.1:
                continue
            refuse = draw > (0.5 if "WATCHLIST_HIT" in decision.reason_codes else 0.85)
            code = (
                "MANUAL_BOOTH"
                if refuse
                else _ADMIT_REASONS.get(decision.reason_codes[0], "DOCUMENT_VERIFIED")
            )
            officer = f"officer-{rng.randrange(1, 6)}"
            log.resolve(decision.id, officer, "REFUSED" if refuse else "ADMITTED", reason_code=code)
            resolutions += 1
    return Generated(count, referrals, resolutions)


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 56), (180, 140, 120)).save(buffer, "JPEG")
    return buffer.getvalue()
