/* Two plain C functions linked into the Rust module lang_rust_c. c_parse_kv saves registers
 * around calls and returns early, so GCC -O2 emits DW_CFA_remember_state in its .eh_frame FDE
 * (LLVM never does on x86-64). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint32_t c_adler32(const unsigned char *data, size_t len)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; ++i) {
        a = (a + data[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

int c_parse_kv(const char *text, char *key, size_t key_size)
{
    if (text == NULL || key_size == 0)
        return -1;
    const char *eq = strchr(text, '=');
    if (eq == NULL)
        return 0;
    size_t n = (size_t)(eq - text);
    if (n >= key_size)
        return -2;
    memcpy(key, text, n);
    key[n] = '\0';
    return (int)(n + strlen(eq + 1));
}
