/* C extension module lang_c: lang_c.checksum(bytes) and lang_c.clamp(int). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static unsigned long fnv1a(const unsigned char *data, Py_ssize_t len)
{
    unsigned long h = 14695981039346656037UL;
    for (Py_ssize_t i = 0; i < len; ++i) {
        h ^= data[i];
        h *= 1099511628211UL;
    }
    return h;
}

static PyObject *checksum(PyObject *self, PyObject *arg)
{
    char *data;
    Py_ssize_t len;
    (void)self;
    if (PyBytes_AsStringAndSize(arg, &data, &len) < 0)
        return NULL;
    return PyLong_FromUnsignedLong(fnv1a((const unsigned char *)data, len));
}

static PyObject *clamp(PyObject *self, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    (void)self;
    if (v == -1 && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(v < 0 ? 0 : v > 255 ? 255 : v);
}

static PyMethodDef methods[] = {
    {"checksum", checksum, METH_O, NULL},
    {"clamp", clamp, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "lang_c", NULL, -1, methods};

PyMODINIT_FUNC PyInit_lang_c(void)
{
    return PyModule_Create(&module);
}
