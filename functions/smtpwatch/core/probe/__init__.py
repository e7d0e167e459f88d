"""The probe: one SMTP dialogue as an ordered list of timed phases → one ``ProbeResult``.

``probe(target)`` runs it (``dialogue``); ``ProbeEnvironment`` is what it needs besides
the target (``environment``). Connecting (``connect``), timing each phase and mapping
its exceptions onto error classes (``phase_scope``), certificate diagnosis
(``cert_diagnosis``) and building the result (``outcome``) have modules of their own.
"""

from smtpwatch.core.probe.dialogue import probe
from smtpwatch.core.probe.environment import (
    DEFAULT_EHLO_NAME,
    LOCATION_VARIABLE,
    ProbeEnvironment,
    default_environment,
    default_location,
    parse_location,
)

__all__ = [
    "DEFAULT_EHLO_NAME",
    "LOCATION_VARIABLE",
    "ProbeEnvironment",
    "default_environment",
    "default_location",
    "parse_location",
    "probe",
]
