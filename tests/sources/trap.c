/* A booby-trapped extension: loading it (dlopen, import, exec) runs the constructor, which
 * creates the file MARKER (a string literal passed with -DMARKER=...). Scanning must not. */
#include <fcntl.h>
#include <unistd.h>
#include "pyinit.h"

__attribute__((constructor)) static void trap(void)
{
    int fd = open(MARKER, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        (void)write(fd, "loaded\n", 7);
        close(fd);
    }
}

void *PYINIT(void)
{
    return 0;
}
