"""Tests of the study manifest layer (models, CRDs, validation, templates, results, SDK, CLI)."""
