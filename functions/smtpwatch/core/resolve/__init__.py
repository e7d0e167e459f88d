"""Host name → addresses for one probe: an IP literal, else ``dns_hosts``, else DNS per
``dns_mode`` (``device_cached``, ``non_cached``, ``ttl_cached``, ``external``).

``ip_family: any`` returns IPv4 addresses first, then IPv6; names are absolute (no
search domains); failures are never cached; the whole resolution keeps within the
probe's timeout.
"""

from smtpwatch.core.resolve import answers, resolver
from smtpwatch.core.resolve.answers import *  # noqa: F403
from smtpwatch.core.resolve.resolver import *  # noqa: F403

TYPE_CHECKING = False  # typing.TYPE_CHECKING, not typing's ~3.5 ms import (bench/import_cost.py)
if TYPE_CHECKING:
    from smtpwatch.core.resolve.answers import ResolvableTarget as ResolvableTarget

__all__ = answers.__all__ + resolver.__all__
