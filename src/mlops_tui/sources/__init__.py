"""Backends, one module each, behind the small abstract interfaces of `base`."""
