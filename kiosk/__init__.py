"""The e-gate kiosk application: configuration, gate flow, devices, documents, policy, store, sync, UI."""
