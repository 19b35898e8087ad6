from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from monitoring import services
from monitoring.models import DriftCheck, DriftMonitor
from registry.selectors import registered_model_get


class Command(BaseCommand):
    help = (
        "Check a model's production version for drift now, in this process, and print the "
        "per-feature table: against its prediction-log window, or a CSV given with --file."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="registered model name")
        parser.add_argument("--file", type=Path, help="a CSV of current rows to check instead")
        parser.add_argument(
            "--engine",
            choices=DriftMonitor.Engine.values,
            help="the engine for this check (default: the monitor's)",
        )

    def handle(self, *args, **opts):
        model = registered_model_get(opts["model"])
        if model is None:
            raise CommandError(f"There is no model named {opts['model']!r}.")
        monitor = services.drift_monitor_ensure(model=model)
        if opts["engine"]:
            monitor.engine = opts["engine"]  # this check only: the monitor is not saved
        try:
            if opts["file"]:
                if not opts["file"].is_file():
                    raise CommandError(f"No such file: {opts['file']}")
                with opts["file"].open("rb") as source:
                    check = services.drift_check_create(
                        monitor=monitor, upload=source, enqueue=False
                    )
            else:
                check = services.drift_check_create(monitor=monitor, enqueue=False)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        check = services.drift_check_run(check_id=check.pk)
        self._report(check)

    def _report(self, check: DriftCheck) -> None:
        version = check.model_version
        self.stdout.write(
            f"Drift check {check.pk} of {version.registered_model.name} v{version.version}: "
            f"{check.n_current or 0} current rows against {check.n_reference or 0} reference rows."
        )
        if check.status == DriftCheck.Status.FAILED:
            raise CommandError(f"The check failed: {check.error}")
        if check.verdict == DriftCheck.Verdict.INSUFFICIENT:
            self.stdout.write(
                f"Insufficient data: {check.n_current} rows, the monitor needs "
                f"{check.config['min_sample']}."
            )
            return
        columns = ("feature", "test", "statistic", "p", "q", "effect")
        header = "{:<24} {:<5} {:>10} {:>10} {:>10} {:>8}  drifted".format(*columns)
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for f in check.features:
            self.stdout.write(
                f"{f['name'][:24]:<24} {f['test']:<5} {f['statistic']:>10.4f} "
                f"{f['p_value']:>10.3g} {f['q_value']:>10.3g} {f['effect']:>8.3f}  "
                + ("yes" if f["drifted"] else "")
            )
        self.stdout.write(
            f"Verdict: {check.get_verdict_display().lower()} (drift share {check.drift_share:.0%}, "
            f"importance-weighted {check.weighted_drift_share:.0%}; rule "
            f"{check.config['dataset_rule']} >= {check.config['dataset_threshold']})."
        )
