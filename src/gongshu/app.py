"""create_app(): mounts each domain's api and views, the error handlers and static files."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from gongshu import __version__
from gongshu.audit import api as audit_api
from gongshu.audit import views as audit_views
from gongshu.auth import api as auth_api
from gongshu.auth import views as auth_views
from gongshu.catalog import api as catalog_api
from gongshu.catalog import views as catalog_views
from gongshu.config import get_settings
from gongshu.db import check_migrated, get_engine
from gongshu.errors import GongshuError
from gongshu.ingest import api as ingest_api
from gongshu.ingest import api_pull as ingest_api_pull
from gongshu.ingest import views as ingest_views
from gongshu.ingest import views_pull as ingest_views_pull
from gongshu.jobs.service import InProcessRunner
from gongshu.kit import textsearch
from gongshu.kit.context import new_request_id
from gongshu.library import views as library_views
from gongshu.library import views_more as library_more_views
from gongshu.opendata import api as opendata_api
from gongshu.opendata import ckan as opendata_ckan
from gongshu.opendata import dcat as opendata_dcat
from gongshu.opendata import views as opendata_views
from gongshu.opendata import views_accounts as opendata_accounts
from gongshu.opendata import views_applications as opendata_applications
from gongshu.opendata import views_disclosure as opendata_disclosure
from gongshu.opendata import views_feedback as opendata_feedback
from gongshu.quality import api as quality_api
from gongshu.quality import api_compare as quality_api_compare
from gongshu.quality import api_issues as quality_api_issues
from gongshu.quality import views as quality_views
from gongshu.quality import views_compare as quality_views_compare
from gongshu.quality import views_issues as quality_views_issues
from gongshu.quality import views_rules as quality_views_rules
from gongshu.sharing import api as sharing_api
from gongshu.sharing import api_share as sharing_api_share
from gongshu.sharing import views as sharing_views
from gongshu.tasks import api as tasks_api
from gongshu.tasks import views as tasks_views
from gongshu.web import views as web_views
from gongshu.web.deps import LANG_COOKIE, LoginRequired, render, translator_var
from gongshu.web.i18n import LOCALES, Translator

log = logging.getLogger("gongshu")

ROUTERS = [
    sharing_api_share.router,  # first: applications' hot path; routing walks this list (~0.8 ms/call at the end)
    opendata_api.router,  # the open data row API and downloads: the public's hot path
    web_views.router, auth_views.router, auth_api.router, audit_views.router, audit_api.router,
    tasks_views.router, tasks_api.router, catalog_views.router, catalog_api.router,
    ingest_views.router, ingest_api.router, ingest_api_pull.router, ingest_views_pull.router,
    library_more_views.router,
    library_views.router,
    sharing_views.router, sharing_api.router,
    quality_views_issues.router, quality_api_issues.router,  # data issues (问题数据) and their loop
    quality_views_compare.router, quality_api_compare.router,  # cross-source comparison, grading suggestions
    quality_views_rules.router, quality_api.router,  # quality rules and checks (/workbench/quality/entries/…)
    quality_views.router,  # data quality: scores, reports, ranking (/workbench/quality)
    opendata_ckan.router, opendata_dcat.router, opendata_accounts.router,
    opendata_applications.router,
    opendata_disclosure.router,
    opendata_feedback.router,  # before views: /open/datasets/{ref}/reports/new
    opendata_views.router,  # after dcat: /open/datasets/{ref} would also match {ref}.jsonld
]

_FIELD_ZH = {
    "missing": "缺少必填项", "string_too_long": "过长", "string_too_short": "过短", "int_parsing": "应为整数",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "date_parsing": "应为日期（YYYY-MM-DD）",
    "json_invalid": "不是有效的 JSON", "literal_error": "取值不在允许范围内", "enum": "取值不在允许范围内",
    "bool_parsing": "应为是/否", "float_parsing": "应为数字", "list_type": "应为列表", "dict_type": "应为对象",
    "model_attributes_type": "应为对象", "int_type": "应为整数", "string_type": "应为文本",
}


INTERNAL_ERROR = {"code": "internal", "message": "系统内部错误，已记录。请将请求编号告知运维人员。",
                  "message_en": "Internal error; it has been logged. Quote the request id to the operators."}


class _App(FastAPI):
    """FastAPI with the applications' one-key lookups answered in front of everything else — middleware,
    routing, dependency injection (:class:`gongshu.sharing.api_share.FastPath`); their FastAPI route stays
    for the OpenAPI docs."""

    _front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._front is None:
            self._front = sharing_api_share.FastPath(super().__call__, internal_error=INTERNAL_ERROR)
        await self._front(scope, receive, send)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    accept = request.headers.get("accept", "")
    return path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept)


def _error_response(request: Request, status: int, body: dict) -> Response:
    body["request_id"] = getattr(request.state, "request_id", "")
    if _wants_json(request):
        return JSONResponse({"error": body}, status_code=status)
    return render(request, "error.html", {"error": body, "status": status}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            return _error_response(request, 401, exc.to_dict())
        return RedirectResponse(f"{exc.login_url}?next={request.url.path}", status_code=303)

    @app.exception_handler(GongshuError)
    async def _gongshu(request: Request, exc: GongshuError) -> Response:
        response = _error_response(request, exc.status, exc.to_dict())
        if getattr(exc, "retry_after", None):  # 429: when to try again
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form"))
            details.append({"field": loc, "message": f"{loc}：{_FIELD_ZH.get(e.get('type', ''), '取值无效')}",
                            "message_en": f"{loc}: {e.get('msg', 'invalid')}"})
        body = {"code": "invalid", "message": "提交的内容有误：" + "；".join(d["message"] for d in details),
                "message_en": "Invalid input: " + "; ".join(d["message_en"] for d in details), "details": details}
        return _error_response(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            body = {"code": "not_found", "message": "页面或资源不存在", "message_en": "Not found"}
        elif exc.status_code == 405:
            body = {"code": "method_not_allowed", "message": "不支持该请求方法", "message_en": "Method not allowed"}
        else:
            body = {"code": "http_error", "message": str(exc.detail), "message_en": str(exc.detail)}
        return _error_response(request, exc.status_code, body)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error_response(request, 500, dict(INTERNAL_ERROR))


def create_app(*, check_db: bool = True, run_jobs: bool | None = None) -> FastAPI:
    settings = get_settings()
    runner = InProcessRunner() if (settings.inprocess_worker if run_jobs is None else run_jobs) else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if check_db:
            check_migrated(get_engine())
            textsearch.warm()  # load jieba's dictionary now, not on the first search
        if runner:
            runner.start()
        yield
        if runner:
            runner.stop()

    app = _App(title="公数 gongshu API", version=__version__, lifespan=lifespan, docs_url="/docs",
               openapi_url="/openapi.json",
               description="市级公共数据平台接口 · The city public data platform API. "
                           "Authenticate with `Authorization: Bearer <personal API token>`.")

    @app.middleware("http")
    async def _context(request: Request, call_next):
        request.state.request_id = request.headers.get("x-request-id") or new_request_id()
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "zh_CN"
        translator_var.set(Translator(lang if lang in LOCALES else "zh_CN"))
        response = await call_next(request)
        response.headers["X-Request-Id"] = request.state.request_id
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    install_error_handlers(app)
    for r in ROUTERS:
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "web" / "static")), name="static")
    return app
