/* PYINIT expands to PyInit_<MODULE>; corpus.py passes -DMODULE=<stem of the output file>.
 * Macros only, so .S files can include it too. No Python.h needed. */
#ifndef MEMSAFE_PYINIT_H
#define MEMSAFE_PYINIT_H
#define MEMSAFE_CAT_(a, b) a##b
#define MEMSAFE_CAT(a, b) MEMSAFE_CAT_(a, b)
#define PYINIT MEMSAFE_CAT(PyInit_, MODULE)
#endif
