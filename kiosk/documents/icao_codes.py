"""The ICAO Doc 9303 Part 3 code list for issuing states and nationalities (three-letter MRZ codes).

States use their ISO 3166-1 alpha-3 code (as of ISO 3166-1 in Debian iso-codes 4.15), except Germany, which
ICAO lists as ``D`` (written ``D<<`` in the MRZ; ``DEU`` is therefore not accepted). On top of the states the
list holds the British nationality categories, the UN and other organisations issuing travel documents, the
codes for stateless persons and refugees, and Kosovo's ``RKS`` (a de-facto code printed on Kosovo passports).
"""

from __future__ import annotations

_ISO_3166_ALPHA3 = """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR
    BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG
    COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH FIN
    FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY HKG
    HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM KIR
    KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD
    MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR NPL
    NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU SDN
    SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA TCD
    TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB VIR
    VNM VUT WLF WSM YEM ZAF ZMB ZWE
"""

#: Codes Doc 9303 adds to (or uses instead of) ISO 3166-1, with their meaning.
ICAO_SPECIAL_CODES: dict[str, str] = {
    "D": "Germany",
    "GBD": "British Overseas Territories Citizen",
    "GBN": "British National (Overseas)",
    "GBO": "British Overseas Citizen",
    "GBP": "British Protected Person",
    "GBS": "British Subject",
    "EUE": "European Union",
    "UNO": "United Nations Organization or one of its officials",
    "UNA": "Specialized agency of the United Nations or one of its officials",
    "UNK": "Resident of Kosovo with a travel document issued by UNMIK",
    "XBA": "African Development Bank",
    "XIM": "African Export-Import Bank",
    "XCC": "Caribbean Community (CARICOM)",
    "XCE": "Council of Europe",
    "XCO": "Common Market for Eastern and Southern Africa (COMESA)",
    "XEC": "Economic Community of West African States (ECOWAS)",
    "XES": "Organisation of Eastern Caribbean States (OECS)",
    "XMP": "Parliamentary Assembly of the Mediterranean",
    "XOM": "Sovereign Military Order of Malta",
    "XPO": "International Criminal Police Organization (INTERPOL)",
    "XDC": "Southern African Development Community (SADC)",
    "XXA": "Stateless person (1954 Convention, Article 1)",
    "XXB": "Refugee (1951 Convention, Article 1, as amended by the 1967 Protocol)",
    "XXC": "Refugee other than under code XXB",
    "XXX": "Person of unspecified nationality",
    "RKS": "Kosovo (printed on Kosovo passports; not in ISO 3166-1)",
}

#: Every code accepted as issuing state or nationality, without filler characters.
KNOWN_CODES: frozenset[str] = frozenset(_ISO_3166_ALPHA3.split()) | frozenset(ICAO_SPECIAL_CODES)


def normalise_code(field: str) -> str:
    """The code in a three-character MRZ field without its trailing fillers (``"D<<"`` -> ``"D"``)."""
    return field.rstrip("<")


def is_known_code(field: str) -> bool:
    """True when the MRZ field (``"UTO"``, ``"D<<"``) holds a code of the ICAO list.

    Fillers may only pad on the right, and only the one-letter German code is that short."""
    code = normalise_code(field)
    return len(field) == 3 and code in KNOWN_CODES and len(code) in (1, 3)
