"""A model whose version reaches production gets a drift monitor (with its schedule), so
every production model is watched without anyone remembering to set it up. The registry
does not know the monitoring app: this receiver listens to its StageTransition rows."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from core.costs import cost_incurred
from core.events import event_happened
from registry.selectors import Stage


@receiver(
    post_save, sender="registry.StageTransition", dispatch_uid="monitoring.ensure_drift_monitor"
)
def ensure_drift_monitor(sender, instance, created: bool, **kwargs) -> None:
    if not created or instance.to_stage != Stage.PRODUCTION:
        return
    from monitoring.services import drift_monitor_ensure

    model = instance.model_version.registered_model
    transaction.on_commit(lambda: drift_monitor_ensure(model=model))


@receiver(event_happened, dispatch_uid="monitoring.record_event")
def record_event(sender, kind, model_name, version, summary, data, **kwargs) -> None:
    """Every announced event becomes an Event row (and its webhook deliveries)."""
    from monitoring.services import event_record

    event_record(kind=kind, model_name=model_name, version=version, summary=summary, data=data)


@receiver(cost_incurred, dispatch_uid="monitoring.record_cost")
def record_cost(sender, report, **kwargs) -> None:
    """Every reported cost is priced and stored as a CostRecord."""
    from monitoring.services import cost_record

    cost_record(report=report)
