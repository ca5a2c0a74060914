"""The srkit version (the same as ``version`` in pyproject.toml), in a module that imports nothing, so
that any module can record it without importing the :mod:`srkit` package root."""

__version__ = "0.1.0"
