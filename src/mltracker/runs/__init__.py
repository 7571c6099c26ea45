"""Runs: each training process is a run of its model, with a status, its context and its own
curves.

- :mod:`mltracker.runs.status`: the statuses, and how a reader judges a run ``crashed``;
- :mod:`mltracker.runs.context`: what a run records of where it runs (host, command, git,
  versions);
- :mod:`mltracker.runs.lifecycle`: the runs a process writes, their heartbeat, and how they
  end (a ``with`` block, ``finish()``, exit, an exception, a signal).
"""
