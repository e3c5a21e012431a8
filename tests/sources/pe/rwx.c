/* A section that is writable and executable (IMAGE_SCN_MEM_WRITE | MEM_EXECUTE): the
 * assembler's "wx" flags. Incremental MSVC links and some JIT stubs produce the same. */
__asm__(".section .rwx,\"wx\"\n"
        ".globl rwx_stub\n"
        "rwx_stub:\n"
        "\tret\n"
        ".text\n");
