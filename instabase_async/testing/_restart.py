"""Restarting a run (``POST /api/v1/flow/restart``): a flow run, a step or a solution run again
under a new job id. Above both ``_flows`` and ``_solutions``, which it starts runs through."""

from __future__ import annotations

from ._asgi import Reply, Request, V1Error
from ._check import as_object, req_str, v1_fail
from ._flows import start_flow, start_step, started
from ._solutions import start_solution_run
from ._state import State

__all__ = ["restart"]


async def restart(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v1/flow/restart``: the same run again under a new job id."""
    body = as_object(await req.json(v1=True), v1_fail)
    job_id = req_str(body, "job_id", v1_fail)
    with state.lock:
        old = state.jobs.look(job_id)
        if old is None or old.kind != "flow":
            raise V1Error(f"no flow job with id {job_id!r}")
        if old.origin == "flow.run_step":
            return started(start_step(state, old.params))
        if old.origin == "solutions.run":
            assert old.solution_id is not None
            return started(start_solution_run(state, old.solution_id, old.params))
        return started(start_flow(state, old.origin, old.params))
