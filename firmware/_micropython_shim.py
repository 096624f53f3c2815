"""CPython stand-in for the parts of MicroPython's `micropython` module we use."""


def const(value):
    return value


def alloc_emergency_exception_buf(size):
    return None


def schedule(func, arg):
    func(arg)
