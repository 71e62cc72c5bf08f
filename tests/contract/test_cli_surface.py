"""The command line's surface is fixed: every command, in help order, with its options and arguments.

A command or option added, renamed or dropped is a decision, made here on purpose (a user's scripts
and muscle memory depend on them). Each option is listed with all its spellings; an argument as
``<name>``.
"""

from __future__ import annotations

from typing import Any

import typer

from farm.cli import app

SURFACE = [
    ('submit', ['--models', '--devices', '--threads', '--delegates', '--repeats', '--num-runs',
                '--min-secs', '--pin', ('--each', '--pool'),
                ('--no-spread-sessions', '--spread-sessions'), ('--no-report', '--report'),
                ('--no-wait', '--wait'),
                ('--format', '-f'), '--wide']),
    ('resume', ['<run_id>', ('--no-report', '--report'), ('--format', '-f'), '--wide']),
    ('results', ['<run_id>', ('--format', '-f'), '--wide']),
    ('report', ['<run_id>', '--compare', ('--output', '-o')]),
    ('nightly', ['--now', '--wait', '--json']),
    ('parse-log', ['<file>', '--json']),
    ('import-log', ['<files>', '--device', '--model']),
    ('worker', ['--devices', '--name', ('--control', '--no-control')]),
    ('beat', ['--schedule', '--state']),
    ('watch', ['<run_id>']),
    ('cancel', ['<run_id>']),
    ('runs list', ['--limit', ('--format', '-f'), '--wide']),
    ('runs show', ['<run_id>', '--wide']),
    ('dashboard build', [('--output', '-o')]),
    ('dashboard serve', ['--port', '--host']),
    ('regressions detect', ['--input', '--json', ('--format', '-f'), '--wide']),
    ('regressions list', ['--state', '--series', '--limit', '--json', ('--format', '-f'), '--wide']),
    ('regressions triage', ['<alert_id>', '<state>']),
    ('devices simulate', [('--count', '-n'), ('--profile', '-p'), '--faults', '--base-port']),
    ('devices list', ['--json', ('--no-scan', '--scan'), '--select', ('--format', '-f'), '--wide']),
    ('devices show', ['<serial>']),
    ('devices fault', ['<serial>', '<spec>', '--clear']),
    ('devices profiles', [('--format', '-f'), '--wide']),
    ('tools add', ['<path>', '--abi', '--name', '--version', '--host-runner']),
    ('tools list', [('--format', '-f'), '--wide']),
    ('models add', ['<paths>', '--name', '--wide']),
    ('models list', ['--json', ('--format', '-f'), '--wide']),
    ('models show', ['<name>']),
    ('models build', ['<names>', ('--force', '--no-force'), ('--no-skip-heavy', '--skip-heavy'),
                      '--jobs', ('--format', '-f'), '--wide']),
    ('models pull', ['<names>', ('--force', '--no-force')]),
    ('config show', ['--json', ('--format', '-f'), '--wide']),
    ('db upgrade', ['<revision>']),
    ('db downgrade', ['<revision>']),
    ('db current', []),
]


def _walk(command: Any, path: tuple[str, ...]) -> list[tuple[str, list[Any]]]:
    if hasattr(command, "list_commands"):
        found = []
        for name in command.list_commands(None):
            found += _walk(command.get_command(None, name), (*path, name))
        return found
    params: list[Any] = []
    for param in command.params:
        if param.param_type_name == "option":
            spellings = tuple(sorted(param.opts + param.secondary_opts))
            params.append(spellings if len(spellings) > 1 else spellings[0])
        else:
            params.append(f"<{param.name}>")
    return [(" ".join(path), params)]


def test_commands_and_options_are_pinned() -> None:
    assert _walk(typer.main.get_command(app), ()) == SURFACE
