"""A fake Instabase for tests: every endpoint the client uses, in memory, in process or on a port.

``FakeInstabase`` is one ASGI application that speaks the documented wire formats (the v1
200-with-``ERROR`` convention included), runs jobs that move from running to their end after a
set number of status polls or seconds, injects faults per route, and logs the requests it saw.
Its server side shares no code with the client, so a misreading of the documents in one cannot
hide in the other.

In process (no socket)::

    from instabase_async import PollPolicy
    from instabase_async.testing import FakeInstabase

    fake = FakeInstabase()                          # token "fake-token", jobs end at the 3rd poll
    fake.write_file("me/repo/fs/Instabase Drive/in/a.pdf", b"%PDF...")
    async with fake.client(poll=PollPolicy(initial=0)) as ib:   # an AsyncInstabase on ASGITransport
        job = await ib.flows.run("me/repo/fs/Instabase Drive/f.ibflow",
                                 input_dir="me/repo/fs/Instabase Drive/in")
        status = await job.wait()
    fake.read_file(status.output_folder + "/a.pdf.json")   # each run writes one result per input

``fake.app`` is the ASGI callable itself, for any ASGI client or server. In process, httpx's
``ASGITransport`` buffers each response whole and applies no timeouts: for very large downloads
or timeout tests, serve the fake on a port.

On a real loopback port (asyncio or trio), for any HTTP client::

    async with fake.serve() as url:                 # "http://127.0.0.1:<free port>"
        ...

or from a shell, ``python -m instabase_async.testing --port 8080 [--token T] [--job-seconds 2:12]
[--job-polls N] [--seed S]``, which prints the URL once it listens. HTTP endpoint handlers run
Python code from the fake's file store, so it binds 127.0.0.1 unless told otherwise.

Construction: ``FakeInstabase(*, token="fake-token", username="fakeuser", job_polls=2,
job_seconds=None, outcome=Outcome.OK, outcome_for=None, progress="linear", progress_for=None,
seed=None, page_size=100, path_prefix="", log_requests=True, max_logged_requests=None,
max_logged_body=65536)``.

Jobs (flow and solution runs, deploys, solution deletes, file deletions, copies and extractions):

- ``job_polls=N``: a job is running on its first N status polls (``curProgress`` growing) and
  finished on poll N+1. ``job_seconds=s`` or ``(low, high)``: it runs that long (monotonic clock;
  the range is drawn with the seeded RNG). ``fake.set_job_duration(job_id, polls=, seconds=)``.
- File jobs (delete, copy, extract) take effect on their own clock whether or not anyone polls
  them: after ``job_seconds``, or, when durations are counted in polls, at their poll count or
  after 0.5 s, whichever comes first. Whatever is due is applied at every request, and whenever
  the test looks (``exists``, ``read_file``, ``jobs``, ...).
- Outcomes: ``Outcome.OK``, ``Outcome.error("why")``, ``Outcome.CANCELLED``,
  ``Outcome.STOPPED_AT_CHECKPOINT`` (halted: the job stays there until ``finish_job``), or those
  names as strings. Set the default (``outcome=``), queue them (``fake.set_next_outcomes([...],
  kind="flow")``), or decide per job (``outcome_for=lambda job: ...``); ``fake.finish_job(job_id,
  outcome=None)`` ends one now.
- Progress (``curProgress`` in the v1 status and the solution-jobs listing), so that tests can
  pin adaptive polling: ``progress="linear"`` (the share of the duration gone by), ``"steps"``
  (in quarters; ``ProgressShape.in_steps(n)``), ``"late"`` (0 until 80% of the run, then a jump;
  ``ProgressShape.late_jump(at)``), ``"none"`` (no ``curProgress`` key at all), or ``"mixed"``
  (each new job takes the next of those four in turn); ``progress_for=lambda job: ...`` decides
  per job. With ``job_seconds`` the share follows the clock, else the polls.
- ``fake.jobs`` / ``fake.get_job(job_id)`` (:class:`FakeJob`), ``fake.jobs_running()``, and
  ``fake.max_running_jobs``, the most jobs running at once (``reset_max_running_jobs()``).
- A successful flow or solution run writes ``<name>.json`` per file found in its input folder
  (or ``results.json``) into its output folder; a deploy adds the solution (its name, version and
  owner from a ``package.json`` in or beside ``solution_path``); deletes remove at completion.
- ``POST /api/v2/files/copy`` and ``/extract`` (``{"src_path", "dst_path"}``) answer 202 with
  ``{"job_id"}`` and ``Location: /api/v2/jobs/<job_id>`` (``{"state", "message"}``). Copy copies
  a file or a folder (folders merge); extract unpacks a real zip archive of the store into the
  folder. A body the fake can refuse on sight (a missing path, a ``..`` segment, ``dst_path``
  equal to or inside ``src_path``) is a 400; a missing source, an archive that is not a zip, an
  entry that would land outside the folder (zip-slip) or a file/folder clash fails the job with a
  message saying so, and nothing is written.

Files: a path's ``%2F`` is a separator, as ``/`` is (Instabase's SDK encodes every ``/`` that
way). Instabase's scripts are served unchanged: a ``webhook_config`` of only ``headers``, a
solution ``PATCH`` whose ``state``/``visibility`` come in a JSON body (``PRODUCTION`` included),
and chunked ``PATCH`` uploads with ``IB-Cursor: 0`` then ``-1``.

State: ``write_file(path, data)``, ``read_file(path)``, ``exists``, ``is_folder``, ``mkdir``,
``list_dir``, ``file_size``, ``remove``; ``add_solution(name=..., version=, owner="IB_DEPLOYED",
...) -> id`` and ``solutions``; ``add_endpoint(id, path=, handler_script_path=, script=...)`` and
``endpoints``; ``close()`` removes the temporary files of large uploads now.

Faults: ``fake.faults.add(route, *, method=None, status=None, retry_after=None, delay=None,
drop=False, times=None, fraction=None, after_processing=False, message=None)``; ``route`` is a
name of :data:`ROUTE_NAMES` or a group (``"files"``), a path prefix (``"/api/v2/files"``) or a
compiled regex. ``drop=True`` reads the request body, then ends the connection without a
response: in process the call raises ``httpx.RemoteProtocolError`` (:class:`ConnectionDropped`);
served, the socket is closed with nothing written and httpx raises ``RemoteProtocolError`` too.
``after_processing=True`` handles the request first (the run is created), then errs or drops.
In process, ``delay`` is not cut short by httpx timeouts (there is no socket).

Request log: ``fake.requests`` holds :class:`RequestRecord` items (``method``, raw ``path``,
multi-valued ``query``, ``headers`` with ``authorization`` redacted, ``body`` capped,
``body_size``, ``status``, ``route``, ``dropped``); ``.filter(route, method=, status=)`` and
``.count(...)`` (``route`` may be a tuple: ``count(("solutions.run", "solutions.run_by_name"),
method="POST")`` counts every solution-run POST), ``.clear()``.

Job ids: a solution run's caller-chosen ``job_id`` is its job id (an id any job already has is a
409); an unknown id on ``/api/v1/jobs/status`` is the v1 ERROR body (``"job <id> not found"``).
The solution-jobs listing takes many repeated ``job_id`` parameters (mind its default ``limit``
of 20) and adds each job's ``curProgress`` to the documented keys.

Authentication: every request needs ``Authorization: Bearer <fake.token>``; otherwise 401 (v2:
``{"message"}``; v1: ``{"status": "ERROR", "msg"}``).
"""

from ._app import FakeInstabase
from ._faults import ROUTE_NAMES, ConnectionDropped, Fault, Faults, RequestLog, RequestRecord
from ._jobs import FakeJob, JobKind, Outcome, OutcomeKind, ProgressShape, ProgressShapeKind
from ._state import FakeEndpoint, FakeSolution

__all__ = [
    "ROUTE_NAMES",
    "ConnectionDropped",
    "FakeEndpoint",
    "FakeInstabase",
    "FakeJob",
    "FakeSolution",
    "Fault",
    "Faults",
    "JobKind",
    "Outcome",
    "OutcomeKind",
    "ProgressShape",
    "ProgressShapeKind",
    "RequestLog",
    "RequestRecord",
]
