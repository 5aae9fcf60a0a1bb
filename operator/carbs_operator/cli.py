"""The `carbs` command.

Each subcommand is a `Subcommand` (name, help, a function adding its arguments, a function
running it) in SUBCOMMANDS; adding one is a `register(...)` call next to the others. Run
functions import what they need when they run, so `carbs validate` never pays for torch and
a broken optional module breaks only its own subcommand.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
# What the extras bring (pyproject's `engine` and `all`); the bare install has none of them.
EXTRA_MODULES = frozenset({
    "torch", "gpytorch", "numpy", "scipy", "sklearn", "pydantic", "yaml", "rich",
    "prometheus_client", "matplotlib", "kopf", "kubernetes",
})


@dataclass(frozen=True)
class Subcommand:
    """One `carbs <name>` subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    # Hand arguments this parser does not know to `run` as `args.passthrough` (for
    # subcommands that wrap another program's own argument parser).
    passthrough: bool = False


SUBCOMMANDS: dict[str, Subcommand] = {}


def register(subcommand: Subcommand) -> Subcommand:
    """Add a subcommand; names are unique."""
    if subcommand.name in SUBCOMMANDS:
        raise ValueError(f"subcommand {subcommand.name!r} is already registered")
    SUBCOMMANDS[subcommand.name] = subcommand
    return subcommand


# ------------------------------------------------------------------------------ validate


def _configure_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="STUDY.yaml", help="CarbsStudy manifest to check")


def _run_validate(args: argparse.Namespace) -> int:
    from carbs_operator.validation import validate_file

    problems = validate_file(args.study)
    if not problems:
        print(f"{args.study}: valid")
        return EXIT_OK
    for problem in problems:
        print(problem)
    return EXIT_PROBLEMS


register(Subcommand(
    "validate", "check a study manifest; one line per problem", _configure_validate, _run_validate
))


# ---------------------------------------------------------------------------------- crds


def _configure_crds(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write", metavar="DIR", type=Path,
        help="write one file per CRD into DIR instead of printing them",
    )


def _run_crds(args: argparse.Namespace) -> int:
    from carbs_operator import crd

    if args.write is None:
        sys.stdout.write(crd.render_all())
        return EXIT_OK
    for path in crd.write_crds(args.write):
        print(f"wrote {path}")
    return EXIT_OK


register(Subcommand(
    "crds", "print the CRDs generated from the models (or --write them)", _configure_crds, _run_crds
))


# ------------------------------------------------------------------- run, frontier, plot


def _add_study_and_state(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="STUDY.yaml", type=Path, help="CarbsStudy manifest")
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".carbs"),
        help="where the study's SQLite state and trial folders live (default ./.carbs)",
    )


def _configure_run(parser: argparse.ArgumentParser) -> None:
    _add_study_and_state(parser)
    parser.add_argument(
        "--metrics-port", type=int, default=None,
        help="serve Prometheus metrics on 127.0.0.1:PORT during the run",
    )
    parser.add_argument(
        "--device", default="auto", help="engine device: auto (CUDA if present), cpu, cuda"
    )
    parser.add_argument(
        "--warm-start", action="append", type=Path, default=[], metavar="OTHER.yaml",
        help="seed the engine with the finished trials of another local study (its state "
        "in the same --state-dir); repeatable; like spec.warmStart.fromStudies",
    )


def _run_run(args: argparse.Namespace) -> int:
    from carbs_operator.local.commands import run_command

    return run_command(args.study, args.state_dir, args.metrics_port, args.device,
                       warm_start=args.warm_start)


