"""The supervisor's view: statistics of a period with their intervals, the charts, and audit exports."""
