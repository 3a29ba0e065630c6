"""Content encryption keys: where they come from, which one is active, and the keys derived from them.

Setting ``content_key`` (env ``TOKENTRAIL_CONTENT_KEY``):

* empty (default): the key file ``DATA_DIR/content.key``, generated on first start (mode 0600);
* ``@FILE``: a key file: one ``KEYID:BASE64`` line per key (32 bytes each), the FIRST line is the
  active key (new content is encrypted with it), the others only decrypt older rows; ``#`` comments;
* a base64 string of 32 bytes: that one key, its id ``k`` + 8 hex chars of its SHA-256;
* ``off``: no encryption (content is stored as plain text; not recommended).

Each key yields a sub-key for the search index (HKDF-SHA256), so the index never uses the content
key itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_FILE_NAME = "content.key"
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
OFF = "off"


class KeyConfigError(ValueError):
    """The content key setting or file is unusable (the message says why, never the key)."""


@dataclass(frozen=True)
class ContentKey:
    key_id: str
    key: bytes  # 32 bytes, AES-256-GCM

    @property
    def index_key(self) -> bytes:
        """The blind index's key (AES-256, ECB over token digests): derived, never the content key."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"tokentrail search index v1").derive(self.key)

    def __repr__(self) -> str:  # never print key material
        return f"ContentKey({self.key_id!r})"


@dataclass(frozen=True)
class Keyring:
    keys: tuple[ContentKey, ...]  # the first is the active one
    source: Path | None = None  # the key file, when keys come from one (rotation can add a key to it)

    @property
    def active(self) -> ContentKey:
        return self.keys[0]

    def get(self, key_id: str) -> ContentKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    @property
    def ids(self) -> list[str]:
        return [k.key_id for k in self.keys]


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as e:
        raise KeyConfigError(f"{where}: not base64") from e
    if len(raw) != 32:
        raise KeyConfigError(f"{where}: a key is 32 bytes (base64 of 32 random bytes), got {len(raw)}")
    return raw


def parse_key_file(text: str, name: str) -> tuple[ContentKey, ...]:
    keys: list[ContentKey] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key_id, sep, b64 = line.partition(":")
        if not sep or not KEY_ID.match(key_id.strip()):
            raise KeyConfigError(f"{name} line {n}: expected KEYID:BASE64 (id of letters, digits, _ . -)")
        if any(k.key_id == key_id.strip() for k in keys):
            raise KeyConfigError(f"{name} line {n}: key id {key_id.strip()!r} appears twice")
        keys.append(ContentKey(key_id.strip(), _decode_key(b64, f"{name} line {n}")))
    if not keys:
        raise KeyConfigError(f"{name}: no key in the file")
    return tuple(keys)


def new_key_line(key_id: str | None = None) -> str:
    key_id = key_id or "k" + secrets.token_hex(4)
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def load(setting: str, data_dir: Path) -> Keyring | None:
    """The keyring named by the ``content_key`` setting; None when encryption is off."""
    setting = (setting or "").strip()
    if setting.lower() == OFF:
        return None
    if setting.startswith("@"):
        path = Path(setting[1:]).expanduser()
        try:
            return Keyring(parse_key_file(path.read_text(), str(path)), path)
        except OSError as e:
            raise KeyConfigError(f"cannot read content key file {path}: {e.strerror}") from e
    if setting:
        raw = _decode_key(setting, "content_key")
        return Keyring((ContentKey("k" + hashlib.sha256(raw).hexdigest()[:8], raw),))
    path = Path(data_dir).expanduser().resolve() / KEY_FILE_NAME
    if not path.exists():  # first start: encryption on by default, its key beside the data
        _write_private(path, "# tokentrail content keys: KEYID:BASE64, the first line is the active key\n"
                       + new_key_line() + "\n")
    return Keyring(parse_key_file(path.read_text(), str(path)), path)


def add_key(ring: Keyring) -> Keyring:
    """A new active key written at the top of the key file (the older keys stay: they decrypt old rows)."""
    if ring.source is None:
        raise KeyConfigError("the content key comes from the environment: add a key by hand (content_key = "
                             "@FILE holding 'NEWID:BASE64' above the current key) and rotate again")
    lines = ring.source.read_text().splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")), len(lines))
    line = new_key_line()
    while any(line.split(":")[0] == k for k in ring.ids):
        line = new_key_line()
    _write_private(ring.source, "\n".join(lines[:at] + [line] + lines[at:]) + "\n")
    return Keyring(parse_key_file(ring.source.read_text(), str(ring.source)), ring.source)