def _configure_plot(parser: argparse.ArgumentParser) -> None:
    _add_study_and_state(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    parser.add_argument(
        "--curves", action="store_true",
        help="add a panel of the trials' learning curves (report_progress): objective "
        "against cost so far, stopped trials marked",
    )


def _configure_frontier(parser: argparse.ArgumentParser) -> None:
    _add_study_and_state(parser)
    parser.add_argument("--json", action="store_true",
                        help="print the frontier, laws and stopped trials as JSON, for scripts")


def _run_frontier(args: argparse.Namespace) -> int:
    from carbs_operator.local.commands import frontier_command

    return frontier_command(args.study, args.state_dir, as_json=args.json)


def _run_plot(args: argparse.Namespace) -> int:
    from carbs_operator.local.commands import plot_command

    return plot_command(args.study, args.state_dir, args.output, curves=args.curves)


register(Subcommand(
    "run", "run a study locally (resumes if its state exists)", _configure_run, _run_run
))
register(Subcommand(
    "frontier", "print the Pareto frontier and scaling laws of a local study",
    _configure_frontier, _run_frontier,
))
register(Subcommand(
    "plot", "plot a local study's trials, cost vs objective", _configure_plot, _run_plot
))


# ------------------------------------------------------------------------------- predict


def _configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="STUDY.yaml", type=Path, nargs="?",
                        help="CarbsStudy manifest of a local study (or use --cluster)")
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".carbs"),
        help="where the local study's state lives (default ./.carbs)",
    )
    parser.add_argument("--cluster", metavar="NAMESPACE/NAME",
                        help="read a CarbsStudy and its trials through the kubeconfig")
    parser.add_argument("--cost", type=float, required=True,
                        help="the cost to predict at, in the study's cost unit")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--manifest", metavar="OUT.yaml", type=Path,
                        help="write a scaled-up study centered on the prediction")
    parser.add_argument("--max-trials", type=int,
                        help="maxTrials of the scaled-up study (with --manifest)")


def _run_predict(args: argparse.Namespace) -> int:
    from carbs_operator.predict_command import predict_command

    return predict_command(args.study, args.state_dir, args.cluster, args.cost, args.json,
                           args.manifest, args.max_trials)


register(Subcommand(
    "predict", "predict the best parameters and objective at a cost no trial reached",
    _configure_predict, _run_predict,
))


# ------------------------------------------------------------------------------------ ui


def _configure_ui(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", metavar="PATH", type=Path, nargs="*",
        help="state directories (every study in them) or study manifests (default .carbs)",
    )
    parser.add_argument("--state-dir", type=Path, default=Path(".carbs"),
                        help="where a manifest's state lives (default ./.carbs)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--cluster", action="store_true",
                        help="show the cluster's CarbsStudy objects instead of local studies")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[], metavar="NS",
                       help="with --cluster: this namespace (repeatable; default: the "
                       "context's)")
    scope.add_argument("--all-namespaces", "-A", action="store_true",
                       help="with --cluster: every namespace")


def _run_ui(args: argparse.Namespace) -> int:
    from carbs_operator.ui.server import serve
    from carbs_operator.ui.source import StudySource

    source: StudySource
    if args.cluster:
        if args.paths:
            print("carbs ui: --cluster reads the cluster; give no PATH", file=sys.stderr)
            return EXIT_USAGE
        from carbs_operator.ui.cluster_source import ClusterSource

        source = ClusterSource.connect(args.namespace, all_namespaces=args.all_namespaces)
    else:
        if args.namespace or args.all_namespaces:
            print("carbs ui: --namespace and --all-namespaces need --cluster", file=sys.stderr)
            return EXIT_USAGE
        from carbs_operator.ui.local_source import LocalSource

        source = LocalSource(args.paths or [args.state_dir], state_dir=args.state_dir)
    serve(source, args.host, args.port)
    return EXIT_OK


register(Subcommand("ui", "serve a read-only web UI of local studies (or --cluster)",
                    _configure_ui, _run_ui))


# ------------------------------------------------------------------------------ operator


