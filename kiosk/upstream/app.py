"""The upstream service as an ASGI application (Starlette): ingest for kiosks, reads behind roles.

Every request but ``/healthz`` is signed by an enrolled client (:mod:`kiosk.sync.protocol`): kiosks send
their records, read their anchored head, the configuration version and the signed watchlist bundles, and
pull the resolutions officers made upstream for their cases; officers read and resolve the cases of the
gates their enrolment covers (scope enforced in the data layer, :mod:`kiosk.upstream.officers`) and read
those gates' states; supervisors also read statistics and the chains' state. Database calls run in the
thread pool, so one slow batch never holds up the event loop.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from kiosk.store.chain import canonical_json
from kiosk.store.errors import AlreadyResolvedError
from kiosk.sync.protocol import (
    HEAD_PATH,
    MAX_BATCH,
    RECORDS_PATH,
    REPLAY_WINDOW_S,
    RESOLUTIONS_PATH,
    AuthError,
    check_request,
)
from kiosk.upstream import officers
from kiosk.upstream.db import UpstreamDB
from kiosk.upstream.errors import DatabaseUnavailable, LogMismatch, UnknownCase, UnknownClient
from kiosk.upstream.ingest import ingest

MAX_BODY = 16 * 1024 * 1024
BUNDLE_SUFFIX = ".bundle"
# Chip trust updates served to kiosks: ICAO master lists, deviation lists and CRLs, each signed by its issuer
# (the kiosk verifies them against its CSCA set on import). Loose certificates are not served: a CSCA reaches
# a kiosk only inside a signed master list or by its operator.
TRUST_SUFFIXES = (".ml", ".dvl", ".crl")


@dataclass(frozen=True)
class ServiceOptions:
    watchlist_dir: Path | None = None  # signed bundles (``*.bundle``) served to kiosks as they are
    trust_dir: Path | None = None  # signed master lists, deviation lists, CRLs served to kiosks as they are
    config_version: str = ""  # the kiosk configuration version the fleet should run


class _Keys:
    """Enrolled clients' public keys, cached; a miss asks the database (a kiosk enrolled while the service
    runs is known at its first request)."""

    def __init__(self, db: UpstreamDB) -> None:
        self.db = db
        self._cache: dict[str, tuple[str, Ed25519PublicKey]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str) -> tuple[str, Ed25519PublicKey] | None:
        with self._lock:
            if client_id in self._cache:
                return self._cache[client_id]
        client = self.db.client(client_id)
        if client is None:
            return None
        key = serialization.load_pem_public_key(client.public_key.encode())
        assert isinstance(key, Ed25519PublicKey)
        with self._lock:
            self._cache[client_id] = (client.role, key)
        return client.role, key


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)


Handler = Callable[[Request, str, bytes], Awaitable[Response]]


def create_app(db: UpstreamDB, options: ServiceOptions | None = None) -> Starlette:
    """The service's ASGI app over ``db``."""
    options = options or ServiceOptions()
    keys = _Keys(db)

    def authenticate(request: Request, body: bytes, roles: tuple[str, ...]) -> str:
        found: dict[str, str] = {}

        def public_key_of(client_id: str) -> Ed25519PublicKey | None:
            entry = keys.get(client_id)
            if entry is None:
                return None
            found["role"] = entry[0]
            return entry[1]

        signed = check_request(request.headers, request.method, request.url.path, body, public_key_of)
        if found["role"] not in roles:
            raise PermissionError(f"client {signed.client_id!r} ({found['role']}) may not use this endpoint")
        if not db.use_nonce(signed.client_id, signed.nonce, signed.timestamp, REPLAY_WINDOW_S):
            raise AuthError("nonce seen before (a replayed request)")
        return signed.client_id

    def endpoint(*roles: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def run(request: Request) -> Response:
                body = b""
                async for chunk in request.stream():  # bounded: never more than MAX_BODY in memory
                    body += chunk
                    if len(body) > MAX_BODY:
                        return _error(413, "TOO_LARGE", f"request body over {MAX_BODY} bytes")
                try:
                    client_id = await run_in_threadpool(authenticate, request, body, roles)
                    return await handler(request, client_id, body)
                except AuthError as exc:
                    return _error(401, "UNAUTHENTICATED", str(exc))
                except PermissionError as exc:
                    return _error(403, "FORBIDDEN", str(exc))
                except (DatabaseUnavailable, UnknownClient) as exc:
                    status = 503 if isinstance(exc, DatabaseUnavailable) else 401
                    return _error(status, exc.code, str(exc))
                except LogMismatch as exc:
                    return _error(409, exc.code, str(exc))
                except AlreadyResolvedError as exc:
                    answer = {"error": str(exc), "code": exc.code, "officer": exc.officer}
                    answer |= {"resolution": exc.resolution, "time_utc": exc.time_utc}
                    return JSONResponse(answer, status_code=409)
                except UnknownCase as exc:
                    return _error(404, exc.code, str(exc))
                except ValueError as exc:
                    return _error(400, "BAD_REQUEST", str(exc))

            return run

        return wrap

    @endpoint("kiosk")
    async def post_records(request: Request, kiosk_id: str, body: bytes) -> Response:
        try:
            batch = json.loads(body)
            records = batch["records"]
            log_id = batch["log_id"]
        except (ValueError, KeyError, TypeError):
            raise ValueError("a batch is a JSON object with log_id and records") from None
        if not isinstance(records, list):
            raise ValueError("records must be a list")
        if len(records) > MAX_BATCH:
            return _error(413, "TOO_LARGE", f"at most {MAX_BATCH} records per batch")
        payloads = [canonical_json(r) if isinstance(r, dict) else "" for r in records]
        answer = await run_in_threadpool(
            ingest, db, kiosk_id, log_id, records, payloads, batch.get("evidence")
        )
        return JSONResponse(answer.to_json())

    @endpoint("kiosk")
    async def get_head(request: Request, kiosk_id: str, body: bytes) -> Response:
        seq, digest = await run_in_threadpool(db.head, kiosk_id)
        return JSONResponse({"seq": seq, "hash": digest})

    @endpoint("kiosk")
    async def get_config_version(request: Request, kiosk_id: str, body: bytes) -> Response:
        return JSONResponse({"version": options.config_version})

    def listing(folder: Path | None, suffixes: tuple[str, ...]) -> list[str]:
        return (
            sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in suffixes) if folder else []
        )

    def served_file(folder: Path | None, suffixes: tuple[str, ...], name: str) -> Response:
        if name not in listing(folder, suffixes):  # only names listed: no path tricks
            return _error(404, "NOT_FOUND", f"no file {name!r}")
        assert folder is not None
        # Served as signed: the kiosk verifies the signature before using it.
        return FileResponse(folder / name, media_type="application/octet-stream")

    @endpoint("kiosk", "supervisor")
    async def get_watchlists(request: Request, client_id: str, body: bytes) -> Response:
        return JSONResponse({"files": listing(options.watchlist_dir, (BUNDLE_SUFFIX,))})

    @endpoint("kiosk", "supervisor")
    async def get_watchlist(request: Request, client_id: str, body: bytes) -> Response:
        return served_file(options.watchlist_dir, (BUNDLE_SUFFIX,), request.path_params["name"])

    @endpoint("kiosk", "supervisor")
    async def get_trust_files(request: Request, client_id: str, body: bytes) -> Response:
        return JSONResponse({"files": listing(options.trust_dir, TRUST_SUFFIXES)})

    @endpoint("kiosk", "supervisor")
    async def get_trust_file(request: Request, client_id: str, body: bytes) -> Response:
        return served_file(options.trust_dir, TRUST_SUFFIXES, request.path_params["name"])

    # Readers: every call passes the signed client id to the data layer, which decides what it may see.
    @endpoint("officer", "supervisor")
    async def get_open_cases(request: Request, client_id: str, body: bytes) -> Response:
        limit = min(int(request.query_params.get("limit", "100")), 1000)
        cases = await run_in_threadpool(officers.open_cases, db, client_id, limit)
        return JSONResponse({"cases": cases})

    @endpoint("officer", "supervisor")
    async def get_case(request: Request, client_id: str, body: bytes) -> Response:
        found = await run_in_threadpool(officers.case, db, client_id, request.path_params["decision_id"])
        if found is None:
            return _error(404, "NOT_FOUND", f"no case {request.path_params['decision_id']}")
        return JSONResponse(found)

    @endpoint("officer", "supervisor")
    async def get_resolutions(request: Request, client_id: str, body: bytes) -> Response:
        rows = await run_in_threadpool(db.resolutions, client_id, request.path_params["decision_id"])
        return JSONResponse({"resolutions": rows})

    @endpoint("officer")
    async def post_resolution(request: Request, client_id: str, body: bytes) -> Response:
        try:
            asked = json.loads(body)
            action = (asked["resolution"], asked["reason_code"], asked.get("note", ""))
        except (ValueError, KeyError, TypeError):
            raise ValueError("a resolution is a JSON object with resolution, reason_code, note") from None
        if not all(isinstance(value, str) for value in action):
            raise ValueError("resolution, reason_code and note are strings")
        decision_id = request.path_params["decision_id"]
        row = await run_in_threadpool(officers.resolve, db, client_id, decision_id, *action)
        return JSONResponse({"resolution": row})

    @endpoint("officer")
    async def get_evidence(request: Request, client_id: str, body: bytes) -> Response:
        # sealed to the officer service's key: opened by the console, never here
        items = await run_in_threadpool(db.evidence, client_id, request.path_params["decision_id"])
        sealed = [{"kind": kind, "sealed": base64.b64encode(blob).decode("ascii")} for kind, blob in items]
        return JSONResponse({"evidence": sealed})

    @endpoint("officer", "supervisor")
    async def get_me(request: Request, client_id: str, body: bytes) -> Response:
        return JSONResponse(await run_in_threadpool(officers.me, db, client_id))

    @endpoint("officer", "supervisor")
    async def get_gates(request: Request, client_id: str, body: bytes) -> Response:
        gates = await run_in_threadpool(officers.gate_states, db, client_id)
        return JSONResponse({"gates": gates, "on_duty": await run_in_threadpool(officers.on_duty, db)})

    @endpoint("officer", "supervisor")
    async def post_sign_out(request: Request, client_id: str, body: bytes) -> Response:
        await run_in_threadpool(officers.sign_out, db, client_id)
        return JSONResponse({"signed_out": client_id})

    @endpoint("kiosk")
    async def post_kiosk_resolutions(request: Request, kiosk_id: str, body: bytes) -> Response:
        try:
            backlog = json.loads(body)["backlog"]
        except (ValueError, KeyError, TypeError):
            raise ValueError("a pull is a JSON object with backlog") from None
        if not isinstance(backlog, int) or isinstance(backlog, bool):
            raise ValueError("backlog must be an integer")
        rows = await run_in_threadpool(officers.pull_for_kiosk, db, kiosk_id, backlog)
        return JSONResponse({"resolutions": rows})

    @endpoint("supervisor")
    async def get_statistics(request: Request, client_id: str, body: bytes) -> Response:
        return JSONResponse(await run_in_threadpool(db.statistics))

    @endpoint("supervisor")
    async def get_chains(request: Request, client_id: str, body: bytes) -> Response:
        states = await run_in_threadpool(db.chain_states)
        problems = await run_in_threadpool(db.problems)
        return JSONResponse({"chains": states, "problems": problems})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes: list[Any] = [
        Route(RECORDS_PATH, post_records, methods=["POST"]),
        Route(HEAD_PATH, get_head, methods=["GET"]),
        Route("/v1/config-version", get_config_version, methods=["GET"]),
        Route("/v1/watchlists", get_watchlists, methods=["GET"]),
        Route("/v1/watchlists/{name}", get_watchlist, methods=["GET"]),
        Route("/v1/trust", get_trust_files, methods=["GET"]),
        Route("/v1/trust/{name}", get_trust_file, methods=["GET"]),
        Route("/v1/cases/open", get_open_cases, methods=["GET"]),
        Route("/v1/cases/{decision_id}", get_case, methods=["GET"]),
        Route("/v1/cases/{decision_id}/resolutions", get_resolutions, methods=["GET"]),
        Route("/v1/cases/{decision_id}/resolution", post_resolution, methods=["POST"]),
        Route("/v1/cases/{decision_id}/evidence", get_evidence, methods=["GET"]),
        Route("/v1/me", get_me, methods=["GET"]),
        Route("/v1/gates", get_gates, methods=["GET"]),
        Route("/v1/sign-out", post_sign_out, methods=["POST"]),
        Route(RESOLUTIONS_PATH, post_kiosk_resolutions, methods=["POST"]),
        Route("/v1/statistics", get_statistics, methods=["GET"]),
        Route("/v1/chains", get_chains, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes)
