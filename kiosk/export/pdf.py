"""The supervisor's PDF report of a period: the statistics (the same lines ``kiosk stats`` prints), charts
(rates over time, reasons, 1:1 and watchlist scores against their thresholds) and the list of referred cases.

matplotlib's PDF backend only (``Figure`` + ``PdfPages``: no pyplot, no GUI toolkit); TrueType fonts are
embedded (``pdf.fonttype`` 42) so the text can be searched and extracted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from kiosk.export.select import Row
from kiosk.export.stats import SCORE_BINS, Stats, stats_lines
from kiosk.store.records import LoggedDecision

PDF_FILE = "report.pdf"
PAGE = (8.27, 11.69)  # A4 portrait, inches
STATS_SIZE, CASES_SIZE = 7.5, 5.6  # points
LINE_SPACING = 1.45
TEXT_HEIGHT_PT = 0.905 * PAGE[1] * 72  # from the top margin to the bottom one
DEFAULT_MAX_LISTED = 1000


@dataclass
class Referral:
    time_utc: str
    kiosk_id: str
    id: str
    reasons: str
    score: str
    resolution: str = "open"
    officer: str = ""


class ReferralList:
    """The first ``limit`` referred decisions of the period with the resolution that closed each; the
    number beyond the limit is counted (they are all in the CSV and JSON Lines files)."""

    def __init__(self, limit: int = DEFAULT_MAX_LISTED) -> None:
        self.limit = limit
        self.items: list[Referral] = []
        self.more = 0

    def add(self, item: Row) -> None:
        if not item.selected:
            return
        record = item.record
        if isinstance(record, LoggedDecision) and record.outcome == "REFER":
            if len(self.items) >= self.limit:
                self.more += 1
                return
            score = ""
            if record.face_score is not None and record.face_threshold is not None:
                score = f"{record.face_score:.3f}/{record.face_threshold:.3f}"
            listed = Referral(
                record.time_utc, record.kiosk_id, record.id, ";".join(record.reason_codes), score
            )
            if item.closed_by is not None:
                listed.resolution, listed.officer = item.closed_by.resolution, item.closed_by.officer
            self.items.append(listed)


def _lines_per_page(size: float) -> int:
    return int(TEXT_HEIGHT_PT / (size * LINE_SPACING))


def _text_page(pdf: PdfPages, title: str, lines: list[str], size: float) -> None:
    figure = Figure(figsize=PAGE)
    figure.text(0.06, 0.965, title, fontsize=12, fontweight="bold", va="top")
    # one text block per page: a Text per line costs a second per page to lay out
    figure.text(
        0.06, 0.935, "\n".join(lines), fontsize=size, family="monospace", va="top", linespacing=LINE_SPACING
    )
    pdf.savefig(figure)


def draw_charts(figure: Figure, stats: Stats) -> None:
    """The three charts of ``stats`` on ``figure``: rates over time, referrals by reason, score distributions
    against the thresholds (the PDF's chart page and the supervisor view draw the same)."""
    over_time, reasons, scores = figure.subplots(3, 1, gridspec_kw={"hspace": 0.75})
    figure.subplots_adjust(left=0.25, right=0.88)  # room for the reason codes and the rate axis
    buckets = list(stats.series)
    totals = [stats.series[b]["transactions"] for b in buckets]
    rates = [
        100 * stats.series[b]["referrals"] / t if t else 0.0 for b, t in zip(buckets, totals, strict=True)
    ]
    positions = range(len(buckets))
    over_time.bar(positions, totals, color="#9ab", label="transactions")
    over_time.set_ylabel("transactions")
    over_time.set_title("Transactions and referral rate over time (UTC)", fontsize=10)
    rate_axis = over_time.twinx()
    rate_axis.plot(positions, rates, color="#c33", marker=".", label="referral rate")
    rate_axis.set_ylabel("referral rate (%)")
    step = max(1, len(buckets) // 8)
    over_time.set_xticks(
        list(positions)[::step],
        [b.replace("T", " ") for b in buckets][::step],
        fontsize=6,
        rotation=30,
        ha="right",  # hourly buckets: date and hour side by side would overlap
    )
    codes = list(stats.reasons)
    reasons.barh(range(len(codes)), [stats.reasons[c].events for c in codes], color="#c96")
    reasons.set_yticks(range(len(codes)), codes, fontsize=6)
    reasons.invert_yaxis()
    reasons.set_xlabel("referred decisions carrying the reason")
    reasons.set_title("Referrals by reason", fontsize=10)
    low, high, count = SCORE_BINS
    width = (high - low) / count
    centres = [low + width * (i + 0.5) for i in range(count)]
    scores.bar(centres, stats.score_histogram[1:-1], width=width, color="#69c", label="1:1 scores")
    for threshold in stats.thresholds:
        scores.axvline(float(threshold), color="#c33", linestyle="--", label=f"1:1 threshold {threshold}")
    if stats.watchlist_scores:
        hit_scores = [s for s, _ in stats.watchlist_scores]
        scores.hist(
            hit_scores, bins=count, range=(low, high), color="#e90", alpha=0.7, label="watchlist hits"
        )
        for threshold in sorted({t for _, t in stats.watchlist_scores}):
            scores.axvline(threshold, color="#e90", linestyle=":", label=f"watchlist threshold {threshold}")
    outside = stats.score_histogram[0] + stats.score_histogram[-1]
    scores.set_title(
        f"Score distributions against thresholds\n({outside} scores outside the axis)", fontsize=10
    )
    scores.set_xlabel("similarity score")
    scores.set_ylabel("decisions")
    scores.legend(fontsize=6)


def _case_line(*cells: str) -> str:
    time_utc, gate, decision_id, resolution, officer, score, reasons = cells
    return f"{time_utc:<25} {gate:<10} {decision_id:<37} {resolution:<10} {officer:<12} {score:<13} {reasons}"


def write_report(path: Path, stats: Stats, referrals: ReferralList, header: list[str]) -> int:
    """Write the report to ``path``; returns its page count. ``header`` names the export (log, exporter)."""
    pages = 0
    lines = [*header, "", *stats_lines(stats)]
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
        per_page = _lines_per_page(STATS_SIZE)
        for start in range(0, len(lines), per_page):
            title = "Gate statistics" + (" (continued)" if start else "")
            _text_page(pdf, title, lines[start : start + per_page], STATS_SIZE)
            pages += 1
        figure = Figure(figsize=PAGE)
        draw_charts(figure, stats)
        pdf.savefig(figure)
        pages += 1
        listed = [
            _case_line(r.time_utc, r.kiosk_id, r.id, r.resolution, r.officer, r.score, r.reasons)
            for r in referrals.items
        ]
        if referrals.more:
            listed.append(f"... and {referrals.more} more referred cases: see decisions.csv / records.jsonl")
        if not listed:
            listed = ["no referred cases in the period"]
        columns = _case_line(
            "time (UTC)", "gate", "decision id", "resolution", "officer", "score/thr", "reasons"
        )
        per_page = _lines_per_page(CASES_SIZE) - 2
        for start in range(0, len(listed), per_page):
            title = f"Referred cases ({len(referrals.items) + referrals.more})"
            _text_page(pdf, title, [columns, "", *listed[start : start + per_page]], CASES_SIZE)
            pages += 1
    return pages


def report_header(meta: dict[str, Any]) -> list[str]:
    """The report's opening lines from the manifest's facts."""
    by = meta["exported_by"]
    return [
        f"log {meta['log_id']}",
        f"exported {meta['exported_utc']} by {by['account_id']} ({by['role']})",
        f"chain head at export: seq {meta['chain']['head']['seq']} hash {meta['chain']['head']['hash']}",
        f"account chain head at export: seq {meta['account_chain']['head']['seq']} "
        f"hash {meta['account_chain']['head']['hash']}",
    ]
