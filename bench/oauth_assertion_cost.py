"""Benchmark: what the refresh-token and service-account token sources cost.

    .venv-test311/bin/python bench/oauth_assertion_cost.py [--runs 9]

For ``--runs`` fresh interpreters each, prints the median time to import
``smtpwatch.core.oauth_grants`` after ``smtpwatch.core.oauth_token`` (what a first
refresh-token or service-account check adds), and the median time of the first
assertion a service account signs in a process (importing ``cryptography``, reading the
PEM key, signing RS256) and of a second one (the key read again, the import done). Needs
``cryptography`` (the oauth extra) in that interpreter.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

_GRANTS = (
    "import time\nimport smtpwatch.core.oauth_token\n"
    "t = time.perf_counter()\nimport smtpwatch.core.oauth_grants\n"
    "print((time.perf_counter() - t) * 1000)"
)
_SIGN = """
import sys, time
from smtpwatch.core.oauth_assertion import jwt_assertion
pem = sys.stdin.read()
claims = {"iss": "a@b.iam.gserviceaccount.com", "sub": "m@example.com", "iat": 0, "exp": 3600}
times = []
for _ in range(2):
    t = time.perf_counter()
    jwt_assertion(pem, "k1", claims, "bench")
    times.append((time.perf_counter() - t) * 1000)
print(times[0], times[1])
"""


def key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def run(code: str, stdin: str = "") -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", code], input=stdin, capture_output=True, text=True, check=True
    )
    return [float(x) for x in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    grants = [run(_GRANTS)[0] for _ in range(args.runs)]
    pem = key_pem()
    signs = [run(_SIGN, pem) for _ in range(args.runs)]
    print(f"import oauth_grants after oauth_token: {statistics.median(grants):.1f} ms")
    print(
        "first assertion in a process (import cryptography, read key, sign): "
        f"{statistics.median(s[0] for s in signs):.1f} ms"
    )
    print(f"next assertion (read key, sign): {statistics.median(s[1] for s in signs):.1f} ms")


if __name__ == "__main__":
    main()
