"""The CKAN Action API over the open datasets (R-OPN-8): ``/api/action/<name>`` and ``/api/3/action/<name>``,
GET (query string) and POST (JSON body, or a form), never redirected — so CKAN clients (``ckanapi``) and
harvesters (udata, ckanext-harvest) read the portal as they read CKAN 2.10.

Actions: ``package_list``, ``package_show``, ``package_search``, ``organization_list``,
``organization_show``, ``resource_show``, ``datastore_search``, ``status_show``, ``help_show``
(:mod:`gongshu.opendata.service.ckan`, :mod:`.ckan_search`, :mod:`.datastore`).

Answers are CKAN's envelope ``{help, success, result}``; errors ``{help, success: false, error: {__type,
message}}`` with CKAN's statuses: ``Not Found Error`` 404, ``Authorization Error`` 403 (有条件开放 data),
``Validation Error`` 409 (with ``{field: [message]}``), ``Bad Request`` 400 (unknown action, a body that is
not a JSON object); messages in Chinese and English. Unknown parameters are ignored; booleans may be sent
as ``true``/``false``/``1``/``0`` (any case); ``rows`` above 1000 and ``limit`` above 32000 are lowered to
those, as CKAN does. Every ``datastore_search`` is an access event (``open_rows``, R-OPN-7), recorded once
the call's database transaction has ended; no rows are served without it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gongshu.db import READ_ONLY, session_factory
from gongshu.errors import GongshuError, Invalid, NotFound
from gongshu.opendata.service import ckan, ckan_search, datastore
from gongshu.sharing.service import evidence

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Ctx:
    base_url: str  # the site, e.g. https://data.example.gov.cn
    prefix: str  # /api/3/action or /api/action, as the client called


class BadRequest(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


# Parameters ------------------------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n", ""}


def _invalid(key: str, zh: str, en: str) -> Invalid:
    return Invalid(zh, en, field=key)


def _one(d: dict, key: str) -> Any:
    value = d.get(key)
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _flag(d: dict, key: str, default: bool) -> bool:
    value = _one(d, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _invalid(key, f"{key} 应为 true 或 false", f"{key} must be true or false")


def _int(d: dict, key: str, default: int | None, *, low: int = 0, high: int | None = None) -> int | None:
    """An integer ≥ ``low``; above ``high`` it is lowered to ``high`` (CKAN's limits)."""
    value = _one(d, key)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _invalid(key, f"{key} 应为整数", f"{key} must be an integer")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _invalid(key, f"{key} 应为整数", f"{key} must be an integer") from None
    if number < low:
        raise _invalid(key, f"{key} 不能小于 {low}", f"{key} must be at least {low}")
    return min(number, high) if high is not None else number


def _text(d: dict, key: str, default: str = "") -> str:
    value = _one(d, key)
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        raise _invalid(key, f"{key} 应为文本", f"{key} must be text")
    return str(value)


def _required(d: dict, *keys: str) -> str:
    for key in keys:
        value = _text(d, key).strip()
        if value:
            return value
    raise _invalid(keys[0], f"缺少参数 {keys[0]}", f"Missing value: {keys[0]}")


def _names(d: dict, key: str) -> list[str]:
    """A list of names: a list, a JSON list, or one name (or names separated by commas)."""
    value = d.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise _invalid(key, f"{key} 不是有效的 JSON 列表", f"{key} is not a valid JSON list") from None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise _invalid(key, f"{key} 应为名称列表", f"{key} must be a list of names")
    return [str(v).strip() for v in value if str(v).strip()]


def _json_value(d: dict, key: str, *, text: bool = False) -> Any:
    """An object parameter given as an object or as JSON text (a GET query string); with ``text``, a value
    that is not valid JSON is taken as text (``q``)."""
    value = _one(d, key)
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            if text:
                return value
            raise _invalid(key, f"{key} 不是有效的 JSON", f"{key} is not valid JSON") from None
    return value


# Actions ----------------------------------------------------------------------------------------------------

def _package_list(s: Session, d: dict, ctx: Ctx) -> Any:
    return ckan.package_list(s, limit=_int(d, "limit", None), offset=_int(d, "offset", 0) or 0)


def _package_show(s: Session, d: dict, ctx: Ctx) -> Any:
    return ckan.package_show(s, ref=_required(d, "id", "name"), base_url=ctx.base_url)


def _package_search(s: Session, d: dict, ctx: Ctx) -> Any:
    fq = " ".join([_text(d, "fq"), *(f"+{t}" for t in _names(d, "fq_list"))]).strip()
    return ckan_search.package_search(
        s, q=_text(d, "q"), fq=fq, rows=_int(d, "rows", 10, high=ckan.MAX_ROWS) or 0,
        start=_int(d, "start", 0) or 0, sort=_text(d, "sort"), facet=_flag(d, "facet", True),
        facet_fields=_names(d, "facet.field"), facet_limit=_int(d, "facet.limit", ckan_search.FACET_LIMIT, low=-1) or 0,
        facet_mincount=_int(d, "facet.mincount", 1) or 0, base_url=ctx.base_url)


def _organization_list(s: Session, d: dict, ctx: Ctx) -> Any:
    return ckan.organization_list(s, all_fields=_flag(d, "all_fields", False), sort=_text(d, "sort", "name asc"),
                                  limit=_int(d, "limit", None), offset=_int(d, "offset", 0) or 0,
                                  names=_names(d, "organizations"))


def _organization_show(s: Session, d: dict, ctx: Ctx) -> Any:
    return ckan.organization_show(s, ref=_required(d, "id"), include_datasets=_flag(d, "include_datasets", False),
                                  base_url=ctx.base_url)


def _resource_show(s: Session, d: dict, ctx: Ctx) -> Any:
    return ckan.resource_show(s, ref=_required(d, "id"), base_url=ctx.base_url)


def _datastore_search(s: Session, d: dict, ctx: Ctx) -> datastore.Rows:
    return datastore.search(
        s, resource_id=_required(d, "resource_id", "id"), filters=_json_value(d, "filters"),
        q=_json_value(d, "q", text=True), fields=_json_value(d, "fields"), sort=_json_value(d, "sort"),
        limit=_int(d, "limit", datastore.DEFAULT_LIMIT, high=datastore.MAX_LIMIT) or 0,
        offset=_int(d, "offset", 0) or 0, include_total=_flag(d, "include_total", True),
        distinct=_flag(d, "distinct", False), records_format=_text(d, "records_format", "objects"),
        links_path=f"{ctx.prefix}/datastore_search")


def _status_show(s: Session, d: dict, ctx: Ctx) -> Any:
    return ckan.status_show(base_url=ctx.base_url)


def _help_show(s: Session, d: dict, ctx: Ctx) -> Any:
    name = _required(d, "name")
    if name not in ACTIONS:
        raise NotFound(f"没有该接口：{name}", f"Action {name} not found", field="name")
    return ACTIONS[name][1]


#: name -> (function, help text)
ACTIONS: dict[str, tuple[Callable[[Session, dict, Ctx], Any], str]] = {
    "package_list": (_package_list, "开放数据集名称列表（limit, offset）。The names of the open datasets."),
    "package_show": (_package_show, "一个开放数据集（id：名称或编号）。One open dataset (id: its name)."),
    "package_search": (_package_search, "检索开放数据集（q, fq, rows≤1000, start, sort, facet.field）。"
                                        "Search the open datasets."),
    "organization_list": (_organization_list, "有开放数据的部门（all_fields, sort, limit, offset）。"
                                              "Departments with open data."),
    "organization_show": (_organization_show, "一个部门（id, include_datasets）。One department."),
    "resource_show": (_resource_show, "一个资源（下载格式）。One resource (a download format)."),
    "datastore_search": (_datastore_search, "无条件开放数据的记录（resource_id, filters, q, fields, sort, limit≤32000, "
                                            "offset, include_total），个人信息已脱敏。Rows of unconditionally open "
                                            "data, masked."),
    "status_show": (_status_show, "站点状态。Site status."),
    "help_show": (_help_show, "接口说明（name）。What an action does."),
}


# The envelope ------------------------------------------------------------------------------------------------

def _both(exc: GongshuError) -> str:
    return exc.message if exc.message_en == exc.message else f"{exc.message} / {exc.message_en}"


def failure(exc: GongshuError) -> tuple[int, dict[str, Any]]:
    """A refusal in CKAN's error shape and status."""
    text = _both(exc)
    extra = {"message_zh": exc.message, "message_en": exc.message_en}
    if exc.status == 404:
        return 404, {"__type": "Not Found Error", "message": f"Not found: {text}", **extra}
    if exc.status in (401, 403):
        return 403, {"__type": "Authorization Error", "message": f"Access denied: {text}", **extra}
    if exc.status in (400, 422):
        return 409, {"__type": "Validation Error", exc.field or "message": [text], "message": text, **extra}
    if exc.status == 409:
        return 409, {"__type": "Conflict Error", "message": text, **extra}
    if exc.status == 503:
        return 503, {"__type": "Service Unavailable Error", "message": text, **extra}
    return exc.status, {"__type": "Error", "message": text, **extra}


_read_only: dict[Engine, Engine] = {}


def _session() -> Session:
    """A read-only unit of work (on SQLite it never queues for the write lock); in tests, the test's."""
    factory = session_factory()
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        return factory()
    ro = _read_only.get(bind)
    if ro is None:
        ro = _read_only[bind] = bind.execution_options(**{READ_ONLY: True})
    return factory(bind=ro)


def _evidence(session: Session, data: dict, rows: datastore.Rows | None, exc: GongshuError | None,
              started: float) -> evidence.Access:
    """The access event of a datastore_search: what was served, or why not (with the dataset when known)."""
    ds = rows.dataset if rows is not None else None
    if ds is None:
        try:
            ds, _ext = ckan.resource_of(session, ref=_text(data, "resource_id") or _text(data, "id"))
        except GongshuError:
            ds = None
    result = "ok" if exc is None else {404: "not_found", 403: "denied"}.get(exc.status, "error")
    return evidence.Access(
        operation="open_rows", result=result, reason=exc.code if exc is not None else "",
        entry_id=ds.entry.id if ds is not None else None, source_org_id=ds.entry.org_id if ds is not None else None,
        end_user="公众", purpose="ckan.datastore_search", items=rows.items if rows is not None else (),
        rows=rows.rows if rows is not None else 0, latency_ms=(time.perf_counter() - started) * 1000)


def dispatch(name: str, data: dict, ctx: Ctx) -> tuple[int, dict[str, Any]]:
    """Run an action in a read-only unit of work; a datastore_search's access event is recorded after it."""
    started = time.perf_counter()
    fn = ACTIONS[name][0]
    session = _session()
    access: evidence.Access | None = None
    try:
        try:
            result = fn(session, data, ctx)
            status, body = 200, {"success": True, "result": result}
            if isinstance(result, datastore.Rows):
                body["result"] = result.result
                access = _evidence(session, data, result, None, started)
        except GongshuError as exc:
            status, error = failure(exc)
            body = {"success": False, "error": error}
            if name == "datastore_search":
                access = _evidence(session, data, None, exc, started)
        except Exception:  # a defect, never bad input: logged, and answered in CKAN's shape
            log.exception("CKAN action %s failed", name)
            status, body = 500, {"success": False, "error": {
                "__type": "Internal Server Error", "message": "系统内部错误，已记录 / Internal Server Error (logged)"}}
    finally:
        session.rollback()
        session.close()
    if access is not None:
        try:
            evidence.record(access)
        except GongshuError as exc:
            status, error = failure(exc)
            body = {"success": False, "error": error}
    return status, body


async def _data(request: Request) -> dict[str, Any]:
    """The action's parameters: the query string (GET), else the JSON body or the form (POST) — CKAN's rules."""
    def mixed(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            out[k] = [*out[k], v] if isinstance(out.get(k), list) else ([out[k], v] if k in out else v)
        return out

    if request.method == "GET":
        return mixed(request.query_params.multi_items())
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form()
        except Exception:  # a form that cannot be parsed
            raise BadRequest("表单无法解析", "The form could not be parsed") from None
        pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        if len(pairs) == 1 and pairs[0][1] in ("", "1") and pairs[0][0].lstrip().startswith("{"):
            body = pairs[0][0].encode()  # CKAN's form of a JSON body: the JSON as the one field's name
        else:
            return mixed(pairs)
    if not body.strip():
        return mixed(request.query_params.multi_items())
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("请求内容不是有效的 JSON", "The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("请求内容应为 JSON 对象", "The request body must be a JSON object") from None
    return data


def _answer(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, default=str), status_code=status,
                    media_type="application/json;charset=utf-8")


async def action(name: str, request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    prefix = "/api/3/action" if request.url.path.startswith("/api/3/") else "/api/action"
    help_url = f"{base}/api/3/action/help_show?name={quote(name)}"
    if name not in ACTIONS:
        return _answer(400, {"help": help_url, "success": False, "error": {
            "__type": "Bad Request", "message": f"Bad request - 没有该接口 / Action name not known: {name}"}})
    try:
        data = await _data(request)
    except BadRequest as exc:
        return _answer(400, {"help": help_url, "success": False, "error": {
            "__type": "Bad Request", "message": f"Bad request - {exc.zh} / {exc.en}"}})
    status, body = await run_in_threadpool(dispatch, name, data, Ctx(base_url=base, prefix=prefix))
    return _answer(status, {"help": help_url, **body})


for _path in ("/api/action/{name}", "/api/3/action/{name}", "/api/action/{name}/", "/api/3/action/{name}/"):
    router.add_api_route(_path, action, methods=["GET", "POST"], include_in_schema=False)


@router.get("/api/3", include_in_schema=False)
def api_version() -> Response:
    return _answer(200, {"version": 3})
