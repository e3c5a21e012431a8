/* A section that is allocated, writable and executable: ld puts it in a RWE PT_LOAD. */
#include "pyinit.h"

__asm__(".section .wxdata,\"awx\",@progbits\n"
        ".globl wx_blob\n"
        "wx_blob: .quad 0xc3c3c3c3c3c3c3c3\n"
        ".previous\n");

extern unsigned long wx_blob;

void *PYINIT(void)
{
    return &wx_blob;
}
