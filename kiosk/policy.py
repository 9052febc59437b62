"""Gate policy: which results refer a traveller to an officer, with which reason code (the officer's text
of each code is in ``kiosk.texts``: ``reason.<CODE>``).

Everything a border agency may want to tune lives in the ``[policy]`` table of the configuration
(see ``packaging/kiosk.example.toml``); ``kiosk.config`` reads and type-checks it, this module holds the rules
(and the invariants every policy keeps, however it was built)."""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from kiosk.decision import DEFAULT_AGE_BANDS
from kiosk.documents.checks import Check
from kiosk.errors import ConfigError
from matcher.quality import FaceGuide, QualityLimits

# Which reason code a failed document check raises; first matching pattern wins.
# A bad check digit or impossible date in the expiry field is a checksum or data fault, not an expiry;
# the chip's own DG1 check digits are checksum faults too, not an unreadable chip.
_CHECK_REASONS: tuple[tuple[str, str], ...] = (
    ("*.deviation_listed", "CHIP_DEVIATION_LISTED"),
    ("doc.not_expired", "DOC_EXPIRED"),
    ("doc.chip_matches_mrz*", "CHIP_MRZ_MISMATCH"),
    ("chip.present", "CHIP_ABSENT"),
    ("chip.access", "CHIP_ACCESS_DENIED"),
    ("chip.pa.*", "CHIP_PA_FAILED"),
    ("chip.sod.deviation.*", "CHIP_SOD_DEVIATION"),
    ("chip.aa.*", "CHIP_AA_FAILED"),
    ("chip.ca.*", "CHIP_CA_FAILED"),
    ("*check_digit*", "DOC_CHECKSUM"),
    ("chip.*", "CHIP_UNREADABLE"),
    ("*checksum*", "DOC_CHECKSUM"),
    ("*composite*", "DOC_CHECKSUM"),
)


# The reasons of release_reasons(): only an officer's release admits these travellers.
RELEASE_REASONS = ("MINOR", "AGE_UNKNOWN", "NATIONALITY_UNKNOWN", "NATIONALITY_RELEASE")
OFFICER_RELEASE = ("held", "all", "none")


def reason_for_check(name: str) -> str:
    """The reason code a failed check named ``name`` raises."""
    for pattern, code in _CHECK_REASONS:
        if fnmatch.fnmatchcase(name, pattern):
            return code
    return "DOC_CHECK_FAILED"


