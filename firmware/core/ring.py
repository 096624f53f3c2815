"""Fixed-capacity FIFO of (kind, value) pairs for events and actions.

Cores exchange small events/actions through these instead of allocating
lists per call. Overflow never blocks: the newest item is dropped and
counted, so a flood of input cannot exhaust the heap.
"""


class Ring:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._kind = [0] * capacity
        self._val = [None] * capacity
        self._cap = capacity
        self._head = 0
        self._len = 0
        self.dropped = 0

    def __len__(self):
        return self._len

    def put(self, kind, value=None):
        if self._len >= self._cap:
            self.dropped += 1
            return False
        i = (self._head + self._len) % self._cap
        self._kind[i] = kind
        self._val[i] = value
        self._len += 1
        return True

    def get(self):
        """Pop the oldest item as (kind, value); raises IndexError if empty."""
        if self._len == 0:
            raise IndexError("ring empty")
        i = self._head
        item = (self._kind[i], self._val[i])
        self._val[i] = None
        self._head = (i + 1) % self._cap
        self._len -= 1
        return item

    def clear(self):
        while self._len:
            self.get()
