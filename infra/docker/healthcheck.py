"""Docker HEALTHCHECK for `smtpwatch run --serve`: healthy when the running process
answers GET /metrics with 200 (its HTTP thread is up and it can read the database).

$SMTPWATCH_HEALTH_URL overrides the address (default http://127.0.0.1:9925/metrics);
$SMTPWATCH_SERVE_PASSWORD, when set, is sent as basic auth, as `--serve` expects it.
Exits 0 (healthy) or 1 (unhealthy), Docker's meanings, with one line saying why.
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9925/metrics"
TIMEOUT_S = 5.0


def main() -> int:
    url = os.environ.get("SMTPWATCH_HEALTH_URL") or DEFAULT_URL
    request = urllib.request.Request(url)
    password = os.environ.get("SMTPWATCH_SERVE_PASSWORD")
    if password:
        token = base64.b64encode(f"healthcheck:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    # No proxy: an HTTP(S)_PROXY set for webhooks must not carry the loopback check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}")
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}")
        return 1
    print(f"healthy: {url} answered 200")
    return 0


if __name__ == "__main__":
    sys.exit(main())
