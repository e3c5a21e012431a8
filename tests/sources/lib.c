/* A vendored helper library (libvendored.so.1): hardened, but no PyInit_* export. */
#include <stdio.h>

int vendored_format(char *out, unsigned long size, int value)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "v=%d", value);
    return snprintf(out, size, "%s", buf) + n;
}
