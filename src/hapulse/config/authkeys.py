"""authkeys: the key that signs every message (pure parser)."""

from __future__ import annotations

import stat

from hapulse.config.model import AuthKeys, Diagnostic
from hapulse.config.model import isnum as _isnum

METHODS = ("crc", "md5", "sha1")


def parse_authkeys(
    text: str, path: str = "authkeys", mode: int | None = 0o600
) -> tuple[AuthKeys | None, list[Diagnostic]]:
    """Parse authkeys text. ``mode`` is the file's permission bits (None: not checked)."""
    diags: list[Diagnostic] = []

    def err(line: int | None, msg: str, code: str) -> None:
        diags.append(Diagnostic(path, line, "error", msg, code))

    if mode is not None and mode & (stat.S_IRWXG | stat.S_IRWXO):
        err(None, f"authkeys is mode {stat.S_IMODE(mode):03o}: group or others may read or "
            f"write the cluster key; Heartbeat requires mode 600: run `chmod 600 {path}`",
            "authkeys-mode")

    keys: dict[int, tuple[str, bytes]] = {}
    key_lines: dict[int, int] = {}
    auth_id: int | None = None
    auth_line: int | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        body = raw.strip()
        if not body or body.startswith("#"):
            continue
        words = body.split(None, 2)
        if words[0].lower() == "auth":
            if len(words) < 2 or not _isnum(words[1]):
                err(lineno, "`auth` needs the number of the key to use, e.g. `auth 1`",
                    "bad-auth")
                continue
            auth_id, auth_line = int(words[1]), lineno
            continue
        if not _isnum(words[0]):
            err(lineno, f"expected `auth N` or `N METHOD [SECRET]`, found `{words[0]}`",
                "bad-key-line")
            continue
        kid = int(words[0])
        if not 1 <= kid <= 15:
            err(lineno, f"key number {kid} is out of range 1..15", "bad-key-id")
            continue
        if len(words) < 2:
            err(lineno, f"key {kid} has no method: write `{kid} sha1 SECRET`", "bad-key-line")
            continue
        method = words[1].lower()
        if method not in METHODS:
            err(lineno, f"key {kid}: unknown method `{words[1]}`; use sha1, md5 or crc",
                "bad-method")
            continue
        secret = words[2].strip() if len(words) > 2 else ""
        if method != "crc" and not secret:
            err(lineno, f"key {kid}: {method} needs a secret: `{kid} {method} SECRET`",
                "missing-secret")
            continue
        if kid in keys:
            diags.append(Diagnostic(path, lineno, "warning",
                                    f"key {kid} defined again (first on line {key_lines[kid]}); "
                                    "the last one wins", "duplicate-key"))
        keys[kid] = (method, secret.encode("utf-8"))
        key_lines[kid] = lineno

    if auth_id is None:
        err(None, "no `auth N` line: add one naming the key to sign with, e.g. `auth 1`",
            "no-auth")
        return None, diags
    if auth_id not in keys:
        defined = ", ".join(str(k) for k in sorted(keys)) or "none"
        err(auth_line, f"`auth {auth_id}` names key {auth_id}, which is not defined "
            f"(keys defined: {defined}); add a line `{auth_id} sha1 SECRET`", "undefined-key")
        return None, diags
    method, key = keys[auth_id]
    if method == "crc":
        diags.append(Diagnostic(path, auth_line, "warning",
                                "crc authenticates nothing: anyone on the network can forge "
                                "messages; use sha1 with a secret", "crc-insecure"))
    if any(d.severity == "error" for d in diags):
        return None, diags
    return AuthKeys(key_id=auth_id, method=method, secret=key,  # type: ignore[arg-type]
                    keys=dict(keys), path=path), diags
