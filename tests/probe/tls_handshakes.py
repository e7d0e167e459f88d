"""TLS handshakes over memory buffers, for tests that need OpenSSL's own verdict."""

from __future__ import annotations

import contextlib
import ssl

import pytest

from smtpwatch.core.tls import ContextCache
from smtpwatch.testing.servers import DEFAULT_HOSTNAME, ServerCert


def verify_error(cert: ServerCert, ca_pem: str) -> ssl.SSLCertVerificationError:
    """OpenSSL's error for a handshake to ``DEFAULT_HOSTNAME`` verified against ``ca_pem``
    (client and server contexts over memory buffers)."""
    client_side = ContextCache().get(verify=True, ca_bundle=ca_pem)
    to_client, to_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_client, from_server = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_side.wrap_bio(to_client, from_client, server_hostname=DEFAULT_HOSTNAME)
    server = cert.server_context().wrap_bio(to_server, from_server, server_side=True)
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        for _ in range(5):
            for side, answer, to_peer in (
                (client, from_client, to_server),
                (server, from_server, to_client),
            ):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
                to_peer.write(answer.read())
    return caught.value
