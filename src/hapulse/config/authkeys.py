"""authkeys: the key that signs every message (pure parser)."""

from __future__ import annotations

import re
import stat

from hapulse.config.model import AuthKeys, Diagnostic

METHODS = ("crc", "md5", "sha1")


def parse_authkeys(
    text: str, path: str = "authkeys", mode: int | None = 0o600
) -> tuple[AuthKeys | None, list[Diagnostic]]:
    """Parse authkeys text. ``mode`` is the file's permission bits (None: not checked)."""
    diags: list[Diagnostic] = []

    def err(line: int | None, msg: str, code: str) -> None:
        diags.append(Diagnostic(path, line, "error", msg, code))

    if mode is not None and mode & (stat.S_IRGRP | stat.S_IROTH):
        err(None, f"authkeys is mode {stat.S_IMODE(mode):03o}: group or others may read the "
            f"cluster key; Heartbeat refuses this (600 recommended): run `chmod 600 {path}`",
            "authkeys-mode")
    elif mode is not None and mode & (stat.S_IWGRP | stat.S_IWOTH):
        diags.append(Diagnostic(path, None, "warning", f"authkeys is mode "
                                f"{stat.S_IMODE(mode):03o}: others may change the cluster key; "
                                f"run `chmod 600 {path}`", "authkeys-mode"))

    # Heartbeat reads `auth N`, then `N METHOD [KEY]` lines with sscanf("%d%s%s"): the
    # key is the first word after the method, and a key line selects the signing
    # key only when it comes after the `auth` line naming it.
    keys: dict[int, tuple[str, bytes]] = {}
    key_lines: dict[int, int] = {}
    auth_id: int | None = None
    auth_line: int | None = None
    selected: int | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        body = raw.strip()
        if not body or body.startswith("#"):
            continue
        words = body.split()
        if body.startswith("a"):
            if words[0] != "auth" or len(words) < 2 or not re.match(r"[+-]?\d", words[1]):
                err(lineno, "`auth` needs the number of the key to use, e.g. `auth 1`",
                    "bad-auth")
                continue
            auth_id, auth_line = int(re.match(r"[+-]?\d+", words[1]).group(0)), lineno  # type: ignore[union-attr]
            continue
        m = re.match(r"([+-]?\d+)\s*(\S+)?\s*(\S+)?\s*(.*)$", body)
        if not m or m.group(2) is None:
            err(lineno, f"expected `auth N` or `N METHOD [SECRET]`, found `{body}`",
                "bad-key-line")
            continue
        kid, method, secret, extra = int(m.group(1)), m.group(2), m.group(3) or "", m.group(4)
        if not 0 <= kid <= 15:
            err(lineno, f"key number {kid} is out of range 0..15", "bad-key-id")
            continue
        if method not in METHODS:
            err(lineno, f"key {kid}: unknown method `{method}`; use sha1, md5 or crc "
                "(lower case)", "bad-method")
            continue
        if method == "crc" and secret:
            err(lineno, f"key {kid}: crc takes no secret; Heartbeat refuses `{kid} crc "
                f"{secret}`: write `{kid} crc`", "crc-with-key")
            continue
        if method != "crc" and not secret:
            err(lineno, f"key {kid}: {method} needs a secret: `{kid} {method} SECRET`",
                "missing-secret")
            continue
        if extra:
            diags.append(Diagnostic(path, lineno, "warning", f"key {kid}: only the first word "
                                    f"after `{method}` is the secret (Heartbeat signs with "
                                    f"`{secret}`); the words `{extra}` are ignored",
                                    "key-extra-words"))
        if kid in keys:
            diags.append(Diagnostic(path, lineno, "warning",
                                    f"key {kid} defined again (first on line {key_lines[kid]}); "
                                    "the last one wins", "duplicate-key"))
        keys[kid] = (method, secret.encode("utf-8"))
        key_lines[kid] = lineno
        if kid == auth_id:
            selected = kid

    if auth_id is None:
        err(None, "no `auth N` line: add one naming the key to sign with, e.g. `auth 1`",
            "no-auth")
        return None, diags
    if auth_id in keys and selected != auth_id:
        err(auth_line, f"`auth {auth_id}` comes after the line defining key {auth_id} (line "
            f"{key_lines[auth_id]}): Heartbeat then finds no signing key (\"Auth Key "
            f"[{auth_id}] not found\"); move the `auth` line first", "auth-after-key")
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
