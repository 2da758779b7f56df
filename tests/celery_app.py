"""The Celery app the test suite's worker uses: the machine's Redis (database 15) as the broker."""

import os

from celery import Celery

app = Celery("idp_logout_tests", broker=os.environ.get("IDP_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/15"))
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_ignore_result=True,
)
