"""Tests of the local backend: the scheduler, the SQLite store, the outbox and sinks."""
