"""Elliptic curves over prime fields, from their parameters: the named curves of eMRTD PKIs (brainpool
P160r1 to P512r1, RFC 5639; NIST P-192 to P-521, FIPS 186-4), matching explicit domain parameters to them, and
ECDSA from the parameters themselves for curves the ``cryptography`` library does not offer.

Verification only handles public values, so plain (not constant-time) integer arithmetic is sound here;
:meth:`Curve.sign` exists for the test PKIs and is never used with a real key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

Point = tuple[int, int]  # affine (x, y); None stands for the point at infinity
_Jacobian = tuple[int, int, int]


class CurveError(ValueError):
    """Domain parameters or a point that do not describe a usable prime-field curve."""


@dataclass(frozen=True)
class Curve:
    """y^2 = x^3 + ax + b over GF(p), base point (gx, gy) of prime order n, cofactor h."""

    name: str | None  # the named curve these parameters are; None for parameters matching none
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    h: int = 1

    @property
    def size(self) -> int:
        """Bytes of a field element."""
        return (self.p.bit_length() + 7) // 8

    @property
    def order_size(self) -> int:
        return (self.n.bit_length() + 7) // 8

    def same_parameters(self, other: Curve) -> bool:
        mine = (self.p, self.a % self.p, self.b % self.p, self.gx, self.gy, self.n, self.h)
        return mine == (other.p, other.a % other.p, other.b % other.p, other.gx, other.gy, other.n, other.h)

    def contains(self, point: Point) -> bool:
        x, y = point
        return 0 <= x < self.p and 0 <= y < self.p and (y * y - x * x * x - self.a * x - self.b) % self.p == 0

    def decode_point(self, data: bytes) -> Point:
        """An X9.62 / SEC 1 point: uncompressed (04), compressed (02, 03) or hybrid (06, 07); it must lie on
        the curve and, with a cofactor, in the subgroup of order n."""
        size = self.size
        if len(data) == 1 + 2 * size and data[0] in (4, 6, 7):
            point = int.from_bytes(data[1 : 1 + size], "big"), int.from_bytes(data[1 + size :], "big")
            if data[0] != 4 and point[1] % 2 != data[0] % 2:
                raise CurveError("hybrid point with the wrong y parity")
        elif len(data) == 1 + size and data[0] in (2, 3):
            x = int.from_bytes(data[1:], "big")
            if x >= self.p:
                raise CurveError("compressed point x out of range")
            y = _sqrt_mod(x * x * x + self.a * x + self.b, self.p)
            point = (x, y if y % 2 == data[0] % 2 else (self.p - y) % self.p)
        else:
            raise CurveError(f"not an encoded point of a {self.p.bit_length()}-bit curve")
        if not self.contains(point):
            raise CurveError("the point is not on the curve")
        if self.h != 1 and self.multiply(self.n, point) is not None:
            raise CurveError("the point is not in the subgroup of order n")
        return point

    def encode_point(self, point: Point, *, compressed: bool = False) -> bytes:
        x, y = point
        if compressed:
            return bytes([2 + y % 2]) + x.to_bytes(self.size, "big")
        return b"\x04" + x.to_bytes(self.size, "big") + y.to_bytes(self.size, "big")

    def multiply(self, k: int, point: Point) -> Point | None:
        """k * point (double and add in Jacobian coordinates)."""
        result: _Jacobian | None = None
        addend: _Jacobian | None = (point[0], point[1], 1)
        k %= self.n * self.h
        while k:
            if k & 1:
                result = self._add(result, addend)
            addend = self._double(addend)
            k >>= 1
        return self._affine(result)

    def add(self, first: Point | None, second: Point | None) -> Point | None:
        return self._affine(self._add(_jacobian(first), _jacobian(second)))

    def verify(self, public: Point, digest: bytes, r: int, s: int) -> bool:
        """ECDSA verification (SEC 1 section 4.1.4) of (r, s) over a message digest."""
        if not (0 < r < self.n and 0 < s < self.n):
            return False
        w = pow(s, -1, self.n)
        e = self._truncate(digest)
        total = self.add(self.multiply(e * w, (self.gx, self.gy)), self.multiply(r * w, public))
        return total is not None and total[0] % self.n == r

    def sign(self, private: int, digest: bytes) -> tuple[int, int]:
        """ECDSA signature of a digest. Test PKIs only (random nonce, not constant time)."""
        e = self._truncate(digest)
        while True:
            k = secrets.randbelow(self.n - 1) + 1
            point = self.multiply(k, (self.gx, self.gy))
            r = point[0] % self.n if point else 0
            s = pow(k, -1, self.n) * (e + r * private) % self.n
            if r and s:
                return r, s

    def public_point(self, private: int) -> Point:
        point = self.multiply(private, (self.gx, self.gy))
        if point is None:
            raise CurveError("the private key is a multiple of the order")
        return point

    def _truncate(self, digest: bytes) -> int:
        e = int.from_bytes(digest, "big")
        excess = 8 * len(digest) - self.n.bit_length()
        return e >> excess if excess > 0 else e

    def _double(self, q: _Jacobian | None) -> _Jacobian | None:
        if q is None or q[1] == 0:
            return None
        p = self.p
        x, y, z = q
        yy = y * y % p
        s = 4 * x * yy % p
        m = (3 * x * x + self.a * pow(z, 4, p)) % p
        x3 = (m * m - 2 * s) % p
        return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p

    def _add(self, q1: _Jacobian | None, q2: _Jacobian | None) -> _Jacobian | None:
        if q1 is None:
            return q2
        if q2 is None:
            return q1
        p = self.p
        x1, y1, z1 = q1
        x2, y2, z2 = q2
        z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
        u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
        s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
        if u1 == u2:
            return self._double(q1) if s1 == s2 else None
        h, r = (u2 - u1) % p, (s2 - s1) % p
        hh = h * h % p
        hhh = h * hh % p
        x3 = (r * r - hhh - 2 * u1 * hh) % p
        return x3, (r * (u1 * hh - x3) - s1 * hhh) % p, h * z1 * z2 % p

    def _affine(self, q: _Jacobian | None) -> Point | None:
        if q is None or q[2] % self.p == 0:
            return None
        zi = pow(q[2], -1, self.p)
        zi2 = zi * zi % self.p
        return q[0] * zi2 % self.p, q[1] * zi2 * zi % self.p


def _jacobian(point: Point | None) -> _Jacobian | None:
    return None if point is None else (point[0], point[1], 1)


def _sqrt_mod(value: int, p: int) -> int:
    """A square root modulo the odd prime p (Tonelli-Shanks); CurveError when there is none."""
    value %= p
    if value == 0:
        return 0
    if pow(value, (p - 1) // 2, p) != 1:
        raise CurveError("the compressed point has no y on the curve")
    if p % 4 == 3:
        return pow(value, (p + 1) // 4, p)
    q, s = p - 1, 0
    while q % 2 == 0:
        q, s = q // 2, s + 1
    z = next(z for z in range(2, p) if pow(z, (p - 1) // 2, p) == p - 1)
    m, c, t, root = s, pow(z, q, p), pow(value, q, p), pow(value, (q + 1) // 2, p)
    while t != 1:
        i, t2 = 0, t
        while t2 != 1:
            t2, i = t2 * t2 % p, i + 1
        b = pow(c, 1 << (m - i - 1), p)
        m, c, t, root = i, b * b % p, t * b * b % p, root * b % p
    return root


def _named(name: str, *hex_values: str) -> Curve:
    return Curve(name, *(int(v, 16) for v in hex_values))


# Parameters as OpenSSL 3 prints them with -param_enc explicit (RFC 5639 and FIPS 186-4 values).
NAMED_CURVES: dict[str, Curve] = {
    curve.name: curve
    for curve in (
        _named(
            "brainpoolP160r1",
            "E95E4A5F737059DC60DFC7AD95B3D8139515620F",
            "340E7BE2A280EB74E2BE61BADA745D97E8F7C300",
            "1E589A8595423412134FAA2DBDEC95C8D8675E58",
            "BED5AF16EA3F6A4F62938C4631EB5AF7BDBCDBC3",
            "1667CB477A1A8EC338F94741669C976316DA6321",
            "E95E4A5F737059DC60DF5991D45029409E60FC09",
        ),
        _named(
            "brainpoolP192r1",
            "C302F41D932A36CDA7A3463093D18DB78FCE476DE1A86297",
            "6A91174076B1E0E19C39C031FE8685C1CAE040E5C69A28EF",
            "469A28EF7C28CCA3DC721D044F4496BCCA7EF4146FBF25C9",
            "C0A0647EAAB6A48753B033C56CB0F0900A2F5C4853375FD6",
            "14B690866ABD5BB88B5F4828C1490002E6773FA2FA299B8F",
            "C302F41D932A36CDA7A3462F9E9E916B5BE8F1029AC4ACC1",
        ),
        _named(
            "brainpoolP224r1",
            "D7C134AA264366862A18302575D1D787B09F075797DA89F57EC8C0FF",
            "68A5E62CA9CE6C1C299803A6C1530B514E182AD8B0042A59CAD29F43",
            "2580F63CCFE44138870713B1A92369E33E2135D266DBB372386C400B",
            "D9029AD2C7E5CF4340823B2A87DC68C9E4CE3174C1E6EFDEE12C07D",
            "58AA56F772C0726F24C6B89E4ECDAC24354B9E99CAA3F6D3761402CD",
            "D7C134AA264366862A18302575D0FB98D116BC4B6DDEBCA3A5A7939F",
        ),
        _named(
            "brainpoolP256r1",
            "A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377",
            "7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9",
            "26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6",
            "8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262",
            "547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997",
            "A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7",
        ),
        _named(
            "brainpoolP320r1",
            "D35E472036BC4FB7E13C785ED201E065F98FCFA6F6F40DEF4F92B9EC7893EC28FCD412B1F1B32E27",
            "3EE30B568FBAB0F883CCEBD46D3F3BB8A2A73513F5EB79DA66190EB085FFA9F492F375A97D860EB4",
            "520883949DFDBC42D3AD198640688A6FE13F41349554B49ACC31DCCD884539816F5EB4AC8FB1F1A6",
            "43BD7E9AFB53D8B85289BCC48EE5BFE6F20137D10A087EB6E7871E2A10A599C710AF8D0D39E20611",
            "14FDD05545EC1CC8AB4093247F77275E0743FFED117182EAA9C77877AAAC6AC7D35245D1692E8EE1",
            "D35E472036BC4FB7E13C785ED201E065F98FCFA5B68F12A32D482EC7EE8658E98691555B44C59311",
        ),
        _named(
            "brainpoolP384r1",
            "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B4"
            "12B1DA197FB71123ACD3A729901D1A71874700133107EC53",
            "7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787"
            "139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826",
            "4A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11",
            "1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3"
            "DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E",
            "8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864"
            "E19C054FF99129280E4646217791811142820341263C5315",
            "8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B3"
            "1F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565",
        ),
        _named(
            "brainpoolP512r1",
            "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330871"
            "7D4D9B009BC66842AECDA12AE6A380E62881FF2F2D82C68528AA6056583A48F3",
            "7830A3318B603B89E2327145AC234CC594CBDD8D3DF91610A83441CAEA9863BC"
            "2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A72BF2C7B9E7C1AC4D77FC94CA",
            "3DF91610A83441CAEA9863BC2DED5D5AA8253AA10A2EF1C98B9AC8B57F1117A7"
            "2BF2C7B9E7C1AC4D77FC94CADC083E67984050B75EBAE5DD2809BD638016F723",
            "81AEE4BDD82ED9645A21322E9C4C6A9385ED9F70B5D916C1B43B62EEF4D0098E"
            "FF3B1F78E2D0D48D50D1687B93B97D5F7C6D5047406A5E688B352209BCB9F822",
            "7DDE385D566332ECC0EABFA9CF7822FDF209F70024A57B1AA000C55B881F8111"
            "B2DCDE494A5F485E5BCA4BD88A2763AED1CA2B2FA8F0540678CD1E0F3AD80892",
            "AADD9DB8DBE9C48B3FD4E6AE33C9FC07CB308DB3B3C9D20ED6639CCA70330870"
            "553E5C414CA92619418661197FAC10471DB1D381085DDADDB58796829CA90069",
        ),
        _named(
            "secp192r1",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC",
            "64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1",
            "188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012",
            "7192B95FFC8DA78631011ED6B24CDD573F977A11E794811",
            "FFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831",
        ),
        _named(
            "secp224r1",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000000000000000001",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFE",
            "B4050A850C04B3ABF54132565044B0B7D7BFD8BA270B39432355FFB4",
            "B70E0CBD6BB4BF7F321390B94A03C1D356C21122343280D6115C1D21",
            "BD376388B5F723FB4C22DFE6CD4375A05A07476444D5819985007E34",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFF16A2E0B8F03E13DD29455C5C2A3D",
        ),
        _named(
            "secp256r1",
            "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF",
            "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC",
            "5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B",
            "6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296",
            "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
            "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551",
        ),
        _named(
            "secp384r1",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "FFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "FFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFC",
            "B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE814112"
            "0314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF",
            "AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B98"
            "59F741E082542A385502F25DBF55296C3A545E3872760AB7",
            "3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147C"
            "E9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        ),
        _named(
            "secp521r1",
            "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
            "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC",
            "51953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E"
            "156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00",
            "C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DB"
            "AA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66",
            "11839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662"
            "C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650",
            "1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        ),
    )
}


def named_curve(name: str) -> Curve:
    """A named curve by its name, case-insensitive (``brainpoolP256r1``, ``secp256r1``)."""
    for key, curve in NAMED_CURVES.items():
        if key.lower() == name.lower():
            return curve
    raise CurveError(f"curve {name} is not supported")


def identify(curve: Curve) -> Curve:
    """The named curve with these parameters (any seed), or ``curve`` itself when none has them."""
    return next((named for named in NAMED_CURVES.values() if named.same_parameters(curve)), curve)
