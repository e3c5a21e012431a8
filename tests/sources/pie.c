/* A position-independent executable shipped as an extension: has main and exports
 * PyInit_* (with -rdynamic); FLAGS_1 carries PIE, so glibc >= 2.30 refuses to dlopen it. */
#include "pyinit.h"

static int initialized;

void *PYINIT(void)
{
    initialized = 1;
    return &initialized;
}

int main(void)
{
    return PYINIT() == 0;
}
