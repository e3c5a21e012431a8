/* A shared writable data section (IMAGE_SCN_MEM_SHARED | MEM_WRITE): the assembler's
 * "dws" flags, as `#pragma data_seg` plus `/SECTION:.shared,RWS` gives with MSVC.
 * Every process that loads the DLL sees the same page. */
__asm__(".section .shared,\"dws\"\n"
        ".globl shared_counter\n"
        "shared_counter:\n"
        "\t.long 0\n"
        ".text\n");
