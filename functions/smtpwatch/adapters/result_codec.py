"""The results table's item for one ``ProbeResult``: at most 1 KB, one write unit.

``target_id S | ts S | status S | expires_at N | total_ms N | error_kind S | r B``, where
``r`` is ``b"\\x01"`` + raw DEFLATE of the compact JSON of ``to_dict()`` (without
``target_id``) with the frozen preset dictionary ``_ZDICT_V1``. An item that would
exceed 1 KB is trimmed, least useful bulk first, and says so in ``trimmed``. Items of
the older format (a ``result`` JSON string) still decode.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

from smtpwatch.core.result import ProbeResult

__all__ = [
    "ITEM_LIMIT",
    "decode_item",
    "encode_item",
    "item_size",
    "trimmed_fields",
]

ITEM_LIMIT = 1024  # one write unit

_V1 = b"\x01"
# Keys and frequent values of ProbeResult.to_dict(), most frequent last (DEFLATE finds
# matches nearer the end of the dictionary with shorter distances). Frozen: see above.
_ZDICT_V1 = (
    b'"warnings":[{"kind":"cert_expiring","message":"certificate expires in '
    b'"kind":"slow","message":"tls_not_offered","auth_failed","connect_refused",'
    b'"connect_timeout","dns_nxdomain","tls_handshake","certificate verify failed: '
    b'"enhanced_code":"smtp_code":"config","internal","Connection refused","timed out",'
    b'"verify_error":"hostname mismatch","issuer":"CN=","subject":"CN=",'
    b'"not_before":"not_after":"T00:00:00Z","days_left":"TLS_AES_256_GCM_SHA384",'
    b'"ECDHE-RSA-AES256-GCM-SHA384","version":"TLSv1.3","cipher":"TLSv1.2",'
    b'"verified":true,"sans":["mail.example.com","auth":{"mechanism":"PLAIN",'
    b'"tried":["PLAIN","LOGIN","CRAM-MD5"],"over_tls":true},"server":{"banner":"220 '
    b' ESMTP Postfix","extensions":["PIPELINING","SIZE","VRFY","ETRN","ENHANCEDSTATUSCODES",'
    b'"8BITMIME","DSN","SMTPUTF8","CHUNKING","STARTTLS","AUTH"]},"address":{"ip":"'
    b'"family":"ipv4","family":"ipv6","port":587,"port":465,"port":25,"source":"dns",'
    b'"source":"dns_hosts","attempts":[{"ip":"ok":true,"ms":"error":null},'
    b'"schema_version":1,"host":"encryption":"explicit","encryption":"implicit",'
    b'"started_at":"2026-","status":"ok","status":"critical","status":"warning",'
    b'"error":{"kind":"phase":"message":"phases":{"dns":{"reached":true,"ok":true,"ms":'
    b'"connect":{"reached":true,"ok":true,"ms":"banner":{"reached":true,"ok":true,"ms":'
    b'"ehlo":{"reached":true,"ok":true,"ms":"starttls":{"reached":true,"ok":true,"ms":'
    b'"tls":{"reached":true,"ok":true,"ms":"ehlo_tls":{"reached":true,"ok":true,"ms":'
    b'"auth":{"reached":true,"ok":true,"ms":"quit":{"reached":true,"ok":true,"ms":'
    b'{"reached":false,"ok":false,"ms":null},"total_ms":'
)

_SANS_KEPT = 8
_ATTEMPTS_KEPT = 4
_TEXT_KEPT = 120
_VOTE_TEXT_KEPT = 48  # a verdict's vote messages, when they do not fit whole


def _compact(value: Any) -> Any:
    """Drop nulls and empty lists/maps: ``ProbeResult.from_dict`` defaults them."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            c = _compact(v)
            if c is None or c == [] or c == {}:
                continue
            out[k] = c
        return out
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _deflate(doc: dict[str, Any]) -> bytes:
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT_V1)
    return _V1 + c.compress(text) + c.flush()


def _inflate(blob: bytes) -> dict[str, Any]:
    if blob[:1] != _V1:
        raise ValueError(f"result blob format {blob[:1]!r} unknown")
    d = zlib.decompressobj(-15, _ZDICT_V1)
    doc: dict[str, Any] = json.loads(d.decompress(blob[1:]) + d.flush())
    return doc


# ---- size ----------------------------------------------------------------------------


