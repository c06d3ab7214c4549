"""The shared test kit: factories for every context's tests, and a pytest plugin.

``testkit.factories`` builds shops, products and orders through the orders context's own
services (``order_for``, ``order_in``: an order in any status, reached by real
transitions); ``testkit.payments`` the orders the payments context meets (reserved,
captured, confirmed, cancelled and settled). ``testkit.plugin`` (registered by the root
``conftest.py``) gives every test tree the fixtures they share: ``shop``, ``other_shop``,
``api``, ``other_api``, ``order_body``. A context's ``conftest.py`` overrides one where its
tests need another (notifications' shop has a contact address, payments' one a tax rate);
each keeps its own ``products``.
"""
