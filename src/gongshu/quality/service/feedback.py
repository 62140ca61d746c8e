"""The people's channels into the loop of data issues (LZ 31–32, ZQ 20, R-OPN-5).

- **Consumers** (使用部门): a department's staff report a problem with another department's data from the
  workbench (系统填报, for data managers) or from their business system's pages through the API (接口对接, for
  办事人员 and 窗口工作人员 at the point of service); operators and developers feed problems back up the chain the
  same way (ZQ 20). :func:`report` checks the entry, item and version and raises a "consumer" issue.
- **The public**: an error report on an open dataset (``opendata.service.error_reports``) becomes a "public" issue
  the moment it is submitted (hook ``error_reports.ON_SUBMIT``); the source answers the issue only, and every step
  reaches the report's tracking page and the dataset's page through ``error_reports.settle`` (hook
  ``issues.ON_OUTCOME``). One loop: the report's own answer functions refuse a report handled here.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from gongshu.auth.service import Actor, require
from gongshu.catalog.service import entries as catalog_entries
from gongshu.errors import Invalid, NotFound
from gongshu.ingest.service import versions as ingest_versions
from gongshu.opendata.service import error_reports
from gongshu.quality.models_issues import DataIssue, IssueStep
from gongshu.quality.service import issues
from gongshu.quality.service.issues import text

#: where a consumer's report was made
VIA = {"workbench": ("工作台填报", "Workbench form"), "api": ("业务系统接口", "Business-system API")}
MAX_EXTERNAL_KEY = 100
MAX_EVIDENCE = 20_000  # characters of JSON from a person or a business system


def find_entry(session: Session, *, ref: Any):
    """A published entry by id or code (NotFound naming the field otherwise)."""
    value = ("" if ref is None else str(ref)).strip()
    entry = None
    if value.isdigit() and 0 < int(value) <= 2**31 - 1:
        try:
            entry = catalog_entries.fetch(session, entry_id=int(value))
        except NotFound:
            entry = None
    elif value:
        entry = catalog_entries.find_by_code(session, code=value)
    if entry is None or entry.status not in ("published", "revising"):
        raise NotFound(f"没有已发布的目录“{value}”", f"No published catalogue entry '{value}'", field="entry")
    return entry


def report(session: Session, *, actor: Actor, entry: Any, title: str, description: str, item: str = "",
           row_ref: str = "", version: Any = None, severity: str = "major", urgent: bool = False,
           evidence: dict | None = None, external_key: str = "", via: str = "workbench") -> DataIssue:
    """A consumer reports a problem with another department's data (entry id or code; item, row and data version
    optional — the version defaults to the one serving). ``external_key`` (the business system's own case number)
    makes a retried call return the same unclosed issue."""
    require(actor, "quality.issue.report")
    if via not in VIA:
        raise Invalid(f"渠道“{via}”无效", f"Unknown channel '{via}'", field="via")
    e = find_entry(session, ref=entry)
    if actor.org_id is not None and e.org_id == actor.org_id:
        raise Invalid("这是本部门的数据：请直接整改并重新归集，无需反馈", "This is your own department's data: correct "
                      "it and load it again instead of reporting it", field="entry")
    snapshot = catalog_entries.latest_version(session, entry_id=e.id).snapshot
    names = [i["name"] for i in snapshot.get("items", [])]
    item = text(item, "item", "信息项", "The data item", limit=issues.MAX_ITEM, required=False)
    if item and item not in names:
        raise Invalid(f"“{item}”不是该目录的信息项（可选：{'、'.join(names)}）",
                      f"'{item}' is not a data item of this entry (one of: {', '.join(names)})", field="item")
    versions = ingest_versions.versions_of(session, entry_id=e.id)
    raw = ("" if version is None else str(version)).strip().lstrip("vV")
    if raw:
        if not raw.isdigit():
            raise Invalid("数据版本应为整数", "The data version must be a whole number", field="version")
        found = next((v for v in versions if v.number == int(raw)), None)
        if found is None:
            raise Invalid(f"该目录没有第 {raw} 版数据", f"The entry has no data version {raw}", field="version")
    else:
        current = ingest_versions.current_version(session, entry_id=e.id)
        found = current if current is not None else None
    if evidence is not None and (not isinstance(evidence, dict)
                                 or len(json.dumps(evidence, ensure_ascii=False, default=str)) > MAX_EVIDENCE):
        raise Invalid(f"证据应为对象（键值对），不超过 {MAX_EVIDENCE} 个字符", f"The evidence must be an object (key/value "
                      f"pairs) of at most {MAX_EVIDENCE} characters", field="evidence")
    key = text(external_key, "external_key", "业务系统的事项编号", "The business system's case number",
               limit=MAX_EXTERNAL_KEY, required=False)
    return issues.raise_issue(session, actor=actor, entry_id=e.id, channel="consumer", title=title,
                              description=text(description, "description", "问题描述", "The description"),
                              evidence=evidence, severity=severity, urgent=bool(urgent),
                              version_id=found.id if found is not None else None, item=item, row_ref=row_ref,
                              dedupe_key=f"consumer:{actor.org_id}:{key}" if key else None, origin_type=via,
                              reporter_org_id=actor.org_id, reporter_user_id=actor.user_id)


# The public: open-data error reports -------------------------------------------------------------------------

def _from_report(session: Session, r: Any, who: Any) -> None:
    """An error report on open data becomes a "public" issue of the dataset's source department."""
    version = next((v for v in ingest_versions.versions_of(session, entry_id=r.entry_id)
                    if v.number == r.version_number), None) if r.version_number is not None else None
    name = catalog_entries.fetch(session, entry_id=r.entry_id).name
    evidence = {"report_id": r.id}
    if r.suggestion:
        evidence["suggestion"] = r.suggestion
    issue = issues.raise_issue(session, actor=who, entry_id=r.entry_id, channel="public",
                               title=f"开放数据纠错：{name}" + (f"·{r.item}" if r.item else ""),
                               description=r.description, evidence=evidence,
                               version_id=version.id if version is not None else None, item=r.item,
                               row_ref=r.row_ref, origin_type=error_reports.SUBJECT, origin_id=r.id)
    error_reports.settle(session, actor=who, report_id=r.id, due_on=issue.due_on)


def _handler(session: Session, report_id: int) -> tuple[str, int] | None:
    issue = issues.of_origin(session, origin_type=error_reports.SUBJECT, origin_id=report_id)
    return (issues.SUBJECT, issue.id) if issue is not None else None


#: the report's status for the issue's (None: unchanged) and the answer's prefix
PUBLIC_STATUS: dict[str, tuple[str | None, str]] = {
    "open": ("open", "已转法定数源部门处理。"),
    "fixing": ("accepted", "已确认，正在整改："),
    "escalated": (None, "已提请数据主管部门协调处理。"),
    "corrected": ("fixed", ""),
    "confirmed": ("rejected", ""),
    "negotiated": ("accepted", "沟通解决："),
    "withdrawn": ("rejected", "不予处理："),
}
#: steps the public is not told about (the raise is told by the submission itself; a failed re-check changes
#: nothing yet)
QUIET = ("raised", "recheck_failed", "acknowledged", "fix_submitted")


def _settle(session: Session, actor: Any, issue: DataIssue, step: IssueStep) -> None:
    """Every step of a public issue that the submitter should see reaches the report (tracking page, dataset)."""
    if issue.origin_type != error_reports.SUBJECT or issue.origin_id is None or step.kind in QUIET:
        return
    status, prefix = PUBLIC_STATUS[issue.status]
    note = issue.outcome_note if issue.status not in issues.UNCLOSED else step.note
    answer = prefix if issue.status in ("open", "escalated") else f"{prefix}{note}"
    if issue.status == "corrected" and issue.fixed_version is not None:
        answer = f"已在第 {issue.fixed_version} 版数据中修正。{note if note and str(issue.fixed_version) not in note else ''}"
    error_reports.settle(session, actor=actor, report_id=issue.origin_id, status=status, answer=answer[:4000],
                         fixed_version=issue.fixed_version, due_on=issue.due_on)


def hide_report(session: Session, *, actor: Actor, issue_id: int) -> DataIssue:
    """Keep a public issue's error report off the dataset's page (personal data or improper content in it)."""
    issue = issues.locked(session, issue_id)
    require(actor, "quality.issue.answer", org_id=issue.org_id)
    if issue.origin_type != error_reports.SUBJECT or issue.origin_id is None:
        raise Invalid("该问题数据不是社会公众的纠错", "The issue is not a public error report", field="issue_id")
    error_reports.settle(session, actor=actor, report_id=issue.origin_id, hide=True)
    return issue


error_reports.ON_SUBMIT.append(_from_report)
error_reports.HANDLERS.append(_handler)
issues.ON_OUTCOME.append(_settle)
