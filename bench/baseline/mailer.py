"""The floor for report → inbox: a bare Celery task that sends one email.

    python -m celery -A bench.baseline.mailer worker -Q bench-baseline-mail

The sender passes the SMTP port and an id; the message carries the id in a
header so that the sink can match it to its send time.
"""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage

from celery import Celery

QUEUE = "bench-baseline-mail"
app = Celery("bench_baseline", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
)


@app.task(name="bench.baseline.send_one")
def send_one(bench_id: str, smtp_port: int) -> None:
    message = EmailMessage()
    message["From"] = "barometre@localhost"
    message["To"] = "direction@prison.bench"
    message["Subject"] = "Baromètre : le niveau monte"
    message["X-Bench-Id"] = bench_id
    message["Message-ID"] = f"<baseline-{bench_id}@bench>"
    message.set_content("Le niveau de l'établissement a changé.")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
