"""The ``wexbook`` command line around the happy path: bad usage is one line and exit code 2,
every option is described with its default, the simulator says which option to change when it
cannot listen, ``sim-fault`` says what is wrong with its URL, and Ctrl-C prints the counters."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys

import pytest

from feeds.apps.cli import COMMANDS, build_parser, main
from feeds.apps.sim import KNOBS, parse_fault
from feeds.sim import Simulator
from feeds.sim.faultset import FAULT_NAMES

BAD_USAGE = [
    # (argv, what the one line must name)
    (["demo", "--speed", "0"], "--speed"),
    (["demo", "--speed", "-1"], "--speed"),
    (["demo", "--seconds", "-3"], "--seconds"),
    (["demo", "--seconds", "0"], "--seconds"),
    (["demo", "--seconds", "nan"], "--seconds"),
    (["demo", "--offline", "--compare-every", "0"], "--compare-every"),
    (["demo", "--offline", "--frames", "0"], "--frames"),
    (["demo", "--spot", "--futures"], "no symbols"),
    (["demo", "--offline", "--spot", "--futures"], "no symbols"),
    (["demo", "--spot", "btc-usdt"], "--spot"),
    (["demo", "--offline", "--seconds", "3"], "--seconds"),
    (["demo", "--frames", "30"], "--frames"),
    (["sim", "--speed", "0"], "--speed"),
    (["sim", "--ws-port", "80000"], "--ws-port"),
    (["sim", "--http-port", "-1"], "--http-port"),
    (["sim", "--ws-port", "9000", "--http-port", "9000"], "--http-port"),
    (["sim", "--spot", "--futures"], "no symbols"),
    (["sim", "--fault", "spot:btc_usdt:drop=5"], "probability"),
    (["sim", "--fault", "spot:btc_usdt:drop=-1"], "probability"),
    (["sim", "--fault", "spot:btc_usdt:nosuch=1"], "nosuch"),
    (["sim", "--fault", "spot:btc_usdt:stall=maybe"], "stall"),
    (["sim", "--fault", "spot:btc_usdt:snapshot_lag=-4"], "snapshot_lag"),
    (["sim", "--fault", "moon:btc_usdt:drop=0.1"], "venue"),
    (["sim", "--fault", "spot:nosuch_usdt:drop=0.1"], "nosuch_usdt"),
    (["sim", "--futures", "eth_usdt", "--fault", "futures:btc_usdt:drop=0.1"], "futures"),
    (["sim-fault", "--url", "127.0.0.1:8080"], "--url"),
    (["sim-fault", "--url", "http://127.0.0.1:8080", "spot:btc_usdt:drop=2"], "probability"),
    (["watch"], "no symbols"),
    (["watch", "--spot", "btc_usdt", "--spot-rest", "notaurl"], "--spot-rest"),
    (["watch", "--spot", "btc_usdt", "--spot-ws", "http://127.0.0.1:1"], "--spot-ws"),
    (["watch", "--spot", "btc_usdt", "--seconds", "0"], "--seconds"),
    (["watch", "--spot", "btc_usdt", "--sim", "http://a", "http://b"], "--sim"),
    (["watch", "--spot", "btc_usdt", "--sim", "ws://a", "http://b", "--spot-ws", "ws://c"],
     "--spot-ws"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "named"), BAD_USAGE, ids=[" ".join(a) for a, _ in BAD_USAGE])
def test_bad_usage_is_one_line_and_exit_code_2(argv, named, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"wexbook {argv[0]}: ") and named in lines[0], lines[0]
    assert captured.out == ""


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_has_a_description_and_its_default() -> None:
    assert set(subparsers()) == {c.name for c in COMMANDS}
    for name, sub in subparsers().items():
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"wexbook {name} {action.option_strings or action.dest}"
            shown = action.default not in (None, False, argparse.SUPPRESS)
            if shown:  # the formatter appends it unless the text says it already
                assert "default" in sub._get_formatter()._get_help_string(action), (
                    name,
                    action.dest,
                )
        if name in ("demo", "watch", "sim", "sim-fault"):
            assert "exit codes" in text, name


def test_the_fault_knobs_are_listed_in_help_and_all_described() -> None:
    assert set(KNOBS) == set(FAULT_NAMES)
    assert not [name for name, (_, text) in KNOBS.items() if "not described" in text]
    parser = build_parser()
    for command in ("sim", "sim-fault"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
    text = subprocess.run(
        [sys.executable, "-m", "feeds.apps.cli", "sim", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=60,
    ).stdout
    for name in FAULT_NAMES:
        assert f"\n  {name} " in text, name
    assert max(len(line) for line in text.splitlines()) <= 80


def test_sim_and_sim_fault_read_a_fault_with_one_parser() -> None:
    assert parse_fault("spot:BTC_USDT:drop=0.25") == ("spot", "btc_usdt", "drop", 0.25)
    assert parse_fault("futures:eth_usdt:stall=on") == ("futures", "eth_usdt", "stall", True)
    assert parse_fault("spot:btc_usdt:disconnect_after=none")[3] is None
    assert parse_fault("spot:btc_usdt:disconnect_after=3")[3] == 3
    for command in ("sim", "sim-fault"):
        action = next(a for a in subparsers()[command]._actions if a.dest == "fault")
        assert action.type is parse_fault, command


def busy_port() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("flag", ["--ws-port", "--http-port"])
def test_sim_on_a_port_in_use_names_the_option(flag, capsys) -> None:
    with busy_port() as sock:
        port = sock.getsockname()[1]
        with pytest.raises(SystemExit) as stop:
            main(["sim", flag, str(port), "--seconds", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"choose another {flag}" in err and str(port) in err, err


def test_sim_on_a_host_that_does_not_resolve_names_the_option(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["sim", "--host", "nosuchhost.invalid", "--seconds", "1"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot resolve --host 'nosuchhost.invalid'" in err, err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sim_fault_against_nothing_is_one_line_and_exit_1(capsys) -> None:
    assert main(["sim-fault", "--url", f"http://127.0.0.1:{closed_port()}"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot connect" in err and "spot REST" in err, err


async def test_sim_fault_at_the_websocket_port_or_a_refused_fault(capsys) -> None:
    async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=[]) as sim:
        ws_as_http = sim.spot_ws_url.replace("ws://", "http://").removesuffix("/public")
        code = await asyncio.to_thread(main, ["sim-fault", "--url", ws_as_http])
        assert code == 1
        assert "websocket port" in capsys.readouterr().err
        argv = ["sim-fault", "--url", sim.spot_http_url, "spot:eth_usdt:drop=0.1"]
        assert await asyncio.to_thread(main, argv) == 1
        assert "the simulator refused spot:eth_usdt:drop" in capsys.readouterr().err
        argv = ["sim-fault", "--url", sim.spot_http_url, "spot:btc_usdt:drop_next=2"]
        assert await asyncio.to_thread(main, argv) == 0
        out = capsys.readouterr().out
        assert "spot btc_usdt: drop_next = 2" in out and "market steps" in out
        assert sim.faults.of("spot", "btc_usdt").drop_next == 2


def test_sim_prints_the_watch_line_and_its_counters_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "feeds.apps.cli", "sim", "--spot", "btc_usdt", "--futures",
         "--fault", "spot:btc_usdt:drop=0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        while not (lines and lines[-1].startswith("switch faults")):
            line = proc.stdout.readline()
            assert line, "the simulator exited early"
            lines.append(line)
        watch = next(line for line in lines if line.startswith("watch it"))
        assert "wexbook watch --sim ws://127.0.0.1:" in watch and "--spot btc_usdt" in watch
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "market steps" in out and "faults injected" in out
    assert "{" not in out and "Traceback" not in err
