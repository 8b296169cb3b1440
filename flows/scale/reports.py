"""A ``ChangeReport`` as JSON and back: how a change's report travels from a worker.

Why SIP passwords are in it: an add-device issues new credentials, and its report is the only
place the caller learns them (``ItemResult.after.sip_password``). The result travels as a
transient message to the caller's own queue (flows/scale/app.py), never stored.
"""

from __future__ import annotations

from typing import Any

from flows.changes import ChangeReport, ItemResult, PlanItem
from scraper.models import Trunk


def trunk_json(trunk: Trunk | None) -> dict[str, Any] | None:
    if trunk is None:
        return None
    data: dict[str, Any] = trunk.model_dump(mode="json", context={"show_secrets": True})
    return data


def trunk_of(data: dict[str, Any] | None) -> Trunk | None:
    return None if data is None else Trunk.model_validate(data)


def item_json(item: PlanItem) -> dict[str, Any]:
    return {"number": item.number, "action": item.action, "status": item.status,
            "reason": item.reason, "abonent_id": item.abonent_id,
            "before": trunk_json(item.before), "warning": item.warning,
            "blocked": item.blocked, "marked_for_deletion": item.marked_for_deletion}


def item_of(data: dict[str, Any]) -> PlanItem:
    return PlanItem(data["number"], data["action"], data["status"], data["reason"],
                    data.get("abonent_id"), trunk_of(data.get("before")),
                    warning=data.get("warning") or "", blocked=data.get("blocked"),
                    marked_for_deletion=data.get("marked_for_deletion"))


def report_json(report: ChangeReport) -> dict[str, Any]:
    """The report; each result names its plan item by index (they are the same objects)."""
    index = {id(item): i for i, item in enumerate(report.plan)}
    results = []
    for result in report.results:
        entry: dict[str, Any] = {"result": result.result, "detail": result.detail,
                                 "after": trunk_json(result.after)}
        if id(result.item) in index:
            entry["plan_index"] = index[id(result.item)]
        else:
            entry["item"] = item_json(result.item)
        results.append(entry)
    return {"action": report.action, "plan": [item_json(i) for i in report.plan],
            "results": results}


def report_of(data: dict[str, Any]) -> ChangeReport:
    plan = [item_of(item) for item in data["plan"]]
    results = [ItemResult(plan[r["plan_index"]] if "plan_index" in r else item_of(r["item"]),
                          r["result"], r["detail"], trunk_of(r.get("after")))
               for r in data.get("results") or []]
    return ChangeReport(data["action"], plan, results)
