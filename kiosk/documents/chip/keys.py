"""Public keys of eMRTD certificates as issuing states encode them: RSA (rsaEncryption or RSASSA-PSS key
identifiers) and EC keys with a named curve or explicit domain parameters (with or without the curve seed,
compressed or uncompressed points).

Explicit parameters are matched to the named curve they describe; ECDSA then runs in ``cryptography`` when it
offers that curve, and from the parameters themselves (:mod:`kiosk.documents.chip.curves`) otherwise
(brainpoolP160r1, P192r1, P224r1, P320r1 and parameters matching no named curve)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from kiosk.documents.chip.curves import Curve, CurveError, Point, identify, named_curve

CRYPTOGRAPHY_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1,
    "secp224r1": ec.SECP224R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpoolP384r1": ec.BrainpoolP384R1,
    "brainpoolP512r1": ec.BrainpoolP512R1,
}


class UnusableKey(ValueError):
    """A public key that cannot be used (unknown algorithm, bad parameters, point off the curve)."""


@dataclass(frozen=True)
class EcPublicKey:
    curve: Curve
    point: Point
    explicit: bool  # the certificate spelled out the domain parameters instead of naming the curve

    @property
    def description(self) -> str:
        name = self.curve.name or f"unnamed {self.curve.p.bit_length()}-bit curve"
        return f"EC {name}{' (explicit parameters)' if self.explicit else ''}"

    def verify(self, r: int, s: int, data: bytes, hash_name: str) -> bool:
        """ECDSA over ``data`` hashed with ``hash_name`` (a :mod:`hashlib` name)."""
        curve_class = CRYPTOGRAPHY_CURVES.get(self.curve.name or "")
        if curve_class is None:
            return self.curve.verify(self.point, hashlib.new(hash_name, data).digest(), r, s)
        key = ec.EllipticCurvePublicNumbers(*self.point, curve_class()).public_key()
        try:
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(getattr(hashes, hash_name.upper())()))
        except InvalidSignature:
            return False
        return True


PublicKey = rsa.RSAPublicKey | EcPublicKey


def describe(key: PublicKey) -> str:
    if isinstance(key, EcPublicKey):
        return key.description
    return f"RSA {key.key_size}"


def load_public_key(spki: asn1_keys.PublicKeyInfo) -> PublicKey:
    """The key of a SubjectPublicKeyInfo; UnusableKey says why it cannot be used."""
    try:
        algorithm = spki["algorithm"]["algorithm"].native
        if algorithm in ("rsa", "rsassa_pss"):
            numbers = spki["public_key"].parsed
            return rsa.RSAPublicNumbers(
                numbers["public_exponent"].native, numbers["modulus"].native
            ).public_key()
        if algorithm != "ec":
            raise UnusableKey(f"public key algorithm {algorithm} is not supported")
        parameters = spki["algorithm"]["parameters"]
        if parameters.name == "named":
            curve, explicit = named_curve(parameters.chosen.native), False
        elif parameters.name == "specified":
            curve, explicit = _explicit_curve(parameters.chosen), True
        else:
            raise UnusableKey("EC keys with implicitly-CA parameters are not supported")
        return EcPublicKey(curve, curve.decode_point(spki["public_key"].native), explicit)
    except UnusableKey:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise UnusableKey(f"unusable public key: {exc}") from exc


def _explicit_curve(domain: asn1_keys.SpecifiedECDomain) -> Curve:
    field = domain["field_id"]
    if field["field_type"].native != "prime_field":
        raise UnusableKey("EC keys over binary fields are not supported")
    p = field["parameters"].native
    if p < 3 or p % 2 == 0 or not _probably_prime(p):
        raise CurveError("the field size is not an odd prime")
    a = int.from_bytes(domain["curve"]["a"].native, "big")
    b = int.from_bytes(domain["curve"]["b"].native, "big")
    n = domain["order"].native
    cofactor = domain["cofactor"].native or 1
    if n < 3 or not _probably_prime(n):
        raise CurveError("the base point order is not prime")
    # the base point is decoded on a provisional curve (its order and cofactor only check the subgroup)
    provisional = Curve(None, p, a, b, 0, 0, n, 1)
    gx, gy = provisional.decode_point(domain["base"].native)
    curve = identify(Curve(None, p, a, b, gx, gy, n, cofactor))
    if curve.name is None and curve.multiply(n, (gx, gy)) is not None:
        raise CurveError("the base point does not have the stated order")
    return curve


def _probably_prime(value: int) -> bool:
    """Miller-Rabin with fixed small bases (public parameters only: a filter against malformed input)."""
    bases = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    if value in bases:
        return True
    if any(value % b == 0 for b in bases):
        return False
    d, s = value - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for base in bases:
        x = pow(base, d, value)
        if x in (1, value - 1):
            continue
        for _ in range(s - 1):
            x = x * x % value
            if x == value - 1:
                break
        else:
            return False
    return True
