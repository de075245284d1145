"""How the orchestrator chooses its ports (pure: sockets on 127.0.0.1 only)."""

from __future__ import annotations

import socket

import pytest

from devtools.stack import StackError, check_ports, free_ports, port_is_free, resolve_ports


def test_defaults_are_the_contract_ports() -> None:
    assert resolve_ports({"api": None, "aws": None, "sidep": None}, {}) == {
        "api": 8000,
        "aws": 5000,
        "sidep": 8443,
        "psc": 8081,  # the fake Pro Santé Connect (beyond the contract's table)
    }


def test_a_flag_beats_the_environment_which_beats_the_default() -> None:
    ports = resolve_ports({"api": 9001, "aws": None, "sidep": None}, {"API_PORT": "9002", "AWS_PORT": "9003"})
    assert ports == {"api": 9001, "aws": 9003, "sidep": 8443, "psc": 8081}


def test_zero_picks_distinct_free_ports() -> None:
    ports = resolve_ports({"api": 0, "aws": 0, "sidep": 0, "psc": 0}, {})
    assert len(set(ports.values())) == 4
    assert all(port > 0 and port_is_free(port) for port in ports.values())


def test_a_port_that_is_not_a_number_is_a_usage_error() -> None:
    with pytest.raises(StackError) as error:
        resolve_ports({"api": None, "aws": None, "sidep": None}, {"AWS_PORT": "five"})
    assert error.value.exit_code == 2
    assert "AWS_PORT" in str(error.value)


def test_a_listening_port_is_busy_and_named_with_its_variable() -> None:
    (api, aws) = free_ports(2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        assert not port_is_free(busy)
        with pytest.raises(StackError) as error:
            check_ports({"api": api, "aws": aws, "sidep": busy})
    assert error.value.exit_code == 2
    assert f"port {busy}" in str(error.value) and "SIDEP_PORT=" in str(error.value)


def test_the_same_port_twice_is_refused() -> None:
    (port,) = free_ports(1)
    with pytest.raises(StackError):
        check_ports({"api": port, "aws": port, "sidep": 8443})
