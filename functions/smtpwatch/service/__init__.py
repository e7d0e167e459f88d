"""Use cases on top of the pure core and the ports: one check of one target
(``service.check.run_check``), the monitor-degraded gate's rules (``service.gate``) and
a local window's gate (``service.sweep_gate``), and in-memory ports for tests.

Imports no boto3: the AWS handlers and the local scheduler pass their adapters in.
"""
