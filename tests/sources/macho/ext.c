/* Buffer-handling extension for the Mach-O corpus (tests/macho_corpus.py).
 *
 * No macOS SDK here, so no system headers: the libc prototypes are declared by hand.
 * With -DMEMSAFE_FORTIFY the calls are written the way Apple's <secure/_string.h> and
 * <secure/_stdio.h> expand them under _FORTIFY_SOURCE=2 (the SDK default in optimised
 * builds): __builtin___memcpy_chk(dst, src, n, __builtin_object_size(dst, 0)) and so on.
 * clang lowers each to a call of ___memcpy_chk / ___strcpy_chk / ___sprintf_chk, since
 * the lengths are only known at run time. Without it they stay plain _memcpy/_strcpy/_sprintf;
 * -DMEMSAFE_FORTIFY_MEMCPY_ONLY fortifies the memcpy alone (a partial grade).
 * -DMEMSAFE_VENDORED adds a call into a vendored dylib (vendored.c), for LC_LOAD_DYLIB.
 * -fstack-protector-strong instruments ext_copy (local char arrays) -> ___stack_chk_guard
 * and ___stack_chk_fail imports.
 */
#include "pyinit.h"

typedef __SIZE_TYPE__ size_t;

void *memcpy(void *dst, const void *src, size_t n);
char *strcpy(char *dst, const char *src);
int sprintf(char *str, const char *format, ...);
void *__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen);
char *__strcpy_chk(char *dst, const char *src, size_t dstlen);
int __sprintf_chk(char *str, int flag, size_t strlen, const char *format, ...);

#if defined(MEMSAFE_FORTIFY) || defined(MEMSAFE_FORTIFY_MEMCPY_ONLY)
#define COPY_MEM(d, s, n) __builtin___memcpy_chk(d, s, n, __builtin_object_size(d, 0))
#else
#define COPY_MEM(d, s, n) memcpy(d, s, n)
#endif
#ifdef MEMSAFE_FORTIFY
#define COPY_STR(d, s) __builtin___strcpy_chk(d, s, __builtin_object_size(d, 0))
#define FORMAT(d, ...) __builtin___sprintf_chk(d, 0, __builtin_object_size(d, 0), __VA_ARGS__)
#else
#define COPY_STR(d, s) strcpy(d, s)
#define FORMAT(d, ...) sprintf(d, __VA_ARGS__)
#endif

#ifdef MEMSAFE_VENDORED
int vendored_answer(void); /* defined in a vendored dylib (vendored.c) */
#define VENDORED() vendored_answer()
#else
#define VENDORED() 0
#endif

struct record {
    char name[32];
    char path[48];
    char line[64];
};

static char last;

int ext_copy(const char *src, size_t n, int value)
{
    struct record rec;
    COPY_MEM(rec.name, src, n);
    COPY_STR(rec.path, src);
    FORMAT(rec.line, "%d:%s", value, src);
    /* One byte, not the struct: a struct copy would add a plain _memcpy import on x86_64. */
    last = rec.line[n % sizeof rec.line] ^ rec.name[n % sizeof rec.name];
    return last + rec.path[n % sizeof rec.path] + VENDORED();
}

void *PYINIT(void)
{
    return &last;
}
