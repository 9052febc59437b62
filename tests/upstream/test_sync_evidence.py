"""Referral evidence upstream: only when configured, sealed at the kiosk to the officer service's key (the
upstream stores what it cannot open), only for referred decisions; by default nothing biometric leaves."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import httpx
import pytest
from upstream_helpers import Kiosk, Tls, new_kiosk

from kiosk.decision import Decision
from kiosk.errors import KioskError
from kiosk.store import DecisionLog, Evidence
from kiosk.sync.client import SyncClient
from kiosk.sync.evidence import (
    EvidenceKeyError,
    generate_officer_key,
    load_officer_private_key,
    open_for_officer,
)
from kiosk.sync.protocol import sign_request
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.enrol import enrol
from kiosk.upstream.server import ServiceThread
from matcher.signing import generate_signing_key, load_signing_key

FACE = b"\xff\xd8 a live face crop \xff\xd9" * 20
TEMPLATE = b"template bytes " * 30


def _referred_with_evidence(kiosk: Kiosk) -> tuple[str, str]:
    with DecisionLog(kiosk.log_path, kiosk.keys, exclusive=False) as log:
        refer = log.append(
            Decision(kiosk_id=kiosk.id, outcome="REFER", reason_codes=("FACE_NO_MATCH",)),
            evidence=Evidence(live_face=FACE, live_template=TEMPLATE),
        )
        passed = log.append(Decision(kiosk_id=kiosk.id, outcome="PASS", reason_codes=()))
    return refer, passed


def _officer_get(service: ServiceThread, tls: Tls, key, path: str) -> httpx.Response:
    headers = sign_request(key, "officer-9", "GET", path, b"")
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        return http.get(service.url + path, headers=headers)


def test_evidence_goes_sealed_to_the_officer_service_only_when_configured(
    db: UpstreamDB, service: ServiceThread, tls: Tls, tmp_path: Path
) -> None:
    generate_officer_key(tmp_path / "officer-service.key", tmp_path / "officer-service.pub")
    generate_signing_key(tmp_path / "officer-9.key", tmp_path / "officer-9.pub")
    enrol(db, "officer-9", "officer", tmp_path / "officer-9.pub")
    officer = load_signing_key(tmp_path / "officer-9.key")

    plain = new_kiosk(db, tmp_path / "a", "gate-plain")  # default configuration
    refer_plain, _ = _referred_with_evidence(plain)
    with SyncClient(plain.log_path, plain.id, plain.sync_config(service.url, tls)) as client:
        assert client.drain().sent == 2
    assert _officer_get(service, tls, officer, f"/v1/cases/{refer_plain}/evidence").json() == {"evidence": []}

    kiosk = new_kiosk(db, tmp_path / "b", "gate-ev")
    refer, passed = _referred_with_evidence(kiosk)
    config = kiosk.sync_config(service.url, tls, evidence_key=tmp_path / "officer-service.pub")
    with pytest.raises(KioskError, match="key ring"):
        SyncClient(kiosk.log_path, kiosk.id, config)  # evidence is unsealed from the log: needs its key
    with SyncClient(kiosk.log_path, kiosk.id, config, keys=kiosk.keys) as client:
        assert client.drain().sent == 2
    answer = _officer_get(service, tls, officer, f"/v1/cases/{refer}/evidence").json()["evidence"]
    sealed = {item["kind"]: base64.b64decode(item["sealed"]) for item in answer}
    assert sorted(sealed) == ["live_face", "live_template"]
    assert all(FACE not in blob and TEMPLATE not in blob for blob in sealed.values())  # not readable upstream
    private = load_officer_private_key(tmp_path / "officer-service.key")
    assert open_for_officer(private, sealed["live_face"], refer, "live_face") == FACE
    assert open_for_officer(private, sealed["live_template"], refer, "live_template") == TEMPLATE
    with pytest.raises(EvidenceKeyError):
        open_for_officer(private, sealed["live_face"], refer, "live_template")  # bound to its kind and case
    assert _officer_get(service, tls, officer, f"/v1/cases/{passed}/evidence").json() == {"evidence": []}
    assert db.evidence("officer-9", refer_plain) == []
    # a kiosk reads no evidence
    headers = sign_request(kiosk.key, kiosk.id, "GET", f"/v1/cases/{refer}/evidence", b"")
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca))) as http:
        assert http.get(f"{service.url}/v1/cases/{refer}/evidence", headers=headers).status_code == 403