def _configure_operator(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--namespace", "-n", action="append", default=[], metavar="NS",
        help="watch this namespace (repeatable; globs like team-* allowed)",
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch all")
    parser.add_argument(
        "--standalone", action="store_true",
        help="run without kopf peering (only when exactly one replica runs)",
    )
    parser.add_argument(
        "--peering", default=None, metavar="NAME",
        help="make kopf peering mandatory with this peering object (an error if it is "
        "missing). Default: peering with object carbs-operator when it exists, else "
        "standalone, said in the log",
    )
    parser.add_argument(
        "--priority", type=int, default=None,
        help="peering priority; the highest replica works, the others stand by "
        "(default: random, so replicas never tie)",
    )
    parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics here")
    parser.add_argument(
        "--liveness", default=None, metavar="URL",
        help="kopf health endpoint, e.g. http://0.0.0.0:8081/healthz",
    )
    parser.add_argument("--device", default="cpu", help="engine device: cpu, cuda or auto")
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N",
        help="worker processes for engine fits and study status (default 0: one per CPU "
        "the pod may use, from its cgroup quota and CPU affinity)",
    )
    parser.add_argument(
        "--shards", type=int, default=16, metavar="N",
        help="shards the studies are split into, one Lease each; every replica must be "
        "started with the same number (default 16)",
    )
    parser.add_argument(
        "--lease-seconds", type=float, default=15.0, metavar="S",
        help="shard Lease duration: a dead replica's studies move to another after this "
        "long (default 15)",
    )
    parser.add_argument(
        "--trial-kinds", default="Job", metavar="KIND,...",
        help="workload kinds trials may run as (the chart's trialKinds): Job, JobSet, "
        "TrainJob, PyTorchJob. A study naming another kind is Invalid. Default: Job",
    )
    parser.add_argument(
        "--log-format", choices=("plain", "json"), default="plain",
        help="plain: a line per record with time, logger, level; json: a JSON object per line",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("--verbose", "-v", action="store_true", help="log at DEBUG")
    loudness.add_argument("--quiet", "-q", action="store_true", help="log warnings only")


def _run_operator(args: argparse.Namespace) -> int:
    from carbs_operator.k8s.main import run_operator

    return run_operator(
        args.namespace, args.all_namespaces, standalone=args.standalone,
        peering_name=args.peering, priority=args.priority,
        metrics_port=args.metrics_port, liveness_endpoint=args.liveness, device=args.device,
        workers=args.workers, shards=args.shards, lease_seconds=args.lease_seconds,
        trial_kinds=frozenset(k.strip() for k in args.trial_kinds.split(",") if k.strip()),
        log_format=args.log_format, verbose=args.verbose, quiet=args.quiet,
    )


register(Subcommand(
    "operator", "run the Kubernetes operator (kopf)", _configure_operator, _run_operator
))


# ---------------------------------------------------------------------------------- demo


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Further arguments (e.g. --trials 20 --seed 1) go to the demo itself."


def _run_demo(args: argparse.Namespace) -> int:
    from carbs_optimizer import run_demo

    try:
        result = run_demo(list(args.passthrough))
    except ModuleNotFoundError as exc:  # an image built without the demo module
        print(f"carbs demo is unavailable: cannot import carbs_optimizer.demo ({exc})",
              file=sys.stderr)
        return EXIT_PROBLEMS
    return result if isinstance(result, int) else EXIT_OK


register(Subcommand("demo", "run the CARBS engine on a built-in toy problem", _configure_demo,
                    _run_demo, passthrough=True))


# ---------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="carbs", description="Cost-aware hyperparameter search with CARBS."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in SUBCOMMANDS.values():
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(child)
        child.set_defaults(_run=command.run, _passthrough=command.passthrough)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `carbs`; returns the exit status (0 ok, 1 problems, 2 usage)."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "_passthrough", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    args.passthrough = extra
    if args.version:
        from carbs_operator import __version__

        print(f"carbs {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        # The bare distribution is the SDK alone (a training image's install): say how to
        # get the rest instead of a traceback.
        if (exc.name or "").split(".")[0] not in EXTRA_MODULES:
            raise
        print(f"carbs {args.command} needs the full install (missing module {exc.name!r}): "
              "pip install 'carbs-operator[all]'", file=sys.stderr)
        return EXIT_PROBLEMS
    return code


if __name__ == "__main__":
    sys.exit(main())
