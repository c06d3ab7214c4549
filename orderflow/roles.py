"""Staff roles: the permissions staff pages, actions and sockets check, and their groups.

The permissions are defined once, on ``StaffAccess`` (a model without a table), so that
Django's permission machinery, the admin and ``user.has_perm`` know them. Each role is a
Django group holding a fixed set of them; ``roles_sync`` makes the groups exactly so (run
by ``migrate`` and ``manage.py sync_roles``). A superuser may do everything, as everywhere
in Django.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext

from .models import StaffAccess

APP_LABEL = StaffAccess._meta.app_label

#: codename -> what it allows, as the admin shows it
PERMISSIONS: dict[str, str] = dict(StaffAccess._meta.permissions)

VIEW = f"{APP_LABEL}.view_staff_pages"
PLACE = f"{APP_LABEL}.place_order"
SHIP = f"{APP_LABEL}.ship_order"
DELIVER = f"{APP_LABEL}.deliver_order"
CANCEL_UNPAID = f"{APP_LABEL}.cancel_unpaid_order"
REFUND = f"{APP_LABEL}.refund_order"
REPLAY = f"{APP_LABEL}.replay_dead_letter"
NOTE = f"{APP_LABEL}.write_order_note"
RESEND_EMAIL = f"{APP_LABEL}.resend_customer_email"
CHANGE_ADDRESS = f"{APP_LABEL}.change_order_address"

_VIEWER = ("view_staff_pages",)
_OPERATOR = (
    *_VIEWER,
    "place_order",
    "ship_order",
    "deliver_order",
    "cancel_unpaid_order",
    "write_order_note",
    "resend_customer_email",
    "change_order_address",
)
_SUPERVISOR = (*_OPERATOR, "refund_order", "replay_dead_letter")

#: group name -> the codenames it holds, each role a superset of the one before
ROLES: dict[str, tuple[str, ...]] = {
    "viewer": _VIEWER,
    "operator": _OPERATOR,
    "supervisor": _SUPERVISOR,
}


@transaction.atomic
def roles_sync() -> dict[str, list[str]]:
    """Create the permissions and the role groups, and set each group's permissions exactly.

    Idempotent: running it again changes nothing, and a permission added to or removed
    from a group by hand is put back as ``ROLES`` says. Return each role's codenames.
    """
    content_type = ContentType.objects.get_for_model(StaffAccess, for_concrete_model=False)
    permissions = {
        codename: Permission.objects.update_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )[0]
        for codename, name in PERMISSIONS.items()
    }
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([permissions[codename] for codename in codenames])
    return {role: list(codenames) for role, codenames in ROLES.items()}


def sync_roles_after_migrate(sender, **kwargs) -> None:
    """Run ``roles_sync`` once the kernel's migrations have run (a ``post_migrate`` receiver)."""
    roles_sync()


def staff_permission_required(permission: str) -> Callable:
    """Let through an active staff user holding ``permission``; refuse anyone else with 403.

    The staff login comes first (an anonymous visitor is sent to log in); a logged-in staff
    member without the permission gets the 403 page naming what is missing, and the view
    never runs, so nothing changes.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def checked(request, *args, **kwargs):
            require(request.user, permission)
            return view(request, *args, **kwargs)

        return staff_member_required(checked)

    return decorator


def require(user, permission: str) -> None:
    """Raise ``PermissionDenied`` with a message a person can act on unless ``user`` may."""
    if not user.has_perm(permission):
        raise PermissionDenied(denied_message(permission))


def denied_message(permission: str) -> str:
    codename = permission.split(".", 1)[1]
    roles = [role for role, codenames in ROLES.items() if codename in codenames]
    return gettext("Your role may not do this: %(action)s. Ask for the %(role)s role or above.") % {
        "action": gettext(PERMISSIONS[codename]).lower(),
        "role": roles[0],
    }
