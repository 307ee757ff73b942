"""The instrument file: prefixes and ports taken, mistakes refused with the key and what is allowed."""
from pathlib import Path

import pytest

from operando.engine.config import Config
from operando.engine.instrument_file import DEFAULT_FILE, load_instrument, parse_instrument

BASE = Config(ca_base_port=5170, tiled_port=8123, home=Path("/tmp/x"))


def test_the_profile_file_drives_the_simulated_confocal_and_potentiostat():
    inst = load_instrument(DEFAULT_FILE, BASE)
    assert inst.prefixes == {"confocal": "OPR:", "potentiostat": "OPR:PSTAT:"}
    assert inst.loopback_ports and inst.config.ca_base_port == 5170 and inst.config.tiled_port == 8123


def test_values_are_taken():
    inst = parse_instrument({"home": "/data/op", "channel_access": {"base_port": 6000, "loopback_ports": False},
                             "tiled": {"port": 9000}, "devices": {"widefield": "OPW:", "potentiostat": None}}, BASE)
    assert inst.config.home == Path("/data/op") and inst.config.ca_base_port == 6000
    assert inst.config.tiled_port == 9000 and not inst.loopback_ports
    assert inst.prefixes == {"widefield": "OPW:"}
    assert inst.publish_to is None


def test_the_suspension_deadline():
    """No limit unless the file sets one (seconds)."""
    assert parse_instrument({}, BASE).suspension_deadline_s is None
    assert parse_instrument({"suspenders": {"deadline_s": 1800}}, BASE).suspension_deadline_s == 1800.0


def test_publishing_to_the_proxy():
    """The session publishes to the proxy's in port (base + 12), on loopback unless a host is given."""
    assert parse_instrument({"proxy": {"publish": True}}, BASE).publish_to == ("127.0.0.1", 5182)
    inst = parse_instrument({"proxy": {"publish": True, "host": "acq1.lab"}, "channel_access": {"base_port": 6000}}, BASE)
    assert inst.publish_to == ("acq1.lab", 6012)
    assert parse_instrument({"proxy": {"publish": False, "host": "acq1.lab"}}, BASE).publish_to is None


@pytest.mark.parametrize("data, message", [
    ([1, 2], "must be a mapping"),
    ({"devices": {"laser": "X:"}}, "devices.laser: unknown device; allowed: confocal, potentiostat, widefield"),
    ({"devices": {"confocal": ""}}, "devices.confocal: a PV prefix is a non-empty string"),
    ({"devices": {"confocal": "A B:"}}, "devices.confocal: a PV prefix"),
    ({"devices": {"confocal": 5}}, "devices.confocal: a PV prefix"),
    ({"channel_access": {"base_port": 80}}, "channel_access.base_port: a port between 1024 and 65000, got 80"),
    ({"channel_access": {"base_port": "5170"}}, "channel_access.base_port: must be an integer"),
    ({"channel_access": {"loopback_ports": "yes"}}, "channel_access.loopback_ports: must be true or false"),
    ({"tiled": {"port": True}}, "tiled.port: must be an integer"),
    ({"tiled": {"uri": "http://x"}}, "tiled.uri: unknown key; allowed: port"),
    ({"tiled": 8123}, "tiled: must be a mapping"),
    ({"prefix": "OPR:"}, "prefix: unknown key; allowed: channel_access, devices, home, proxy, suspenders, tiled"),
    ({"suspenders": {"deadline_s": 0}}, "suspenders.deadline_s: seconds > 0"),
    ({"suspenders": {"deadline_s": float("nan")}}, "suspenders.deadline_s: seconds > 0"),
    ({"suspenders": {"deadline_s": "1h"}}, "suspenders.deadline_s: must be a number"),
    ({"suspenders": {"timeout": 60}}, "suspenders.timeout: unknown key; allowed: deadline_s"),
    ({"proxy": {"publish": "yes"}}, "proxy.publish: must be true or false"),
    ({"proxy": {"host": ""}}, "proxy.host: a host name or address without spaces"),
    ({"proxy": {"port": 5182}}, "proxy.port: unknown key; allowed: host, publish"),
])
def test_mistakes_are_refused_with_the_key(data, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_instrument(data, BASE)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="OPERANDO_INSTRUMENT"):
        load_instrument(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("devices: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_instrument(bad)
