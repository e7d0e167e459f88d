"""The runs of a probe's secrets: what the guard looks for in server text.

A run is ``MIN_RUN`` consecutive characters of a secret (its normalised view); a
shorter secret is looked for whole, as a word of its own. The same runs as UTF-8
bytes are looked for in decoded base64 and hex.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MIN_RUN", "SecretRuns"]

MIN_RUN = 8  # a run this long of a password is the password
_MIN_BLOB_SECRET = 4  # shorter passwords are not looked for inside base64


class SecretRuns:
    """The runs of the secrets, by length: ``(length, runs, whole_word_only)``; for
    text (``folded``: the secrets as the text view shows them) and for decoded bytes
    (their UTF-8 forms, and ``raw``: the secrets' own bytes, squeezed as bytes)."""

    def __init__(self, folded: Iterable[str], raw: Iterable[bytes] = ()) -> None:
        by_key: dict[tuple[int, bool], set[str]] = {}
        for text in folded:
            if len(text) >= MIN_RUN:
                runs = {text[i : i + MIN_RUN] for i in range(len(text) - MIN_RUN + 1)}
                by_key.setdefault((MIN_RUN, False), set()).update(runs)
            elif text:
                by_key.setdefault((len(text), True), set()).add(text)
        self.groups = [(n, runs, short) for (n, short), runs in sorted(by_key.items())]
        self.shortest = min((n for n, _, _ in self.groups), default=0)
        blob: dict[tuple[int, bool], set[bytes]] = {}
        for _n, runs, short in self.groups:
            for run in runs:
                data = run.encode("utf-8")
                if len(data) >= _MIN_BLOB_SECRET:
                    blob.setdefault((len(data), short), set()).add(data)
        for data in raw:
            if len(data) >= MIN_RUN:
                windows = {data[i : i + MIN_RUN] for i in range(len(data) - MIN_RUN + 1)}
                blob.setdefault((MIN_RUN, False), set()).update(windows)
            elif len(data) >= _MIN_BLOB_SECRET:
                blob.setdefault((len(data), True), set()).add(data)
        self.blob_groups = [(n, runs, short) for (n, short), runs in sorted(blob.items())]
        self.blob_all = [run for _, runs, _ in self.blob_groups for run in runs]
        self.blob_shortest = min((n for n, _, _ in self.blob_groups), default=0)
        # base64 characters needed to encode that many bytes, at the worst alignment
        self.b64_shortest = (self.blob_shortest * 4 + 2) // 3
