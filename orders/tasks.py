"""Celery entry points of the orders context: thin, over its services."""

import logging

from celery import shared_task

from .services.carrier_polling import carrier_parcels_poll, parcel_polls_purge
from .services.shipments import carrier_reports_purge

logger = logging.getLogger(__name__)


@shared_task(name="orders.tasks.carrier_reports_purge_task")
def carrier_reports_purge_task() -> int:
    deleted = carrier_reports_purge()
    if deleted:  # a line that says nothing happened, hourly, is noise
        logger.info("purged %d old carrier reports", deleted)
    return deleted


@shared_task(name="orders.tasks.carrier_parcels_poll_task")
def carrier_parcels_poll_task() -> dict:
    summary = carrier_parcels_poll()
    if summary.parcels:
        logger.info(
            "polled %d parcels of %d carrier accounts: %d reports applied, %d accounts failed",
            summary.parcels,
            summary.accounts,
            summary.reports_applied,
            summary.failed_accounts,
        )
    return vars(summary)


@shared_task(name="orders.tasks.parcel_polls_purge_task")
def parcel_polls_purge_task() -> int:
    deleted = parcel_polls_purge()
    if deleted:
        logger.info("purged %d poll records of finished parcels", deleted)
    return deleted
