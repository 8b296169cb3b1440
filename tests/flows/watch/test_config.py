"""The accounts file: the minimal form exactly as documented, and every mistake named."""

import os

import pytest

from flows.watch.config import JsonlSinkConfig, RabbitSinkConfig, WebhookSinkConfig, load_config
from scraper.errors import ConfigError

MINIMAL = '''
[[accounts]]
name = "main"
address = "https://vpbx.mts.ru"
login = "+7-9000000000"
password_env = "VATS_PASSWORD_MAIN"   # or password_file = "…"; never the password itself

[[sinks]]
name = "log"
type = "jsonl"                        # jsonl | webhook | rabbitmq
path = "events.jsonl"                 # "-" = stdout
'''


def write(tmp_path, text, name="accounts.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_minimal_form_works_exactly_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("VATS_PASSWORD_MAIN", "pw")
    config = load_config(write(tmp_path, MINIMAL))
    (account,) = config.accounts
    assert (account.name, account.address, account.login) == \
        ("main", "https://vpbx.mts.ru", "+7-9000000000")
    assert account.password() == "pw"
    assert account.every.total_seconds() == 300
    (sink,) = config.sinks
    assert isinstance(sink, JsonlSinkConfig) and not sink.include_secrets
    assert sink.path == str(tmp_path / "events.jsonl")  # relative to the file


def test_a_password_written_inline_is_refused(tmp_path):
    text = MINIMAL.replace('password_env = "VATS_PASSWORD_MAIN"', 'password = "hunter2"')
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "never written in the accounts file" in message and "accounts[0]" in message
    assert "hunter2" not in message
    assert caught.value.kind == "config"


def test_password_file_is_read_relative_to_the_file(tmp_path):
    (tmp_path / "main.pw").write_text("from-file\n")
    text = MINIMAL.replace('password_env = "VATS_PASSWORD_MAIN"', 'password_file = "main.pw"')
    assert load_config(write(tmp_path, text)).accounts[0].password() == "from-file"


def test_a_missing_password_variable_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("VATS_PASSWORD_MAIN", raising=False)
    account = load_config(write(tmp_path, MINIMAL)).accounts[0]
    with pytest.raises(ConfigError, match="VATS_PASSWORD_MAIN is not set"):
        account.password()


@pytest.mark.parametrize(("edit", "where", "says"), [
    (('password_env = "VATS_PASSWORD_MAIN"',
      'password_env = "VATS_PASSWORD_MAIN"\npassword_file = "x"'), "accounts[0]", "exactly one"),
    (('name = "main"', 'name = "main"\nevery = "soon"'), "accounts[0].every", "not an interval"),
    (('name = "main"', 'name = "main"\nlogn = "x"'), "accounts[0].logn", "unknown key"),
    (('address = "https://vpbx.mts.ru"', 'address = "https://vpbx.mts.ru/path"'),
     "accounts[0].address", "after the host"),
    (('type = "jsonl"', 'type = "kafka"'), "sinks[0]", "type"),
])
def test_mistakes_name_the_key(tmp_path, edit, where, says):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, MINIMAL.replace(*edit)))
    assert caught.value.where is not None and caught.value.where.startswith(where)
    assert says in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_duplicate_names_and_no_accounts_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="unique: main"):
        load_config(write(tmp_path, MINIMAL + MINIMAL.split("[[sinks]]", maxsplit=1)[0]))
    with pytest.raises(ConfigError, match="accounts"):
        load_config(write(tmp_path, 'database = "x.sqlite"\n'))


def test_bad_toml_and_a_missing_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[[accounts]\n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nothing.toml")


def test_every_option_of_every_sink(tmp_path, monkeypatch):
    text = MINIMAL.replace('name = "main"', 'name = "main"\nevery = "1h30m"') + '''
[[sinks]]
name = "pbx"
type = "webhook"
url = "https://pbx.example/hooks/vats"
secret_env = "VATS_WEBHOOK_SECRET"
include_secrets = true

[[sinks]]
name = "bus"
type = "rabbitmq"
url_env = "VATS_AMQP_URL"
exchange = "telephony"
queue = "vats.events"
'''
    config = load_config(write(tmp_path, text))
    assert config.accounts[0].every.total_seconds() == 5400
    _, hook, bus = config.sinks
    assert isinstance(hook, WebhookSinkConfig) and hook.include_secrets
    assert isinstance(bus, RabbitSinkConfig) and (bus.exchange, bus.queue) == ("telephony", "vats.events")
    monkeypatch.setenv("VATS_AMQP_URL", "amqp://u:p@127.0.0.1/")
    assert bus.url() == "amqp://u:p@127.0.0.1/"
    monkeypatch.delenv("VATS_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ConfigError, match="VATS_WEBHOOK_SECRET"):
        hook.secret()


def test_the_default_file_is_in_the_user_config_dir(monkeypatch, tmp_path):
    from flows.watch.config import default_config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if os.name == "posix":
        assert default_config_path() == tmp_path / "vats" / "accounts.toml"
