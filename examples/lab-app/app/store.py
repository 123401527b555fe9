"""What the wallet keeps under its data directory, and how it writes it.

Layout (all files mode 0600, every write atomic: a temporary file in the same directory,
fsync, rename, fsync of the directory, so a crash or a killed container leaves the old
file or the new one, never half of one):

    DATA_DIR/users.json            {"users": {name: {"salt", "hash", "iterations"}}}
    DATA_DIR/sessions.json         {"sessions": {sha256(token): {"user", "created"}}}
    DATA_DIR/wallets/<user>.json   {"network", "type", "private_key", "address"}

Passwords are stored as PBKDF2-HMAC-SHA256 with a random salt; sessions by the SHA-256 of
their token, so a copy of the data directory does not hand out live sessions. A lock
serialises the read-modify-write cycles of the threads of one server process.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time

import keys

USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")
PBKDF2_ITERATIONS = 600_000
SESSION_LIFETIME = 12 * 3600


def valid_username(name):
    """Whether ``name`` is 1-32 of ``[A-Za-z0-9_.-]`` (so ``<name>.json`` is a plain file
    name inside ``wallets/``: no ``/``, and ``.json`` makes ``.`` and ``..`` ordinary names)."""
    return isinstance(name, str) and USERNAME.fullmatch(name) is not None


def write_atomically(path, value):
    """Writes ``value`` as JSON to ``path`` (mode 0600) by temporary file, fsync, rename."""
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read(path, default):
    try:
        with open(path, encoding="utf-8") as source:
            return json.load(source)
    except FileNotFoundError:
        return default


def _password_hash(password, salt, iterations):
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)


class UserExists(Exception):
    """Registration of a name that is taken."""


class Store:
    """Users, sessions and wallets under one data directory."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.wallet_dir = os.path.join(data_dir, "wallets")
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
        os.makedirs(self.wallet_dir, mode=0o700, exist_ok=True)
        self._users_path = os.path.join(data_dir, "users.json")
        self._sessions_path = os.path.join(data_dir, "sessions.json")
        self._lock = threading.Lock()
        # Compared against when the user does not exist, so that a login takes as long
        # whether or not the name is registered.
        self._dummy = {"salt": "00" * 16, "hash": "00" * 32, "iterations": PBKDF2_ITERATIONS}

    def register(self, name, password):
        """Adds a user; raises UserExists if the name is taken."""
        salt = secrets.token_bytes(16)
        digest = _password_hash(password, salt, PBKDF2_ITERATIONS)
        with self._lock:
            users = _read(self._users_path, {"users": {}})
            if name in users["users"]:
                raise UserExists(name)
            users["users"][name] = {
                "salt": salt.hex(),
                "hash": digest.hex(),
                "iterations": PBKDF2_ITERATIONS,
            }
            write_atomically(self._users_path, users)

    def check_password(self, name, password):
        """Whether ``password`` is ``name``'s (False for an unknown user)."""
        with self._lock:
            record = _read(self._users_path, {"users": {}})["users"].get(name)
        known = record is not None
        record = record or self._dummy
        digest = _password_hash(password, bytes.fromhex(record["salt"]), record["iterations"])
        return hmac.compare_digest(digest, bytes.fromhex(record["hash"])) and known

    def new_session(self, name):
        """A fresh random session token for ``name``; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        now = int(time.time())
        with self._lock:
            sessions = _read(self._sessions_path, {"sessions": {}})
            sessions["sessions"] = {
                key: value
                for key, value in sessions["sessions"].items()
                if now - value["created"] < SESSION_LIFETIME
            }
            sessions["sessions"][_token_key(token)] = {"user": name, "created": now}
            write_atomically(self._sessions_path, sessions)
        return token

    def session_user(self, token):
        """The user of a live session ``token``, or None."""
        if not token:
            return None
        with self._lock:
            sessions = _read(self._sessions_path, {"sessions": {}})
        session = sessions["sessions"].get(_token_key(token))
        if session is None or int(time.time()) - session["created"] >= SESSION_LIFETIME:
            return None
        return session["user"]

    def end_session(self, token):
        """Forgets the session ``token`` (logout)."""
        if not token:
            return
        with self._lock:
            sessions = _read(self._sessions_path, {"sessions": {}})
            if sessions["sessions"].pop(_token_key(token), None) is not None:
                write_atomically(self._sessions_path, sessions)

    def wallet_path(self, name):
        """The wallet file of ``name`` (a valid user name)."""
        if not valid_username(name):
            raise ValueError("invalid user name")
        return os.path.join(self.wallet_dir, name + ".json")

    def wallet(self, name):
        """``name``'s wallet record, or None before one is created."""
        return _read(self.wallet_path(name), None)

    def create_wallet(self, name):
        """Creates ``name``'s wallet with a new key, unless one exists (a key is never
        replaced: that would lose whatever was sent to its address). Returns the record."""
        with self._lock:
            existing = _read(self.wallet_path(name), None)
            if existing is not None:
                return existing
            private_key = keys.new_private_key()
            record = {
                "network": "testnet",
                "type": "p2wpkh",
                "private_key": format(private_key, "064x"),
                "address": keys.testnet_address(private_key),
            }
            write_atomically(self.wallet_path(name), record)
            return record


def _token_key(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
