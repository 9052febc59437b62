from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.store.chain import canonical_json, genesis_hash, link_hash, verify_links


def test_canonical_json_is_deterministic_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [1.5, True, None, "é"]}) == '{"a":[1.5,true,null,"é"],"b":1}'
    assert canonical_json({"a": (1, 2)}) == canonical_json({"a": [1, 2]})


@pytest.mark.parametrize("bad", [math.nan, math.inf, {1: "x"}, {"a": object()}, b"bytes"])
def test_canonical_json_refuses_what_json_cannot_carry(bad: object) -> None:
    with pytest.raises(ValueError):
        canonical_json({"value": bad})


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(value: float) -> None:
    import json

    assert json.loads(canonical_json(value)) == value


def _chain(n: int, genesis: str) -> list[tuple[str, dict]]:
    rows, prev = [], genesis
    for seq in range(1, n + 1):
        row = {"seq": seq, "prev_hash": prev, "id": f"r{seq}", "decision_id": "d", "time_utc": "t"}
        row |= {"officer": "o", "resolution": "ADMITTED", "note": ""}
        row["hash"] = prev = link_hash("resolution", row)
        rows.append(("resolution", row))
    return rows


def test_verify_links_finds_the_first_broken_link() -> None:
    genesis = genesis_hash("log-1")
    rows = _chain(5, genesis)
    assert verify_links(rows, genesis).ok
    assert verify_links(rows, genesis).head_seq == 5
    assert not verify_links(rows, genesis_hash("another log")).ok  # rows of another log never verify
    rows[2][1]["note"] = "edited"
    result = verify_links(rows, genesis)
    assert (result.first_broken.seq, result.first_broken.id, result.head_seq) == (3, "r3", 2)
    assert "edited" in result.first_broken.reason
