"""The officer console: sign-in, the queue of referred cases with alarms, the case view, resolutions."""
