"""OCR of document data pages: locate the MRZ, rectify, classify characters, decode with check digits."""

from kiosk.documents.ocr.reading import DataPageReading, MrzNotFoundError, read_data_page

__all__ = ["DataPageReading", "MrzNotFoundError", "read_data_page"]
