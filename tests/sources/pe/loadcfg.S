/* A load configuration directory, `_load_config_used`, as MSVC's CRT provides one
 * (loadcfg.c). mingw-w64 10 has none, and GNU ld 2.40 ignores the symbol; lld-link points
 * data directory 10 at it with the size taken from its Size field. The layout is
 * IMAGE_LOAD_CONFIG_DIRECTORY{32,64} of the Windows SDK up to GuardFlags; the .error
 * lines pin the offsets the checks read. Assembly, not C: GuardFlags is a 32-bit field
 * filled from an absolute linker symbol, which C cannot express on x64.
 *
 *   LOADCFG_SIZE      value of the Size field (default: through GuardFlags)
 *   LOADCFG_COOKIE    SecurityCookie = &__security_cookie (a /GS cookie slot)
 *   LOADCFG_SAFESEH   SEHandlerTable/Count = a one-entry SafeSEH table (x86 only)
 *   LOADCFG_GUARD     CFG fields from lld's __guard_* symbols (lld-link -guard:cf) */
#ifdef _WIN64
#define PTR .quad
#define SYM(name) name
#define COOKIE_VALUE 0x00002B992DDFA232 /* MSVC's default x64 cookie */
#define COOKIE_AT 88
#define GUARD_FLAGS_AT 144
#else
#define PTR .long
#define SYM(name) _##name
#define COOKIE_VALUE 0xBB40E64E /* MSVC's default x86 cookie */
#define COOKIE_AT 60
#define GUARD_FLAGS_AT 88
#endif

#ifdef LOADCFG_COOKIE
        .data
        .p2align 3
        .globl SYM(__security_cookie)
SYM(__security_cookie):
        PTR COOKIE_VALUE
#define COOKIE SYM(__security_cookie)
#else
#define COOKIE 0
#endif

#ifdef LOADCFG_SAFESEH
#ifdef _WIN64
#error "SafeSEH tables exist on x86 only"
#endif
        .text
        .globl _memsafe_seh_handler
_memsafe_seh_handler:            /* EXCEPTION_DISPOSITION: ExceptionContinueSearch */
        movl $1, %eax
        ret
        .section .rdata,"dr"
        .p2align 2
memsafe_seh_table:               /* SafeSEH tables hold handler RVAs */
        .rva _memsafe_seh_handler
#define SEH_TABLE memsafe_seh_table
#define SEH_COUNT 1
#else
#define SEH_TABLE 0
#define SEH_COUNT 0
#endif

#ifdef LOADCFG_GUARD
        .text
memsafe_guard_check_nop:         /* what __guard_check_icall_fptr calls before the loader patches it */
        ret
        .section .rdata,"dr"
        .p2align 3
        .globl SYM(__guard_check_icall_fptr)
SYM(__guard_check_icall_fptr):
        PTR memsafe_guard_check_nop
/* lld-link -guard:cf defines these; their addresses are the values. */
#define GUARD_CHECK SYM(__guard_check_icall_fptr)
#define GUARD_TABLE SYM(__guard_fids_table)
#define GUARD_COUNT SYM(__guard_fids_count)
#define GUARD_FLAGS SYM(__guard_flags)
#else
#define GUARD_CHECK 0
#define GUARD_TABLE 0
#define GUARD_COUNT 0
#define GUARD_FLAGS 0
#endif

        .section .rdata,"dr"
        .p2align 3
        .globl SYM(_load_config_used)
SYM(_load_config_used):
#ifdef LOADCFG_SIZE
        .long LOADCFG_SIZE
#else
        .long .Lload_config_end - SYM(_load_config_used)
#endif
        .long 0                  /* TimeDateStamp */
        .short 0, 0              /* MajorVersion, MinorVersion */
        .long 0, 0, 0            /* GlobalFlagsClear, GlobalFlagsSet, CriticalSectionDefaultTimeout */
        PTR 0, 0, 0, 0, 0        /* DeCommit{FreeBlock,TotalFree}Threshold, LockPrefixTable,
                                    MaximumAllocationSize, VirtualMemoryThreshold */
#ifdef _WIN64
        .quad 0                  /* ProcessAffinityMask */
        .long 0                  /* ProcessHeapFlags */
#else
        .long 0, 0               /* ProcessHeapFlags, ProcessAffinityMask */
#endif
        .short 0, 0              /* CSDVersion, DependentLoadFlags */
        PTR 0                    /* EditList */
.Lcookie:
        PTR COOKIE               /* SecurityCookie */
        PTR SEH_TABLE, SEH_COUNT /* SEHandlerTable, SEHandlerCount */
        PTR GUARD_CHECK, 0       /* GuardCFCheckFunctionPointer, GuardCFDispatchFunctionPointer */
        PTR GUARD_TABLE, GUARD_COUNT /* GuardCFFunctionTable, GuardCFFunctionCount */
.Lguard_flags:
        .long GUARD_FLAGS        /* GuardFlags */
.Lload_config_end:
        .if .Lcookie - SYM(_load_config_used) - COOKIE_AT
        .error "SecurityCookie offset"
        .endif
        .if .Lguard_flags - SYM(_load_config_used) - GUARD_FLAGS_AT
        .error "GuardFlags offset"
        .endif
