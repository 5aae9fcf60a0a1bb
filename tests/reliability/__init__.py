"""Reliability tests: the project's promises (crash safety, API faults, bad input, no
injection, safe state, bounded resources) as tests. See docs/reliability.md."""