def _attr_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "B":
        return len(v)
    if kind == "N":  # DynamoDB's rule: 1 byte per two significant digits, plus one
        digits = len(v.lstrip("-").replace(".", "").strip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "L":
        return 3 + sum(_attr_size(x) + 1 for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _attr_size(x) + 1 for k, x in v.items())
    return 1


def item_size(item: dict[str, Any]) -> int:
    """Bytes of a low-level item by DynamoDB's sizing rules (names + values)."""
    return sum(len(k.encode()) + _attr_size(v) for k, v in item.items())


# ---- trimming (only for items that would not fit) -------------------------------------


def _cut(text: Any, keep: int) -> Any:
    if isinstance(text, str) and len(text) > keep:
        return text[: keep - 1] + "…"
    return text


def _keep_first(part: str, key: str, keep: int) -> Callable[[dict[str, Any]], bool]:
    """A trim that keeps the first ``keep`` entries of the list ``doc[part][key]``."""

    def trim(doc: dict[str, Any]) -> bool:
        entries = (doc.get(part) or {}).get(key) or []
        if len(entries) <= keep:
            return False
        doc[part][key] = entries[:keep]
        return True

    return trim


def _drop(part: str, key: str) -> Callable[[dict[str, Any]], bool]:
    """A trim that drops ``doc[part][key]`` when it holds anything."""

    def trim(doc: dict[str, Any]) -> bool:
        holder = doc.get(part) or {}
        if not holder.get(key):
            return False
        del holder[key]
        return True

    return trim


def _cut_field(holder: dict[str, Any], key: str, keep: int) -> bool:
    """Cut ``holder[key]`` to ``keep`` characters; whether that changed it."""
    if key not in holder or holder[key] == _cut(holder[key], keep):
        return False
    holder[key] = _cut(holder[key], keep)
    return True


def _trim_texts(doc: dict[str, Any], keep: int = _TEXT_KEPT, error_keep: int = _TEXT_KEPT) -> bool:
    changed = _cut_field(doc.get("server") or {}, "banner", keep)
    for holder, n in [(doc.get("error") or {}, error_keep)] + [
        (w, keep) for w in doc.get("warnings") or []
    ]:
        changed |= _cut_field(holder, "message", n)
    tls = doc.get("tls") or {}
    for key in ("subject", "issuer", "verify_error"):
        changed |= _cut_field(tls, key, keep)
    return changed


def _trim_texts_hard(doc: dict[str, Any]) -> bool:
    # The error message is what a reader of the history needs most: it keeps 120.
    return _trim_texts(doc, keep=32, error_keep=_TEXT_KEPT)


def _drop_server(doc: dict[str, Any]) -> bool:
    return doc.pop("server", None) is not None


def _vote_messages(keep: int) -> Callable[[dict[str, Any]], bool]:
    """A trim of a verdict's vote messages to ``keep`` characters (0: dropped); every
    vote's location, status, phase and failure class stay."""

    def trim(doc: dict[str, Any]) -> bool:
        changed = False
        for vote in doc.get("locations") or []:
            if not isinstance(vote, dict) or "message" not in vote:
                continue
            if keep:
                changed |= _cut_field(vote, "message", keep)
            else:
                del vote["message"]
                changed = True
        return changed

    return trim


_TRIMS: tuple[tuple[str, Callable[[dict[str, Any]], bool]], ...] = (
    ("tls.sans", _keep_first("tls", "sans", _SANS_KEPT)),
    ("server.extensions", _drop("server", "extensions")),
    ("address.attempts", _keep_first("address", "attempts", _ATTEMPTS_KEPT)),
    ("texts", _trim_texts),
    ("locations", _vote_messages(_VOTE_TEXT_KEPT)),
    ("tls.sans", _drop("tls", "sans")),
    ("address.attempts", _drop("address", "attempts")),
    ("locations", _vote_messages(0)),
    ("server", _drop_server),
    ("texts", _trim_texts_hard),  # last resort: 128-char ids and 253-char hosts
)


# ---- the item -------------------------------------------------------------------------


def encode_item(result: ProbeResult, *, ts: str, expires_at: int) -> dict[str, Any]:
    """The low-level item (AttributeValues) for ``result``, at most ``ITEM_LIMIT`` bytes."""
    doc = _compact(result.to_dict())
    doc.pop("target_id", None)
    item: dict[str, Any] = {
        "target_id": {"S": result.target_id},
        "ts": {"S": ts},
        "status": {"S": result.status.value},
        "expires_at": {"N": str(expires_at)},
        "total_ms": {"N": repr(round(result.total_ms, 1))},
    }
    if result.error is not None:
        item["error_kind"] = {"S": result.error.kind.value}
    item["r"] = {"B": _deflate(doc)}
    trimmed: list[str] = []
    for name, trim in _TRIMS:
        if item_size(item) <= ITEM_LIMIT:
            break
        if trim(doc):
            if name not in trimmed:
                trimmed.append(name)
            doc["trimmed"] = trimmed
            item["r"] = {"B": _deflate(doc)}
    return item


def decode_item(item: dict[str, Any]) -> ProbeResult | None:
    """The ``ProbeResult`` of a low-level results item (either format); None when the
    item holds none (a foreign item)."""
    target_id = item.get("target_id", {}).get("S", "")
    blob = item.get("r", {}).get("B")
    if blob is not None:
        doc = _inflate(bytes(blob))
    else:
        text = item.get("result", {}).get("S")
        if not text:
            return None
        doc = json.loads(text)
    doc.setdefault("target_id", target_id)
    return ProbeResult.from_dict(doc)


def trimmed_fields(item: dict[str, Any]) -> list[str]:
    """Which parts ``encode_item`` had to trim to stay within 1 KB (usually none)."""
    blob = item.get("r", {}).get("B")
    if blob is None:
        return []
    return list(_inflate(bytes(blob)).get("trimmed") or [])
