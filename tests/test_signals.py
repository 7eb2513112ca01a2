import signal

import pytest

from lif.signals import deferred_signals


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_reaches_the_previous_handler_once_the_block_is_done(number):
    delivered, steps = [], []
    previous = signal.signal(number, lambda received, _frame: delivered.append(received))
    try:
        with deferred_signals():
            signal.raise_signal(number)
            signal.raise_signal(number)  # one delivery for a signal however often it came
            steps.append("block ran to its end")
            assert delivered == []
        assert delivered == [number] and steps == ["block ran to its end"]
        assert signal.getsignal(number) is not previous  # our handler is back in place
    finally:
        signal.signal(number, previous)


def test_ctrl_c_inside_the_block_is_a_keyboard_interrupt_after_it():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            signal.raise_signal(signal.SIGINT)
            steps.append("block ran to its end")
    assert steps == ["block ran to its end"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler
