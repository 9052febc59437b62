"""Grammar- and check-digit-constrained decoding of classifier probabilities (no image, no model)."""

from __future__ import annotations

import numpy as np

from kiosk.documents.mrz import compose_mrz
from kiosk.documents.ocr.classify import ALPHABET
from kiosk.documents.ocr.correct import decode

TRUTH = tuple(
    compose_mrz(
        "TD3",
        document_code="P<",
        issuing_state="UTO",
        surname="ERIKSSON",
        given_names="ANNA MARIA",
        document_number="L898902C3",
        nationality="UTO",
        date_of_birth="740812",
        sex="F",
        expiry_date="120415",
        optional_data="ZE184226B",
    ).split("\n")
)


def _confident(lines: tuple[str, ...], p: float = 0.97) -> np.ndarray:
    probs = np.full((len(lines), len(lines[0]), len(ALPHABET)), (1 - p) / (len(ALPHABET) - 1))
    for i, line in enumerate(lines):
        for j, ch in enumerate(line):
            probs[i, j, ALPHABET.index(ch)] = p
    return probs


def _confuse(probs: np.ndarray, line: int, pos: int, wrong: str, p_wrong: float, truth: str) -> None:
    probs[line, pos] = 0.001
    probs[line, pos, ALPHABET.index(wrong)] = p_wrong
    probs[line, pos, ALPHABET.index(truth)] = 1 - p_wrong - 0.001 * (len(ALPHABET) - 2)


def test_clean_probabilities_decode_to_truth() -> None:
    decoded = decode(_confident(TRUTH), "TD3")
    assert decoded.lines == TRUTH
    assert decoded.confidence > 0.9


def test_check_digit_picks_the_second_choice_when_the_first_disagrees() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 1, 1, "3", 0.6, "8")  # the first "8" of the document number read as "3"
    decoded = decode(probs, "TD3")
    assert decoded.lines == TRUTH
    assert decoded.guarded[1, 1]


def test_grammar_forbids_letters_in_dates() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 1, 14, "B", 0.7, "4")  # date of birth '4' read as 'B'
    assert decode(probs, "TD3").lines == TRUTH


def test_filler_read_as_letter_after_a_filler_run_is_repaired() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 0, 35, "K", 0.8, "<")  # in the trailing filler run of the name field
    decoded = decode(probs, "TD3")
    assert decoded.lines == TRUTH


def test_uncertain_filler_run_inside_a_name_is_not_trusted() -> None:
    probs = _confident(TRUTH)
    for pos, letter in ((20, "M"), (21, "A")):  # ANNA<MARIA read as ANNA<<<RIA: the repair would blank MARIA
        _confuse(probs, 0, pos, "<", 0.55, letter)
    decoded = decode(probs, "TD3")
    assert decoded.lines[0][19:25] == "<<<<<<"
    assert not decoded.guarded[0, 19:22].any()
    assert decoded.chosen_probability[0, 20:22].max() < 0.6
    assert decoded.guarded[0, 22:].all()


def test_uncertain_name_character_keeps_low_confidence() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 0, 19, "K", 0.55, "<")  # ANNA<MARIA vs ANNAKMARIA: no check digit can tell
    decoded = decode(probs, "TD3")
    assert decoded.lines[0][19] == "K"
    assert not decoded.guarded[0, 19]
    assert decoded.chosen_probability[0, 19] < 0.6


def test_filler_inside_a_document_number_is_not_accepted() -> None:
    truth = tuple(
        compose_mrz(
            "TD3",
            document_code="P<",
            issuing_state="UTO",
            surname="ERIKSSON",
            given_names="ANNA",
            document_number="AB0123456",
            nationality="UTO",
            date_of_birth="740812",
            sex="F",
            expiry_date="120415",
        ).split("\n")
    )
    probs = _confident(truth)
    _confuse(probs, 1, 2, "<", 0.6, "0")  # '<' and '0' are equal for the check digit
    assert decode(probs, "TD3").lines == truth


def test_check_digit_blind_alternatives_lower_the_class_share() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 1, 37, "K", 0.3, "<")  # optional data filler vs 'K': same check-digit value
    decoded = decode(probs, "TD3")
    assert decoded.guarded[1, 37]
    assert decoded.class_share[1, 37] < 0.7


def test_sex_admits_only_m_f_x_or_filler() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 1, 20, "E", 0.6, "F")  # 'F' read as 'E', which no MRZ sex field holds
    assert decode(probs, "TD3").lines == TRUTH


def _with_issuing_state(code: str) -> tuple[str, ...]:
    return (TRUTH[0][:2] + code + TRUTH[0][5:], TRUTH[1])


def test_state_code_is_sure_when_its_alternatives_are_no_codes() -> None:
    truth = _with_issuing_state("FRA")
    probs = _confident(truth)
    _confuse(probs, 0, 4, "Q", 0.45, "A")  # FRQ is no code: the list rules it out
    decoded = decode(probs, "TD3")
    assert decoded.lines[0][2:5] == "FRA"
    assert decoded.guarded[0, 4]
    assert decoded.class_share[0, 4] > 0.9


def test_state_code_stays_uncertain_against_another_listed_code() -> None:
    truth = _with_issuing_state("FRA")
    probs = _confident(truth)
    _confuse(probs, 0, 4, "O", 0.45, "A")  # FRO (Faroe Islands) is a code too
    decoded = decode(probs, "TD3")
    assert decoded.lines[0][2:5] == "FRA"
    assert decoded.class_share[0, 4] < 0.7


def test_unlisted_state_code_is_not_guarded() -> None:
    decoded = decode(_confident(TRUTH), "TD3")  # UTO, the specimen state, is not on the list
    assert not decoded.guarded[0, 2:5].any()


def _with_document_number(number: str, fmt: str = "TD3") -> tuple[str, ...]:
    code = "V<" if fmt == "MRVA" else "P<"
    text = compose_mrz(
        fmt,
        document_code=code,
        issuing_state="UTO",
        surname="ERIKSSON",
        given_names="ANNA",
        document_number=number,
        nationality="UTO",
        date_of_birth="740812",
        sex="F",
        expiry_date="120415",
        optional_data="Z0" if fmt == "MRVA" else "",
    )
    return tuple(text.split("\n"))


def test_clean_read_is_not_ambiguous() -> None:
    assert decode(_confident(TRUTH), "TD3").ambiguous == ()


def test_o_and_zero_that_the_check_digit_cannot_tell_apart_are_ambiguous() -> None:
    truth = _with_document_number("T22000129")
    probs = _confident(truth)
    # positions 3 and 4 weigh 7 and 3: reading both zeros as O adds 24 * 10 and still verifies
    _confuse(probs, 1, 3, "O", 0.3, "0")
    _confuse(probs, 1, 4, "O", 0.3, "0")
    decoded = decode(probs, "TD3")
    assert decoded.lines == truth  # the classifier's own choice...
    assert decoded.ambiguous == ("document_number",)  # ...but T22OO0129 passes the check digit as well


def test_a_plausible_alternative_the_check_digit_rules_out_is_not_ambiguous() -> None:
    truth = _with_document_number("T22000129")
    probs = _confident(truth)
    _confuse(probs, 1, 3, "O", 0.3, "0")  # T22O00129 fails the check digit: the read stands
    decoded = decode(probs, "TD3")
    assert decoded.lines == truth
    assert decoded.ambiguous == ()


def test_a_reading_that_wins_only_through_the_check_digit_is_ambiguous() -> None:
    probs = _confident(TRUTH)
    _confuse(probs, 1, 1, "3", 0.6, "8")  # the classifier prefers "3"; only the check digit says "8"
    assert decode(probs, "TD3").ambiguous == ("document_number",)


def test_unchecked_visa_optional_data_with_a_plausible_alternative_is_ambiguous() -> None:
    truth = _with_document_number("L898902C3", "MRVA")
    probs = _confident(truth)
    assert decode(probs, "MRVA").ambiguous == ()
    _confuse(probs, 1, 29, "O", 0.2, "0")  # "Z0" or "ZO": no check digit covers visa optional data
    assert decode(probs, "MRVA").ambiguous == ("optional_data",)


def test_a_digit_in_the_document_code_is_read_but_not_guessed() -> None:
    truth = ("C1" + TRUTH[0][2:], TRUTH[1])
    probs = _confident(truth)
    assert decode(probs, "TD3").lines[0][:2] == "C1"
    _confuse(probs, 0, 1, "I", 0.3, "1")  # C1 or CI: no check digit covers the document code
    decoded = decode(probs, "TD3")
    assert decoded.lines[0][:2] == "C1"
    assert "document_code" in decoded.ambiguous


def test_fillers_never_stand_in_an_expiry_date_or_half_a_day() -> None:
    probs = _confident(TRUTH)
    # "<" and "0" weigh the same for the check digit: only the grammar can refuse the filler
    _confuse(probs, 1, 23, "<", 0.6, "0")  # expiry 120415 read as 12<415
    _confuse(probs, 1, 15, "<", 0.6, "0")  # birth 740812 read as 74<812
    decoded = decode(probs, "TD3")
    assert decoded.lines == TRUTH


def test_a_state_code_printed_in_digits_is_read_as_printed_only_when_sure() -> None:
    # an old Romanian card prints its nationality as 132: read it, so the code check names the quirk
    numeric = (TRUTH[0], TRUTH[1][:10] + "132" + TRUTH[1][13:])
    assert decode(_confident(numeric), "TD3").lines == numeric
    # one position unsure: the field stays letters-only, the digits cannot be read there
    probs = _confident(numeric)
    _confuse(probs, 1, 11, "B", 0.35, "3")
    assert decode(probs, "TD3").lines[1][10:13] != "132"
    # a letter code whose characters look like digits is not turned into digits
    assert decode(_confident(TRUTH), "TD3").lines == TRUTH


def test_a_letter_read_first_as_its_digit_twin_is_read_as_the_letter() -> None:
    # ERIKSSON's O read as a zero (an Icelandic scan: 0 at 0.976, the letters left flat under 0.003)
    probs = _confident(TRUTH)
    probs[0, 11] = 0.0005
    probs[0, 11, ALPHABET.index("0")] = 0.976
    probs[0, 11, ALPHABET.index("O")] = probs[0, 11, ALPHABET.index("C")] = 0.002
    decoded = decode(probs, "TD3")
    assert decoded.lines == TRUTH
    assert decoded.chosen_probability[0, 11] > 0.9


def test_a_letter_read_first_keeps_its_place_beside_a_digit_twin() -> None:
    # a D read first (0.5) with a zero close behind (0.43): the twin O takes nothing, the D stays
    truth = (TRUTH[0].replace("ERIKSSON", "ERIKSDON"), TRUTH[1])
    probs = _confident(truth)
    _confuse(probs, 0, 10, "0", 0.43, "D")
    assert decode(probs, "TD3").lines == truth


def test_a_digit_read_first_as_its_letter_twin_is_read_as_the_digit() -> None:
    probs = _confident(TRUTH)
    probs[1, 15] = 0.0005  # the date of birth's 0 read as an O, an 8 further behind than the zero
    probs[1, 15, ALPHABET.index("O")] = 0.9
    probs[1, 15, ALPHABET.index("8")], probs[1, 15, ALPHABET.index("0")] = 0.05, 0.03
    decoded = decode(probs, "TD3")
    assert decoded.lines == TRUTH
    assert decoded.chosen_probability[1, 15] > 0.9
