"""Fakes of backends that cannot run in tests, each following the backend's public API documentation."""
