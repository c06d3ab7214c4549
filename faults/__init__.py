"""The fault suite (``make faults``): scripted faults against a private full stack under a
steady load of orders, each followed by ``manage.py check_invariants``. See docs/faults.md."""
