"""The kiosk's lab: page and chip generators, the demo, benchmarks and OCR training. No runtime module
imports it."""
