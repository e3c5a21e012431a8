/* Buffer-handling extension for the PE corpus (mingw-w64).
 * -fstack-protector-strong instruments ext_copy (local char arrays) -> __stack_chk_fail;
 * -O2 -D_FORTIFY_SOURCE=2 turns the calls into __memcpy_chk/__strcpy_chk/__sprintf_chk;
 * otherwise they stay plain memcpy/strcpy/sprintf. No Python.h: PyInit_<MODULE> returns void *. */
#include <stdio.h>
#include <string.h>
#include "pyinit.h"

struct record {
    char name[32];
    char path[48];
    char line[64];
};

static struct record last;

__declspec(dllexport) int ext_copy(const char *src, size_t n, int value)
{
    char buf[64];
    struct record rec;
    memcpy(rec.name, src, n);
    strcpy(rec.path, src);
    sprintf(rec.line, "%d:%s", value, src);
    memcpy(buf, rec.line, n);
    last = rec;
    return buf[n % sizeof buf];
}

__declspec(dllexport) void *PYINIT(void)
{
    return &last;
}
