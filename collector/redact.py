"""Secrets out of command lines before they reach a trace.

Traces get copied to laptops and attached to tickets; a password typed on a
command line must not travel with them.  Redaction works on the argument
vector (so ``--token x`` can blank the *next* argument) and replaces only
the secret value with ``***``, keeping the option name so the command line
still says what was run.  It errs on the side of hiding: a harmless value
after ``--key`` is hidden too.
"""
from __future__ import annotations

import re

MASK = "***"

SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey",
                "accesskey", "privatekey", "credential", "bearer")
"""A name part containing one of these marks a secret (``db_password``, ``MYTOKEN``)."""

SECRET_PARTS = frozenset({"key", "pass", "pwd", "pw", "auth", "cred", "creds"})
"""A name part equal to one of these marks a secret (``API_KEY``, ``--pass``)."""

NOT_SECRET_LAST = frozenset({"file", "path", "dir", "directory", "env", "fd",
                             "prompt", "stdin", "length", "len", "type", "size"})
"""A name ending in one of these names *where* a secret is, not the secret
(``--password-file /run/pw``, ``--key-path``): left alone."""

PROGRAM_PASSWORD_FLAGS = {
    "mysql": ("-p",), "mysqldump": ("-p",), "mysqladmin": ("-p",),
    "mysqlimport": ("-p",), "mysqlcheck": ("-p",), "mariadb": ("-p",),
    "mariadb-dump": ("-p",), "mariadb-admin": ("-p",), "sshpass": ("-p",),
    "smbclient": ("-U",), "curl": ("-u", "--user"), "redis-cli": ("-a",), "ldapsearch": ("-w",),
    "ldapmodify": ("-w",), "ldapadd": ("-w",), "ipmitool": ("-P",),
}
"""Flags that take a password only for some programs: ``mysql -p x``
hides x, but ``ssh -p 22`` and ``mkdir -p dir`` keep theirs.  Glued forms
(``-pVALUE``) are hidden too."""

# In-argument patterns: (name, regex, replacement).  Applied to every
# argument, so they also catch secrets inside one long argument (a shell's
# ``sh -c "..."`` string, or a process that rewrote its title).
PATTERNS = (
    ("url credentials",
     re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):([^/\s@]+)@"),
     r"\1:" + MASK + "@"),
    ("authorization header",
     re.compile(r"(?i)\b((?:proxy-)?authorization\s*:\s*(?:bearer|basic|token|digest|negotiate)?\s*)(\S+)"),
     r"\1" + MASK),
    ("bearer token",
     re.compile(r"(?i)\b(bearer\s+)(?!\*\*\*)(\S+)"),
     r"\1" + MASK),
)

_ASSIGN = re.compile(r"(?<![^\s'\"])(-{0,2}([A-Za-z_][A-Za-z0-9_.-]*))=([^\s'\"]+|'[^']*'|\"[^\"]*\")")
_OPTION_VALUE = re.compile(r"(?<![^\s'\"])(--[A-Za-z][A-Za-z0-9_.-]*)(\s+)(?!-)(\S+)")
_NAME_SPLIT = re.compile(r"[-_.]+")


def is_secret_name(name: str) -> bool:
    """True for option or variable names that carry a secret value."""
    parts = [p for p in _NAME_SPLIT.split(name.lstrip("-").lower()) if p]
    if not parts or parts[-1] in NOT_SECRET_LAST:
        return False
    return any(p in SECRET_PARTS or any(w in p for w in SECRET_WORDS) for p in parts)


def _assign(m: re.Match) -> str:
    return f"{m.group(1)}={MASK}" if is_secret_name(m.group(2)) else m.group(0)


def _option_value(m: re.Match) -> str:
    return f"{m.group(1)}{m.group(2)}{MASK}" if is_secret_name(m.group(1)) else m.group(0)


def redact_text(arg: str) -> str:
    """Redacts ``name=value`` secrets, ``--secret-option value`` inside one
    argument (a shell's ``-c`` string) and the PATTERNS."""
    if "=" in arg:
        arg = _ASSIGN.sub(_assign, arg)
    if " " in arg and "--" in arg:
        arg = _OPTION_VALUE.sub(_option_value, arg)
    for _, rx, repl in PATTERNS:
        arg = rx.sub(repl, arg)
    return arg


def redact_argv(argv: list[str]) -> list[str]:
    """Redacted copy of an argument vector."""
    if not argv:
        return []
    prog = argv[0].rsplit("/", 1)[-1]
    short = PROGRAM_PASSWORD_FLAGS.get(prog, ())
    out = [redact_text(argv[0])]
    hide_next = False
    for arg in argv[1:]:
        if hide_next:
            hide_next = False
            if not arg.startswith("--"):       # "--password --host x": no value given
                out.append(MASK)
                continue
        if arg.startswith("-") and "=" not in arg:
            if (arg.startswith("--") and is_secret_name(arg)) or arg in short:
                hide_next = True
                out.append(arg)
                continue
            glued = next((s for s in short if len(s) == 2 and arg.startswith(s) and len(arg) > 2), None)
            if glued:                              # mysql -psecret
                out.append(glued + MASK)
                continue
        if arg.lower().endswith("bearer"):         # "Authorization: Bearer" TOKEN, split by a shell
            hide_next = True
            out.append(arg)
            continue
        out.append(redact_text(arg))
    return out


def redact_cmdline(raw: bytes) -> str:
    """/proc/PID/cmdline (NUL-separated) -> one redacted, space-joined line."""
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return " ".join(redact_argv([p.decode(errors="replace") for p in parts]))