@dataclass(frozen=True)
class Policy:
    """The tunable gate policy. Defaults are a conservative starting point, not an agency's policy."""

    fmr: float = 1e-3  # target false-match rate of the 1:1 threshold (engine.threshold(fmr))
    max_match_attempts: int = 2  # 1:1 comparisons (each with a fresh capture) before FACE_NO_MATCH
    capture_timeout_s: float = 30.0  # per capture attempt (longer than time_warning_s)
    max_capture_frames: int = 60  # frames analysed per capture attempt
    multiple_faces_frames: int = 15  # consecutive frames with several faces -> MULTIPLE_FACES
    second_face_min_ratio: float = 0.25  # a second face counts when its area >= ratio * chosen face (engine)
    quality: Mapping[str, float] = field(default_factory=dict)  # overrides of matcher.quality.QualityLimits
    document_quality: Mapping[str, float] = field(default_factory=dict)  # same, for the document portrait
    # the oval face guide of the traveller's screen, checked on every live frame (TOO_CLOSE, MOVE_*)
    face_guide: FaceGuide = field(default_factory=FaceGuide)
    blocking_checks: tuple[str, ...] = ("mrz.*", "chip.*", "doc.*")  # fnmatch patterns of check names
    non_blocking_checks: tuple[str, ...] = ()  # exceptions to blocking_checks
    refer_categories: tuple[str, ...] = ("*",)  # watchlist categories whose hits refer (fnmatch)
    watchlist_top_k: int = 5
    liveness_required: bool = False  # assess liveness on every capture ([liveness]); alarm: LIVENESS_FAILED
    store_evidence_on_refer: bool = True  # keep encrypted live image + templates for referred cases
    result_hold_s: float = 3.0  # how long the result (gate open / referred) is shown before idle
    max_document_attempts: int = 1  # reads of a document that cannot be read before DOC_UNREADABLE refers
    max_capture_attempts: int = (
        1  # failed captures (time-out, several faces...) before the traveller is referred
    )
    document_timeout_s: float = 60.0  # waiting for an unreadable document to be presented again
    time_warning_s: float = 20.0  # a waiting state warns this long before its time-out (at least 20 s)
    max_extensions: int = 10  # more_time() extensions per transaction (at least 10)
    # travellers only an officer's release admits: younger than minor_age by the document's date of birth
    # (MINOR; AGE_UNKNOWN without one), and holders of these nationalities (MRZ codes, fnmatch)
    minor_age: int = 18
    release_nationalities: tuple[str, ...] = ()
    # which referred travellers wait at the closed exit for the officer's resolution (an admit opens it):
    # "held" (those only an officer may release: RELEASE_REASONS), "all" (every referral) or "none"; the
    # others are sent to the officer at once. A wait ends after officer_wait_s (the case stays open).
    officer_release: str = "held"
    officer_wait_s: float = 120.0
    # the age groups the decision record carries (ascending lower bounds after 0; statistics split by them)
    age_bands: tuple[int, ...] = DEFAULT_AGE_BANDS
    # resolved from the overrides above: the limits the live capture and the document portrait must meet
    live_limits: QualityLimits = field(init=False, repr=False)
    document_limits: QualityLimits = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not (0.0 < self.fmr < 1.0):
            raise ConfigError(f"policy.fmr must be between 0 and 1, got {self.fmr}")
        for name in (
            "max_match_attempts",
            "max_capture_frames",
            "multiple_faces_frames",
            "watchlist_top_k",
            "max_document_attempts",
            "max_capture_attempts",
        ):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"policy.{name} must be at least 1")
        for name in ("capture_timeout_s", "result_hold_s", "document_timeout_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"policy.{name} must be a non-negative number")
        # the traveller is warned at least 20 s before a time-out and may extend it at least 10 times
        # (WCAG 2.2, success criterion 2.2.1 "Timing adjustable")
        if not math.isfinite(self.time_warning_s) or self.time_warning_s < 20:
            raise ConfigError("policy.time_warning_s must be at least 20 (seconds)")
        for name in ("capture_timeout_s", "document_timeout_s"):  # the waiting states
            if getattr(self, name) <= self.time_warning_s:
                raise ConfigError(
                    f"policy.{name} ({getattr(self, name):g} s) must be longer than policy.time_warning_s "
                    f"({self.time_warning_s:g} s): a shorter wait cannot warn the traveller "
                    f"{self.time_warning_s:g} s before it ends (WCAG 2.2.1), the warning would show at once"
                )
        if self.max_extensions < 10:
            raise ConfigError("policy.max_extensions must be at least 10")
        if not 0 <= self.minor_age <= 25:
            raise ConfigError("policy.minor_age must be between 0 and 25 (years)")
        if self.officer_release not in OFFICER_RELEASE:
            raise ConfigError(f"policy.officer_release must be one of {', '.join(OFFICER_RELEASE)}")
        if not math.isfinite(self.officer_wait_s) or self.officer_wait_s <= 0:
            raise ConfigError("policy.officer_wait_s must be a positive number (seconds)")
        bands = self.age_bands
        if not bands or any(b < 1 for b in bands) or any(a >= b for a, b in itertools.pairwise(bands)):
            raise ConfigError("policy.age_bands must be ascending whole years, each at least 1")
        if not (0.0 < self.second_face_min_ratio <= 1.0):
            raise ConfigError("policy.second_face_min_ratio must be in (0, 1]")
        object.__setattr__(
            self, "live_limits", _limits(QualityLimits.for_live_capture(), self.quality, "quality")
        )
        object.__setattr__(
            self,
            "document_limits",
            _limits(QualityLimits.for_enrolment(), self.document_quality, "document_quality"),
        )

    def is_blocking(self, check_name: str) -> bool:
        def match(patterns: Iterable[str]) -> bool:
            return any(fnmatch.fnmatchcase(check_name, p) for p in patterns)

        return match(self.blocking_checks) and not match(self.non_blocking_checks)

    def document_reasons(self, checks: Iterable[Check]) -> list[str]:
        """Reason codes raised by the failed blocking checks, in a stable order without duplicates."""
        codes: list[str] = []
        for check in checks:
            if not check.passed and self.is_blocking(check.name):
                code = reason_for_check(check.name)
                if code not in codes:
                    codes.append(code)
        return codes

    def release_reasons(self, mrz: object, today: date) -> list[str]:
        """Why this traveller is never admitted automatically, however the checks went: a minor (or no
        date of birth to tell), no nationality stated, a nationality the configuration reserves for an
        officer."""
        reasons = []
        if self.minor_age:
            born = getattr(mrz, "date_of_birth", None)
            if born is None:
                reasons.append("AGE_UNKNOWN")
            elif (
                today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            ) < self.minor_age:
                reasons.append("MINOR")
        nationality = str(getattr(mrz, "nationality", "") or "")
        if not nationality.strip("<"):
            reasons.append("NATIONALITY_UNKNOWN")  # printed empty (a national quirk the MRZ check names)
        elif any(fnmatch.fnmatchcase(nationality, p) for p in self.release_nationalities):
            reasons.append("NATIONALITY_RELEASE")
        return reasons

    def waits_for_officer(self, reason_codes: Iterable[str]) -> bool:
        """Whether a referral with these reasons holds the traveller at the gate for the officer's
        resolution (``officer_release``)."""
        if self.officer_release == "all":
            return True
        return self.officer_release == "held" and any(code in RELEASE_REASONS for code in reason_codes)

    def category_refers(self, category: str) -> bool:
        return any(fnmatch.fnmatchcase(category, p) for p in self.refer_categories)


def _limits(base: QualityLimits, overrides: Mapping[str, float], table: str) -> QualityLimits:
    """``base`` with the overrides of ``[policy.<table>]`` (their names and types are checked where the
    configuration is read, ``kiosk.config``)."""
    try:
        return dataclasses.replace(base, **overrides)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid quality limits in [policy.{table}]: {exc}") from None
