"""Run daphne with its access lines sent through LOGGING: ``python -m orderflow.asgi_server``.

daphne writes its access log straight to stdout, with each request's full path: the
public tracking page's token (``/track/<token>``, ``/ws/track/<token>/``) would land in
every log store, where anyone who reads the logs could open the customer's order page.
Here each access line becomes a record of the ``daphne.access`` logger, so it gets the
same JSON (or console) format and scrubbing as every other line
(:mod:`orderflow.observability.logging_format` redacts the token). Arguments are daphne's own.
"""

import logging

from daphne import cli
from daphne.access import AccessLogGenerator

access_logger = logging.getLogger("daphne.access")


class LoggingAccessLogGenerator(AccessLogGenerator):
    """daphne's access lines, as records of ``daphne.access`` instead of raw stdout writes."""

    def __init__(self, stream=None):
        super().__init__(stream)

    def write_entry(
        self, host, date, request, status=None, length=None, ident=None, user=None
    ) -> None:
        """Log one access line; the formatter scrubs the tracking token from ``request``."""
        access_logger.info(
            '%s "%s" %s %s',
            host,
            request,
            status or "-",
            length or "-",
            extra={"client": host, "status_code": status},
        )


def main() -> None:
    """Start daphne's command line with the logging access log in place of its own."""
    # daphne's CLI builds its access log generator by this module-level name; there is no
    # option to pass another. The stream it opens is then written to by nobody.
    cli.AccessLogGenerator = LoggingAccessLogGenerator
    cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
