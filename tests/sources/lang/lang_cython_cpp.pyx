# cython: language_level=3
# distutils: language = c++
"""Cython module compiled in C++ mode (std::vector and std::string from libcpp)."""
from libcpp.string cimport string
from libcpp.vector cimport vector


def squares(int n):
    cdef vector[long] out
    for i in range(n):
        out.push_back(i * i)
    return list(out)


def shout(str text):
    cdef string s = text.encode()
    s.append(b"!")
    return s.decode()
