"""The probe core stays free of AWS libraries (it runs locally without them)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import smtpwatch.core.probe, smtpwatch.core.tls, smtpwatch.core.smtp_auth
import smtpwatch.core.smtp_client, smtpwatch.core.deadline, smtpwatch.core.errors
from smtpwatch.core.probe import ProbeEnvironment, probe
from smtpwatch.core.target import Target
probe(Target(target_id="x", host="127.0.0.1", port=9, timeout_s=1), env=ProbeEnvironment())
bad = sorted(m for m in sys.modules
             if m.split(".")[0] in ("boto3", "botocore", "aws_lambda_powertools"))
print(",".join(bad))
"""


def test_probe_core_imports_no_aws_libraries() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
