"""One vocabulary across ``wexbook``'s subcommands: every shared option is spelled and
checked the same way wherever it appears, old spellings are hidden aliases, and the
top-level help lists every command and the exit codes."""

from __future__ import annotations

import argparse

import pytest

from feeds.apps import args as app_args
from feeds.apps.cli import COMMANDS, build_parser, main

#: option -> what it must be wherever a command has it: ("action", class), ("type", f)
#: or ("choices", values).
SHARED: dict[str, tuple[str, object]] = {
    "--spot": ("action", app_args.Symbols),
    "--futures": ("action", app_args.Symbols),
    "--seconds": ("type", app_args.positive_float),
    "--spot-ws": ("type", app_args.ws_url),
    "--futures-ws": ("type", app_args.ws_url),
    "--spot-rest": ("type", app_args.http_url),
    "--futures-rest": ("type", app_args.http_url),
    "--loop": ("choices", app_args.LOOPS),
    "--ws-layer": ("choices", app_args.WS_LAYERS),
    "--metrics-port": ("type", app_args.port),
}
#: Spellings of the shared options that no command shows any more (some are aliases).
RETIRED = ("--spot-url", "--futures-url", "--spot-http", "--futures-http", "--symbols")
#: Commands that run live books: they choose the event loop and the websocket layer.
LIVE = {"demo", "watch", "record", "serve"}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in sub._actions for s in a.option_strings}


def test_every_shared_option_means_the_same_in_every_command() -> None:
    seen: dict[str, list[str]] = {}
    for name, sub in subparsers().items():
        for option, action in options(sub).items():
            if option not in SHARED or action.help == argparse.SUPPRESS:
                continue
            seen.setdefault(option, []).append(name)
            kind, expected = SHARED[option]
            if kind == "action":
                assert isinstance(action, expected), (name, option, type(action))  # type: ignore[arg-type]
            elif kind == "type":
                assert action.type is expected, (name, option, action.type)
            else:
                assert tuple(action.choices or ()) == expected, (name, option, action.choices)
    # The vocabulary is really shared: books and durations in several commands.
    assert {"demo", "watch", "record", "sim"} <= set(seen["--spot"])
    assert {"demo", "watch", "record", "sim"} <= set(seen["--seconds"])
    assert {"watch", "record"} <= set(seen["--spot-ws"])


def test_live_commands_choose_the_loop_and_the_websocket_layer() -> None:
    for name, sub in subparsers().items():
        if name in LIVE:
            assert {"--loop", "--ws-layer"} <= set(options(sub)), name


def test_retired_spellings_are_not_shown_but_still_work(capsys) -> None:
    for name, sub in subparsers().items():
        text = sub.format_help()
        for old in RETIRED:
            assert old not in text, (name, old)
    parser = build_parser()
    parsed = parser.parse_args(
        ["record", "--spot-url", "ws://127.0.0.1:1/public", "--spot", "BTC_USDT,eth_usdt", "x_y"]
    )
    assert parsed.spot_ws == "ws://127.0.0.1:1/public"
    assert parsed.spot == ["btc_usdt", "eth_usdt", "x_y"]
    for command, aliases in app_args.ALIASES.items():
        assert command in subparsers()
        for alias, option in aliases.items():
            assert option in options(subparsers()[command]), (command, option)
            assert alias in options(subparsers()[command]), (command, alias)


@pytest.mark.parametrize("command", ["demo", "record", "watch", "sim"])
def test_a_bad_symbol_is_one_line_naming_the_option(command, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([command, "--spot", "btc_usdt,BTC-USDT"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--spot" in err[0] and "BTC-USDT" in err[0], err


def test_top_level_help_lists_every_command_and_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(command.name)), None)
        assert line is not None and command.help[:20] in out, command.name
    assert "exit codes" in out and "130" in out and "record" in out


def test_loop_choices_resolve_or_say_what_is_missing() -> None:
    assert app_args.loop_name("asyncio") == "asyncio"
    assert app_args.loop_name("auto") in ("asyncio", "uvloop")
    with pytest.raises(app_args.UsageError, match="ws-layer bogus"):
        app_args.connection_options(argparse.Namespace(ws_layer="bogus"))
