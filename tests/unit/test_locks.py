import threading
import time


from opscadence.core.locks import LockTimeout, period_lock


def test_second_holder_waits_for_the_first(engine):
    order = []
    first_has_it = threading.Event()

    def first():
        with period_lock(engine, "daily:2026-11-24"):
            first_has_it.set()
            order.append("first-in")
            time.sleep(0.5)
            order.append("first-out")

    thread = threading.Thread(target=first)
    thread.start()
    first_has_it.wait(5)
    with period_lock(engine, "daily:2026-11-24"):
        order.append("second-in")
    thread.join()
    assert order == ["first-in", "first-out", "second-in"]


def test_other_periods_do_not_wait_and_timeouts_are_reported(engine):
    with period_lock(engine, "daily:2026-11-24"):
        with period_lock(engine, "daily:2026-11-25", timeout=1):
            pass  # a different period is free
        holder_done = threading.Event()
        errors = []

        def contender():
            try:
                with period_lock(engine, "daily:2026-11-24", timeout=0.3):
                    pass
            except LockTimeout as exc:
                errors.append(str(exc))
            holder_done.set()

        t = threading.Thread(target=contender)
        t.start()
        t.join(5)
    assert errors and "daily:2026-11-24" in errors[0]
