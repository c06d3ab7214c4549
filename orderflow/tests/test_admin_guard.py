"""Admin URLs whose query the change lists cannot take are a 400 page, never a 500."""

import pytest


@pytest.fixture
def support(client, django_user_model):
    user = django_user_model.objects.create_superuser("support", "s@example.com", "pw-42-long")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/admin/orders/order/?status__exact=%00", "A filter or search contains a NUL"),
        ("/admin/orderflow/outboxevent/?type=%00", "A filter or search contains a NUL"),
        ("/admin/orders/product/?q=a%00", "A filter or search contains a NUL"),
        (
            "/admin/orders/order/?created_at__year=99999999999999999999",
            "created_at__year must be a number of at most four digits.",
        ),
        (
            "/admin/orders/order/?created_at__year=9999",
            "created_at__year must be a year from 1 to 9998.",
        ),
        (
            "/admin/notifications/webhookdelivery/?created_at__year=2024&created_at__month=%C2%B2",
            "created_at__month must be a number of at most four digits.",
        ),
    ],
)
def test_a_query_the_admin_cannot_take_is_a_400_page(support, path, problem):
    # given a support user in the admin

    # when a change list is asked for with a NUL or an impossible date
    response = support.get(path)

    # then the answer is a plain 400 saying why, not a server error
    assert (response.status_code, response["Content-Type"]) == (
        400,
        "text/plain; charset=utf-8",
    )
    assert response.content.decode().startswith(problem)


def test_a_plain_date_hierarchy_query_is_the_admins_to_answer(support):
    # given a support user in the admin

    # when a change list is filtered by a real year and month
    response = support.get("/admin/orders/order/?created_at__year=2024&created_at__month=2")

    # then the admin answers it as usual
    assert response.status_code == 200
