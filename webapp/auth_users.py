"""Basic sign-in for a self-hosted private app: SONARE_AUTH_USERS names a file of
`user:password-hash` lines, made with

    python -m webapp.auth_users alice >> users.txt     (asks for the password twice)

Hashes are PBKDF2-SHA256 (`pbkdf2_sha256$<iterations>$<salt>$<hash>`, base64), checked in
constant time. A plain-text password in the file is refused when the app starts, so one never
sits in a repo by accident; neither passwords nor hashes are logged.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from engine import ConfigError

SCHEME = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP's figure for PBKDF2-SHA256


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """A `pbkdf2_sha256$...` hash of `password` with a random salt."""
    if not password:
        raise ConfigError("A password must not be empty.")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join([SCHEME, str(iterations), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches a hash made by hash_password."""
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        if scheme != SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except (ValueError, TypeError):
        return False


def load_auth_users(path: Path) -> dict[str, str]:
    """user -> hash from the file; ConfigError (naming the line, never its content) when a line
    is not `user:pbkdf2_sha256$...` or the file is missing or empty."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"SONARE_AUTH_USERS: cannot read {path} ({error.strerror}).") from None
    users = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, encoded = line.strip().partition(":")
        if not sep or not user or not encoded.startswith(SCHEME + "$") or encoded.count("$") != 3:
            raise ConfigError(
                f"SONARE_AUTH_USERS: line {number} of {path} is not `user:{SCHEME}$...`; store "
                "hashes, never passwords (python -m webapp.auth_users NAME makes a line)."
            )
        users[user] = encoded
    if not users:
        raise ConfigError(f"SONARE_AUTH_USERS: {path} lists no users.")
    return users


def password_checker(path: Path) -> Callable[[str, str], bool]:
    """Gradio's `auth=` callable over the users file (read once, at start)."""
    users = load_auth_users(path)

    def check(username: str, password: str) -> bool:
        encoded = users.get(username)
        # Unknown users cost a hash too, so timing does not tell which names exist.
        ok = verify_password(password, encoded or hash_password("x", salt=b"0" * 16))
        return encoded is not None and ok

    return check


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def main(argv: list[str]) -> int:
    """Print a `user:hash` line for the user named in argv (the password is asked twice)."""
    if len(argv) != 1 or ":" in argv[0]:
        print("usage: python -m webapp.auth_users USER   (no ':' in USER)", file=sys.stderr)
        return 2
    first = getpass.getpass(f"Password for {argv[0]}: ")
    if first != getpass.getpass("Again: "):
        print("The passwords differ.", file=sys.stderr)
        return 1
    print(f"{argv[0]}:{hash_password(first)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
