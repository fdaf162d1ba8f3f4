"""The ``prometheus`` key of ``[record]``: addresses accepted, loopback by default, one-line errors."""
import pytest

from collector.config import DEFAULT_HOST, load_config, parse_address
from paratune_base.errors import ParatuneError


@pytest.mark.parametrize("text, expected", [
    ("9464", (DEFAULT_HOST, 9464)),
    ("0", (DEFAULT_HOST, 0)),
    ("127.0.0.1:9464", ("127.0.0.1", 9464)),
    ("0.0.0.0:9464", ("0.0.0.0", 9464)),
    ("node001.cluster:65535", ("node001.cluster", 65535)),
    ("[::1]:9464", ("::1", 9464)),
    ("[::]:1", ("::", 1)),
])
def test_addresses(text, expected):
    assert parse_address(text) == expected


def test_default_is_no_endpoint_and_loopback_when_only_a_port(tmp_path):
    assert load_config().prometheus is None
    path = tmp_path / "paratune.toml"
    path.write_text("[record]\nprometheus = 9464\n")          # a TOML integer is a port
    cfg = load_config(path)
    assert cfg.prometheus == "9464" and parse_address(cfg.prometheus) == ("127.0.0.1", 9464)
    assert load_config(path, prometheus="0.0.0.0:9100").prometheus == "0.0.0.0:9100"


@pytest.mark.parametrize("value, needle", [
    ('"http://x:1"', "without a scheme"),
    ('"127.0.0.1:"', "port from 0 to 65535"),
    ('"127.0.0.1:-1"', "port from 0 to 65535"),
    ('"127.0.0.1:70000"', "port from 0 to 65535"),
    ('":9464"', "a host before"),
    ('"fe80::1:9464"', "[ADDRESS]:PORT"),
    ('"[1.2.3.4]:9464"', "an IPv6 address inside"),
    ("true", 'must be "HOST:PORT" or a port number'),
    ("9464.5", 'must be "HOST:PORT" or a port number'),
    ("[9464]", 'must be "HOST:PORT" or a port number'),
])
def test_bad_values_one_line_naming_the_key(tmp_path, value, needle):
    path = tmp_path / "paratune.toml"
    path.write_text(f"[record]\nprometheus = {value}\n")
    with pytest.raises(ParatuneError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: prometheus must ") and needle in msg and "\n" not in msg
    assert err.value.exit_code == 2


def test_bad_command_line_value_names_the_command_line():
    with pytest.raises(ParatuneError, match=r"^command line: prometheus must be PORT or HOST:PORT"):
        load_config(None, prometheus="localhost:http")
