"""Staff-only actions, for pages and the API alike."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission


def staff_required(view):
    """Page decorator: authenticated non-staff users get 403, not a second login form."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("This action is for staff users.")
        return view(request, *args, **kwargs)

    wrapper.staff_only = True
    return wrapper


class IsStaff(BasePermission):
    message = "This action is for staff users."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff)
