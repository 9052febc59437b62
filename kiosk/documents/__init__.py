"""Travel documents: MRZ parsing and validation (``mrz``), data-page OCR (``ocr``), chip reading and passive
authentication (``chip``), and the reader that unifies them (``reader.read_document``).

Submodules are imported explicitly (``from kiosk.documents.mrz import parse_mrz``) so that parsing an MRZ
never pulls in OpenCV or the cryptography stack."""
