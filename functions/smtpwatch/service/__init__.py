"""Use cases on top of the pure core and the ports: one check of one target
(``service.check.run_check``), the monitor-degraded gate of a local sweep
(``service.gate``), and in-memory ports for tests (``service.memory``).

Imports no boto3: the AWS handlers and the local scheduler pass their adapters in.
"""
