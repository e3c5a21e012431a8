// C++ extension module lang_cpp. Every function has C linkage (extern "C"), yet this is C++:
// the translation unit is .cpp and std::vector/std::string pull in libstdc++.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <vector>

extern "C" {

static PyObject *join(PyObject *, PyObject *arg)
{
    long count = PyLong_AsLong(arg);
    if (count == -1 && PyErr_Occurred())
        return nullptr;
    std::vector<std::string> parts;
    for (long i = 0; i < count && i < 64; ++i)
        parts.push_back(std::to_string(i));
    std::string joined;
    for (const auto &part : parts)
        joined += part + ",";
    return PyUnicode_FromStringAndSize(joined.data(), static_cast<Py_ssize_t>(joined.size()));
}

static PyMethodDef methods[] = {
    {"join", join, METH_O, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "lang_cpp", nullptr, -1, methods};

PyMODINIT_FUNC PyInit_lang_cpp(void)
{
    return PyModule_Create(&module);
}

}  // extern "C"
