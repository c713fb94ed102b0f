"""The edge between wire dicts and models: one cattrs converter, and the wire's quirks.

Key renames (`createdAtMs` -> `created_at`), epoch numbers in ms or ns (ints or digit strings)
-> aware UTC datetimes, durations -> timedelta, JSON-string fields decoded a second time.
Required keys missing, or a body of the wrong shape, raise `ResponseValidationError`; an odd
value in an optional key becomes None rather than a crash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._errors import ResponseValidationError
from ._jobs import Job
from ._models import FileInfo, HttpEndpoint, ProcessFilesSettings, RunSettings, Solution, SolutionJob

__all__ = [
    "epoch_to_datetime",
    "http_date",
    "omit_none",
    "process_files_kwargs",
    "require_str",
    "run_settings_dict",
    "structure",
]

T = TypeVar("T")

_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "ns": 1}


def epoch_to_datetime(value: Any, unit: str) -> datetime | None:
    """An epoch number (int, float or digit string) in `unit` as an aware UTC datetime."""
    if value is None or isinstance(value, bool):
        return None
    try:
        ns = int(value) * _NS_PER_UNIT[unit] if unit != "s" else int(float(value) * 1e9)
        return datetime.fromtimestamp(ns / 1e9, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _ns_to_timedelta(value: Any) -> timedelta | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return timedelta(microseconds=int(value) / 1000)
    except (TypeError, ValueError, OverflowError):
        return None


def _out_of_range(value: Any) -> ResponseValidationError:
    return ResponseValidationError(f"a date out of the range a datetime holds: {_preview(value)}")


def _utc(when: datetime, value: Any) -> datetime:
    """`when` in UTC, whatever offset the server wrote (naive means UTC)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # year 9999 with a negative offset, say
        raise _out_of_range(value) from None


def http_date(value: str | None) -> datetime | None:
    """An HTTP date header as an aware UTC datetime; None for one that is not a date."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _utc(when, value)


def _any_time(value: Any) -> datetime | None:
    """A listing's `modified`: epoch (s or ms, guessed by size), ISO 8601 or an HTTP date."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _out_of_range(value) from None
    if isinstance(value, str):
        if value.isdigit():
            if not value.isascii() or len(value) > 20:  # "²", or more digits than any date has
                raise _out_of_range(value)
            return _any_time(int(value))
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return http_date(value)
        return _utc(parsed, value)
    return None


def _json_string(value: Any) -> Any:
    """Decode a field the API sends as serialized JSON; keep it as it is if it is not."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _opt_str(value: Any, _type: Any = None) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


converter = cattrs.Converter()
# SolutionJob.job names Job, which _models cannot import (it would be a cycle): resolve it here.
attrs.resolve_types(SolutionJob, localns={"Job": Job})
converter.register_structure_hook(str | None, _opt_str)


def _ms(value: Any, _t: Any) -> datetime | None:
    return epoch_to_datetime(value, "ms")


def _ns(value: Any, _t: Any) -> datetime | None:
    return epoch_to_datetime(value, "ns")


converter.register_structure_hook(
    Solution,
    make_dict_structure_fn(
        Solution,
        converter,
        id=override(struct_hook=lambda v, _t: require_str({"id": v}, "id", "solution")),
        created_at=override(rename="createdAtMs", struct_hook=_ms),
        updated_at=override(rename="updatedAtMs", struct_hook=_ms),
        metadata=override(struct_hook=lambda v, _t: _json_string(v)),
    ),
)
converter.register_structure_hook(
    SolutionJob,
    make_dict_structure_fn(
        SolutionJob,
        converter,
        id=override(struct_hook=lambda v, _t: require_str({"id": v}, "id", "solution job")),
        account_id=override(rename="accountId"),
        job_type=override(rename="jobType"),
        start_time=override(rename="startTimeNs", struct_hook=_ns),
        modified_time=override(rename="modifiedTimeNs", struct_hook=_ns),
        completion_time=override(rename="completionTimeNs", struct_hook=_ns),
        last_start_time=override(rename="lastStartTimeNs", struct_hook=_ns),
        time_taken=override(rename="timeTakenNs", struct_hook=lambda v, _t: _ns_to_timedelta(v)),
        metadata=override(struct_hook=lambda v, _t: _json_string(v)),
        deployed_solution_id=override(rename="deployedSolutionId"),
        output_folder=override(rename="outputFolder"),
        job=override(omit=True),
    ),
)
converter.register_structure_hook(
    HttpEndpoint,
    make_dict_structure_fn(
        HttpEndpoint,
        converter,
        id=override(struct_hook=lambda v, _t: require_str({"id": v}, "id", "HTTP endpoint")),
    ),
)


def structure(data: Any, cls: type[T], what: str) -> T:
    """A model from a wire dict, or `ResponseValidationError` saying what was wrong."""
    if not isinstance(data, Mapping):
        raise ResponseValidationError(f"expected a JSON object for {what}, got {type(data).__name__}")
    try:
        return converter.structure(data, cls)
    except ResponseValidationError:
        raise
    except Exception as exc:
        # cattrs wraps hook errors in an ExceptionGroup; surface our own message if there is one.
        for inner in getattr(exc, "exceptions", ()):
            if isinstance(inner, ResponseValidationError):
                raise inner from None
        raise ResponseValidationError(f"{what} does not have the documented shape: {exc}") from exc


def require_str(body: Any, key: str, what: str) -> str:
    """`body[key]` as a non-empty string, or `ResponseValidationError` (never a KeyError)."""
    value = body.get(key) if isinstance(body, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise ResponseValidationError(f"the {what} response has no {key!r}: {_preview(body)}")
    return str(value)


def file_info_from_node(node: Any) -> FileInfo:
    """A `FileInfo` from one entry of a folder listing."""
    if not isinstance(node, Mapping):
        raise ResponseValidationError(f"a listing entry is not an object: {_preview(node)}")
    path = node.get("full_path") or node.get("path")
    if not isinstance(path, str) or not path:
        raise ResponseValidationError(f"a listing entry has no 'full_path': {_preview(node)}")
    kind = str(node.get("node_type") or node.get("type") or "file").lower()
    size = node.get("size")
    return FileInfo(
        path=path,
        is_dir=kind in {"folder", "dir", "directory"},
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        modified=_any_time(node.get("modified") or node.get("modified_timestamp")),
    )


def omit_none(**values: Any) -> dict[str, Any]:
    """A JSON body with the options left as None taken out, so the server's defaults apply."""
    return {key: value for key, value in values.items() if value is not None}


