"""The one registry of queue and actor names.

The actors declare themselves on these queues; the library enqueues by these names
without importing ``actors`` (the anchor's API server or a bank webhook can send work);
``anchor-dramatiq status`` and the tests list the queues from here; and the worker groups
of ``docker-compose.yml`` and ``deploy/systemd`` consume :data:`WORKER_GROUPS` (a test
checks them against it).
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """A RabbitMQ queue (each also has Dramatiq's ``.DQ`` delay and ``.XQ`` dead-letter queue)."""

    STELLAR = "stellar"  # deposits (submit, pipeline) and refunds: the only queue that submits to Stellar
    PAYMENTS = "payments"
    WITHDRAWALS = "withdrawals"
    CALLBACKS = "callbacks"
    PERIODIC = "periodic"  # every sweep and its periodiq tick


class ActorName(StrEnum):
    """The actors the library enqueues by name (the sweeps are named after their functions)."""

    SUBMIT_DEPOSIT = "submit_deposit"
    PAY_READY_DEPOSITS = "pay_ready_deposits"
    SETTLE_DEPOSIT_BATCH = "settle_deposit_batch"
    PROCESS_PAYMENT = "process_payment"
    PROCESS_PAYMENTS = "process_payments"  # a batch of recorded payments: args ([operation_id, ...],)
    REFUND_PAYMENT = "refund_payment"
    EXECUTE_OUTGOING = "execute_outgoing"
    SEND_CALLBACK = "send_callback"
    CALLBACK_GIVEN_UP = "callback_given_up"


#: Which queues each worker group consumes: submission on its own, everything else together.
WORKER_GROUPS: dict[str, tuple[Queue, ...]] = {
    "submitter": (Queue.STELLAR,),
    "workers": (Queue.PERIODIC, Queue.PAYMENTS, Queue.WITHDRAWALS, Queue.CALLBACKS),
}
