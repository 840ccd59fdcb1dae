"""``python -m pipeline.emulator``: run the emulator in the foreground (no pipeline CLI needed)."""

from __future__ import annotations

import argparse
import os

from .config import EmulatorConfig, Faults
from .server import serve_forever


def main(argv: list[str] | None = None) -> None:
    """Parse flags and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--speed", type=float, default=1.0, help="latency multiplier, 0 = none")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--key-env",
        default=None,
        help="name of an env var holding the one accepted key (default: any bearer token)",
    )
    parser.add_argument("--enforce-rate-limits", action="store_true")
    for name in ("rate_429", "error_500", "error_503", "drop", "hang", "truncate_stream"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=0.0, dest=name)
    parser.add_argument("--malformed", type=float, default=0.0)
    args = parser.parse_args(argv)
    faults = Faults(
        rate_429=args.rate_429,
        error_500=args.error_500,
        error_503=args.error_503,
        drop=args.drop,
        hang=args.hang,
        truncate_stream=args.truncate_stream,
        malformed=args.malformed,
    )
    api_key = os.environ.get(args.key_env) if args.key_env else None
    config = EmulatorConfig(
        api_key=api_key or None,
        speed=args.speed,
        faults=faults,
        seed=args.seed,
        enforce_rate_limits=args.enforce_rate_limits,
    )
    serve_forever(config, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