def _listify(value: Any) -> Any:
    return list(value) if value is not None and not isinstance(value, str) else value


def webhook_dict(webhook: Any) -> dict[str, Any] | None:
    """`WebhookConfig` as the `webhook_config` object (a plain dict passes as it is)."""
    if webhook is None or isinstance(webhook, Mapping):
        return dict(webhook) if webhook is not None else None
    return omit_none(url=webhook.url, headers=dict(webhook.headers) if webhook.headers else None)


def run_settings_dict(settings: RunSettings | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A run's `settings` object from `RunSettings` or a plain dict."""
    if settings is None:
        return None
    if isinstance(settings, Mapping):
        return dict(settings)
    if not isinstance(settings, RunSettings):
        raise TypeError(f"settings must be RunSettings or a dict, not {type(settings).__name__}")
    body = omit_none(
        delete_out_dir=settings.delete_out_dir,
        output_has_run_id=settings.output_has_run_id,
        notification_emails=_listify(settings.notification_emails),
        webhook_config=webhook_dict(settings.webhook),
        log_to_timeline=settings.log_to_timeline,
        tags=_listify(settings.tags),
        step_timeout=settings.step_timeout,
        pipeline_ids=_listify(settings.pipeline_ids),
        save_binary_to_output=settings.save_binary_to_output,
    )
    body.update(settings.extra)
    return body


# The values the Flow API document lists for these process_files settings.
_OCR_PAGE_TYPES = frozenset({"default", "high_quality_doc", "low_quality_doc"})
_LAYOUTS = frozenset({"layout_per_page", "layout_per_doc"})


def process_files_kwargs(settings: ProcessFilesSettings | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The `settings` map of a process_files step; documented value sets checked before sending."""
    if settings is None:
        return None
    if isinstance(settings, Mapping):
        body = dict(settings)
    elif isinstance(settings, ProcessFilesSettings):
        body = omit_none(**attrs.asdict(settings))
    else:
        raise TypeError(f"settings must be ProcessFilesSettings or a dict, not {type(settings).__name__}")
    for key, allowed in (("ocr_page_type", _OCR_PAGE_TYPES), ("output_format_layout", _LAYOUTS)):
        value = body.get(key)
        if value is not None and value not in allowed:
            raise ValueError(f"{key} must be one of {sorted(allowed)}, got {value!r}")
    return body


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def structure_list(items: Any, cls: type[T], what: str, key: str) -> list[T]:
    """A list of models from `body[key]`."""
    if not isinstance(items, list):
        raise ResponseValidationError(f"the {what} response has no {key!r} list")
    return [structure(item, cls, what) for item in items]
