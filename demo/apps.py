from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo tooling, outside the bounded contexts: the demo shop's data (``load_demo``), the
    traffic that keeps its board busy (``simulate``) and the quiet log that traffic needs.

    Like a shop's client, it uses the contexts from the outside (their services and API);
    no context imports it.
    """

    name = "demo"
