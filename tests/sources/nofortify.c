/* Links libc but calls nothing that _FORTIFY_SOURCE has a __*_chk variant for. */
#include <stdlib.h>
#include <string.h>
#include "pyinit.h"

size_t nofortify_len(const char *s)
{
    return strlen(s);
}

void *nofortify_alloc(size_t n)
{
    return calloc(n, 1);
}

void nofortify_release(void *p)
{
    free(p);
}

void *PYINIT(void)
{
    return nofortify_alloc(1);
}
