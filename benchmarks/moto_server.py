"""`python -m benchmarks.moto_server -H 127.0.0.1 -p PORT`: moto's server for the fleet benchmark.

moto reads a queue's retention period through `get_queue_attributes`, which also counts every message
in the queue, once for every message it receives: a receive costs time in proportion to the backlog,
which real SQS does not, and which would make moto the bottleneck of a drain on 2 cores. This one
method reads the attribute directly instead; everything else is moto as installed.
"""

from __future__ import annotations

from moto.core.utils import unix_time
from moto.server import main
from moto.sqs.models import Message, SQSBackend


def _retained(self: SQSBackend, queue_name: str, message: Message) -> bool:
    period = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    return bool(message.sent_timestamp / 1000 + period > unix_time())  # type: ignore[operator]


SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
