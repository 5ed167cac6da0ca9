"""The CLI shell: discovery, help, error handling."""
import subprocess
import sys

from faceedit.cli import build_parser, main


def test_help_lists_subcommands_and_exits_zero():
    r = subprocess.run([sys.executable, "-m", "faceedit", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "usage: faceedit" in r.stdout


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "usage: faceedit" in capsys.readouterr().out


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name


def test_importing_faceedit_loads_no_models():
    code = "import sys, faceedit; print('torch' in sys.modules, 'cv2' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]
