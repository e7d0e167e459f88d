"""The probe's one result: timed phases, the failure (if any), TLS and AUTH facts.

``ProbeResult.to_dict()`` is a public contract (``--json``, the stores, alerts; keys in
docs/probe.md). A result is bounded by construction: every part cuts its own fields to
``limits`` in its constructor, so its JSON is at most ``RESULT_MAX_BYTES`` whoever built
it; a cut text ends in ``CUT_MARK``, a cut list in ``"… and N more"``.
"""

from smtpwatch.core.kinds import PHASES, ErrorKind, Phase, Status, WarningKind
from smtpwatch.core.result import cutting, limits, parts, probe_result, vote
from smtpwatch.core.result.cutting import *  # noqa: F403
from smtpwatch.core.result.limits import *  # noqa: F403
from smtpwatch.core.result.parts import *  # noqa: F403
from smtpwatch.core.result.probe_result import *  # noqa: F403
from smtpwatch.core.result.vote import *  # noqa: F403

__all__ = ["PHASES", "ErrorKind", "Phase", "Status", "WarningKind"]
__all__ += cutting.__all__
__all__ += limits.__all__
__all__ += parts.__all__
__all__ += probe_result.__all__
__all__ += vote.__all__
