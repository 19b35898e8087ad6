"""Costs: price what the apps measured (core.costs) and what the platform keeps on disk.

- `cost_record` (connected to core.costs.cost_incurred) prices a report at the CostRate in
  effect and writes its CostRecord, adding to or replacing a record with the same key.
- `inference_costs_record` (Beat) prices each closed COST_INTERVAL_SECONDS interval of the
  serving threads' CPU time per version, from the per-minute UsageTally rows the write path
  keeps; an interval priced already is written again only when its tallies grew (a late
  flush), so two deliveries are harmless.
- `storage_costs_record` (Beat, daily) measures each version's artifact folder, each
  dataset's file and each version's share of the prediction log, and prices the bytes held
  for the period.

Prices: a CPU-hour and a GB-month (a month is 730 hours, the cloud providers' convention).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.costs import KINDS, CostReport
from inference.selectors import prediction_log_storage, usage_list
from monitoring.models import CostRate, CostRecord
from registry.selectors import model_version_names, storage_inventory

logger = logging.getLogger(__name__)

HOURS_PER_MONTH = 730
GB = 1_000_000_000
# CostRecord.amount's precision (8 decimal places): a prediction costs millionths of a cent.
CENT_MILLIONTHS = Decimal("1e-8")


def cost_rate(resource: str, at: datetime | None = None) -> tuple[Decimal, str]:
    """(unit price, currency) of `resource` in effect at `at`: the newest CostRate from
    before it, else the setting (COST_CPU_HOUR, COST_GB_MONTH in COST_CURRENCY)."""
    at = at or timezone.now()
    rate = (
        CostRate.objects.filter(resource=resource, effective_from__lte=at)
        .order_by("-effective_from", "-id")
        .first()
    )
    if rate is not None:
        return rate.unit_price, rate.currency
    default = {
        CostRate.Resource.CPU_HOUR: settings.COST_CPU_HOUR,
        CostRate.Resource.GB_MONTH: settings.COST_GB_MONTH,
    }[resource]
    return Decimal(str(default)), settings.COST_CURRENCY


def cpu_amount(cpu_seconds: float, price: Decimal) -> Decimal:
    return Decimal(repr(cpu_seconds)) / Decimal(3600) * price


def storage_amount(bytes_held: int, seconds: float, price: Decimal) -> Decimal:
    """`bytes_held` for `seconds`, at `price` per GB-month."""
    months = Decimal(repr(seconds)) / Decimal(HOURS_PER_MONTH * 3600)
    return Decimal(bytes_held) / Decimal(GB) * months * price


def cost_record(*, report: CostReport) -> CostRecord:
    """Price `report` and store it: a new key is a new record; an existing one is added to
    (mode "add") or replaced (mode "set")."""
    if report.kind not in KINDS:
        raise ValueError(f"Unknown cost kind {report.kind!r}.")
    if report.kind == "storage":
        price, currency = cost_rate(CostRate.Resource.GB_MONTH, report.ended_at)
        seconds = (report.ended_at - report.started_at).total_seconds()
        amount = storage_amount(report.bytes, seconds, price)
    else:
        price, currency = cost_rate(CostRate.Resource.CPU_HOUR, report.ended_at)
        amount = cpu_amount(report.cpu_seconds, price)
    amount = amount.quantize(CENT_MILLIONTHS)
    fields = {
        "kind": report.kind,
        "model_name": report.model_name,
        "version": report.version,
        "source": report.source[:200],
        "source_id": report.source_id,
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "cpu_seconds": report.cpu_seconds,
        "bytes": report.bytes,
        "predictions": report.predictions,
        "amount": amount,
        "currency": currency,
        "unit_price": price,
        "detail": report.detail or {},
    }
    for _attempt in range(2):
        try:
            with transaction.atomic():
                record = CostRecord.objects.select_for_update().filter(key=report.key).first()
                if record is None:
                    return CostRecord.objects.create(key=report.key, **fields)
                if report.mode == "add":
                    fields["cpu_seconds"] = record.cpu_seconds + report.cpu_seconds
                    fields["bytes"] = record.bytes + report.bytes
                    fields["predictions"] = record.predictions + report.predictions
                    fields["amount"] = (record.amount + amount).quantize(CENT_MILLIONTHS)
                    fields["started_at"] = min(record.started_at, report.started_at)
                    fields["ended_at"] = max(record.ended_at, report.ended_at)
                for name, value in fields.items():
                    setattr(record, name, value)
                record.save()
                return record
        except IntegrityError:  # another process created the key first: add to it
            continue
    raise RuntimeError(f"Could not record the cost {report.key!r}.")


def _floor(when: datetime, seconds: int) -> datetime:
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=when.tzinfo)


def _inference_key(version_id: int, start: datetime) -> str:
    return f"inference:v{version_id}:{start:%Y-%m-%dT%H:%M}"


def inference_costs_record(
    *, now: datetime | None = None, catch_up: int = 48, include_current: bool = False
) -> int:
    """Price each closed interval of measured serving CPU time in the newest `catch_up`
    (with `include_current`, the running one too: a demo's); returns how many records were
    written. An interval priced already is written again only if its tallies grew since (a
    log writer flushed late), so a second run writes nothing."""
    seconds = settings.COST_INTERVAL_SECONDS
    step = timedelta(seconds=seconds)
    now = now or timezone.now()
    if include_current:
        last_end = _floor(now, seconds) + step
    else:
        lag = timedelta(seconds=settings.PERFORMANCE_SNAPSHOT_LAG_SECONDS)
        last_end = _floor(now - lag, seconds)
    earliest = last_end - step * catch_up
    sums: dict[tuple[int, datetime], list[int]] = {}
    for version_id, minute, requests, predictions, cpu_us in usage_list(
        since=earliest, until=last_end
    ):
        start = _floor(minute, seconds)
        total = sums.setdefault((version_id, start), [0, 0, 0])
        total[0] += requests
        total[1] += predictions
        total[2] += cpu_us
    if not sums:
        return 0
    keys = {_inference_key(v, start): (v, start) for v, start in sums}
    priced = {
        key: (predictions, round(cpu * 1e6))
        for key, predictions, cpu in CostRecord.objects.filter(key__in=list(keys)).values_list(
            "key", "predictions", "cpu_seconds"
        )
    }
    names = model_version_names({v for v, _ in sums})
    written = 0
    for key, (version_id, start) in sorted(keys.items()):
        requests, predictions, cpu_us = sums[version_id, start]
        if priced.get(key) == (predictions, cpu_us):
            continue
        model_name, number = names.get(version_id, ("", None))
        cost_record(
            report=CostReport(
                kind="inference",
                key=key,
                started_at=start,
                ended_at=start + step,
                cpu_seconds=cpu_us / 1e6,
                predictions=predictions,
                model_name=model_name,
                version=number,
                source=f"serving {model_name} v{number}" if model_name else "serving",
                source_id=version_id,
                detail={"requests": requests},
                mode="set",
            )
        )
        written += 1
    if written:
        logger.info("inference costs: %d intervals priced up to %s", written, last_end)
    return written


def _bytes_on_disk(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        if path.is_file():
            return path.stat().st_size
        total = 0
        for root, _dirs, files in os.walk(path):
            for name in files:
                try:
                    total += (Path(root) / name).stat().st_size
                except OSError:  # removed while we walked
                    continue
        return total
    except OSError:
        return 0


def storage_costs_record(*, now: datetime | None = None) -> int:
    """Measure what is kept on disk now and price it for the current COST_STORAGE_SECONDS
    period (measured again within the period, the record is replaced); returns how many
    records were written."""
    seconds = settings.COST_STORAGE_SECONDS
    now = now or timezone.now()
    start = _floor(now, seconds)
    end = start + timedelta(seconds=seconds)
    stamp = f"{start:%Y-%m-%dT%H:%M}"
    reports = []
    for item in storage_inventory():
        size = _bytes_on_disk(item["path"])
        if not size:
            continue
        reports.append(
            CostReport(
                kind="storage",
                key=f"storage:{item['what']}:{item['id']}:{stamp}",
                started_at=start,
                ended_at=end,
                bytes=size,
                model_name=item["model_name"],
                version=item["version"],
                source=f"{item['what']} {item['name']}",
                source_id=item["id"],
                detail={"what": item["what"]},
                mode="set",
            )
        )
    log = prediction_log_storage()
    names = model_version_names(log)
    for version_id, (rows, size) in sorted(log.items()):
        model_name, number = names.get(version_id, ("", None))
        reports.append(
            CostReport(
                kind="storage",
                key=f"storage:log:{version_id}:{stamp}",
                started_at=start,
                ended_at=end,
                bytes=size,
                model_name=model_name,
                version=number,
                source=f"prediction log {model_name} v{number}",
                source_id=version_id,
                detail={"what": "prediction_log", "rows": rows},
                mode="set",
            )
        )
    for report in reports:
        cost_record(report=report)
    logger.info("storage costs: %d records for %s", len(reports), stamp)
    return len(reports)
