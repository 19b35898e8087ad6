from django.contrib import admin, messages

from abtests import services
from abtests.models import ABTest, Decision, Snapshot
from core.errors import DomainError


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "outcome", "actor_label", "sentence"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ABTest)
class ABTestAdmin(admin.ModelAdmin):
    """Tests start from the A/B Tests page or the API (they need a production version and
    the routing caches); here staff stop, promote or roll back."""

    list_display = [
        "id",
        "registered_model",
        "champion",
        "challenger",
        "mode",
        "status",
        "outcome",
        "started_at",
        "ended_at",
    ]
    list_filter = ["status", "mode", "outcome", "origin"]
    search_fields = ["registered_model__name", "summary"]
    readonly_fields = [f.name for f in ABTest._meta.fields]
    inlines = [DecisionInline]
    actions = ["stop_tests", "promote_challengers", "roll_back"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, act, done: str) -> None:
        for test in queryset:
            try:
                act(test)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{test}: {done}", messages.SUCCESS)

    @admin.action(description="Stop selected tests (nothing is promoted)")
    def stop_tests(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda t: services.abtest_stop(test=t, actor=request.user, reason="from admin"),
            "stopped.",
        )

    @admin.action(description="Promote the challengers of selected tests")
    def promote_challengers(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda t: services.abtest_promote(test=t, actor=request.user, reason="from admin"),
            "challenger promoted.",
        )

    @admin.action(description="Roll back selected tests' promotions")
    def roll_back(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda t: services.abtest_rollback(test=t, actor=request.user, reason="from admin"),
            "rolled back.",
        )


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    list_display = ["id", "test", "phase", "created_at", "difference", "p_value", "prob_better"]
    list_filter = ["phase"]
    readonly_fields = [f.name for f in Snapshot._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
