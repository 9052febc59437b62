"""The supervisors' wing: statistics with their uncertainty, and signed audit exports anyone can verify.

Stands on ``kiosk.store`` only (never on the gate, the officer wing or sync); ``kiosk/ui/supervisor``
shows it.
"""
