"""The face matcher's lab: calibration, evaluation, benchmarks and liveness-model export. No runtime module
imports it."""
