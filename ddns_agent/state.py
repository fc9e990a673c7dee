"""Agent state in tmpfs: one JSON file written atomically under a lock, plus hotplug fingerprints.

Nothing here is ever written to flash on a router: `state_dir` defaults to /var/run/ddns_agent.

The directory must be ours: owned by the agent's user and writable by no one else (as sshd's
StrictModes and systemd's RuntimeDirectory= expect). A missing one is created 0700; an existing one
is used as it is or refused, never chmod'ed. Every file is created with O_EXCL|O_NOFOLLOW under a
fresh name and renamed into place, so a planted symlink is never followed.
"""

from __future__ import annotations

import fcntl
import os

from ddns_agent import jsonlib
from ddns_agent.errors import ConfigError, StateError

try:  # the builtin module: hashlib would load OpenSSL's libcrypto for one digest a record
    from _sha2 import sha256
except ImportError:
    try:
        from _sha256 import sha256
    except ImportError:  # pragma: no cover
        from hashlib import sha256

STATE_FILE = "state.json"
LOCK_FILE = "lock"
NEXT_CHECK_FILE = "next_check"
FP_DIR = "fp"
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_NUMBER = (int, float)
#: field -> accepted types in a state.json record entry; None is always accepted
FIELDS = {"config": (str,), "address": (str,), "id": (str, int), "time": _NUMBER, "checked": _NUMBER,
          "time_failed": _NUMBER, "hold_until": _NUMBER, "next_check": _NUMBER, "result": (str,),
          "error": (str,), "note": (str,), "failures": (int,), "stopped": (bool,), "pending": (str,),
          "failed_address": (str,), "ttl": (int,), "read_error": (str,), "duplicates": (list,),
          "members": (list,), "conflict": (dict,), "since": _NUMBER, "source": (str,)}
#: (field, exact type) -> True, or the bound of a number: 0 <= value < bound. A Unix time in
#: range excludes NaN, inf and 1e300; 2 ** failures must stay small; no bool where a number belongs.
_LIMITS = {(name, kind): 1e11 if kinds is _NUMBER else True
           for name, kinds in FIELDS.items() for kind in kinds}
_LIMITS.update({("failures", int): 1000000, ("ttl", int): 2 ** 31})


def _refuse(state_dir: str, why: str) -> ConfigError:
    return ConfigError("%s %s" % (state_dir, why), section="agent", option="state_dir")


def ensure_dir(state_dir: str) -> None:
    """Create `state_dir` (0700) and its fingerprint folder if missing; refuse a directory not ours."""
    try:
        parent = os.path.dirname(os.path.abspath(state_dir))
        os.makedirs(parent, 0o755, exist_ok=True)
        try:
            os.mkdir(state_dir, 0o700)
        except FileExistsError:
            pass
        st = os.stat(state_dir)  # symlinks followed: on OpenWrt /var itself is one (to /tmp)
    except OSError as e:
        raise _refuse(state_dir, "cannot be created: %s" % (e.strerror or e))
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(state_dir, "is not a directory")
    if st.st_uid != os.geteuid():
        raise _refuse(state_dir, "belongs to uid %d, not to this user (uid %d); use a directory of "
                      "its own" % (st.st_uid, os.geteuid()))
    if st.st_mode & 0o022:
        raise _refuse(state_dir, "is writable by others (mode %04o); use a directory of its own "
                      "(chmod go-w, or remove it and let the agent create it 0700)"
                      % stat.S_IMODE(st.st_mode))
    fp = os.path.join(state_dir, FP_DIR)
    try:
        os.mkdir(fp, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise StateError("cannot create %s: %s" % (fp, e.strerror or e))
    if not stat.S_ISDIR(os.lstat(fp).st_mode):
        raise StateError("%s is not a directory" % fp)


class Lock:
    """An exclusive flock on `state_dir/lock`, so parallel runs never push twice."""

    __slots__ = ("path", "fd")

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.fd = -1

    def __enter__(self) -> Lock:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise StateError("cannot open the lock %s: %s" % (self.path, _why(e)))
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)  # closing releases the lock
        self.fd = -1


def _why(e: OSError) -> str:
    import errno

    if e.errno == errno.ELOOP:
        return "it is a symbolic link"
    if e.errno == errno.EISDIR:
        return "it is a directory"
    return e.strerror or str(e)


def read(state_dir: str, notice=None) -> dict:
    """The saved state, `{"records": {key: {...}}}`; empty when missing.

    A corrupt file, or a field of the wrong type, counts as absent: `notice(text)` is told. A
    state file that cannot be read at all (a directory, a symlink, no permission) is a StateError.
    """
    path = os.path.join(state_dir, STATE_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return {"records": {}}
    except OSError as e:
        raise StateError("cannot read %s: %s" % (path, _why(e)))
    try:
        with os.fdopen(fd, "rb") as f:
            data = jsonlib.loads(f.read())
    except OSError as e:
        raise StateError("cannot read %s: %s" % (path, _why(e)))
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("records"), dict):
        _tell(notice, "%s is not agent state; starting afresh" % path)
        return {"records": {}}
    records = data["records"]
    for key in list(records):
        entry = records[key]
        if not isinstance(entry, dict):
            _tell(notice, "%s: record %s: not an object; ignored" % (path, key))
            del records[key]
            continue
        wrong = ()
        for name, value in entry.items():
            limit = _LIMITS.get((name, type(value)))
            if limit is True or (limit is not None and 0 <= value < limit):
                continue  # the common case, in one lookup: a field of a right type (and in range)
            if value is not None and name in FIELDS:
                wrong += (name,)
        for name in wrong:
            _tell(notice, "%s: record %s: %s has the wrong type; ignored" % (path, key, name))
            del entry[name]
    return data


