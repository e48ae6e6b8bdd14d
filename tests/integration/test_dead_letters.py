"""What the worker puts in the DLQ: the original message, its producer's routing attributes whatever
else it carried, and the reason. Real moto queues."""

from __future__ import annotations

from tests.integration.conftest import WorkerQueues


def test_the_routing_attributes_survive_a_message_with_ten_attributes(queues: WorkerQueues) -> None:
    # Given a message that is not JSON, carrying SQS's most attributes: six of the producer's own
    # (named to come first) and the four the service routes by
    routing = {"BatchId": "a" * 26, "BatchIndex": "7", "IdempotencyKey": "crm-7", "OnConflict": "fail"}
    queues.send("{not json", **{f"A{n}": f"v{n}" for n in range(6)}, **routing)
    # When the worker dead-letters it
    failed, _ = queues.run_worker()
    # Then the DLQ copy holds the routing attributes and the reason; only the producer's own, last in
    # order, made room for them
    assert failed == []
    [attributes] = queues.dead_letters().values()
    assert {name: attributes[name] for name in routing} == routing
    assert attributes["ErrorCode"] == "INVALID_JSON"
    assert {"ErrorMessage", "FailedAt"} <= set(attributes)
    assert len(attributes) == 10
    assert [name for name in attributes if name.startswith("A")] == ["A0", "A1", "A2"]
