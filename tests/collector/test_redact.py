"""Secrets leave command lines; everything else stays as it was typed."""
from __future__ import annotations

import pytest

from collector.redact import MASK, PATTERNS, is_secret_name, redact_argv, redact_cmdline

HIDDEN = [
    (["mysql", "-u", "root", "--password=hunter2", "db"], ["mysql", "-u", "root", "--password=***", "db"]),
    (["app", "password=x"], ["app", "password=***"]),
    (["env", "TOKEN=abc123", "API_KEY=zzz", "secret=s3", "cmd"],
     ["env", "TOKEN=***", "API_KEY=***", "secret=***", "cmd"]),
    (["app", "AWS_SECRET_ACCESS_KEY=wJalrX"], ["app", "AWS_SECRET_ACCESS_KEY=***"]),
    (["app", "--api-key=abc", "--apikey", "def"], ["app", "--api-key=***", "--apikey", "***"]),
    (["ssh-keygen", "--key", "abc"], ["ssh-keygen", "--key", "***"]),
    (["tool", "--token", "xyz", "--verbose"], ["tool", "--token", "***", "--verbose"]),
    (["tool", "--pass", "x", "--secret", "y"], ["tool", "--pass", "***", "--secret", "***"]),
    (["aws", "--aws-secret-access-key", "AKIA1"], ["aws", "--aws-secret-access-key", "***"]),
    (["app", "--db-password='a b'"], ["app", "--db-password=***"]),
    (["mysql", "-p", "secret"], ["mysql", "-p", "***"]),
    (["/usr/bin/mysql", "-psecret", "db"], ["/usr/bin/mysql", "-p***", "db"]),
    (["sshpass", "-p", "pw", "ssh", "host"], ["sshpass", "-p", "***", "ssh", "host"]),
    (["redis-cli", "-a", "pw"], ["redis-cli", "-a", "***"]),
    (["curl", "-H", "Authorization: Bearer abc.def"], ["curl", "-H", "Authorization: Bearer ***"]),
    (["curl", "-H", "authorization: token ghp_123"], ["curl", "-H", "authorization: token ***"]),
    (["curl", "-H", "Authorization:", "Bearer", "abc"], ["curl", "-H", "Authorization:", "Bearer", "***"]),
    (["git", "clone", "https://user:pass@git.example.org/x.git"],
     ["git", "clone", "https://user:***@git.example.org/x.git"]),
    (["psql", "postgresql://app:s3cr3t@db:5432/prod"], ["psql", "postgresql://app:***@db:5432/prod"]),
    (["sh", "-c", "curl https://u:p@h/x && mysql --password=abc && tool --token xyz -v"],
     ["sh", "-c", "curl https://u:***@h/x && mysql --password=*** && tool --token *** -v"]),
]

KEPT = [
    ["mkdir", "-p", "/tmp/x"],
    ["ssh", "-p", "22", "host"],
    ["mpirun", "-np", "4", "./a.out"],
    ["python3", "train.py", "--lr=0.1", "--epochs", "10", "--output-dir", "runs/1"],
    ["app", "--password-file", "/run/pw", "--key-path=/etc/k"],
    ["app", "--monkey=3", "sortkey=2", "--author=me", "--keyboard=us"],
    ["lmp", "-in", "in.lj", "-var", "x", "5"],
    ["curl", "https://example.org/a?b=c"],
    ["git", "clone", "git@github.com:a/b.git"],
    ["stress-ng-cpu [run]"],
]


@pytest.mark.parametrize("argv,expected", HIDDEN)
def test_secrets_are_hidden(argv, expected):
    assert redact_argv(argv) == expected


@pytest.mark.parametrize("argv", KEPT)
def test_ordinary_arguments_are_kept(argv):
    assert redact_argv(argv) == argv


def test_option_without_value_does_not_eat_the_next_option():
    assert redact_argv(["mysql", "--password", "--host", "db"]) == ["mysql", "--password", "--host", "db"]
    assert redact_argv(["tool", "--token"]) == ["tool", "--token"]


@pytest.mark.parametrize("name,secret", [
    ("password", True), ("--db-password", True), ("MYSQL_PWD", True), ("GITHUB_TOKEN", True),
    ("client_secret", True), ("api_key", True), ("--key", True), ("auth", True),
    ("--password-file", False), ("key_path", False), ("keyboard", False), ("author", False),
    ("monkey", False), ("--lr", False), ("", False)])
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def test_cmdline_bytes():
    raw = b"mysql\0-u\0root\0--password=hunter2\0"
    assert redact_cmdline(raw) == "mysql -u root --password=***"
    assert redact_cmdline(b"") == ""
    assert redact_cmdline(b"stress-ng-cpu [run]") == "stress-ng-cpu [run]"   # rewritten title, no NUL
    assert "\ufffd" in redact_cmdline(b"a\0\xff\0")                          # never raises on bad UTF-8


def test_every_pattern_has_a_case_above():
    joined = [" ".join(a) for a, _ in HIDDEN]
    for name, rx, _ in PATTERNS:
        assert any(rx.search(s) for s in joined), name
    assert MASK == "***"
