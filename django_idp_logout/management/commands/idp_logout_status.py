"""Where back-channel delivery stands: backlog, failures per client, latency, paused clients.

``--json`` prints the same figures for monitoring (e.g. alert when ``oldest_due_age_seconds`` grows).
"""

import json

from django.core.management.base import BaseCommand

from django_idp_logout.services.status import delivery_status


def _seconds(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


class Command(BaseCommand):
    help = "Show the back-channel delivery backlog, failures per client, latency and paused clients."

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print JSON (for monitoring)."
        )
        parser.add_argument("--clients", type=int, default=50, help="Clients listed at most (default 50).")

    def handle(self, *args, as_json: bool, clients: int, **options):
        status = delivery_status(client_limit=clients)
        if as_json:
            self.stdout.write(_dumps(status.as_dict()))
            return
        write = self.stdout.write
        write(f"Back-channel delivery at {status.generated_at:%Y-%m-%d %H:%M:%S %Z}")
        in_flight = f" ({status.in_flight} in flight)"
        write(f"  due now:                 {status.due}")
        write(f"  oldest due waits:        {_seconds(status.oldest_due_age_seconds)}")
        write(f"  not due yet:             {status.not_due}{in_flight} (in flight or waiting to retry)")
        write(
            f"  failed (gave up):        {status.failed_last_hour} in the last hour, "
            f"{status.failed_last_day} in the last day"
        )
        latency = status.latency_last_hour
        write(
            f"  latency, last hour:      p50 {_seconds(latency.p50_seconds)}, "
            f"p95 {_seconds(latency.p95_seconds)} ({latency.delivered} delivered)"
        )
        write(f"  paused clients:          {', '.join(status.paused_clients) or '-'}")
        if not status.clients:
            return
        write("")
        headers = [
            "client",
            "due",
            "pending",
            "hour: delivered/failed",
            "day: delivered/failed",
            "paused until",
        ]
        rows = [
            [
                c.client_id,
                str(c.due),
                str(c.pending),
                f"{c.last_hour.delivered}/{c.last_hour.failed}",
                f"{c.last_day.delivered}/{c.last_day.failed}",
                f"{c.paused_until:%H:%M:%S}" if c.paused_until else "-",
            ]
            for c in status.clients
        ]
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, ["-" * w for w in widths], *rows]:
            write(
                "  "
                + "  ".join(
                    cell.rjust(w) if i else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=True))
                )
            )


def _dumps(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
