"""Active Authentication (ICAO Doc 9303-11 section 6.1): clone detection by the chip signing a random
challenge of the reader with the private key whose public half is in DG15 (DG15 itself is covered by passive
authentication, ``chip.pa.dg15_hash``).

- RSA keys sign by ISO/IEC 9796-2 digital signature scheme 1 (partial message recovery): the recovered block
  is ``6A || M1 || H(M1 || challenge) || trailer`` (``BC``: SHA-1, ``xxCC``: the hash named by ``xx``);
- EC keys sign by ECDSA, plain r || s (BSI TR-03111), with the hash DG14's ActiveAuthenticationInfo names.

One named check, ``chip.aa.signature``, is reported whenever a live chip was read and has DG15; a folder of
copied files cannot answer a challenge, so it has no such check."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives.asymmetric import rsa

from kiosk.documents.checks import Check
from kiosk.documents.chip.keys import EcPublicKey, UnusableKey, load_public_key
from kiosk.documents.chip.lds import DG_TAGS, security_infos
from kiosk.documents.chip.signature import ECDSA_PLAIN_OIDS
from kiosk.documents.chip.tlv import TlvError, read_single

AA_SIGNATURE = "chip.aa.signature"
AA_PROTOCOL_OID = "2.23.136.1.1.5"  # id-icao-mrtd-security-aaProtocolObject
# ISO/IEC 9796-2 hash identifiers of the two-byte trailer xx CC (ISO/IEC 10118-3 numbering)
ISO9796_HASHES = {0x33: "sha1", 0x34: "sha256", 0x35: "sha512", 0x36: "sha384", 0x38: "sha224"}


@dataclass(frozen=True)
class ChallengeResponse:
    """What a live chip answered to INTERNAL AUTHENTICATE."""

    challenge: bytes
    response: bytes  # empty when the chip refused
    status: int


def verify_active_authentication(dg15: bytes, dg14: bytes | None, evidence: ChallengeResponse) -> Check:
    """The ``chip.aa.signature`` check of a chip's answer to ``evidence.challenge``."""
    if evidence.status != 0x9000 or not evidence.response:
        return Check(
            AA_SIGNATURE, False, f"the chip refused INTERNAL AUTHENTICATE (status {evidence.status:04X})"
        )
    try:
        key = load_public_key(asn1_keys.PublicKeyInfo.load(read_single(dg15, DG_TAGS[15]).value, strict=True))
    except (TlvError, UnusableKey, ValueError) as exc:
        return Check(AA_SIGNATURE, False, f"DG15 holds no usable public key: {exc}")
    if isinstance(key, rsa.RSAPublicKey):
        problem = _iso9796_2_problem(key, evidence.challenge, evidence.response)
        kind = "RSA ISO/IEC 9796-2"
    else:
        problem = _ecdsa_problem(key, dg14, evidence.challenge, evidence.response)
        kind = f"ECDSA on {key.curve.name or 'explicit parameters'}"
    if problem:
        return Check(AA_SIGNATURE, False, problem)
    return Check(AA_SIGNATURE, True, f"the chip signed the challenge with the DG15 key ({kind})")


def _iso9796_2_problem(key: rsa.RSAPublicKey, challenge: bytes, signature: bytes) -> str:
    numbers = key.public_numbers()
    n, size = numbers.n, (numbers.n.bit_length() + 7) // 8
    s = int.from_bytes(signature, "big")
    if len(signature) != size or not 0 < s < n:
        return "the RSA signature has the wrong size"
    m = pow(s, numbers.e, n)
    if m & 0xF != 0xC:  # the signer may send n - s (ISO/IEC 9796-2 section B.6)
        m = n - m
    block = m.to_bytes(size, "big")
    if block[-1] == 0xBC:
        hash_name, trailer = "sha1", 1
    elif block[-1] == 0xCC and block[-2] in ISO9796_HASHES:
        hash_name, trailer = ISO9796_HASHES[block[-2]], 2
    else:
        return "the recovered ISO/IEC 9796-2 block has no known trailer"
    if block[0] != 0x6A:
        return "the recovered block is not ISO/IEC 9796-2 scheme 1 with partial recovery"
    length = hashlib.new(hash_name).digest_size
    m1 = block[1 : size - trailer - length]
    digest = block[size - trailer - length : size - trailer]
    if not hmac.compare_digest(hashlib.new(hash_name, m1 + challenge).digest(), digest):
        return "the chip's RSA signature does not cover the challenge"
    return ""


def _ecdsa_problem(key: EcPublicKey, dg14: bytes | None, challenge: bytes, signature: bytes) -> str:
    hash_name = aa_hash(dg14)
    if hash_name is None:
        return "an ECDSA DG15 key needs DG14's ActiveAuthenticationInfo to name the hash"
    if not signature or len(signature) % 2:
        return "the plain ECDSA signature has an odd length"
    half = len(signature) // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    if not key.verify(r, s, challenge, hash_name):
        return "the chip's ECDSA signature does not verify with the DG15 key"
    return ""


def aa_hash(dg14: bytes | None) -> str | None:
    """The hash of DG14's ActiveAuthenticationInfo (ecdsa-plain-SHA*), None when there is none."""
    if dg14 is None:
        return None
    try:
        for protocol, _version, algorithm in security_infos(dg14):
            if protocol == AA_PROTOCOL_OID and algorithm is not None:
                return ECDSA_PLAIN_OIDS.get(core.ObjectIdentifier.load(algorithm).dotted)
    except (TlvError, ValueError, TypeError):
        return None
    return None
