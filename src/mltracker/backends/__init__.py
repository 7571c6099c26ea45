"""Backends: implementations of :class:`mltracker.ports.store.Store`."""
