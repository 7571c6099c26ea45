"""Reliability: real processes on real stores, killed, signalled, locked, restarted, filled."""
