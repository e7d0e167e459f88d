"""An IPv6 literal host with a zone ("fe80::1%eth0", accepted by the target model) is an
IP address for TLS: no SNI (RFC 6066 allows none for literals) and the certificate is
checked against its IP SAN. The zone is local routing information, never a name.

Link-local addresses do not exist on loopback, so this drives the probe's SMTP client
directly over ::1 with the zone-qualified name the probe would pass."""

from __future__ import annotations

import socket
from collections.abc import Callable

from smtpwatch.core.deadline import Deadline
from smtpwatch.core.smtp_client import SmtpClient
from smtpwatch.core.tls import ContextCache
from smtpwatch.testing.servers import Certificates, SmtpServer


def test_zone_of_an_ipv6_literal_is_neither_sent_as_sni_nor_checked_as_a_name(
    smtp_server: Callable[..., SmtpServer], certs: Certificates
) -> None:
    # GIVEN an SMTPS server on ::1 whose certificate names the IP ::1
    srv = smtp_server("::1", cert=certs.valid(), implicit_tls=True)
    context = ContextCache().get(verify=True, ca_bundle=certs.ca_pem)
    client = SmtpClient(local_hostname="probe.smtpwatch.test", deadline=Deadline(10))
    sock = socket.create_connection(("::1", srv.port), timeout=10)
    client.attach(sock, "::1%lo")
    try:
        # WHEN TLS starts for the zone-qualified literal
        tls = client.start_tls(context, server_hostname="::1%lo")
        # THEN it verified against the IP SAN and sent no SNI
        assert tls.getpeercert()
        assert client.getreply()[0] == 220
    finally:
        client.close()
    assert srv.sni_names == [None]
