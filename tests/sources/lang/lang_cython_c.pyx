# cython: language_level=3
"""Cython module compiled in C mode."""


cdef long _fib(long n):
    cdef long a = 0, b = 1
    for _ in range(n):
        a, b = b, a + b
    return a


def fib(long n):
    return _fib(n)


cdef class Counter:
    cdef public long total

    def add(self, long x):
        self.total += x
        return self.total
