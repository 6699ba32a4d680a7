"""Claim tokens name their process, so a holder that died on this machine is recognised."""

from __future__ import annotations

import subprocess
import sys

from moorage.domain.content.writers import WriterTokens


def _namespace(token: str) -> str:
    return token.split(".")[0]


def test_a_live_holder_is_never_dead() -> None:
    tokens = WriterTokens()
    mine = tokens.new()
    assert not tokens.holder_is_dead(mine)
    assert tokens.new() != mine  # each claim has its own token


def test_a_holder_whose_process_ended_is_dead() -> None:
    tokens = WriterTokens()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from moorage.domain.content.writers import WriterTokens; "
            "print(WriterTokens().new(), flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        token = child.stdout.readline().strip()
        assert _namespace(token) == _namespace(tokens.new())
        assert not tokens.holder_is_dead(token)
    finally:
        child.kill()
        child.wait()
    assert tokens.holder_is_dead(token)


def test_a_reused_pid_does_not_pass_for_the_dead_holder() -> None:
    tokens = WriterTokens()
    namespace, pid, started, tag = tokens.new().split(".")
    assert int(started) > 0
    assert tokens.holder_is_dead(f"{namespace}.{pid}.{int(started) + 1}.{tag}")


def test_holders_elsewhere_or_unreadable_tokens_are_never_judged_dead() -> None:
    tokens = WriterTokens()
    _namespace_key, pid, started, tag = tokens.new().split(".")
    for token in (
        f"0123456789ab.{pid}.{int(started) + 1}.{tag}",  # another machine or namespace
        f"{_namespace_key}.{pid}.0.{tag}",  # its start time was unknown
        f"{_namespace_key}.x.1.{tag}",
        "uuid-style-token-from-elsewhere",
        "",
    ):
        assert not tokens.holder_is_dead(token), token
