"""Adapters: all I/O. SQLAlchemy storage and migrations (``db``), settings from the environment.

Adapters implement the ports the services declare; they import services and the core, never the
front doors (``web``, ``cli``).
"""
