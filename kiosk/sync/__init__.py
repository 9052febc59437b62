"""The kiosk side of the upstream sync: outbox batches, acknowledgements, quarantine, back-off."""
