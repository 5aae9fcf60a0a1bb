"""Every command in a `bash` block of the README and the guide is run or checked by the
program it names, so a renamed flag, file or value fails here, not in a user's terminal.

- `make X`: the Makefile has the target (CI runs `make test` itself).
- `carbs ...`: parsed by the `carbs` command's own argument parser; a manifest it names
  under examples/ exists.
- `kubectl ...`: the walkthrough is what tests/k8s/test_kubectl_walkthrough.py runs with the
  real kubectl, call for call (only `--timeout` differs: the test waits minutes, not
  hours); `kubectl port-forward` names the Service and port the chart renders.
- `helm install ...`: the chart renders with exactly those --set values (Helm's own Go code
  through helm-python-sdk, the schema included), under the release and namespace the
  chart's tests use; so does every `--set` shown inline on the Helm page.
- `docker build/push`: the Dockerfile exists and each pushed tag was built.
- `pytest ...`: the paths exist, pytest knows each option, the tests read each env var.

A command no rule knows fails the test: add its check here.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.cli import build_parser
from tests.chart.chart_support import NAMESPACE, RELEASE, of_kind, only, render
from tests.docs.guide import DOCS, REPO, Block, all_blocks, code_spans, pages

WALKTHROUGH = REPO / "tests" / "k8s" / "test_kubectl_walkthrough.py"
PLACEHOLDERS = {"<registry>": "registry.example"}


def commands(block: Block) -> Iterator[list[str]]:
    """Each command of a bash block as argv: continuations joined, comments dropped,
    `a && b` split in two, placeholders filled in."""
    text = block.text.replace("\\\n", " ")
    for key, value in PLACEHOLDERS.items():
        text = text.replace(key, value)
    for line in text.splitlines():
        argv = shlex.split(line, comments=True)
        while "&&" in argv:
            cut = argv.index("&&")
            yield argv[:cut]
            argv = argv[cut + 1:]
        if argv:
            yield argv


BASH = [(block, argv) for block in all_blocks("bash") for argv in commands(block)]


def env_prefix(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    env: dict[str, str] = {}
    while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", argv[0]):
        name, _, value = argv[0].partition("=")
        env[name] = value
        argv = argv[1:]
    return env, argv


def program(argv: list[str]) -> str:
    return Path(env_prefix(argv)[1][0]).name


# --- carbs -------------------------------------------------------------------------------

def parse_carbs(argv: list[str]) -> tuple[bool, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exit_:
            return exit_.code == 0, err.getvalue()
    return True, ""


def check_carbs(argv: list[str]) -> None:
    ok, err = parse_carbs(argv[1:])
    assert ok, err
    for arg in argv[1:]:
        if arg.startswith("examples/"):
            assert (REPO / arg).exists(), arg


def subcommand_options() -> dict[str, set[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: {opt for action in child._actions for opt in action.option_strings}
            for name, child in sub.choices.items()}  # type: ignore[attr-defined]


# --- kubectl -----------------------------------------------------------------------------

def walkthrough_calls() -> list[list[str]]:
    """The argv of every `kubectl(...)` call in the walkthrough test, in order."""
    source = WALKTHROUGH.read_text(encoding="utf-8")
    assert 'EXAMPLE = REPO / "examples" / "digits-mlp" / "study-cluster.yaml"' in source
    known = {"str(EXAMPLE.relative_to(REPO))": "examples/digits-mlp/study-cluster.yaml"}
    calls = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "kubectl"):
            argv = ["kubectl"]
            for arg in node.args:
                if isinstance(arg, ast.Constant):
                    argv.append(str(arg.value))
                else:
                    argv.append(known.get(ast.unparse(arg), "<computed>"))
            calls.append(argv)
    return calls


def without_timeout(argv: list[str]) -> list[str]:
    return [re.sub(r"^(--timeout=).*", r"\1", arg) for arg in argv]


def check_kubectl(argv: list[str]) -> None:
    if argv[1] == "port-forward":
        check_port_forward(argv)
        return
    tested = [without_timeout(call) for call in walkthrough_calls()]
    assert without_timeout(argv) in tested, (
        f"{shlex.join(argv)}: tests/k8s/test_kubectl_walkthrough.py does not run it")


def check_port_forward(argv: list[str]) -> None:
    assert argv[2:4] == ["-n", NAMESPACE], argv
    kind, _, name = argv[4].partition("/")
    local, _, remote = argv[5].partition(":")
    assert kind == "svc"
    assert local.isdigit()
    service = only([s for s in of_kind(render({"ui": {"enabled": True}}), "Service")
                    if s["metadata"]["name"] == name])
    assert int(remote) in [p["port"] for p in service["spec"]["ports"]]


# --- helm --------------------------------------------------------------------------------

def set_values(expressions: list[str]) -> dict[str, Any]:
    """Helm's --set, for the forms the guide uses: a.b=value, comma-separated pairs,
    {x,y} lists, true/false and integers."""
    values: dict[str, Any] = {}
    for expression in expressions:
        for pair in re.split(r",(?![^{]*\})", expression):
            path, _, raw = pair.partition("=")
            value: Any
            if raw.startswith("{") and raw.endswith("}"):
                value = [item for item in raw[1:-1].split(",") if item]
            elif raw in ("true", "false"):
                value = raw == "true"
            elif re.fullmatch(r"-?\d+", raw):
                value = int(raw)
            else:
                value = raw
            *parents, leaf = path.split(".")
            node = values
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
    return values


def check_helm(argv: list[str]) -> None:
    assert argv[1] == "install", argv
    release, chart, *rest = argv[2:]
    assert (release, chart) == (RELEASE, "charts/carbs-operator")
    sets = [rest[i + 1] for i, arg in enumerate(rest) if arg == "--set"]
    others = [arg for i, arg in enumerate(rest)
              if arg != "--set" and (i == 0 or rest[i - 1] != "--set")]
    assert others == ["-n", NAMESPACE, "--create-namespace"], others
    values = set_values(sets)
    deployment = only([d for d in of_kind(render(values), "Deployment")
                       if d["metadata"]["name"] == RELEASE])
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{values['image']['repository']}:{values['image']['tag']}"


# --- docker, pytest, make ------------------------------------------------------------------

def check_docker(argv: list[str], built: set[str]) -> None:
    if argv[1] == "build":
        options = dict(zip(argv[2:-1:2], argv[3:-1:2], strict=True))
        assert argv[-1] == "."
        assert (REPO / options.get("-f", "Dockerfile")).is_file()
        built.add(options["-t"])
    else:
        assert argv[1] == "push", argv
        assert argv[2] in built, argv


def check_pytest(argv: list[str]) -> None:
    env, argv = env_prefix(argv)
    assert argv[0] == ".venv/bin/pytest"
    helped = subprocess.run([sys.executable, "-m", "pytest", "--help"], capture_output=True,
                            text=True, timeout=120, check=True).stdout
    for arg in argv[1:]:
        if arg.startswith("-"):
            assert re.search(rf"(^|[ ,]){re.escape(arg)}[ ,=\n]", helped), arg
        else:
            assert (REPO / arg).exists(), arg
    sources = "".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").rglob("*.py"))
    for name in env:
        assert f'"{name}"' in sources, f"no test reads {name}"


def check_make(argv: list[str]) -> None:
    assert len(argv) == 2
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(rf"^{argv[1]}:", makefile, flags=re.MULTILINE), argv


# --- the tests ---------------------------------------------------------------------------

@pytest.mark.parametrize(("block", "argv"), BASH,
                         ids=[f"{b.where}:{shlex.join(a)[:60]}" for b, a in BASH])
def test_each_command_is_checked_by_what_it_runs(block: Block, argv: list[str]) -> None:
    name = program(argv)
    if name == "carbs":
        check_carbs(argv)
    elif name == "kubectl":
        check_kubectl(argv)
    elif name == "helm":
        check_helm(argv)
    elif name == "docker":
        built: set[str] = set()
        for other in (a for b, a in BASH if b == block and program(a) == "docker"):
            check_docker(other, built)
    elif name == "pytest":
        check_pytest(argv)
    elif name == "make":
        check_make(argv)
    else:
        pytest.fail(f"{block.where}: no check for `{shlex.join(argv)}`; add one here")


# What the walkthrough test runs that the page does not show as a command, and why.
NOT_SHOWN = {
    # the refused edit of the search: the page quotes the error instead
    "kubectl patch cstudy digits-mlp --type merge -p "
    """'{"spec":{"objective":{"direction":"maximize"}}}'""",
    "kubectl get cstudy digits-mlp -o 'jsonpath={.spec.objective.direction}'",
    # a second study that fails: the page says how to wait for Failed in prose
    "kubectl wait --for=condition=Failed cstudy/digits-broken --timeout=",
    "kubectl wait --for=condition=Complete cstudy/digits-broken --timeout=",
    # what is left after the delete
    "kubectl get cstudy",
    "kubectl get ctrial",
}


def test_the_page_shows_what_the_walkthrough_test_runs() -> None:
    shown = [without_timeout(a) for b, a in BASH
             if b.page.name == "cluster.md" and program(a) == "kubectl"]
    assert len(shown) >= 10
    for call in walkthrough_calls():
        if "<computed>" in call:
            continue  # the failing study's manifest, the kinds left after the delete
        line = shlex.join(without_timeout(call))
        assert without_timeout(call) in shown or line in NOT_SHOWN, line


def test_inline_carbs_mentions_name_real_subcommands_and_options() -> None:
    """`carbs SUB --flag ...` in prose: SUB exists and has each flag named after it."""
    options = subcommand_options()
    for page in pages():
        for span in code_spans(page):
            words = span.split()
            if len(words) < 2 or words[0] not in ("carbs", ".venv/bin/carbs"):
                continue
            assert words[1] in options, f"{page.name}: `{span}`"
            for word in words[2:]:
                flag = word.strip("[]|").split("=")[0]
                if flag.startswith("-"):
                    assert flag in options[words[1]], f"{page.name}: `{span}` ({flag})"


def test_every_inline_helm_set_of_the_helm_page_renders() -> None:
    spans = [s for s in code_spans(DOCS / "helm.md") if s.startswith("--set ")]
    assert len(spans) >= 3
    for span in spans:
        argv = shlex.split(span)
        values = set_values([argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"])
        assert render(values), span


def test_the_set_up_commands_are_described_as_the_makefile_runs_them() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    torch = re.search(r"^TORCH\s*:=\s*(torch==\S+)", makefile, flags=re.MULTILINE)
    assert torch is not None
    installs = re.findall(r"-e '(\.\[[a-z,]+\])'", makefile)
    assert len(installs) == 2
    for extras in installs:
        assert f"`pip install {torch.group(1)} -e '{extras}'`" in page, extras
    assert "$(VENV)/bin/carbs run examples/digits-mlp/study.yaml" in makefile
    assert "`.venv/bin/carbs run examples/digits-mlp/study.yaml`" in page
    assert "sphinx-build -W" in makefile
