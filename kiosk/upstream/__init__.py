"""The upstream border-crossing service: ingest with chain verification, reads behind roles."""
