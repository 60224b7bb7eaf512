"""Settings from the environment: what a fresh machine gets, and what the server may rely on."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings


def test_the_default_data_dir_is_absolute_so_workloads_never_depend_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env({}).data_dir == tmp_path / "tesserra-data"


def test_a_relative_data_dir_is_made_absolute_and_normalized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"TESSERRA_DATA_DIR": "a/../data/./here"})
    assert settings.data_dir == tmp_path / "data" / "here"
    assert settings.data_dir.is_absolute()


async def test_an_existing_data_dir_and_a_database_outside_it_are_narrowed_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data dir and a database an earlier version left world-readable (and the default database,
    ``./tesserra.db``, which lies outside the data dir) are the server user's alone once it starts."""
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    settings = Settings.from_env({"TESSERRA_DATA_DIR": str(data_dir), "TESSERRA_SECRET_KEY": "k" * 40})
    async with running(settings):
        pass
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "tesserra.db").stat().st_mode) == 0o600


def test_no_proxy_is_trusted_by_default() -> None:
    settings = Settings.from_env({})
    assert (settings.trusted_proxies, settings.proxy_header) == ((), "x-forwarded-for")


def test_trusted_proxies_are_a_comma_separated_list_of_networks() -> None:
    env = {"TESSERRA_TRUSTED_PROXIES": "127.0.0.1/32, 10.0.0.0/8 ,::1", "TESSERRA_PROXY_HEADER": "Forwarded"}
    settings = Settings.from_env(env)
    assert settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1")
    assert settings.proxy_header == "forwarded"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TESSERRA_TRUSTED_PROXIES", "10.0.0.0/8,10.0.0.0/33", "'10.0.0.0/33' is not an address or a CIDR network"),
        ("TESSERRA_TRUSTED_PROXIES", "lb.internal", "'lb.internal' is not an address or a CIDR network"),
        ("TESSERRA_PROXY_HEADER", "x-real-ip", "TESSERRA_PROXY_HEADER must be one of x-forwarded-for, forwarded, not"),
    ],
)
def test_a_bad_proxy_setting_stops_the_start_with_one_clear_line(name: str, value: str, says: str) -> None:
    with pytest.raises(SystemExit, match=says):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TESSERRA_RUNTIME", "kubernetes", "TESSERRA_RUNTIME must be one of process, docker, not 'kubernetes'"),
        ("TESSERRA_RATE_LIMIT_BACKEND", "memcached", "must be one of auto, memory, database, redis, not 'memcached'"),
        ("TESSERRA_PROCESS_ISOLATION", "off", "must be one of bubblewrap, none-trusted-single-tenant, not 'off'"),
        ("TESSERRA_STRIPE_PRICES_API", "products", "TESSERRA_STRIPE_PRICES_API must be one of prices, plans"),
        ("TESSERRA_LOG_LEVEL", "verbose", "TESSERRA_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("TESSERRA_PORT", "http", r"Expected `int`, got `str` \(TESSERRA_PORT\)"),
        ("TESSERRA_SANDBOX_POOL_SIZE", "-1", r"Expected `int` >= 0 \(TESSERRA_SANDBOX_POOL_SIZE\)"),
        ("TESSERRA_SANDBOX_POOL_SIZE", "65", r"Expected `int` <= 64 \(TESSERRA_SANDBOX_POOL_SIZE\)"),
        ("TESSERRA_DOCKER_HOST_GUARD", "none", "TESSERRA_DOCKER_HOST_GUARD must be one of iptables, external"),
        ("TESSERRA_NODE_TIMEOUT", "2.5", r"Expected `float` >= 3.0 \(TESSERRA_NODE_TIMEOUT\)"),
        ("TESSERRA_NODE_TIMEOUT", "3601", r"Expected `float` <= 3600.0 \(TESSERRA_NODE_TIMEOUT\)"),
        ("TESSERRA_NODE_TIMEOUT", "nan", r"TESSERRA_NODE_TIMEOUT"),
        ("TESSERRA_NODE_TIMEOUT", "soon", r"Expected `float`, got `str` \(TESSERRA_NODE_TIMEOUT\)"),
    ],
)
def test_a_setting_outside_its_closed_set_stops_the_start_naming_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(SystemExit, match=says):
        Settings.from_env({name: value})


