"""Runs one measurement in a fresh process: `python -m benchmarks._child module:function URL ARGS OUT`."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys


def main() -> None:
    func, url, args, out = sys.argv[1:5]
    module, name = func.split(":")
    target = getattr(importlib.import_module(f"benchmarks.{module}"), name)
    kwargs = json.loads(args)
    if inspect.iscoroutinefunction(target):
        result = asyncio.run(target(url, **kwargs))
    else:
        result = target(url, **kwargs)
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
