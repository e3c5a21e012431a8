/* Buffer-handling extension: runtime-length copies into fixed-size local buffers.
 * -fstack-protector-strong instruments ext_copy (local char arrays) -> __stack_chk_fail;
 * -O2 -D_FORTIFY_SOURCE>=2 turns the calls into __read_chk/__memcpy_chk/__strcpy_chk/__sprintf_chk;
 * without fortify (or at -O0) they stay plain read/memcpy/strcpy/sprintf. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "pyinit.h"

struct record {
    char name[32];
    char path[48];
    char line[64];
};

static struct record last;

int ext_copy(int fd, const char *src, size_t n, int value)
{
    char buf[64];
    struct record rec;
    ssize_t got = read(fd, buf, n);
    memcpy(rec.name, src, n);
    strcpy(rec.path, src);
    sprintf(rec.line, "%d:%s", value, src);
    last = rec;
    return (int)got + buf[n % sizeof buf];
}

void *PYINIT(void)
{
    return &last;
}