def _tell(notice, text: str) -> None:
    if notice is not None:
        notice(text)


def write_atomic(path: str, text: str) -> None:
    """Replace `path` with `text`: a fresh 0600 temp file (O_EXCL|O_NOFOLLOW), then a rename.

    On any failure no temp file is left and a StateError names the file.
    """
    tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
    data = text.encode()
    try:
        fd = os.open(tmp, _NEW, 0o600)
    except OSError as e:
        raise StateError("cannot write %s: %s" % (path, _why(e)))
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StateError("cannot write %s: %s" % (path, _why(e)))


#: results that mean "the record holds our address": one `since` across re-checks
_HOLDS = ("published", "unchanged")


def mark_since(before: dict, saved: dict, now: float) -> None:
    """Set `since` on each entry whose result or address changed in this run (published = unchanged).

    Here, not in status.py (which reads it): a run that writes state need not load the command.
    """
    for key, entry in saved.items():
        kind = _kind(entry)
        if kind != _kind(before.get(key) or {}) or not entry.get("since"):
            result, c = entry.get("result"), entry.get("conflict")
            at = entry.get("time_failed") if result == "failed" else entry.get("time")
            if result == "held":
                at = c.get("seen_at") if isinstance(c, dict) else None
            dated = kind[0] in ("published", "failed", "held") and _is_time(at)
            entry["since"] = at if dated else now


def _kind(e: dict) -> tuple:
    r = e.get("result")
    return ("published" if r in _HOLDS else r), e.get("address")


def _is_time(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def write(state_dir: str, data: dict) -> None:
    """Replace the state file atomically (write a temp file, then rename); one record per line."""
    # not dumps(indent=...): pretty-printing runs json's pure-Python encoder, ~25 us per record
    dumps = jsonlib.dumps
    parts = []
    for key, value in data.items():
        if key == "records" and isinstance(value, dict) and value:
            value = "{\n" + ",\n".join(jsonlib.items(value)) + "\n}"
        else:
            value = dumps(value)
        parts.append("%s: %s" % (dumps(key), value))
    write_atomic(os.path.join(state_dir, STATE_FILE), "{\n" + ",\n".join(parts) + "\n}\n")


def _fp_path(state_dir: str, interface: str) -> str | None:
    if not interface or "/" in interface or interface in (".", ".."):
        return None  # not a netifd interface name; never a path outside fp/
    return os.path.join(state_dir, FP_DIR, interface)


def write_fingerprint(state_dir: str, interface: str, fingerprint: str) -> None:
    """Remember that every record served by `interface` is right for these addresses."""
    path = _fp_path(state_dir, interface)
    if path is not None:
        write_atomic(path, fingerprint)


def clear_fingerprint(state_dir: str, interface: str) -> None:
    """Forget the fingerprint so the next hotplug event starts the agent again."""
    path = _fp_path(state_dir, interface)
    try:
        if path is not None:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise StateError("cannot remove %s: %s" % (path, _why(e)))


def clear_fingerprints(state_dir: str) -> None:
    """Forget every fingerprint: a publish is under way, so no event may be skipped as unchanged."""
    folder = os.path.join(state_dir, FP_DIR)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not name.endswith(".tmp"):
            clear_fingerprint(state_dir, name)


def write_next_check(state_dir: str, when: float | None) -> None:
    """Record when the agent wants to run again (procd's periodic check reads it); None clears it."""
    path = os.path.join(state_dir, NEXT_CHECK_FILE)
    if when is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StateError("cannot remove %s: %s" % (path, _why(e)))
    else:
        write_atomic(path, "%d\n" % int(when))


def config_hash(record, provider, tail: str | None = None) -> str:
    """A short digest of everything that defines a record, so a config change resets its state.

    Secrets go into the digest (a new password must lift a `badauth` stop) but never in clear.
    `tail`: provider_tail(provider), when the caller computed it once for many records.
    """
    parts = [record.provider, record.domain, record.name, record.type, str(record.ttl), provider.type]
    if record.options:
        parts += ["%s=%s" % (k, record.options[k]) for k in sorted(record.options)]
    text = "\0".join(parts) + (provider_tail(provider) if tail is None else tail)
    return sha256(text.encode()).hexdigest()[:16]


def provider_tail(provider) -> str:
    """The provider's part of config_hash: "\0k=v" per option, sorted."""
    out = []
    for k in sorted(provider.options):
        v = provider.options[k]
        out.append("\0%s=%s" % (k, v.reveal() if hasattr(v, "reveal") else v))
    return "".join(out)