def test_closed_settings_match_in_any_case_where_the_value_is_a_name() -> None:
    settings = Settings.from_env({"TESSERRA_LOG_LEVEL": "debug", "TESSERRA_PROXY_HEADER": " Forwarded "})
    assert (settings.log_level, settings.proxy_header) == ("DEBUG", "forwarded")


@pytest.mark.parametrize(
    ("env", "stateless"),
    [
        ({}, False),  # one worker: legacy MCP sessions in its memory
        ({"TESSERRA_WORKERS": "3"}, True),  # a session in one worker's memory would be lost on the next
        ({"TESSERRA_MCP_SESSIONS": "none"}, True),  # a node behind a balancer
        ({"TESSERRA_MCP_SESSIONS": "local", "TESSERRA_WORKERS": "3"}, False),
    ],
)
def test_legacy_mcp_sessions_are_local_to_one_worker_and_off_for_several_or_when_asked(
    env: dict[str, str], stateless: bool
) -> None:
    assert Settings.from_env(env).mcp_stateless is stateless


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtps://user:pw@", "mail.example.com"])
def test_a_malformed_smtp_url_stops_the_start(url: str) -> None:
    with pytest.raises(SystemExit, match="smtp_url"):
        Settings.from_env({"TESSERRA_SMTP_URL": url})


def test_smtp_settings_are_read() -> None:
    settings = Settings.from_env(
        {"TESSERRA_SMTP_URL": "smtp+starttls://u:p@mail.example.com:587", "TESSERRA_MAIL_FROM": "ops@example.com"}
    )
    assert (settings.smtp_url, settings.mail_from) == ("smtp+starttls://u:p@mail.example.com:587", "ops@example.com")


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:7500"),
        ({"TESSERRA_HOST": "10.0.0.5", "TESSERRA_PORT": "8000"}, "http://10.0.0.5:8000"),
        ({"TESSERRA_HOST": "fd00::5", "TESSERRA_PORT": "8000"}, "http://[fd00::5]:8000"),
        ({"TESSERRA_HOST": "::1", "TESSERRA_PORT": "8000"}, "http://[::1]:8000"),
        ({"TESSERRA_HOST": "0.0.0.0"}, None),
        ({"TESSERRA_HOST": "::"}, None),
        ({"TESSERRA_HOST": "0.0.0.0", "TESSERRA_NODE_URL": "http://10.0.0.5:7500"}, "http://10.0.0.5:7500"),
        ({"TESSERRA_HOST": "::", "TESSERRA_NODE_URL": "http://[fd00::5]:7500"}, "http://[fd00::5]:7500"),
        ({"TESSERRA_NODE_URL": "http://[::1]:8000/"}, "http://[::1]:8000/"),
    ],
)
def test_a_node_advertises_its_own_address_or_the_one_it_listens_on_when_concrete(
    env: dict[str, str], url: str | None
) -> None:
    """Where other nodes forward a proxied request for a sandbox this node runs (TESSERRA_NODE_URL)."""
    assert Settings.from_env(env).advertised_url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5:7500",
        "http://10.0.0.5",
        "http://10.0.0.5:7500/api",
        "10.0.0.5:7500",
        "http://:80",
        "http://fd00::5:7500",
        "http://[fd00::5:7500",
        "http://[node-a]:7500",
        "http://0.0.0.0:7500",  # the wildcards name no address another node could reach
        "http://[::]:7500",
        "http://[fe80::1%25eth0]:7500",
    ],
)
def test_a_node_url_is_http_host_and_port_only(url: str) -> None:
    with pytest.raises(SystemExit) as refused:
        Settings.from_env({"TESSERRA_NODE_URL": url})
    assert "node_url" in str(refused.value)


def test_the_boot_id_other_nodes_compare_is_the_kernels_unless_set() -> None:
    assert Settings.from_env({}).boot_id is None
    assert Settings.from_env({"TESSERRA_BOOT_ID": "pod-a"}).boot_id == "pod-a"
